// Service Bus namespace and the inbound queue. Sessions give per-integration /
// per-entity FIFO; duplicate detection drops a second send of the same MessageId
// (the event id) inside the window; after maxDeliveryCount failed deliveries a
// message goes to the queue's dead-letter sub-queue, which the dead-letter function
// reads (%SERVICEBUS_QUEUE_NAME%/$deadletterqueue). Local (SAS) auth is off.

param name string
param location string
param tags object = {}

@description('Standard is enough for sessions and duplicate detection; Premium adds private endpoints, isolation and predictable throughput.')
@allowed(['Standard', 'Premium'])
param skuName string = 'Standard'

@description('Messaging units (Premium only).')
@allowed([1, 2, 4, 8, 16])
param premiumCapacity int = 1

@description('The session-enabled inbound queue; the app reads its name from SERVICEBUS_QUEUE_NAME.')
param queueName string

@description('Deliveries before a message is dead-lettered.')
@minValue(1)
@maxValue(2000)
param maxDeliveryCount int = 10

@description('Peek-lock duration (ISO 8601, at most PT5M). The host renews it up to maxAutoLockRenewalDuration.')
param lockDuration string = 'PT1M'

@description('Time a message may wait in the queue before it expires to the dead-letter queue (ISO 8601).')
param messageTimeToLive string = 'P14D'

@description('Duplicate detection window on MessageId (ISO 8601, PT20S to P7D).')
param duplicateDetectionWindow string = 'PT10M'

@description('Private mode: no public endpoint (needs Premium, enforced in main.bicep).')
param privateNetworking bool = false

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: skuName
    tier: skuName
    capacity: skuName == 'Premium' ? premiumCapacity : null
  }
  properties: {
    disableLocalAuth: true // no SAS keys or connection strings: Entra ID only
    minimumTlsVersion: '1.2'
    publicNetworkAccess: privateNetworking ? 'Disabled' : 'Enabled'
  }
}

resource inboundQueue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = {
  parent: namespace
  name: queueName
  properties: {
    requiresSession: true
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: duplicateDetectionWindow
    maxDeliveryCount: maxDeliveryCount
    lockDuration: lockDuration
    defaultMessageTimeToLive: messageTimeToLive
    deadLetteringOnMessageExpiration: true
    enableBatchedOperations: true
    enablePartitioning: false
    maxSizeInMegabytes: 1024
  }
}

output id string = namespace.id
output name string = namespace.name
output queueId string = inboundQueue.id
output queueName string = inboundQueue.name
// e.g. sb-abc123.servicebus.windows.net (what ServiceBusConnection__fullyQualifiedNamespace wants)
output fullyQualifiedNamespace string = replace(replace(namespace.properties.serviceBusEndpoint, 'https://', ''), ':443/', '')

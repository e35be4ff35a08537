// Integrations API on Azure Functions (Flex Consumption, Python 3.11), deployed by `azd up`.
// What gets created, why, and what it costs: docs/deploy.md.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; with the subscription and region it makes the resource token.')
param environmentName string

@minLength(1)
@description('Region of every resource; it must offer Flex Consumption (az functionapp list-flexconsumption-locations).')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Object id of the person running azd (AZURE_PRINCIPAL_ID): gets Key Vault Secrets Officer to read and rotate tokens. Empty skips it.')
param principalId string = ''

@allowed(['User', 'ServicePrincipal', 'Group'])
param principalType string = 'User'

// --- The platform the worker calls ---
@minLength(1)
@description('Base URL of the commerce platform API (PLATFORM_BASE_URL), e.g. https://api.example-commerce.com.')
param platformBaseUrl string

// --- Secrets (stored in Key Vault, referenced by the app settings) ---
@secure()
@description('Admin token for the management routes. azd: secretOrRandomPassword, so it is generated once and read back from the vault after that.')
param managementToken string

@secure()
@description('Operator token (read and resubmit events); generated like managementToken.')
param operatorToken string

@secure()
@description('Reader token (read events, dashboard); generated like managementToken.')
param readerToken string

@secure()
@description('Bearer token for the platform API. Empty leaves the vault secret as it is (set it with az keyvault secret set).')
param platformApiToken string = ''

@secure()
@description('Teams/Slack-compatible webhook for the app\'s own alerts; empty = off.')
param alertWebhookUrl string = ''

@description('E-mail address for the Azure Monitor alerts (dead-lettered messages, failed executions); empty = no notification.')
param alertEmail string = ''

@description('Set to true once the Function App\'s built-in authentication (Microsoft Entra ID) is configured (docs/deploy.md#people-signing-in-with-microsoft-entra-id): only then does the app believe its X-MS-CLIENT-PRINCIPAL headers.')
param entraAuthEnabled bool = false

// --- Service Bus ---
@description('Standard (default) or Premium. Private mode always uses Premium: Service Bus private endpoints need it.')
@allowed(['Standard', 'Premium'])
param serviceBusSku string = 'Standard'

@description('The session-enabled inbound queue; must equal the app\'s SERVICEBUS_QUEUE_NAME default (checked by tests/unit/test_infra_drift.py).')
param serviceBusQueueName string = 'integration-inbound'

@description('Deliveries before a message is dead-lettered.')
@minValue(1)
@maxValue(2000)
param queueMaxDeliveryCount int = 10

@description('Peek-lock duration, ISO 8601, at most PT5M.')
param queueLockDuration string = 'PT1M'

@description('Message time to live, ISO 8601; expired messages go to the dead-letter queue.')
param queueMessageTimeToLive string = 'P14D'

@description('Duplicate detection window on MessageId, ISO 8601, PT20S to P7D.')
param queueDuplicateDetectionWindow string = 'PT10M'

// --- Function App ---
@description('NCRONTAB (6 fields) of the maintenance timer; must equal the app\'s RETRY_SCAN_SCHEDULE default unless you mean to change it.')
param retryScanSchedule string = '0 */1 * * * *'

@description('Most instances Flex Consumption may run for the whole app; caps the platform API\'s load (x maxConcurrentSessions) and the cost of a runaway scale-out. See docs/deploy.md#scaling.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Memory of each instance; CPU and network come in proportion.')
@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048

@description('Concurrent HTTP requests per instance before Flex adds one (Flex\'s Python default is 1; the HTTP functions are async). Lower it with instanceMemoryMB 512.')
@minValue(1)
@maxValue(1000)
param httpPerInstanceConcurrency int = 16

@description('Always-ready instances for the queue worker (process_event); 0 saves the baseline charge at the price of a cold start.')
@minValue(0)
@maxValue(10)
param workerAlwaysReadyInstances int = 1

@description('Zone-redundant Flex Consumption plan (only in regions that support it).')
param zoneRedundant bool = false

@description('App settings to add or override, e.g. {"RETRY_MAX_ATTEMPTS": "12"}. Names must be ones shared/config.py reads (checked by the drift test).')
param appSettingOverrides object = {}

// --- Storage and Key Vault ---
@allowed(['Standard_LRS', 'Standard_ZRS', 'Standard_GRS', 'Standard_GZRS'])
param storageSku string = 'Standard_ZRS'

@minValue(7)
@maxValue(90)
param keyVaultSoftDeleteRetentionInDays int = 90

@description('Log Analytics daily ingestion cap in GB (-1 = none).')
param logAnalyticsDailyCapGb int = 10

// --- Private network mode ---
@description('true: VNet integration for the app and private endpoints for storage, Service Bus (Premium) and Key Vault; their public endpoints are closed.')
param privateNetworking bool = false

@description('Private mode: public IPs/CIDRs (e.g. the machine running azd) still allowed to reach Key Vault.')
param keyVaultAllowedIpRanges array = []

var abbrs = loadJsonContent('./abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }
var functionAppName = '${abbrs.webSitesFunctions}api-${resourceToken}'
var deploymentContainerName = 'app-package-${take(functionAppName, 32)}-${take(resourceToken, 7)}'
var effectiveServiceBusSku = privateNetworking ? 'Premium' : serviceBusSku

// Tables and the blob container the app uses (it creates missing ones too).
var tableNames = [
  'integrations'
  'apikeys'
  'events'
  'idempotency'
  'entityversions'
  'jobs'
  'audit'
  'alerts'
  'flowcounts'
  'retention'
  'tokens'
]
var payloadContainerName = 'payloads'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: '${abbrs.resourcesResourceGroups}${environmentName}'
  location: location
  tags: tags
}

module identity 'app/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: '${abbrs.managedIdentityUserAssignedIdentities}api-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'app/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: '${abbrs.operationalInsightsWorkspaces}${resourceToken}'
    applicationInsightsName: '${abbrs.insightsComponents}${resourceToken}'
    location: location
    tags: tags
    dailyQuotaGb: logAnalyticsDailyCapGb
  }
}

module storage 'app/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: '${abbrs.storageStorageAccounts}${resourceToken}'
    location: location
    tags: tags
    skuName: storageSku
    deploymentContainerName: deploymentContainerName
    tableNames: tableNames
    payloadContainerName: payloadContainerName
    privateNetworking: privateNetworking
  }
}

module serviceBus 'app/servicebus.bicep' = {
  name: 'servicebus'
  scope: rg
  params: {
    name: '${abbrs.serviceBusNamespaces}${resourceToken}'
    location: location
    tags: tags
    skuName: effectiveServiceBusSku
    queueName: serviceBusQueueName
    maxDeliveryCount: queueMaxDeliveryCount
    lockDuration: queueLockDuration
    messageTimeToLive: queueMessageTimeToLive
    duplicateDetectionWindow: queueDuplicateDetectionWindow
    privateNetworking: privateNetworking
  }
}

module keyVault 'app/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: '${abbrs.keyVaultVaults}${resourceToken}'
    location: location
    tags: tags
    softDeleteRetentionInDays: keyVaultSoftDeleteRetentionInDays
    privateNetworking: privateNetworking
    allowedIpRanges: keyVaultAllowedIpRanges
    publicNetworkAccess: privateNetworking && empty(keyVaultAllowedIpRanges) ? 'Disabled' : 'Enabled'
    managementToken: managementToken
    operatorToken: operatorToken
    readerToken: readerToken
    platformApiToken: platformApiToken
    alertWebhookUrl: alertWebhookUrl
  }
}

module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    identityPrincipalId: identity.outputs.principalId
    storageAccountName: storage.outputs.name
    serviceBusNamespaceName: serviceBus.outputs.name
    serviceBusQueueName: serviceBus.outputs.queueName
    keyVaultName: keyVault.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    deployerPrincipalId: principalId
    deployerPrincipalType: principalType
  }
}

module network 'app/network.bicep' = if (privateNetworking) {
  name: 'network'
  scope: rg
  params: {
    name: '${abbrs.networkVirtualNetworks}${resourceToken}'
    location: location
    tags: tags
  }
}

module privateEndpoints 'app/private-endpoints.bicep' = if (privateNetworking) {
  name: 'private-endpoints'
  scope: rg
  params: {
    resourceToken: resourceToken
    location: location
    tags: tags
    vnetId: privateNetworking ? network.outputs.id : ''
    subnetId: privateNetworking ? network.outputs.privateEndpointSubnetId : ''
    storageAccountId: storage.outputs.id
    serviceBusNamespaceId: serviceBus.outputs.id
    keyVaultId: keyVault.outputs.id
  }
}

module api 'app/api.bicep' = {
  name: 'api'
  scope: rg
  // Roles first: the host reads storage and Key Vault with them at its first start.
  dependsOn: [rbac, privateEndpoints]
  params: {
    name: functionAppName
    planName: '${abbrs.webServerFarms}${resourceToken}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    storageBlobEndpoint: storage.outputs.blobEndpoint
    deploymentContainerName: deploymentContainerName
    serviceBusFullyQualifiedNamespace: serviceBus.outputs.fullyQualifiedNamespace
    serviceBusQueueName: serviceBus.outputs.queueName
    keyVaultName: keyVault.outputs.name
    keyVaultUri: keyVault.outputs.uri
    keyVaultSecretNames: keyVault.outputs.secretNames
    applicationInsightsConnectionString: monitoring.outputs.connectionString
    platformBaseUrl: platformBaseUrl
    retryScanSchedule: retryScanSchedule
    alertWebhookEnabled: !empty(alertWebhookUrl)
    entraAuthEnabled: entraAuthEnabled
    appSettingOverrides: appSettingOverrides
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    httpPerInstanceConcurrency: httpPerInstanceConcurrency
    workerAlwaysReadyInstances: workerAlwaysReadyInstances
    zoneRedundant: zoneRedundant
    virtualNetworkSubnetId: privateNetworking ? network.outputs.appSubnetId : ''
  }
}

module alerts 'app/alerts.bicep' = {
  name: 'alerts'
  scope: rg
  params: {
    resourceToken: resourceToken
    tags: tags
    serviceBusNamespaceId: serviceBus.outputs.id
    serviceBusQueueName: serviceBus.outputs.queueName
    applicationInsightsId: monitoring.outputs.applicationInsightsId
    alertEmail: alertEmail
  }
}

// Outputs azd stores in .azure/<env>/.env (and the guide uses).
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_NAME string = api.outputs.name
output SERVICE_API_NAME string = api.outputs.name
output SERVICE_API_URI string = 'https://${api.outputs.defaultHostName}'
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_USER_ASSIGNED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output SERVICEBUS_FULLY_QUALIFIED_NAMESPACE string = serviceBus.outputs.fullyQualifiedNamespace
output SERVICEBUS_QUEUE_NAME string = serviceBus.outputs.queueName
output APPLICATIONINSIGHTS_CONNECTION_STRING string = monitoring.outputs.connectionString

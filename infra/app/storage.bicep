// One storage account for the Functions host (AzureWebJobsStorage: timer leases,
// host keys), the Flex deployment package, and the product's own data: event tables
// and the large-payload blob container. Entra ID only: shared keys are off, so there
// is no connection string to leak.

param name string
param location string
param tags object = {}

@description('Blob container Flex Consumption deploys the app package to.')
param deploymentContainerName string

@description('Tables the app uses (it also creates missing ones at start).')
param tableNames array

@description('Blob container for payloads too large for a table entity or a queue message.')
param payloadContainerName string

@description('Zone- or geo-redundant by default: the event tables are the system of record.')
@allowed(['Standard_LRS', 'Standard_ZRS', 'Standard_GRS', 'Standard_GZRS'])
param skuName string = 'Standard_ZRS'

@description('Private mode: no public endpoint, reached only through private endpoints.')
param privateNetworking bool = false

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35:Public mode only. Flex Consumption without VNet integration has no fixed outbound IPs, so a deny-by-default firewall would lock the app out; access still needs Entra RBAC (shared keys are off). privateNetworking=true sets Deny.
  // checkov:skip=CKV_AZURE_206:Replicated: Standard_ZRS by default (three zones, synchronous) from skuName; geo-replication (Standard_GZRS) is a disaster-recovery choice the parameter offers. The check counts only geo SKUs and cannot read parameters.
  // checkov:skip=CKV_AZURE_59:Public mode only (see CKV_AZURE_35). privateNetworking=true disables the public endpoint.
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    accessTier: 'Hot'
    allowSharedKeyAccess: false // no account keys, no SAS: identities and RBAC only
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    dnsEndpointType: 'Standard'
    publicNetworkAccess: privateNetworking ? 'Disabled' : 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: privateNetworking ? 'Deny' : 'Allow'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    // A deleted payload blob can be restored for a week.
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource payloadContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: payloadContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource tables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = [
  for tableName in tableNames: {
    parent: tableService
    name: tableName
  }
]

output id string = storage.id
output name string = storage.name
output blobEndpoint string = storage.properties.primaryEndpoints.blob

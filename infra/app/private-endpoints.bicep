// Private mode: private endpoints (and their DNS zones) for everything the app reaches.
// Application Insights ingestion stays on its public endpoint (an Azure Monitor Private
// Link Scope is a tenant-wide decision, left to the platform team).

param resourceToken string
param location string
param tags object = {}
param vnetId string
param subnetId string
param storageAccountId string
param serviceBusNamespaceId string
param keyVaultId string

var abbrs = loadJsonContent('../abbreviations.json')

var endpoints = [
  {
    key: 'blob' // AzureWebJobsStorage, deployment package, payload blobs
    target: storageAccountId
    groupId: 'blob'
    zone: 'privatelink.blob.${environment().suffixes.storage}'
  }
  {
    key: 'table' // event tables
    target: storageAccountId
    groupId: 'table'
    zone: 'privatelink.table.${environment().suffixes.storage}'
  }
  {
    key: 'servicebus'
    target: serviceBusNamespaceId
    groupId: 'namespace'
    zone: 'privatelink.servicebus.windows.net'
  }
  {
    key: 'vault'
    target: keyVaultId
    groupId: 'vault'
    zone: 'privatelink.vaultcore.azure.net'
  }
]

module endpoint 'private-endpoint.bicep' = [
  for item in endpoints: {
    name: 'pep-${item.key}'
    params: {
      name: '${abbrs.networkPrivateEndpoints}${item.key}-${resourceToken}'
      location: location
      tags: tags
      vnetId: vnetId
      subnetId: subnetId
      targetResourceId: item.target
      groupId: item.groupId
      privateDnsZoneName: item.zone
    }
  }
]

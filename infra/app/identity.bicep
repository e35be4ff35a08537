// The one identity the Function App uses for everything: host storage, Service Bus,
// tables and blobs, Key Vault references and Entra-authenticated telemetry.
// User-assigned so its roles exist before the app does (no first-start failures).

param name string
param location string
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId

// Private mode only: a VNet with one subnet for the app's outbound traffic (Flex
// Consumption VNet integration needs a subnet delegated to Microsoft.App/environments)
// and one for the private endpoints of storage, Service Bus and Key Vault.

param name string
param location string
param tags object = {}

param addressPrefix string = '10.0.0.0/16'
param appSubnetPrefix string = '10.0.1.0/24'
param privateEndpointSubnetPrefix string = '10.0.2.0/24'

var appSubnetName = 'app'
var privateEndpointSubnetName = 'private-endpoints'

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  // checkov:skip=CKV_AZURE_182:Uses Azure-provided DNS on purpose: the private DNS zones linked to this VNet resolve the private endpoints; custom DNS servers would bypass them.
  // checkov:skip=CKV_AZURE_183:Uses Azure-provided DNS on purpose (see CKV_AZURE_182).
  name: name
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [addressPrefix]
    }
    subnets: [
      {
        name: appSubnetName
        properties: {
          addressPrefix: appSubnetPrefix
          delegations: [
            {
              name: 'flex-consumption'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
        }
      }
      {
        name: privateEndpointSubnetName
        properties: {
          addressPrefix: privateEndpointSubnetPrefix
          privateEndpointNetworkPolicies: 'Disabled'
        }
      }
    ]
  }
}

output id string = vnet.id
output appSubnetId string = '${vnet.id}/subnets/${appSubnetName}'
output privateEndpointSubnetId string = '${vnet.id}/subnets/${privateEndpointSubnetName}'

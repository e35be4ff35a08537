// Key Vault in RBAC mode: holds integration API keys (written by the app) and the
// tokens the app settings reference (@Microsoft.KeyVault(...)). Soft delete and
// purge protection: a deleted secret or vault can always be recovered.

param name string
param location string
param tags object = {}

@description('Days a deleted vault or secret stays recoverable (7-90). With purge protection it cannot be purged sooner.')
@minValue(7)
@maxValue(90)
param softDeleteRetentionInDays int = 90

@description('Private mode: no public endpoint, reached only through its private endpoint.')
param privateNetworking bool = false

@description('Public IPs or CIDR ranges allowed through the firewall in private mode (e.g. the machine running azd).')
param allowedIpRanges array = []

@description('Disabled in private mode unless allowedIpRanges names IPs that still need the public endpoint.')
@allowed(['Enabled', 'Disabled'])
param publicNetworkAccess string

@secure()
@description('Admin token for the management routes (MANAGEMENT_TOKEN).')
param managementToken string

@secure()
@description('Operator token: read and resubmit events (OPERATOR_TOKEN).')
param operatorToken string

@secure()
@description('Reader token: read events and the dashboard (READER_TOKEN).')
param readerToken string

@secure()
@description('Bearer token for the platform API (PLATFORM_API_TOKEN). Empty: the secret is left alone, set it with az keyvault secret set.')
param platformApiToken string = ''

@secure()
@description('Teams/Slack-compatible alert webhook URL (ALERT_WEBHOOK_URL). Its URL is a credential, so it lives here too. Empty: not written.')
param alertWebhookUrl string = ''

// Secret names, also used by api.bicep to build the Key Vault references.
var secretNames = {
  managementToken: 'management-token'
  operatorToken: 'operator-token'
  readerToken: 'reader-token'
  platformApiToken: 'platform-api-token'
  alertWebhookUrl: 'alert-webhook-url'
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  // checkov:skip=CKV_AZURE_109:Public mode only. Flex Consumption without VNet integration has no fixed outbound IPs to allow, and Key Vault references are not a trusted service; every call still needs Entra RBAC. privateNetworking=true sets Deny.
  // checkov:skip=CKV_AZURE_189:Public mode only (see CKV_AZURE_109). In private mode main.bicep passes Disabled unless allowedIpRanges opens it to named IPs.
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true // Azure RBAC, no access policies
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionInDays
    enablePurgeProtection: true
    publicNetworkAccess: publicNetworkAccess
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: privateNetworking ? 'Deny' : 'Allow'
      ipRules: [for ip in allowedIpRanges: { value: ip }]
    }
  }
}

// Tokens azd generates once (secretOrRandomPassword) and reads back on every provision.
module managementTokenSecret 'keyvault-secret.bicep' = {
  name: 'secret-${secretNames.managementToken}'
  params: {
    vaultName: vault.name
    name: secretNames.managementToken
    value: managementToken
  }
}

module operatorTokenSecret 'keyvault-secret.bicep' = {
  name: 'secret-${secretNames.operatorToken}'
  params: {
    vaultName: vault.name
    name: secretNames.operatorToken
    value: operatorToken
  }
}

module readerTokenSecret 'keyvault-secret.bicep' = {
  name: 'secret-${secretNames.readerToken}'
  params: {
    vaultName: vault.name
    name: secretNames.readerToken
    value: readerToken
  }
}

// Credentials issued elsewhere: written only when given, so a value set by hand in the
// vault survives the next `azd provision`.
module platformApiTokenSecret 'keyvault-secret.bicep' = if (!empty(platformApiToken)) {
  name: 'secret-${secretNames.platformApiToken}'
  params: {
    vaultName: vault.name
    name: secretNames.platformApiToken
    value: platformApiToken
  }
}

module alertWebhookUrlSecret 'keyvault-secret.bicep' = if (!empty(alertWebhookUrl)) {
  name: 'secret-${secretNames.alertWebhookUrl}'
  params: {
    vaultName: vault.name
    name: secretNames.alertWebhookUrl
    value: alertWebhookUrl
    contentType: 'text/uri-list'
  }
}

output id string = vault.id
output name string = vault.name
output uri string = vault.properties.vaultUri
output secretNames object = secretNames

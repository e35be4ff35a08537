// One Key Vault secret. Rotation writes a new version (docs/deploy.md); secrets get no
// expiry date because an expired secret makes the app setting's Key Vault reference
// unresolvable.

param vaultName string
param name string

@secure()
param value string

param contentType string = 'text/plain'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: vaultName
}

resource secret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  // checkov:skip=CKV_AZURE_41:Rotated by writing a new version (docs/deploy.md); an expiry date would make the app setting's Key Vault reference unresolvable when it passes.
  parent: vault
  name: name
  properties: {
    value: value
    contentType: contentType
  }
}

output name string = secret.name

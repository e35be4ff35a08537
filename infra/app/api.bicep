// The Function App: Flex Consumption, Python 3.11, one user-assigned identity.
// Every app setting is identity-based or a Key Vault reference: there is no
// connection string, account key or SAS anywhere in it (tests/unit/test_infra_drift.py
// checks this, and that these names match shared/config.py).

param name string
param planName string
param location string
param tags object = {}

@description('Resource id and client id of the user-assigned identity the app runs as.')
param identityId string
param identityClientId string

param storageAccountName string
param storageBlobEndpoint string
param deploymentContainerName string
param serviceBusFullyQualifiedNamespace string
param serviceBusQueueName string
param keyVaultName string
param keyVaultUri string
param keyVaultSecretNames object
param applicationInsightsConnectionString string

param platformBaseUrl string
param retryScanSchedule string
param alertWebhookEnabled bool = false
@description('Whether the app\'s built-in authentication (Microsoft Entra ID) is configured; only then does the app believe its X-MS-CLIENT-PRINCIPAL headers.')
param entraAuthEnabled bool = false

@description('Extra app settings (name: string value) merged last, e.g. {"RETRY_MAX_ATTEMPTS": "12"}.')
param appSettingOverrides object = {}

@description('Upper bound on instances of the whole app (all scale groups together); also bounds the load the worker puts on the platform API.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048

@description('Concurrent HTTP requests one instance takes before Flex adds another (the HTTP functions are async).')
@minValue(1)
@maxValue(1000)
param httpPerInstanceConcurrency int = 16

@description('Instances kept running for the queue worker (billed as a baseline); 0 lets it scale to zero.')
@minValue(0)
@maxValue(10)
param workerAlwaysReadyInstances int = 1

@description('Spread instances over availability zones (only in regions where Flex Consumption supports it).')
param zoneRedundant bool = false

@description('Subnet (delegated to Microsoft.App/environments) for outbound VNet integration; empty = none.')
param virtualNetworkSubnetId string = ''

var keyVaultReferencePrefix = '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName='

// The session-enabled Service Bus trigger in function_app.py. In the Python v2 model a function
// is named after its `def` unless @app.function_name says otherwise (the drift test checks this
// name against the code).
var workerFunctionName = 'process_event'

var appSettings = {
  // Host storage (timer leases, host keys) through the identity: no connection string.
  AzureWebJobsStorage__accountName: storageAccountName
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  // The Service Bus trigger's connection="ServiceBusConnection", same identity.
  ServiceBusConnection__fullyQualifiedNamespace: serviceBusFullyQualifiedNamespace
  ServiceBusConnection__credential: 'managedidentity'
  ServiceBusConnection__clientId: identityClientId
  // Resolves %SERVICEBUS_QUEUE_NAME% in the trigger and its $deadletterqueue twin.
  SERVICEBUS_QUEUE_NAME: serviceBusQueueName
  // SDK clients the app builds itself (tables, blobs, Key Vault, Service Bus sender).
  AZURE_CLIENT_ID: identityClientId
  KEY_VAULT_URL: keyVaultUri
  // Tokens: Key Vault references, resolved with keyVaultReferenceIdentity below.
  MANAGEMENT_TOKEN: '${keyVaultReferencePrefix}${keyVaultSecretNames.managementToken})'
  OPERATOR_TOKEN: '${keyVaultReferencePrefix}${keyVaultSecretNames.operatorToken})'
  READER_TOKEN: '${keyVaultReferencePrefix}${keyVaultSecretNames.readerToken})'
  PLATFORM_API_TOKEN: '${keyVaultReferencePrefix}${keyVaultSecretNames.platformApiToken})'
  ALERT_WEBHOOK_URL: alertWebhookEnabled ? '${keyVaultReferencePrefix}${keyVaultSecretNames.alertWebhookUrl})' : ''
  PLATFORM_BASE_URL: platformBaseUrl
  // True only with authsettingsV2 on: App Service then strips client-sent X-MS-* headers.
  ENTRA_AUTH_ENABLED: entraAuthEnabled ? 'true' : 'false'
  // Resolves %RETRY_SCAN_SCHEDULE% in the timer trigger (must exist in Azure).
  RETRY_SCAN_SCHEDULE: retryScanSchedule
  DASHBOARD_URL: 'https://${name}.azurewebsites.net/dashboard'
  // Telemetry with Entra ID (local auth is off on Application Insights).
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  // Share of events traced whole, failures always kept: shared/config.py's default (a test
  // holds them equal; change it with appSettingOverrides). What Flex Consumption rejects
  // and is therefore absent here: docs/deploy.md#settings-checked-against-flex-consumption.
  TELEMETRY_SAMPLING_RATIO: '0.1'
  // How long data is kept before the maintenance timer purges it (shared/config.py's
  // defaults): final events with their payloads and communication logs, and the audit
  // trail. Set here so a deployment's retention is seen, and changed, in one place.
  RETENTION_EVENT_DAYS: '30'
  RETENTION_AUDIT_DAYS: '365'
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225:Comes from the zoneRedundant parameter (off by default: Flex Consumption offers zones only in some regions); the check cannot read parameter values.
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true // Linux
    zoneRedundant: zoneRedundant
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_78:Flex Consumption offers no FTP(S) and rejects siteConfig.ftpsState; publishing credentials are off.
  // checkov:skip=CKV_AZURE_17:Callers authenticate with per-integration API keys and management tokens (the public contract); client certificates are not part of it.
  // checkov:skip=CKV_AZURE_212:numberOfWorkers is a dedicated-plan setting; Flex Consumption adds instances per load and is zone-redundant by platform.
  // checkov:skip=CKV_AZURE_213:App Service health check (instance eviction) is not used on Flex Consumption, which manages its instances; GET /health serves probes and the ops dashboard.
  // checkov:skip=CKV_AZURE_222:The inbound API is public by design (external ERPs call it over HTTPS with API keys); private mode isolates the backends, not this endpoint.
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientAffinityEnabled: false
    keyVaultReferenceIdentity: identityId // resolve @Microsoft.KeyVault(...) as the user-assigned identity
    virtualNetworkSubnetId: empty(virtualNetworkSubnetId) ? null : virtualNetworkSubnetId
    publicNetworkAccess: 'Enabled'
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageBlobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      // Why each value, with the Azure documentation: docs/deploy.md#scaling.
      scaleAndConcurrency: {
        // Whole app, all scale groups: caps the platform API's load (instances x maxConcurrentSessions
        // in host.json) and the hourly cost of a runaway scale-out.
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
        // Flex scales the queue worker on its own (per-function scaling); one warm instance takes a
        // message as soon as it is queued instead of after a cold start.
        alwaysReady: [
          {
            name: 'function:${workerFunctionName}'
            instanceCount: workerAlwaysReadyInstances
          }
        ]
        triggers: {
          http: {
            // Flex defaults Python apps to 1 request per instance (a sync function blocks its
            // worker). Ours are async and wait on storage and Service Bus, so one instance serves
            // many at once; at 1 every concurrent request would start an instance, with its own
            // SDK clients and its own INBOUND_REQUESTS_PER_SECOND limiter.
            perInstanceConcurrency: httpPerInstanceConcurrency
          }
        }
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      http20Enabled: true
      remoteDebuggingEnabled: false
      cors: {
        allowedOrigins: [] // the dashboard is served from this origin; no cross-origin callers
      }
      appSettings: [
        for setting in items(union(appSettings, appSettingOverrides)): {
          name: setting.key
          value: setting.value
        }
      ]
    }
  }
}

// Deployments use Entra ID (azd, az); basic-auth publishing credentials stay off.
resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

output name string = functionApp.name
output id string = functionApp.id
output defaultHostName string = functionApp.properties.defaultHostName

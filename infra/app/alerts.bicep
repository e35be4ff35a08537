// Alerts a person acts on: messages in the inbound queue's dead-letter queue, and
// function executions that failed. (Events that failed permanently or ran out of
// retries are also pushed by the app itself to ALERT_WEBHOOK_URL.)

@description('The resource token shared by every name in this deployment.')
param resourceToken string
param tags object = {}
param serviceBusNamespaceId string
param serviceBusQueueName string
param applicationInsightsId string

@description('Who gets the alert e-mails; empty = the alerts fire without notifying anyone (visible in the portal).')
param alertEmail string = ''

@description('Failed function executions in 15 minutes that count as an incident.')
param failedExecutionsThreshold int = 5

var abbrs = loadJsonContent('../abbreviations.json')

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (!empty(alertEmail)) {
  name: '${abbrs.insightsActionGroups}${resourceToken}'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'integrations'
    enabled: true
    emailReceivers: [
      {
        name: 'operations'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

var actions = empty(alertEmail) ? [] : [{ actionGroupId: actionGroup.id }]

// Dead-lettered events: any message sitting in <queue>/$deadletterqueue.
resource deadLetterAlert 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${abbrs.insightsMetricAlerts}dead-lettered-${resourceToken}'
  location: 'global'
  tags: tags
  properties: {
    description: 'Messages are in the dead-letter queue of ${serviceBusQueueName}: events that exhausted their deliveries. Inspect them on the dashboard and resubmit.'
    severity: 2
    enabled: true
    scopes: [serviceBusNamespaceId]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'DeadLetteredMessages'
          metricNamespace: 'Microsoft.ServiceBus/namespaces'
          metricName: 'DeadletteredMessages'
          dimensions: [
            {
              name: 'EntityName'
              operator: 'Include'
              values: [serviceBusQueueName]
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Maximum'
        }
      ]
    }
    autoMitigate: true
    actions: actions
  }
}

// Failed executions: a function invocation threw (the Service Bus trigger then abandons
// the message and it is redelivered; repeated failures end in the dead-letter queue).
resource failedExecutionsAlert 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${abbrs.insightsMetricAlerts}failed-executions-${resourceToken}'
  location: 'global'
  tags: tags
  properties: {
    description: 'More than ${failedExecutionsThreshold} function executions failed in 15 minutes. Look at Application Insights failures.'
    severity: 2
    enabled: true
    scopes: [applicationInsightsId]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'FailedRequests'
          metricNamespace: 'microsoft.insights/components'
          metricName: 'requests/failed'
          operator: 'GreaterThan'
          threshold: failedExecutionsThreshold
          timeAggregation: 'Count'
        }
      ]
    }
    autoMitigate: true
    actions: actions
  }
}

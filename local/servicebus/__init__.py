"""The local stand-in for the session-enabled Service Bus queue and its trigger: the
queue itself (SQLite), the bus the product sends through, and the dispatcher that feeds
the Functions as the Service Bus extension would. What it models: docs/local-host.md."""

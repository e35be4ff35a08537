"""The core of the Integrations API: models, lifecycle, policies, ports and adapters."""

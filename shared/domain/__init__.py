"""The domain: records, the event lifecycle, policies and errors. Imports nothing of
the services, the adapters or the API."""

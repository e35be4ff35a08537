"""The HTTP API: handlers, the page and the OpenAPI description."""

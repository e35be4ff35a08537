"""Tools run by hand or by tests: the OpenAPI writer, the infrastructure checks."""

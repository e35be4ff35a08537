"""The services: one module per use case, and every port they need (`ports`)."""

"""`python -m integrations_cli`: the Integrations API from a terminal, for platform
engineers and operators (integrations, keys, events, resubmission)."""

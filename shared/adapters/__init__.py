"""Adapters: the ports implemented on Azure SDKs, httpx and local files."""

"""registry_server."""

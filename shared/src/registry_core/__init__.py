"""registry_core."""

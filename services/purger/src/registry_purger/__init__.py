"""registry_purger."""

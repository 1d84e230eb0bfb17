"""descriptor_cache."""

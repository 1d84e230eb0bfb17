"""blob_read."""

"""blob_write."""

"""registry_token: ``registry serve token``, the Docker token protocol."""

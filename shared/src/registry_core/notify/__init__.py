"""Notifications: the Go registry's events (``notifications`` section), recorded before the response and
delivered to each endpoint by a sender, from Redis (never lost) or from memory (lossy, as in Go)."""

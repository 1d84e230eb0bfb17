"""The ASGI extension ``registry serve`` offers for blob bodies (``registry_server.zerocopy`` implements it; the
blob route uses it; the access log counts what it sends)."""

ZERO_COPY = "http.response.zerocopysend"
"""Its name: in ``scope["extensions"]`` when offered, and the ``type`` of the message that sends a file."""

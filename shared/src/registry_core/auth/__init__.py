"""Who may do what: access rules, htpasswd users, Docker-token JWTs (verified and signed), scopes.

The web layer (:mod:`registry_core.web.auth`) decides once per request, before storage is touched; the token
service (``registry serve token``) uses the same rules evaluator and htpasswd reader.
"""

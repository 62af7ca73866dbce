"""Identities and access: who is calling (principal), what they may do (policy), their keys.

principal    the caller, as every route sees it
tokens       API keys: random 32-byte secrets shown once, stored as SHA-256 with a prefix
policy       the one place that decides what a principal may do on a collection
directory    users, groups, keys and shares over the SQL store (the CLI and the server)
secretbox    backend API keys encrypted at rest (Fernet, RAGSERVE_SECRET_KEY)
netguard     backend URLs refused in link-local and cloud-metadata ranges
ratelimit    per-key and per-client token buckets (429 + Retry-After)
forwarded    X-Forwarded-* honoured only from RAGSERVE_TRUSTED_PROXIES
"""

from ragserve.access.principal import Principal, Role

__all__ = ["Principal", "Role"]

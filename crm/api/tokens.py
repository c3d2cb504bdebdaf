"""The secret of an API token: made from 32 random bytes, stored only as its SHA-256 (the
secret has all the entropy it needs, so a slow password hash would add nothing but latency)."""

import hashlib
import secrets

PREFIX = "crm_"
SHOWN = 12  # characters of the secret kept in clear to recognise the token by


def token_new() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def token_prefix(secret: str) -> str:
    return secret[:SHOWN]

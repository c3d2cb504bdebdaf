"""Idempotency-Key on writes: the same key with the same request gets the first answer again
and does nothing more; the same key with another request is a 422.

Used inside the transaction that does the work:

    with transaction.atomic():
        earlier = idempotent_claim(token=..., key=..., fingerprint=request_fingerprint(...))
        if earlier is not None:
            return earlier            # (status, body) of the first answer
        ... the work ...
        idempotent_keep(token=..., key=..., status=201, body=answer)

The claim is an INSERT of the key: a concurrent request with the same key waits on it until
the first commits (then finds its answer) or rolls back (then does the work itself). A refused
request (409, 404) rolls back with its claim, so only answers of work that was done are kept."""

import hashlib
import json
import re
from typing import Any

from django.db import connection
from django.http import HttpRequest

from crm.api.errors import ApiError
from crm.api.models import ApiToken, IdempotentAnswer

HEADER = "Idempotency-Key"
_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")


def idempotency_key(request: HttpRequest) -> str:
    """The request's key; a 400 when it is missing or not 1-200 printable ASCII characters."""
    key = request.headers.get(HEADER, "").strip()
    if not key:
        raise ApiError(
            400, "idempotency_key_required", f"Send an {HEADER} header with this request."
        )
    if not _KEY.match(key):
        raise ApiError(
            400,
            "invalid_idempotency_key",
            f"The {HEADER} must be 1 to 200 printable ASCII characters.",
        )
    return key


def request_fingerprint(*parts: Any) -> str:
    """What makes two requests the same: the operation, its path and the parsed body."""
    text = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def idempotent_claim(
    *, token: ApiToken, key: str, fingerprint: str
) -> tuple[int, dict[str, Any]] | None:
    """None when this request is the first with the key (it now holds it); the first answer's
    (status, body) for a retry; a 422 for another request reusing the key."""
    table = IdempotentAnswer._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (token_id, key, fingerprint, created_at)"  # noqa: S608
            " VALUES (%s, %s, %s, now()) ON CONFLICT (token_id, key) DO NOTHING RETURNING id",
            [token.pk, key, fingerprint],
        )
        if cursor.fetchone() is not None:
            return None
    earlier = IdempotentAnswer.objects.get(token=token, key=key)
    if earlier.fingerprint != fingerprint:
        raise ApiError(
            422,
            "idempotency_key_reused",
            f"This {HEADER} was used for a different request; use a new key.",
        )
    return int(earlier.status or 200), dict(earlier.body or {})


def idempotent_keep(*, token: ApiToken, key: str, status: int, body: dict[str, Any]) -> None:
    IdempotentAnswer.objects.filter(token=token, key=key).update(status=status, body=body)

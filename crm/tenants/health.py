"""Liveness of what the app needs: the database, Redis, and at least one Celery worker."""

import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import connection
from redis import Redis


def _timed(check: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    started = time.monotonic()
    try:
        result = {"ok": True, **check()}
    except Exception as exc:
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    result["ms"] = round((time.monotonic() - started) * 1000, 1)
    return result


def _database() -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {}


def _redis() -> dict[str, Any]:
    client = Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1)
    try:
        client.ping()
    finally:
        client.close()
    return {}


def _worker() -> dict[str, Any]:
    from crm.celery import app

    # One answer is enough to know work gets done; don't wait out the timeout for more.
    replies = app.control.ping(timeout=1.0, limit=1)
    if not replies:
        raise RuntimeError("no Celery worker answered within 1 s")
    return {"workers": sorted(name for reply in replies for name in reply)}


def health_report() -> dict[str, Any]:
    checks = {"database": _timed(_database), "redis": _timed(_redis)}
    # Asking the workers needs the broker; without Redis the answer is already known.
    if checks["redis"]["ok"]:
        checks["worker"] = _timed(_worker)
    else:
        checks["worker"] = {"ok": False, "error": "broker unreachable", "ms": 0.0}
    return {"ok": all(c["ok"] for c in checks.values()), "checks": checks}

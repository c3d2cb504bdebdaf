"""Settings from the environment, deploy checks, health, and tenant-prefixed caching."""

import json
import os
import subprocess
import sys

import pytest
from django.core.cache import cache
from django.test import Client
from django_tenants.utils import schema_context

from crm.lib.env import env_bool, parse_email_url
from tests.testkit.processes import ROOT


def test_email_urls_become_backend_settings():
    smtp = parse_email_url("submission://user%40x.com:p%2Fss@mail.example.com")
    assert (smtp.host, smtp.port, smtp.user, smtp.password) == (
        "mail.example.com",
        587,
        "user@x.com",
        "p/ss",
    )
    assert smtp.use_tls and not smtp.use_ssl
    assert parse_email_url("smtps://m.example.com").port == 465
    assert parse_email_url("console://").backend.endswith("console.EmailBackend")
    with pytest.raises(ValueError, match="not one of"):
        parse_email_url("carrier-pigeon://coop")


def test_booleans_are_strict(monkeypatch):
    monkeypatch.setenv("X_FLAG", "maybe")
    with pytest.raises(ValueError, match="X_FLAG"):
        env_bool("X_FLAG", False)
    monkeypatch.setenv("X_FLAG", "off")
    assert env_bool("X_FLAG", True) is False


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


PRODUCTION = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": "a-long-random-production-secret-0123456789-abcdefghijklmnopqrstuvwxyz",
    "CRM_BASE_DOMAIN": "crm.example.com",
    "EMAIL_URL": "submission://mailer:secret@smtp.example.com",
}


def test_check_deploy_is_clean_with_production_settings():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    result = _manage("check", **{**PRODUCTION, "DJANGO_SECRET_KEY": ""})
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def test_every_response_carries_a_strict_csp(acme, db):
    response = Client(HTTP_HOST=acme.host).get("/login/")
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert response.headers["X-Frame-Options"] == "DENY"


def test_cache_keys_carry_the_tenant(acme, globex, db):
    with schema_context(acme.schema):
        cache.set("greeting", "hello from acme", 30)
    with schema_context(globex.schema):
        assert cache.get("greeting") is None
        cache.set("greeting", "你好", 30)
    with schema_context(acme.schema):
        assert cache.get("greeting") == "hello from acme"
        cache.delete("greeting")
    with schema_context(globex.schema):
        cache.delete("greeting")


def test_cache_reuses_one_redis_client_and_reconnects_after_a_fork(acme, db):
    """The cache keeps its redis.Redis client between calls (crm.lib.cache); a forked process
    (a Celery or gunicorn worker) must still get its own connections, not share the parent's."""
    raw = cache._cache  # type: ignore[attr-defined]
    assert raw.get_client() is raw.get_client()
    with schema_context(acme.schema):
        cache.set("fork-check", "parent", 30)
        read, write = os.pipe()
        child = os.fork()
        if child == 0:  # pragma: no cover - runs in the child
            try:
                os.write(write, str(cache.get("fork-check")).encode())
                cache.set("fork-check", "child", 30)
            finally:
                os._exit(0)
        os.close(write)
        _, status = os.waitpid(child, 0)
        seen = os.read(read, 100).decode()
        os.close(read)
        assert (status, seen) == (0, "parent")
        assert cache.get("fork-check") == "child"
        cache.delete("fork-check")


@pytest.mark.worker
def test_healthz_reports_database_redis_and_worker(celery_worker, db):
    response = Client(HTTP_HOST="localhost").get("/healthz")
    report = json.loads(response.content)
    assert response.status_code == 200, report
    assert report["ok"] is True
    assert set(report["checks"]) == {"database", "redis", "worker"}
    assert report["checks"]["worker"]["workers"]


@pytest.mark.worker
def test_a_tenant_hosts_healthz_says_only_ok_or_not(celery_worker, acme, settings, db):
    response = Client(HTTP_HOST=acme.host).get("/healthz")
    assert (response.status_code, json.loads(response.content)) == (200, {"status": "ok"})
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = Client(HTTP_HOST=acme.host).get("/healthz")
    assert (response.status_code, json.loads(response.content)) == (503, {"status": "not ok"})
    for detail in (b"redis", b"database", b"worker", b"Error", b"ms"):
        assert detail not in response.content


def test_healthz_says_what_is_down(settings, db):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = Client(HTTP_HOST="localhost").get("/healthz")
    report = json.loads(response.content)
    assert response.status_code == 503
    assert report["checks"]["database"]["ok"] is True
    assert (
        report["checks"]["redis"]["ok"] is False and "Error" in report["checks"]["redis"]["error"]
    )
    assert report["checks"]["worker"] == {"ok": False, "error": "broker unreachable", "ms": 0.0}

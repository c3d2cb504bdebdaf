"""Hostile input on every URL (issue 13): each pattern of both URLconfs is sent malformed query
parameters and form values (huge text, NUL, invalid UTF-8 percent escapes, 1e999999, huge and
negative numbers, lists where one value is expected, CJK, RTL marks, junk files) as each role
of the cast, and must never answer 5xx or raise. A seeded hand-made generator (hypothesis is
not a dependency): a failure names its URL, role and seed, and repeats on the next run.

Field names come from every form class of the project and every `name="..."` in the
templates, so each view sees its own fields filled with bad values whatever it reads."""

import random
import re
from pathlib import Path
from typing import Any

import pytest
from django import forms
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from crm.accounts.models import User
from tests.conftest import client_for
from tests.isolation.cases import PUBLIC_CASES, TENANT_CASES, Case
from tests.testkit.cast import ROLES
from tests.testkit.otp import verify_session

pytestmark = pytest.mark.django_db

TEMPLATES = Path(settings.BASE_DIR) / "templates"

# Values no form should choke on. Strings are sent as they are; the raw query strings below
# are appended to the URL undecoded.
BAD_VALUES: list[Any] = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "1e999999",
    "-1e999999",
    "1e-20000",
    "NaN",
    "-Infinity",
    "-1",
    "0",
    "-2147483649",
    "2147483648",
    "9223372036854775808",
    "9" * 400,
    "1.5",
    "[]",
    "{}",
    '{"a": [1, 2]}',
    "null",
    "true",
    "庄" * 300,
    "\ufdfa" * 60,
    "\u202e\u200fevil\u202c",
    "\ud7ff\ue000\uffff",
    "'; DROP TABLE customers_customer; --",
    "<script>alert(1)</script>",
    "../../../../etc/passwd",
    '=HYPERLINK("http://x")',
    "2024-02-30",
    "99999-01-01",
    "0000-00-00",
    "x" * 5000,
    "a@" + "b" * 300 + ".com",
    "+" + "8" * 60,
    "\r\nBcc: victim@example.com",
    "WyJhIiwieCJd",
    "W251bGwsIG51bGxd",
]
RAW_QUERIES = ["%FF%FE%00", "%C0%AF", "%E4%B8", "%ZZ", "a=%FF&b=%00&c[]=1&c[]=2"]
HUGE = "h" * 60_000
JUNK_FILES = [
    ("junk.csv", b"\xff\xfe\x00\x00" * 500),
    ("junk.xlsx", b"PK\x03\x04" + b"\x00" * 2000),
    ("junk.csv", ("名," * 3000 + "\n").encode("gb18030") * 3),
    ("", b""),
]
COMMON_PARAMS = ["q", "after", "order", "format", "kind", "status", "page", "next", "e", "o", "p"]


def _form_classes() -> list[type[forms.BaseForm]]:
    found: list[type[forms.BaseForm]] = []
    stack: list[type[Any]] = [forms.Form, forms.ModelForm]
    while stack:
        for sub in stack.pop().__subclasses__():
            stack.append(sub)
            module = sub.__module__.split(".")[0]
            if module in ("crm", "customers", "support", "loyalty", "analytics"):
                found.append(sub)
    return found


def _names() -> tuple[list[str], list[str]]:
    """(every field name a form or template uses, the ones that take files)."""
    names: set[str] = set(COMMON_PARAMS)
    files: set[str] = set()
    for form in _form_classes():
        for name, field in getattr(form, "declared_fields", {}).items():
            (files if isinstance(field, forms.FileField) else names).add(name)
    for path in TEMPLATES.rglob("*.html"):
        names.update(re.findall(r'name="([A-Za-z0-9_\-]+)"', path.read_text()))
    names.discard("csrfmiddlewaretoken")
    return sorted(names - files), sorted(files)


NAMES, FILE_NAMES = _names()


def _bad(rng: random.Random) -> Any:
    value = rng.choice(BAD_VALUES)
    if rng.random() < 0.15:
        return [value, rng.choice(BAD_VALUES)]  # a list where one value is expected
    return value


def _payload(rng: random.Random, *, files: bool) -> dict[str, Any]:
    data: dict[str, Any] = {name: _bad(rng) for name in NAMES}
    data[rng.choice(NAMES)] = HUGE
    if files:
        for name in FILE_NAMES:
            filename, content = rng.choice(JUNK_FILES)
            data[name] = SimpleUploadedFile(filename, content)
    return data


def _query(rng: random.Random) -> dict[str, Any]:
    picked = rng.sample(NAMES, k=min(40, len(NAMES)))
    return {name: _bad(rng) for name in [*COMMON_PARAMS, *picked]}


def _operator_client() -> Client:
    operator, _created = User.objects.get_or_create(
        email="fuzz-ops@platform.test", defaults={"is_superuser": True, "is_staff": True}
    )
    client = Client(HTTP_HOST=settings.CRM_BASE_DOMAIN)
    client.force_login(operator)
    verify_session(client, operator)
    return client


def _clients(case: Case, member: Any) -> list[tuple[str, Any, bool]]:
    """(who, a client factory, whether the case lets them in)."""
    if case.kind in ("public", "token"):
        return [("anonymous", lambda: client_for(member), True)]
    allowed = case.roles or tuple(ROLES)
    return [(role, lambda role=role: client_for(member, role), role in allowed) for role in ROLES]


def _console_clients(case: Case) -> list[tuple[str, Any, bool]]:
    if case.kind == "public":
        return [("anonymous", lambda: Client(HTTP_HOST=settings.CRM_BASE_DOMAIN), True)]
    return [("operator", _operator_client, True)]


def _send(
    client: Client, method: str, url: str, data: Any, failures: list[str], label: str
) -> None:
    try:
        response = client.get(url, data) if method == "GET" else client.post(url, data)
    except Exception as exc:  # the test client re-raises a view's exception
        failures.append(f"{label}: raised {type(exc).__name__}: {str(exc)[:300]}")
        return
    if response.status_code >= 500 and response.status_code != ALLOWED_5XX.get(
        url.split("?", 1)[0]
    ):
        failures.append(f"{label}: answered {response.status_code}")


# The health check answers 503 by design when a dependency is missing (no beat in the tests).
ALLOWED_5XX = {"/healthz": 503}


def _fuzz(name: str, url: str, clients: list[tuple[str, Any, bool]]) -> list[str]:
    """Allowed roles get the full set; refused ones (a 403 before any form is read) one GET
    and one POST, enough to show the refusal does not read the values first."""
    failures: list[str] = []
    for who, make, allowed in clients:
        seed = f"{name}/{who}"
        rng = random.Random(seed)
        client = make()
        _send(client, "GET", url, _query(rng), failures, f"GET {url} as {who} (seed {seed})")
        if allowed:
            raw = "&".join(RAW_QUERIES)
            target = f"{url}{'&' if '?' in url else '?'}{raw}"
            _send(client, "GET", target, None, failures, f"GET {target} as {who}")
        # Every pattern gets POSTs too: views that only read GET must still answer. Last, as
        # one may sign the client out.
        for round_ in range(2 if allowed else 1):
            data = _payload(rng, files=round_ == 0)
            label = f"POST {url} as {who} (seed {seed}, round {round_})"
            _send(client, "POST", url, data, failures, label)
    return failures


@pytest.mark.parametrize("name", sorted(TENANT_CASES))
def test_tenant_urls_survive_hostile_input(name, acme):
    case = TENANT_CASES[name]
    url = reverse(
        name, urlconf=settings.ROOT_URLCONF, kwargs=case.kwargs(acme) if case.kwargs else {}
    )
    failures = _fuzz(name, url, _clients(case, acme))
    assert failures == []


@pytest.mark.parametrize("name", sorted(PUBLIC_CASES))
def test_console_urls_survive_hostile_input(name, acme):
    case = PUBLIC_CASES[name]
    kwargs = case.kwargs(acme) if case.kwargs else {}
    url = reverse(name, urlconf=settings.PUBLIC_SCHEMA_URLCONF, kwargs=kwargs)
    failures = _fuzz(name, url, _console_clients(case))
    assert failures == []

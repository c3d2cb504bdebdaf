"""Hostile and malformed requests to every API write: a JSON 4xx naming the problem, never a
500, and nothing written."""

import json
import uuid

import pytest
from django.test import override_settings
from django_tenants.utils import schema_context

from crm.accounts.models import AuditEntry
from tests.api.conftest import ApiClient, token_make
from tests.api.loyalty_kit import member_with_points

pytestmark = pytest.mark.django_db

GOOD_ORDER = {
    "number": "BAD-0",
    "customer": {"external_id": "BAD-C", "name": "Bad Body"},
    "ordered_at": "2026-12-01T10:00:00Z",
    "amount": "10.00",
}


def _with(**changes):
    body = json.loads(json.dumps(GOOD_ORDER))
    for key, value in changes.items():
        if value is ...:
            body.pop(key)
        else:
            body[key] = value
    return json.dumps(body).encode()


HOSTILE_ORDERS: list[tuple[str, bytes]] = [
    ("empty", b""),
    ("not json", b"{number: 1}"),
    ("truncated", b'{"number": "A'),
    ("invalid utf-8", b'{"number": "\xff\xfe"}'),
    ("a list", b"[1, 2, 3]"),
    ("a string", b'"order"'),
    ("null", b"null"),
    ("a number", b"12"),
    (
        "NaN amount",
        _with(amount="REPLACE").replace(b'"REPLACE"', b"NaN"),
    ),
    ("Infinity", b'{"amount": Infinity}'),
    ("deep nesting", b"[" * 20_000 + b"]" * 20_000),
    ("unknown field", _with(discount=5)),
    ("unknown customer field", _with(customer={"external_id": "C", "nickname": "x"})),
    ("missing number", _with(number=...)),
    ("number as list", _with(number=["A"])),
    ("number too long", _with(number="N" * 65)),
    ("blank number", _with(number="   ")),
    ("NUL in number", _with(number="A\x00B")),
    ("NUL in a key", _with(**{"\x00": 1})),
    ("NUL in name", _with(customer={"external_id": "C", "name": "a\x00b"})),
    ("customer a string", _with(customer="C-1")),
    ("customer named by nothing", _with(customer={"name": "Only a name"})),
    ("amount text", _with(amount="ten")),
    ("amount negative", _with(amount="-1")),
    ("amount huge", _with(amount="1e999999")),
    ("amount 1e308", _with(amount=1e308)),
    ("amount three decimals", _with(amount="1.005")),
    ("amount bool", _with(amount=True)),
    ("date text", _with(ordered_at="yesterday")),
    ("date year 1", _with(ordered_at="0001-01-01T00:00:00+14:00")),
    ("date year 9999", _with(ordered_at="9999-12-31T23:59:59-12:00")),
    ("date number", _with(ordered_at=1e20)),
    ("status unknown", _with(status="stolen")),
    ("currency long", _with(currency="POUNDS")),
    ("currency digits", _with(currency="123")),
    ("store too long", _with(store="s" * 101)),
    ("channel object", _with(channel={"a": 1})),
    ("phone junk", _with(customer={"phone": "not a phone", "name": "X"})),
    ("email junk", _with(customer={"email": "@@", "name": "X"})),
    ("external id too long", _with(customer={"external_id": "x" * 101, "name": "X"})),
    ("referral code too long", _with(referral_code="r" * 65)),
    ("referral code unknown", _with(referral_code="NO-SUCH-CODE")),
    ("huge escaped string", _with(store="ß" * 30_000)),
]


def _ids(cases):
    return [name for name, _ in cases]


@pytest.mark.parametrize(("name", "raw"), HOSTILE_ORDERS, ids=_ids(HOSTILE_ORDERS))
def test_hostile_order_bodies_are_json_400s(acme, name, raw):
    api = ApiClient(acme, token_make(acme, "loyalty"))
    with schema_context(acme.schema):
        before = AuditEntry.objects.exclude(table_name="api_apitoken").count()
    response = api.post("/api/v1/orders", raw=raw)
    assert 400 <= response.status_code < 500, (name, response.status_code, response.content)
    assert response.status_code in (400, 404), name
    body = response.json()
    assert set(body) >= {"error", "detail"} and body["detail"], name
    with schema_context(acme.schema):
        assert AuditEntry.objects.exclude(table_name="api_apitoken").count() == before, name


def test_an_oversized_body_is_refused_before_it_is_read(acme):
    api = ApiClient(acme, token_make(acme, "loyalty"))
    raw = _with(store="x" * (70 * 1024))
    response = api.post("/api/v1/orders", raw=raw)
    assert response.status_code == 400 and response.json()["error"] == "body_too_large"


@override_settings(API_MAX_BODY_BYTES=100)
def test_the_body_limit_is_a_setting(acme):
    api = ApiClient(acme, token_make(acme, "loyalty"))
    response = api.post("/api/v1/orders", raw=_with())
    assert response.status_code == 400 and response.json()["error"] == "body_too_large"


HOSTILE_REDEMPTIONS: list[tuple[str, bytes]] = [
    ("empty", b""),
    ("not json", b"points=5"),
    ("list", b"[5]"),
    ("points missing", b'{"note": "x"}'),
    ("points zero", b'{"points": 0}'),
    ("points negative", b'{"points": -5}'),
    ("points text", b'{"points": "5"}'),
    ("points float", b'{"points": 5.5}'),
    ("points bool", b'{"points": true}'),
    ("points huge", b'{"points": 1' + b"0" * 400 + b"}"),
    ("reward text", b'{"points": 5, "reward": "gift"}'),
    ("reward unknown", b'{"points": 5, "reward": 987654321}'),
    ("reward huge", b'{"points": 5, "reward": 99999999999999999999999}'),
    ("note too long", b'{"points": 5, "note": "' + b"n" * 501 + b'"}'),
    ("note NUL", b'{"points": 5, "note": "a\\u0000b"}'),
    ("unknown field", b'{"points": 5, "customer": "someone else"}'),
]


@pytest.mark.parametrize(("name", "raw"), HOSTILE_REDEMPTIONS, ids=_ids(HOSTILE_REDEMPTIONS))
def test_hostile_redemption_bodies_are_json_4xx(acme, name, raw):
    external_id, balance = member_with_points(acme)
    api = ApiClient(acme, token_make(acme, "loyalty"))
    url = f"/api/v1/customers/{external_id}/redemptions"
    response = api.post(url, raw=raw, **{"Idempotency-Key": uuid.uuid4().hex})
    assert response.status_code in (400, 404), (name, response.status_code, response.content)
    assert response.json()["error"] and response.json()["detail"]
    from tests.api.loyalty_kit import balance_of

    assert balance_of(acme, external_id) == balance, name


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/customers/%00/loyalty",
        "/api/v1/customers/" + "x" * 3000 + "/loyalty",
        "/api/v1/customers/%F0%9F%92%A9/loyalty",
        "/api/v1/customers/a%2Fb/loyalty",
    ],
)
def test_hostile_paths_are_json_404s(acme, path):
    api = ApiClient(acme, token_make(acme, "loyalty"))
    response = api.get(path)
    assert response.status_code == 404, response.content
    assert response.json()["error"] in ("customer_not_found", "not_found")

"""50 tills redeem at once through the API (real HTTP against the live gunicorn server, each
request with its own Idempotency-Key) from a balance that covers exactly 10: exactly 10 get a
201, the other 40 a 409, and the balance ends right, never below zero."""

import json
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest
from django_tenants.utils import schema_context

from crm.accounts.models import AuditEntry
from tests.api.conftest import token_make
from tests.api.loyalty_kit import balance_of, member_with_points
from tests.testkit.cleanup import customers_delete

REQUESTS = 50
SUCCEEDING = 10


@pytest.fixture(autouse=True)
def _customers_made_here_go(committed_db, acme):
    """These tests commit; the customers they make must not reach later tests (the browser
    tests expect an empty customer list)."""
    from customers.models import Customer

    with schema_context(acme.schema):
        before = Customer.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    yield
    with schema_context(acme.schema):
        customers_delete(Customer.objects.filter(pk__gt=before).values_list("pk", flat=True))


def _post(url: str, host: str, secret: str, body: dict, key: str = "") -> tuple[int, dict]:
    request = urllib.request.Request(  # noqa: S310 (http to the test server)
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "Host": host,
            "Authorization": f"Bearer {secret}",
            "Content-Type": "application/json",
            **({"Idempotency-Key": key} if key else {}),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def test_fifty_concurrent_redemptions_through_the_api(committed_db, live_server_url, acme):
    external_id, balance = member_with_points(acme)
    points = balance // SUCCEEDING
    assert points > 0 and SUCCEEDING * points <= balance < (SUCCEEDING + 1) * points
    secret = token_make(acme, "loyalty", name=f"Concurrency {uuid.uuid4().hex[:6]}")
    port = urlsplit(live_server_url).port
    url = f"http://127.0.0.1:{port}/api/v1/customers/{external_id}/redemptions"
    host = f"{acme.host}:{port}"

    with ThreadPoolExecutor(max_workers=REQUESTS) as pool:
        answers = list(
            pool.map(
                lambda i: _post(url, host, secret, {"points": points}, f"k-{uuid.uuid4().hex}"),
                range(REQUESTS),
            )
        )

    statuses = sorted(status for status, _body in answers)
    assert statuses.count(201) == SUCCEEDING, statuses
    assert statuses.count(409) == REQUESTS - SUCCEEDING, statuses
    refused = [body for status, body in answers if status == 409]
    assert all(body["error"] == "insufficient_points" for body in refused)
    final = balance - SUCCEEDING * points
    assert balance_of(acme, external_id) == final >= 0
    # Each success saw the balance after its own redemption; together they step down by one
    # redemption each.
    balances = sorted(body["balance"] for status, body in answers if status == 201)
    assert balances == [final + i * points for i in range(SUCCEEDING)]
    with schema_context(acme.schema):
        from loyalty.models import Redemption

        assert (
            Redemption.objects.filter(account__customer__external_id=external_id).count()
            == SUCCEEDING
        )
        assert AuditEntry.objects.filter(actor_label__startswith="API token: Concurrency").exists()


def test_the_same_new_order_posted_by_ten_tills_at_once_earns_once(
    committed_db, live_server_url, acme
):
    """A till retrying while its first post is still in flight: one order, one earn."""
    from customers.models import Order
    from loyalty.selectors import order_points

    secret = token_make(acme, "loyalty", name=f"Retry {uuid.uuid4().hex[:6]}")
    port = urlsplit(live_server_url).port
    url = f"http://127.0.0.1:{port}/api/v1/orders"
    number = f"RACE-{uuid.uuid4().hex[:10]}"
    body = {
        "number": number,
        "customer": {"external_id": f"RACE-C-{number}", "name": "Race 竞"},
        "ordered_at": "2026-12-01T10:00:00Z",
        "amount": "88.00",
    }
    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(
            pool.map(lambda _i: _post(url, f"{acme.host}:{port}", secret, body), range(10))
        )
    statuses = sorted(status for status, _body in answers)
    assert statuses == [200] * 9 + [201], answers
    bodies = [b for _s, b in answers]
    assert all(b == bodies[0] for b in bodies), "every till got the same answer"
    with schema_context(acme.schema):
        order = Order.objects.get(number=number)
        assert order_points(order) == bodies[0]["points_earned"] > 0
        assert balance_of(acme, f"RACE-C-{number}") == bodies[0]["balance"]

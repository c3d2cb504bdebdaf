"""The loyalty endpoints a till calls: post orders (earned once, reversed on refund), read a
member's points, redeem with an Idempotency-Key."""

import uuid

import pytest
from django_tenants.utils import schema_context

from crm.accounts.models import AuditEntry
from crm.api.models import IdempotentAnswer
from customers.models import Customer, Order
from loyalty.selectors import account_balance, order_points
from tests.api.conftest import ApiClient, token_make
from tests.api.loyalty_kit import balance_of, member_with_points

pytestmark = pytest.mark.django_db


def _order(number: str, **extra) -> dict:
    body = {
        "number": number,
        "customer": {"external_id": f"POS-{number}", "name": "Li Na 李娜"},
        "ordered_at": "2026-12-01T10:00:00+00:00",
        "amount": "120.00",
    }
    body.update(extra)
    return body


def _number() -> str:
    return f"T-{uuid.uuid4().hex[:10]}"


def test_an_order_creates_its_customer_and_earns_points_once(acme):
    api = ApiClient(acme, token_make(acme, "loyalty", name="Till 1"))
    number = _number()
    first = api.post("/api/v1/orders", _order(number))
    assert first.status_code == 201, first.content
    body = first.json()
    assert body["order"]["number"] == number
    assert body["order"]["customer"]["name"] == "Li Na 李娜"
    assert body["order"]["amount"] == "120.00"
    assert body["order"]["currency"] == acme.tenant.currency
    assert body["points_earned"] > 0
    assert body["balance"] >= body["points_earned"]
    again = api.post("/api/v1/orders", _order(number))
    assert again.status_code == 200
    assert again.json() == body, "the same answer, nothing more earned"
    with schema_context(acme.schema):
        assert Order.objects.filter(number=number).count() == 1
        customer = Customer.objects.get(external_id=f"POS-{number}")
        assert account_balance(customer) == body["balance"]
        order = Order.objects.get(number=number)
        # Every write of the request is the token's in the audit log.
        labels = set(
            AuditEntry.objects.filter(
                table_name__in=["customers_order", "customers_customer"],
                record_id__in=[str(order.pk), str(customer.pk)],
            ).values_list("actor_label", flat=True)
        )
        assert labels == {"API token: Till 1"}


def test_a_refund_posted_later_reverses_the_points(acme):
    api = ApiClient(acme, token_make(acme, "loyalty"))
    number = _number()
    earned = api.post("/api/v1/orders", _order(number)).json()
    refunded = api.post("/api/v1/orders", _order(number, status="refunded"))
    assert refunded.status_code == 200, refunded.content
    body = refunded.json()
    assert body["order"]["status"] == "refunded"
    assert body["points_earned"] == 0
    assert body["balance"] == earned["balance"] - earned["points_earned"]
    # Posting the refund again takes nothing more.
    assert api.post("/api/v1/orders", _order(number, status="refunded")).json() == body
    with schema_context(acme.schema):
        assert order_points(Order.objects.get(number=number)) == 0


def test_an_order_for_an_existing_member_by_phone(acme):
    api = ApiClient(acme, token_make(acme, "loyalty"))
    with schema_context(acme.schema):
        from customers.services import CustomerInput, customer_create

        customer_create(
            actor=None, data=CustomerInput(name="Phone member", phones=["+86 139 1234 5678"])
        )
    number = _number()
    body = {
        "number": number,
        # Written another way than stored; a naive time is the workspace's.
        "customer": {"phone": "0086 139-1234-5678"},
        "ordered_at": "2026-12-01T10:00:00",
        "amount": 50,
    }
    answer = api.post("/api/v1/orders", body)
    assert answer.status_code == 201, answer.content
    with schema_context(acme.schema):
        assert Order.objects.get(number=number).customer.name == "Phone member"


def test_an_unknown_customer_without_a_name_is_404_and_writes_nothing(acme):
    api = ApiClient(acme, token_make(acme, "loyalty"))
    number = _number()
    body = _order(number)
    body["customer"] = {"email": "nobody@example.com"}
    answer = api.post("/api/v1/orders", body)
    assert answer.status_code == 404 and answer.json()["error"] == "customer_not_found"
    with schema_context(acme.schema):
        assert not Order.objects.filter(number=number).exists()


def test_the_loyalty_summary(acme):
    external_id, balance = member_with_points(acme)
    api = ApiClient(acme, token_make(acme, "loyalty"))
    answer = api.get(f"/api/v1/customers/{external_id}/loyalty")
    assert answer.status_code == 200
    body = answer.json()
    assert body["balance"] == balance
    assert set(body) == {"balance", "tier", "qualifying_points", "expiring"}
    assert all(set(e) == {"points", "expires_on"} for e in body["expiring"])
    missing = api.get("/api/v1/customers/nobody/loyalty")
    assert missing.status_code == 404 and missing.json()["error"] == "customer_not_found"


def test_a_redemption_and_its_retry(acme):
    external_id, balance = member_with_points(acme)
    api = ApiClient(acme, token_make(acme, "loyalty", name="Till 7"))
    url = f"/api/v1/customers/{external_id}/redemptions"
    key = uuid.uuid4().hex
    first = api.post(url, {"points": 10, "note": "coffee"}, **{"Idempotency-Key": key})
    assert first.status_code == 201, first.content
    body = first.json()
    assert body["points"] == 10 and body["balance"] == balance - 10
    assert isinstance(body["redemption_id"], int)
    retry = api.post(url, {"points": 10, "note": "coffee"}, **{"Idempotency-Key": key})
    assert retry.status_code == 201 and retry.json() == body
    assert balance_of(acme, external_id) == balance - 10, "no second effect"
    reused = api.post(url, {"points": 11}, **{"Idempotency-Key": key})
    assert reused.status_code == 422 and reused.json()["error"] == "idempotency_key_reused"
    assert balance_of(acme, external_id) == balance - 10
    with schema_context(acme.schema):
        labels = set(
            AuditEntry.objects.filter(table_name__startswith="loyalty_")
            .filter(actor_label__startswith="API token")
            .values_list("actor_label", flat=True)
        )
        assert labels == {"API token: Till 7"}


def test_a_redemption_needs_an_idempotency_key(acme):
    external_id, balance = member_with_points(acme)
    api = ApiClient(acme, token_make(acme, "loyalty"))
    url = f"/api/v1/customers/{external_id}/redemptions"
    missing = api.post(url, {"points": 1})
    assert missing.status_code == 400 and missing.json()["error"] == "idempotency_key_required"
    bad = api.post(url, {"points": 1}, **{"Idempotency-Key": "é" * 3})
    assert bad.status_code == 400
    assert balance_of(acme, external_id) == balance


def test_not_enough_points_is_409_and_the_key_may_be_retried(acme):
    external_id, balance = member_with_points(acme)
    api = ApiClient(acme, token_make(acme, "loyalty"))
    url = f"/api/v1/customers/{external_id}/redemptions"
    key = uuid.uuid4().hex
    short = api.post(url, {"points": balance + 1}, **{"Idempotency-Key": key})
    assert short.status_code == 409, short.content
    assert short.json()["error"] == "insufficient_points"
    assert short.json()["balance"] == balance
    assert balance_of(acme, external_id) == balance
    with schema_context(acme.schema):
        assert not IdempotentAnswer.objects.filter(key=key).exists()


def test_idempotency_keys_belong_to_their_token(acme):
    external_id, balance = member_with_points(acme)
    url = f"/api/v1/customers/{external_id}/redemptions"
    key = uuid.uuid4().hex
    one = ApiClient(acme, token_make(acme, "loyalty"))
    two = ApiClient(acme, token_make(acme, "loyalty"))
    assert one.post(url, {"points": 3}, **{"Idempotency-Key": key}).status_code == 201
    assert two.post(url, {"points": 3}, **{"Idempotency-Key": key}).status_code == 201
    assert balance_of(acme, external_id) == balance - 6


def test_a_referral_code_links_a_customer_the_order_creates(acme):
    from loyalty.models import Account, LedgerEntry

    referrer_id, referrer_balance = member_with_points(acme)
    with schema_context(acme.schema):
        referrer = Account.objects.get(customer__external_id=referrer_id)
    api = ApiClient(acme, token_make(acme, "loyalty"))
    number = _number()
    answer = api.post("/api/v1/orders", _order(number, referral_code=referrer.referral_code))
    assert answer.status_code == 201, answer.content
    with schema_context(acme.schema):
        member = Account.objects.get(customer__external_id=f"POS-{number}")
        assert member.referred_by_id == referrer.pk
        bonuses = LedgerEntry.objects.filter(account=referrer, bonus="referral")
        bonus = sum(bonuses.values_list("points", flat=True))
    assert balance_of(acme, referrer_id) == referrer_balance + bonus
    # A second order of the referred member pays no second bonus.
    again = _order(_number(), referral_code=referrer.referral_code)
    again["customer"] = {"external_id": f"POS-{number}"}
    assert api.post("/api/v1/orders", again).status_code == 201
    assert balance_of(acme, referrer_id) == referrer_balance + bonus


def test_an_unknown_referral_code_refuses_the_order_and_creates_nobody(acme):
    api = ApiClient(acme, token_make(acme, "loyalty"))
    number = _number()
    answer = api.post("/api/v1/orders", _order(number, referral_code="NOPE42"))
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_referral_code"
    with schema_context(acme.schema):
        assert not Customer.objects.filter(external_id=f"POS-{number}").exists()
        assert not Order.objects.filter(number=number).exists()

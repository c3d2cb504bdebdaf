"""The loyalty scope of the JSON API (crm.api), for point-of-sale systems: post an order (its
points are earned by loyalty's order listener), read a member's points, redeem points.

Writes go through the services with actor=None inside crm.api's token block, so the audit
log names the token ("API token: <name>")."""

import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.http import HttpRequest
from django.utils import timezone
from ninja import Router, Schema, Status
from pydantic import ConfigDict, Field, StringConstraints, field_validator, model_validator

from crm.api.errors import ApiError
from crm.api.idempotency import (
    idempotency_key,
    idempotent_claim,
    idempotent_keep,
    request_fingerprint,
)
from crm.api.registry import api_router_register
from crm.api.schemas import COMMON_ERRORS, ErrorOut
from crm.api.scopes import LOYALTY
from crm.lib.contacts import InvalidPhone, email_normalise, phone_normalise
from crm.lib.tenancy import current_schema
from customers.api import customer_or_404
from customers.models import Customer, Order
from customers.selectors import customer_for_external_id, customers_find
from customers.services import (
    CustomerInput,
    customer_create,
    order_create,
    order_status_set,
    tenant_phone_region,
)
from loyalty.errors import InsufficientPoints
from loyalty.selectors import account_balance, loyalty_summary, order_points
from loyalty.services import points_redeem, referral_link

router = Router()

Text = Annotated[str, StringConstraints(strip_whitespace=True)]


class Strict(Schema):
    # Unknown fields are a 400, so a misspelt field never goes unnoticed.
    model_config = ConfigDict(extra="forbid")


# --- orders ---------------------------------------------------------------------------------


class CustomerRef(Strict):
    external_id: Annotated[Text, Field(min_length=1, max_length=100)] | None = None
    phone: Annotated[Text, Field(min_length=1, max_length=50)] | None = None
    email: Annotated[Text, Field(min_length=3, max_length=254)] | None = None
    name: Annotated[Text, Field(min_length=1, max_length=200)] | None = None

    @model_validator(mode="after")
    def _named(self) -> "CustomerRef":
        if not (self.external_id or self.phone or self.email):
            raise ValueError("name the customer by external_id, phone or email")
        return self


class OrderIn(Strict):
    number: Annotated[Text, Field(min_length=1, max_length=64)]
    customer: CustomerRef
    ordered_at: datetime.datetime
    amount: Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2, allow_inf_nan=False)]
    currency: Annotated[Text, Field(pattern=r"^[A-Za-z]{3}$")] | None = None
    status: Literal["completed", "refunded", "cancelled"] = "completed"
    channel: Annotated[Text, Field(max_length=50)] = ""
    store: Annotated[Text, Field(max_length=100)] = ""
    referral_code: Annotated[Text, Field(min_length=1, max_length=64)] | None = None

    @field_validator("ordered_at")
    @classmethod
    def _plausible(cls, value: datetime.datetime) -> datetime.datetime:
        # A year far out overflows when moved to UTC; no till sells in them.
        if not 1970 <= value.year <= 2999:
            raise ValueError("a date between 1970 and 2999")
        if timezone.is_naive(value):
            value = timezone.make_aware(value)  # the workspace's time zone
        return value


class OrderCustomerOut(Schema):
    external_id: str
    name: str


class OrderOut(Schema):
    number: str
    customer: OrderCustomerOut
    ordered_at: datetime.datetime
    amount: str
    currency: str
    status: str
    channel: str
    store: str


class OrderAnswer(Schema):
    order: OrderOut
    points_earned: int
    balance: int


def _order_answer(order: Order) -> dict[str, Any]:
    customer = order.customer
    return {
        "order": {
            "number": order.number,
            "customer": {"external_id": customer.external_id, "name": customer.name},
            "ordered_at": order.ordered_at.isoformat(),
            "amount": f"{order.amount:.2f}",
            "currency": order.currency,
            "status": order.status,
            "channel": order.channel,
            "store": order.store,
        },
        "points_earned": order_points(order),
        "balance": account_balance(customer),
    }


def _customer_found(ref: CustomerRef) -> Customer | None:
    if ref.external_id:
        return customer_for_external_id(ref.external_id)
    if ref.phone:
        try:
            e164 = phone_normalise(ref.phone, default_region=tenant_phone_region()).e164
        except InvalidPhone:
            raise ApiError(
                400, "invalid_request", "customer.phone: not a phone number we can dial"
            ) from None
        ids = customers_find(by="phone", values=[e164]).get(e164, [])
    else:
        email = email_normalise(ref.email or "")
        ids = customers_find(by="email", values=[email]).get(email, [])
    # Several customers may share a phone: the oldest record is the member.
    return Customer.objects.filter(pk=ids[0]).first() if ids else None


def _customer_created(ref: CustomerRef, *, retry: bool) -> Customer:
    if not ref.name:
        raise ApiError(
            404,
            "customer_not_found",
            "No customer matches; send customer.name as well to create one.",
        )
    try:
        return customer_create(
            actor=None,
            data=CustomerInput(
                name=ref.name,
                phones=[ref.phone] if ref.phone else [],
                emails=[ref.email] if ref.email else [],
                external_id=ref.external_id or "",
                source="API",
            ),
        )
    except ValidationError as exc:
        if retry:
            # Perhaps another request created this customer meanwhile: look again once.
            raise _Again from None
        raise ApiError(400, "invalid_customer", " ".join(exc.messages)) from None


class _Again(Exception):
    """Another request wrote the same order or customer first: start over, once."""


def _order_again(order: Order, status: str) -> tuple[int, dict[str, Any]]:
    """A known number: the same answer; a refund or cancellation reverses its points."""
    if status != Order.Status.COMPLETED and order.status == Order.Status.COMPLETED:
        order = order_status_set(actor=None, order=order, status=status)
    return 200, _order_answer(order)


def _order_new(payload: OrderIn, currency: str, *, retry: bool) -> tuple[int, dict[str, Any]]:
    ref = payload.customer
    customer = _customer_found(ref)
    created = customer is None
    if customer is None:
        customer = _customer_created(ref, retry=retry)
    if created and payload.referral_code:
        try:
            referral_link(actor=None, customer=customer, code=payload.referral_code)
        except ValidationError as exc:
            raise ApiError(400, "invalid_referral_code", " ".join(exc.messages)) from None
    try:
        order = order_create(
            actor=None,
            customer=customer,
            number=payload.number,
            ordered_at=payload.ordered_at,
            amount=payload.amount,
            currency=(payload.currency or currency).upper(),
            channel=payload.channel,
            store=payload.store,
            status=payload.status,
        )
    except ValidationError as exc:
        if retry and "number" in getattr(exc, "message_dict", {}):
            raise _Again from None
        raise ApiError(400, "invalid_order", " ".join(exc.messages)) from None
    return 201, _order_answer(order)


def _number_lock(number: str) -> None:
    """Posts of the same number wait for each other (a till retrying while its first post is
    in flight): the second then finds the first's order. Until the transaction ends; keyed by
    schema, so tenants never wait for each other."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
            [f"api-order:{current_schema()}:{number}"],
        )


@router.post(
    "/orders",
    response={200: OrderAnswer, 201: OrderAnswer, 404: ErrorOut, **COMMON_ERRORS},
    url_name="orders",
    summary="Post an order (earns its points once; a refund or cancellation reverses them)",
)
def order_post(request: HttpRequest, payload: OrderIn) -> Status[dict[str, Any]]:
    tenant = getattr(request, "tenant", None)
    currency = getattr(tenant, "currency", "") or "CNY"
    for retry in (True, False):
        try:
            with transaction.atomic():
                _number_lock(payload.number)
                existing = (
                    Order.objects.select_for_update(of=("self",))
                    .select_related("customer")
                    .filter(number=payload.number)
                    .first()
                )
                if existing is not None:
                    return Status(*_order_again(existing, payload.status))
                return Status(*_order_new(payload, currency, retry=retry))
        except _Again:
            continue
    raise AssertionError("the second attempt raises no _Again")


# --- points ---------------------------------------------------------------------------------


class ExpiringOut(Schema):
    points: int
    expires_on: datetime.date


class LoyaltyOut(Schema):
    balance: int
    tier: str | None
    qualifying_points: int
    expiring: list[ExpiringOut]


@router.get(
    "/customers/{external_id}/loyalty",
    response={200: LoyaltyOut, 404: ErrorOut, **COMMON_ERRORS},
    url_name="customer_loyalty",
    summary="A member's points, tier and points about to expire",
)
def customer_loyalty(request: HttpRequest, external_id: str) -> dict[str, Any]:
    summary = loyalty_summary(customer_or_404(external_id))
    return {
        "balance": summary.balance,
        "tier": summary.tier,
        "qualifying_points": summary.qualifying_points,
        "expiring": [{"points": p, "expires_on": d} for p, d in summary.expiring],
    }


class RedemptionIn(Strict):
    points: Annotated[int, Field(gt=0, le=1_000_000_000, strict=True)]
    reward: Annotated[int, Field(gt=0, le=2**62, strict=True)] | None = None
    note: Annotated[Text, Field(max_length=500)] = ""


class RedemptionOut(Schema):
    redemption_id: int
    points: int
    balance: int


class InsufficientOut(ErrorOut):
    balance: int
    wanted: int


def _reward(reward_id: int | None) -> Any:
    if reward_id is None:
        return None
    from loyalty.models import Reward

    reward = Reward.objects.filter(pk=reward_id).first()
    if reward is None:
        raise ApiError(404, "reward_not_found", "No reward has this id.")
    return reward


@router.post(
    "/customers/{external_id}/redemptions",
    response={
        201: RedemptionOut,
        404: ErrorOut,
        409: InsufficientOut,
        422: ErrorOut,
        **COMMON_ERRORS,
    },
    url_name="customer_redemptions",
    summary="Redeem points (Idempotency-Key header required)",
    openapi_extra={
        "parameters": [
            {
                "in": "header",
                "name": "Idempotency-Key",
                "required": True,
                "schema": {"type": "string", "maxLength": 200},
                "description": "A new random key per redemption; send the same key to retry.",
            }
        ]
    },
)
def customer_redemption(
    request: HttpRequest, external_id: str, payload: RedemptionIn
) -> Status[dict[str, Any]]:
    key = idempotency_key(request)
    token = request.auth  # type: ignore[attr-defined]
    fingerprint = request_fingerprint("redemption", external_id, payload.model_dump(mode="json"))
    customer = customer_or_404(external_id)
    with transaction.atomic():
        earlier = idempotent_claim(token=token, key=key, fingerprint=fingerprint)
        if earlier is not None:
            return Status(*earlier)
        try:
            redemption = points_redeem(
                actor=None,
                customer=customer,
                points=payload.points,
                reward=_reward(payload.reward),
                note=payload.note,
            )
        except InsufficientPoints as exc:
            raise ApiError(
                409,
                "insufficient_points",
                f"The balance is {exc.balance} points; {exc.wanted} were asked for.",
                extra={"balance": exc.balance, "wanted": exc.wanted},
            ) from None
        except ValidationError as exc:
            raise ApiError(400, "redemption_refused", " ".join(exc.messages)) from None
        answer = {
            "redemption_id": redemption.pk,
            "points": payload.points,
            # The locked account, its balance after this redemption (no query).
            "balance": redemption.account.balance,
        }
        idempotent_keep(token=token, key=key, status=201, body=answer)
    return Status(201, answer)


def register() -> None:
    api_router_register("", router, scope=LOYALTY, tag="loyalty")

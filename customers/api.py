"""The customers scope of the JSON API (crm.api): read one customer by the id another system
knows them by.

A token is not a member of staff: it has no role and no record scope; it reads every customer
record. It never shows more personal data than the administrator who made it on the API tokens
page may see now: made by an administrator without "See personal data", or one deactivated or
deleted since, it answers with masked phones, emails and birthdays. Tokens made on the command
line (origin "command_line"; platform operators, like `export_records`) answer unmasked
(crm.api.auth.token_shows_personal_data). docs/api.md says so."""

import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema

from crm.accounts.masking import shown
from crm.api.auth import token_shows_personal_data
from crm.api.errors import ApiError
from crm.api.registry import api_router_register
from crm.api.schemas import COMMON_ERRORS, ErrorOut
from crm.api.scopes import CUSTOMERS
from customers.models import Customer
from customers.selectors import customer_for_external_id

router = Router()


class CustomerOut(Schema):
    external_id: str
    name: str
    kind: str
    phones: list[str]
    emails: list[str]
    birthday: datetime.date | str | None  # a masked birthday is text
    city: str
    country: str
    tags: list[str]
    stage: str
    created_at: datetime.datetime
    language: str  # "en", "zh-hans", or "" when not known


def customer_or_404(external_id: str) -> Customer:
    customer = customer_for_external_id(external_id)
    if customer is None:
        raise ApiError(404, "customer_not_found", "No customer has this external id.")
    return customer


@router.get(
    "/{external_id}",
    response={200: CustomerOut, 404: ErrorOut, **COMMON_ERRORS},
    url_name="customer_detail",
    summary="A customer by external id",
)
def customer_detail(request: HttpRequest, external_id: str) -> CustomerOut:
    customer = customer_or_404(external_id)
    token = request.auth  # type: ignore[attr-defined]
    maker = token.created_by
    see_all = token_shows_personal_data(token)

    def personal(kind: str, value: Any) -> Any:
        return value if see_all or value in (None, "") else shown(maker, kind, value)

    return CustomerOut(
        external_id=customer.external_id,
        name=customer.name,
        kind=customer.kind,
        phones=[personal("phone", p) for p in customer.phones.values_list("e164", flat=True)],
        emails=[personal("email", e) for e in customer.emails.values_list("email", flat=True)],
        birthday=personal("birthday", customer.birthday),
        city=customer.city,
        country=customer.country,
        tags=list(customer.tags),
        stage=customer.stage,
        created_at=customer.created_at,
        language=customer.language,
    )


def register() -> None:
    api_router_register("/customers", router, scope=CUSTOMERS, tag="customers")

"""Who may call the API: a live token of this tenant, with the scope of the endpoint, within
its rate limit. Everything else is a JSON refusal."""

import datetime
import uuid

import pytest
from django.test import override_settings
from django_tenants.utils import schema_context

from crm.api.models import ApiToken
from crm.api.services import api_token_revoke
from customers.services import CustomerInput, customer_create
from tests.api.conftest import ApiClient, token_make

pytestmark = pytest.mark.django_db


def _customer(member, **extra) -> str:
    external_id = f"EXT-{uuid.uuid4().hex[:10]}"
    with schema_context(member.schema):
        customer_create(
            actor=None,
            data=CustomerInput(
                name="Chen Jing 陈静",
                phones=["+86 138 0013 8000"],
                emails=["chen.jing@example.com"],
                external_id=external_id,
                **extra,
            ),
        )
    return external_id


def _assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["error"] == code
    assert isinstance(body["detail"], str) and body["detail"]
    return body


def test_a_customers_token_reads_a_customer_by_external_id(acme):
    external_id = _customer(acme)
    api = ApiClient(acme, token_make(acme, "customers"))
    response = api.get(f"/api/v1/customers/{external_id}")
    assert response.status_code == 200
    body = response.json()
    assert body["external_id"] == external_id
    assert body["name"] == "Chen Jing 陈静"
    assert body["phones"] == ["+8613800138000"]
    assert body["emails"] == ["chen.jing@example.com"]
    assert "no-store" in response["Cache-Control"]


def test_a_token_never_shows_more_personal_data_than_its_maker_may_see(acme):
    """Made by someone without "See personal data" (the viewer here, or an administrator whose
    role lacks it), the token answers masked; made by the admin, unmasked."""
    from crm.accounts.models import User
    from crm.api.services import api_token_create

    external_id = _customer(acme, birthday=datetime.date(1990, 5, 17))

    def answer(role: str) -> dict:
        with schema_context(acme.schema):
            maker = User.objects.get(pk=acme.users[role].pk)
            _token, secret = api_token_create(actor=maker, name=f"By {role}", scopes=["customers"])
        return ApiClient(acme, secret).get(f"/api/v1/customers/{external_id}").json()

    shown_all = answer("admin")
    assert shown_all["phones"] == ["+8613800138000"]
    assert shown_all["emails"] == ["chen.jing@example.com"]
    assert shown_all["birthday"] == "1990-05-17"
    masked = answer("viewer")
    assert masked["name"] == "Chen Jing 陈静"
    assert masked["phones"] and "13800138000" not in masked["phones"][0]
    assert masked["emails"] and masked["emails"][0] != "chen.jing@example.com"
    assert masked["birthday"] != "1990-05-17"


def _admin_made_token(member, email: str) -> tuple[int, str]:
    """A new administrator of `member` and a customers token they made on the page: (the
    administrator's id, the token's secret)."""
    from crm.accounts import roles
    from crm.accounts.services import staff_create
    from crm.api.services import api_token_create

    with schema_context(member.schema):
        maker = staff_create(
            actor=None, email=email, full_name="Leaving admin", role=roles.ADMIN, password="x" * 16
        )
        _token, secret = api_token_create(
            actor=maker, name="Till of a leaver", scopes=["customers"], origin=ApiToken.Origin.PAGE
        )
    return maker.pk, secret


def _unmasked(body: dict) -> bool:
    return body["phones"] == ["+8613800138000"] and body["emails"] == ["chen.jing@example.com"]


def test_a_token_whose_maker_was_deleted_answers_masked_not_like_a_command_line_one(acme):
    """Deleting the maker empties created_by (SET NULL), as a command-line token's is: the
    recorded origin still tells them apart, so the orphan answers masked (and keeps working)."""
    from crm.accounts.models import User

    external_id = _customer(acme, birthday=datetime.date(1990, 5, 17))
    maker_id, secret = _admin_made_token(acme, f"leaver-{uuid.uuid4().hex[:6]}@acme.test")
    api = ApiClient(acme, secret)
    assert _unmasked(api.get(f"/api/v1/customers/{external_id}").json())
    with schema_context(acme.schema):
        User.objects.filter(pk=maker_id).delete()
        token = ApiToken.objects.get(name="Till of a leaver")
        assert token.created_by_id is None
        assert token.origin == ApiToken.Origin.PAGE
    response = api.get(f"/api/v1/customers/{external_id}")
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "Chen Jing 陈静"
    assert body["phones"] and "13800138000" not in body["phones"][0]
    assert body["emails"] and body["emails"][0] != "chen.jing@example.com"
    assert body["birthday"] != "1990-05-17"
    # A command-line token (no maker from the start) still answers unmasked.
    command_line = ApiClient(acme, token_make(acme, "customers"))
    assert _unmasked(command_line.get(f"/api/v1/customers/{external_id}").json())


def test_a_token_whose_maker_was_deactivated_answers_masked(acme):
    from crm.accounts.models import User
    from crm.accounts.services import staff_deactivate

    external_id = _customer(acme)
    maker_id, secret = _admin_made_token(acme, f"gone-{uuid.uuid4().hex[:6]}@acme.test")
    api = ApiClient(acme, secret)
    assert _unmasked(api.get(f"/api/v1/customers/{external_id}").json())
    with schema_context(acme.schema):
        staff_deactivate(
            actor=User.objects.get(pk=acme.users["admin"].pk), user=User.objects.get(pk=maker_id)
        )
    body = api.get(f"/api/v1/customers/{external_id}").json()
    assert body["phones"] and "13800138000" not in body["phones"][0]
    assert body["emails"] and body["emails"][0] != "chen.jing@example.com"


def test_a_token_records_where_it_was_made(acme):
    """The page makes page tokens (with their maker), the command makes command-line ones;
    the database refuses a command-line token with a maker."""
    from django.db import IntegrityError, transaction

    from crm.accounts.models import User
    from crm.api.services import api_token_create

    with schema_context(acme.schema):
        admin = User.objects.get(pk=acme.users["admin"].pk)
        page, _secret = api_token_create(actor=admin, name="Page till", scopes=["loyalty"])
        assert page.origin == ApiToken.Origin.PAGE
        with pytest.raises(ValueError):
            api_token_create(
                actor=admin, name="Odd", scopes=["loyalty"], origin=ApiToken.Origin.COMMAND_LINE
            )
        with pytest.raises(ValueError):
            api_token_create(
                actor=None, name="Odd", scopes=["loyalty"], origin=ApiToken.Origin.PAGE
            )
        with pytest.raises(IntegrityError), transaction.atomic():
            ApiToken.objects.filter(pk=page.pk).update(origin=ApiToken.Origin.COMMAND_LINE)


def test_an_unknown_customer_is_a_json_404(acme):
    api = ApiClient(acme, token_make(acme, "customers"))
    _assert_error(api.get("/api/v1/customers/nobody-here"), 404, "customer_not_found")


def test_no_token_is_401(acme):
    external_id = _customer(acme)
    response = ApiClient(acme, None).get(f"/api/v1/customers/{external_id}")
    body = _assert_error(response, 401, "unauthorized")
    assert "Chen" not in str(body)
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header",
    [
        "Bearer crm_not-a-real-token",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "crm_x",
        "Bearer " + "x" * 500,
    ],
)
def test_a_wrong_token_is_401(acme, header):
    external_id = _customer(acme)
    response = ApiClient(acme, None).get(f"/api/v1/customers/{external_id}", Authorization=header)
    _assert_error(response, 401, "unauthorized")


def test_a_revoked_token_is_401(acme):
    external_id = _customer(acme)
    secret = token_make(acme, "customers", name="Old till")
    api = ApiClient(acme, secret)
    assert api.get(f"/api/v1/customers/{external_id}").status_code == 200
    with schema_context(acme.schema):
        token = ApiToken.objects.get(name="Old till")
        api_token_revoke(actor=None, token=token)
    _assert_error(api.get(f"/api/v1/customers/{external_id}"), 401, "unauthorized")


def test_another_tenants_token_is_401_here(acme, globex):
    """A token lives in its tenant's schema: on another tenant's host it is unknown, even for
    a customer with the same external id there."""
    external_id = _customer(acme)
    with schema_context(globex.schema):
        customer_create(actor=None, data=CustomerInput(name="Globex twin", external_id=external_id))
    acme_secret = token_make(acme, "customers")
    assert ApiClient(acme, acme_secret).get(f"/api/v1/customers/{external_id}").status_code == 200
    on_globex = ApiClient(globex, acme_secret).get(f"/api/v1/customers/{external_id}")
    body = _assert_error(on_globex, 401, "unauthorized")
    assert "twin" not in str(body)


def test_a_token_without_the_scope_is_403(acme):
    external_id = _customer(acme)
    api = ApiClient(acme, token_make(acme, "loyalty"))
    body = _assert_error(api.get(f"/api/v1/customers/{external_id}"), 403, "insufficient_scope")
    assert "Chen" not in str(body)


def test_last_use_is_recorded(acme):
    external_id = _customer(acme)
    api = ApiClient(acme, token_make(acme, "customers", name="Till 9"))
    with schema_context(acme.schema):
        assert ApiToken.objects.get(name="Till 9").last_used_at is None
    api.get(f"/api/v1/customers/{external_id}")
    with schema_context(acme.schema):
        assert ApiToken.objects.get(name="Till 9").last_used_at is not None


@override_settings(API_RATE_LIMIT=3, API_RATE_WINDOW_SECONDS=60)
def test_over_the_rate_limit_is_429_with_retry_after(acme):
    external_id = _customer(acme)
    api = ApiClient(acme, token_make(acme, "customers"))
    other = ApiClient(acme, token_make(acme, "customers"))
    answers = [api.get(f"/api/v1/customers/{external_id}") for _ in range(5)]
    statuses = [a.status_code for a in answers]
    # A window may end between two requests; then the count starts again.
    assert statuses.count(429) >= 1, statuses
    refused = next(a for a in answers if a.status_code == 429)
    _assert_error(refused, 429, "rate_limited")
    assert 1 <= int(refused["Retry-After"]) <= 60
    # The limit is per token.
    assert other.get(f"/api/v1/customers/{external_id}").status_code == 200


def test_the_openapi_document_and_docs_page_work_offline(acme):
    client = ApiClient(acme, None).client
    schema = client.get("/api/v1/openapi.json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/v1/customers/{external_id}" in paths
    assert schema.json()["components"]["securitySchemes"]
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "cdn" not in html.lower() and "https://" not in html
    assert "/static/ninja/swagger-ui-bundle.js" in html
    # No inline script may run under our CSP: the only inline block is JSON data.
    assert "<script>" not in html.replace(" ", "")
    assert "script-src 'self'" in docs["Content-Security-Policy"]


def test_unknown_api_addresses_are_json_404(acme):
    api = ApiClient(acme, token_make(acme, "customers"))
    _assert_error(api.get("/api/v1/no/such/thing"), 404, "not_found")


def test_a_wrong_method_is_a_json_405(acme):
    api = ApiClient(acme, token_make(acme, "loyalty"))
    response = api.get("/api/v1/orders")
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"
    assert "POST" in response["Allow"]

"""The admin console's "API tokens" page and the api_token command."""

import io

import pytest
from django.core.management import call_command
from django.urls import reverse
from django_tenants.utils import schema_context

from crm.accounts.models import AuditEntry
from crm.api.models import ApiToken
from crm.api.tokens import token_hash
from tests.api.conftest import ApiClient
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def test_an_admin_creates_a_token_shown_once(acme):
    admin = client_for(acme, "admin")
    response = admin.post(
        reverse("api_admin:token_list"),
        {"name": "Till 1", "scopes": ["loyalty", "customers"]},
        follow=True,
    )
    assert response.redirect_chain == [(reverse("api_admin:token_list"), 302)]
    secret = response.context["secret"]
    assert secret.startswith("crm_") and len(secret) > 40
    assert secret in response.content.decode()
    with schema_context(acme.schema):
        token = ApiToken.objects.get(name="Till 1")
        assert token.scopes == ["customers", "loyalty"]
        assert token.secret_hash == token_hash(secret)
        assert secret not in str(ApiToken.objects.filter(pk=token.pk).values().get())
        assert token.created_by_id == acme.users["admin"].pk
        assert token.origin == ApiToken.Origin.PAGE
        entry = AuditEntry.objects.get(table_name="api_apitoken", record_id=str(token.pk))
        assert secret not in str(entry.after) and token.secret_hash not in str(entry.after)
    listed = admin.get(reverse("api_admin:token_list")).content.decode()
    assert "Till 1" in listed and token.prefix in listed
    assert secret not in listed, "the secret is shown once only"
    assert secret not in str(dict(admin.session)), "nor kept in the session once shown"


def test_a_token_needs_a_name_and_a_scope(acme):
    admin = client_for(acme, "admin")
    response = admin.post(reverse("api_admin:token_list"), {"name": " ", "scopes": []})
    assert response.status_code == 200 and response.context["secret"] is None
    assert response.context["form"].errors
    with schema_context(acme.schema):
        assert not ApiToken.objects.exists()


def test_an_admin_revokes_a_token_and_it_stops_working(acme):
    admin = client_for(acme, "admin")
    secret = admin.post(
        reverse("api_admin:token_list"), {"name": "Till 2", "scopes": ["customers"]}, follow=True
    ).context["secret"]
    api = ApiClient(acme, secret)
    assert api.get("/api/v1/customers/none").status_code == 404
    with schema_context(acme.schema):
        token = ApiToken.objects.get(name="Till 2")
    response = admin.post(reverse("api_admin:token_revoke", args=[token.pk]))
    assert response.status_code == 302
    assert api.get("/api/v1/customers/none").status_code == 401
    with schema_context(acme.schema):
        assert ApiToken.objects.get(pk=token.pk).revoked_at is not None


@pytest.mark.parametrize("role", ["manager", "agent", "marketing", "viewer"])
def test_only_admins_see_or_make_tokens(acme, role):
    client = client_for(acme, role)
    assert client.get(reverse("api_admin:token_list")).status_code == 403
    refused = client.post(
        reverse("api_admin:token_list"), {"name": "Sneaky", "scopes": ["customers"]}
    )
    assert refused.status_code == 403
    with schema_context(acme.schema):
        assert not ApiToken.objects.filter(name="Sneaky").exists()


def test_another_tenants_token_cannot_be_revoked_here(acme, globex):
    with schema_context(globex.schema):
        from crm.api.services import api_token_create

        token, _secret = api_token_create(actor=None, name="Globex till", scopes=["loyalty"])
    response = client_for(acme, "admin").post(reverse("api_admin:token_revoke", args=[token.pk]))
    assert response.status_code == 404
    with schema_context(globex.schema):
        assert ApiToken.objects.get(pk=token.pk).revoked_at is None


def test_the_command_prints_only_the_token(acme):
    out = io.StringIO()
    call_command(
        "api_token",
        "create",
        acme.tenant.slug,
        "--name",
        "POS",
        "--scope",
        "loyalty",
        "--scope",
        "customers",
        stdout=out,
    )
    secret = out.getvalue().strip()
    assert "\n" not in secret and secret.startswith("crm_")
    with schema_context(acme.schema):
        token = ApiToken.objects.get(secret_hash=token_hash(secret))
        assert token.name == "POS" and token.scopes == ["customers", "loyalty"]
        assert token.origin == ApiToken.Origin.COMMAND_LINE and token.created_by_id is None
        assert AuditEntry.objects.filter(
            table_name="api_apitoken", record_id=str(token.pk), actor_label="command line"
        ).exists()
    assert ApiClient(acme, secret).get("/api/v1/customers/none").status_code == 404


def test_the_page_says_which_tokens_answer_masked_for_a_maker_gone(acme):
    """A command-line token is labelled so; a page-made one whose maker was deleted says its
    answers are masked."""
    from crm.accounts import roles
    from crm.accounts.models import User
    from crm.accounts.services import staff_create
    from crm.api.services import api_token_create

    with schema_context(acme.schema):
        leaver = staff_create(
            actor=None,
            email="leaver-page@acme.test",
            full_name="Leaving admin",
            role=roles.ADMIN,
            password="x" * 16,
        )
        api_token_create(actor=leaver, name="Orphan till", scopes=["loyalty"])
        api_token_create(actor=None, name="Script till", scopes=["loyalty"])
        User.objects.filter(pk=leaver.pk).delete()
    listed = client_for(acme, "admin").get(reverse("api_admin:token_list")).content.decode()
    orphan_row = listed[listed.index("Orphan till") :].split("</tr>")[0]
    script_row = listed[listed.index("Script till") :].split("</tr>")[0]
    assert "maker deleted: personal data masked" in orphan_row
    assert "command line" in script_row and "masked" not in script_row

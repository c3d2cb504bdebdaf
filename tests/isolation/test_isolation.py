"""Tenant isolation across every URL: sessions, tokens and records of one tenant are worthless
on another tenant's host, and the console is for operators only."""

import re

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from django_tenants.utils import schema_context

from crm.accounts.models import AuditEntry, User
from tests.conftest import client_for
from tests.isolation.cases import PUBLIC_CASES, TENANT_CASES, Case
from tests.isolation.urls import named_patterns
from tests.testkit.cast import ROLES

pytestmark = pytest.mark.django_db


def test_every_tenant_url_has_an_isolation_case():
    patterns = named_patterns(settings.ROOT_URLCONF)
    assert sorted(set(patterns) - set(TENANT_CASES)) == [], "add cases in tests/isolation/cases.py"
    assert sorted(set(TENANT_CASES) - set(patterns)) == [], "stale cases for removed URLs"


def test_every_console_url_has_an_isolation_case():
    patterns = named_patterns(settings.PUBLIC_SCHEMA_URLCONF)
    assert sorted(set(patterns) - set(PUBLIC_CASES)) == []
    assert sorted(set(PUBLIC_CASES) - set(patterns)) == []


def _url(name: str, case: Case, member, urlconf: str) -> str:
    kwargs = case.kwargs(member) if case.kwargs else {}
    return reverse(name, urlconf=urlconf, kwargs=kwargs)


def _replay(client: Client, host: str, method: str, url: str):
    """Send the client's cookies to another host, as a stolen or mis-scoped cookie would be."""
    replay = Client(HTTP_HOST=host)
    replay.cookies = client.cookies
    return replay.get(url) if method == "GET" else replay.post(url)


STAFF_CASES = sorted(name for name, case in TENANT_CASES.items() if case.kind == "staff")


@pytest.mark.parametrize("name", STAFF_CASES)
def test_a_session_from_one_tenant_does_not_authenticate_on_another(name, acme, globex):
    case = TENANT_CASES[name]
    role = case.roles[0] if case.roles else "admin"
    client = client_for(acme, role)
    url = _url(name, case, acme, settings.ROOT_URLCONF)

    own = client.get(url) if case.method == "GET" else client.post(url)
    assert own.status_code in (200, 302), "control: the session works on its own tenant"
    assert not getattr(own, "url", "").startswith(reverse("accounts:login"))

    foreign = _replay(client, globex.host, case.method, url)
    assert foreign.status_code == 302
    assert foreign.url.startswith(reverse("accounts:login"))
    with schema_context(globex.schema):
        assert not Session.objects.filter(session_key=client.cookies["sessionid"].value).exists()


@pytest.mark.parametrize("name", STAFF_CASES)
def test_staff_pages_need_a_login(name, acme):
    case = TENANT_CASES[name]
    url = _url(name, case, acme, settings.ROOT_URLCONF)
    response = client_for(acme).get(url)
    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:login"))


def _send(client: Client, method: str, url: str):
    return client.get(url) if method == "GET" else client.post(url)


def _audit_count(member) -> int:
    with schema_context(member.schema):
        return AuditEntry.objects.count()


@pytest.mark.parametrize("name", sorted(n for n, c in TENANT_CASES.items() if c.roles))
@pytest.mark.parametrize("role", list(ROLES))
def test_each_role_gets_exactly_what_its_case_allows(name, role, acme):
    """The role matrix: allowed roles succeed; the others get 403 and nothing is written (the
    audit triggers would have recorded any row change)."""
    case = TENANT_CASES[name]
    url = _url(name, case, acme, settings.ROOT_URLCONF)
    before = _audit_count(acme)
    response = _send(client_for(acme, role), case.method, url)
    if role in (case.roles or ()):
        assert response.status_code in (200, 302)
    else:
        assert response.status_code == 403
        assert _audit_count(acme) == before, "a refused request changed something"


OBJECT_CASES = sorted(name for name, case in TENANT_CASES.items() if case.kind == "object")


@pytest.mark.parametrize("name", OBJECT_CASES)
def test_another_tenants_records_are_404(name, acme, globex):
    """A record's URL works for its own tenant's staff and is a 404 (never a 403 that would
    confirm it exists) for every other tenant's staff."""
    case = TENANT_CASES[name]
    role = case.roles[0] if case.roles else "admin"
    url = _url(name, case, acme, settings.ROOT_URLCONF)
    foreign_before = _audit_count(globex)
    foreign = _send(client_for(globex, role), case.method, url)
    assert foreign.status_code == 404
    assert _audit_count(globex) == foreign_before
    assert _send(client_for(acme, role), case.method, url).status_code in (200, 302)


def test_a_password_reset_link_only_works_on_its_own_tenant(acme, globex):
    url = _url(
        "accounts:password_reset_confirm",
        TENANT_CASES["accounts:password_reset_confirm"],
        acme,
        settings.ROOT_URLCONF,
    )
    # Both tenants have an agent, quite possibly with the same primary key.
    own = client_for(acme).get(url)
    assert own.status_code == 302 and own.url.endswith("/set-password/")

    foreign = client_for(globex).get(url)
    assert foreign.status_code == 200
    assert foreign.context["validlink"] is False


def test_a_tenant_login_does_not_work_on_another_tenant(acme, globex):
    response = client_for(globex).post(
        reverse("accounts:login"),
        {"username": acme.email("admin"), "password": "correct-horse-battery"},
    )
    assert response.status_code == 200
    assert "_auth_user_id" not in response.client.session


@pytest.mark.parametrize("name", sorted(n for n, c in PUBLIC_CASES.items() if c.kind == "operator"))
def test_console_pages_refuse_tenant_sessions_and_non_operators(name, acme):
    case = PUBLIC_CASES[name]
    url = _url(name, case, acme, settings.PUBLIC_SCHEMA_URLCONF)
    tenant_admin = client_for(acme, "admin")
    replayed = _replay(tenant_admin, settings.CRM_BASE_DOMAIN, case.method, url)
    assert replayed.status_code == 302
    assert replayed.url.startswith(
        reverse("accounts:login", urlconf=settings.PUBLIC_SCHEMA_URLCONF)
    )

    public_user = User.objects.create_user("not-an-operator@example.com", "x-password-123")
    client = Client(HTTP_HOST=settings.CRM_BASE_DOMAIN)
    client.force_login(public_user)
    refused = client.get(url) if case.method == "GET" else client.post(url)
    assert refused.status_code == 403


def test_public_pages_answer_without_login(acme):
    for name, case in TENANT_CASES.items():
        if case.kind != "public" or case.method != "GET" or name == "healthz":
            continue
        url = _url(name, case, acme, settings.ROOT_URLCONF)
        assert client_for(acme).get(url).status_code == 200, name


def test_unknown_hosts_get_no_tenant(db):
    response = Client(HTTP_HOST=f"nobody.{settings.CRM_BASE_DOMAIN}").get("/login/")
    assert response.status_code == 404


EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")
PHONE = re.compile(r"\+?\d[\d\s-]{7,}\d")


# Pages that show an address on purpose, and why.
CONTACT_DETAILS_BY_DESIGN = {"invitation_accept": "tells the link's holder which address it is for"}


@pytest.mark.parametrize(
    "name",
    sorted(
        n
        for n, c in TENANT_CASES.items()
        if c.method == "GET" and c.kind != "public" and n not in CONTACT_DETAILS_BY_DESIGN
    ),
)
def test_a_viewer_never_receives_unmasked_personal_data(name, acme):
    """Every page the viewer can open, checked for email addresses (other than colleagues') and
    phone numbers. Pages that show customers' contact details must mask them for viewers."""
    case = TENANT_CASES[name]
    url = _url(name, case, acme, settings.ROOT_URLCONF)
    response = client_for(acme, "viewer").get(url)
    # A download (an attachment) streams its content.
    raw = b"".join(response.streaming_content) if response.streaming else response.content
    body = raw.decode(errors="replace")
    with schema_context(acme.schema):
        staff_emails = set(User.objects.values_list("email", flat=True))
    emails = set(EMAIL.findall(body)) - staff_emails
    assert emails == set(), f"{name} shows {emails}"
    assert PHONE.findall(body) == [], name


API_CASES = sorted(name for name, case in TENANT_CASES.items() if case.kind == "api")


def _api_send(member, case: Case, url: str, secret: str | None, session_of=None):
    client = client_for(member, session_of) if session_of else client_for(member)
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    if case.method == "GET":
        return client.get(url, headers=headers)
    return client.post(url, data=b"{}", content_type="application/json", headers=headers)


def _api_token(member, *scopes: str) -> str:
    from crm.api.services import api_token_create

    with schema_context(member.schema):
        return api_token_create(actor=None, name="Isolation", scopes=list(scopes))[1]


@pytest.mark.parametrize("name", API_CASES)
def test_api_tokens_work_on_their_own_tenant_only(name, acme, globex):
    """An API address answers its own tenant's token with the right scope; another tenant's
    token, a token without the scope, a staff session or nothing at all get a JSON refusal
    that shows nothing of the record, and change nothing."""
    case = TENANT_CASES[name]
    url = _url(name, case, acme, settings.ROOT_URLCONF)
    before = _audit_count(acme), _audit_count(globex)
    if case.scope is None:
        for secret in (None, _api_token(acme, "loyalty", "customers")):
            answer = _api_send(acme, case, url, secret)
            assert answer.status_code == 404 and answer.json()["error"] == "not_found"
        return
    own = _api_send(acme, case, url, _api_token(acme, case.scope))
    assert own.status_code < 500 and own.status_code not in (401, 403), own.content
    foreign = _api_send(globex, case, url, _api_token(globex, case.scope))
    assert foreign.status_code != 200
    stolen = _api_send(globex, case, url, _api_token(acme, case.scope))
    assert stolen.status_code == 401 and stolen.json()["error"] == "unauthorized"
    other_scope = "customers" if case.scope == "loyalty" else "loyalty"
    assert _api_send(acme, case, url, _api_token(acme, other_scope)).status_code == 403
    assert _api_send(acme, case, url, None).status_code == 401
    assert _api_send(acme, case, url, None, session_of="admin").status_code == 401
    # Only the tokens made above were written.
    with schema_context(acme.schema):
        made_acme = AuditEntry.objects.filter(table_name="api_apitoken").count()
    assert _audit_count(acme) - before[0] <= made_acme

"""The public web form (/help/): no sign-in; a ticket with channel "web form" through the
ticket service, the customer linked by email, audited as the system; the guards (CSRF,
honeypot, signed timestamp, links, rate limits per address and per contact); off is a 404;
the language follows the browser; the settings page for those who configure support."""

import time
import uuid

import pytest
from django.test import Client, override_settings
from django.urls import reverse
from django_tenants.utils import schema_context

from crm.accounts.models import AuditEntry
from support import web_form
from support.models import Ticket
from support.models_portal import WebFormSettings
from tests.conftest import client_for
from tests.tickets.factory import customer

pytestmark = pytest.mark.django_db

URL = "/help/"


def _ip() -> str:
    return f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"


def _client(acme, *, ip: str | None = None, **extra) -> Client:  # type: ignore[no-untyped-def]
    return Client(HTTP_HOST=acme.host, REMOTE_ADDR=ip or _ip(), **extra)


def _stamp(acme, seconds_ago: float = 30) -> str:
    with schema_context(acme.schema):
        return web_form.form_stamp(time.time() - seconds_ago)


def _post(client: Client, acme, **fields: str):  # type: ignore[no-untyped-def]
    data = {
        "name": "李梅",
        "email": f"li.{uuid.uuid4().hex[:8]}@example.cn",
        "phone": "",
        "subject": "快递没有到",
        "description": "I ordered on Monday and the parcel has not arrived.",
        "website": "",
        "stamp": _stamp(acme),
    }
    data.update(fields)
    return client.post(URL, data)


@pytest.fixture(autouse=True)
def _form_on(acme):
    with schema_context(acme.schema):
        WebFormSettings.objects.update_or_create(
            id=1, defaults={"enabled": True, "intro": "", "categories": []}
        )


def test_a_customer_opens_a_ticket_and_gets_its_reference(acme):
    email = f"wang.{uuid.uuid4().hex[:8]}@example.cn"
    with schema_context(acme.schema):
        known = customer("王芳", email=email)
    client = _client(acme)
    page = client.get(URL)
    assert page.status_code == 200
    body = page.content.decode()
    assert 'name="csrfmiddlewaretoken"' in body and 'name="website"' in body
    assert 'name="stamp"' in body

    response = _post(client, acme, email=email.upper(), subject="Refund please")
    assert response.status_code == 302
    done = client.get(response.url)
    assert done.status_code == 200
    with schema_context(acme.schema):
        ticket = Ticket.objects.get(subject="Refund please", requester_email=email)
        assert (ticket.channel, ticket.customer_id, ticket.status) == ("web", known.pk, "new")
        assert ticket.requester_name == "李梅"
        assert ticket.first_response_due is not None
        entry = AuditEntry.objects.filter(
            table_name="support_ticket", record_id=str(ticket.pk)
        ).latest("id")
        assert entry.actor_id is None and entry.actor_label == "system: web form"
    assert ticket.reference in done.content.decode()


def test_csrf_is_required(acme):
    client = Client(HTTP_HOST=acme.host, REMOTE_ADDR=_ip(), enforce_csrf_checks=True)
    subject = f"csrf {uuid.uuid4().hex[:6]}"
    assert _post(client, acme, subject=subject).status_code == 403
    with schema_context(acme.schema):
        assert not Ticket.objects.filter(subject=subject).exists()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"website": "http://spam.example"}, "could not be accepted"),
        ({"stamp": ""}, "could not be accepted"),
        ({"stamp": "forged:value"}, "could not be accepted"),
        ({"email": "", "phone": ""}, "Give your email or your phone number."),
        (
            {"description": "see http://a.example http://b.example www.c.example"},
            "at most 2 links",
        ),
        ({"phone": f"1{uuid.uuid4().int % 1000}", "email": ""}, "Enter a valid phone number."),
    ],
)
def test_refused_submissions_say_why_and_create_nothing(acme, fields, message):
    subject = f"refused {uuid.uuid4().hex[:6]}"
    response = _post(_client(acme), acme, subject=subject, **fields)
    assert response.status_code == 400
    assert message in response.content.decode()
    with schema_context(acme.schema):
        assert not Ticket.objects.filter(subject=subject).exists()


def test_a_form_filled_too_fast_or_kept_too_long_is_refused(acme):
    for stamp, message in (
        (_stamp(acme, seconds_ago=0), "could not be accepted"),
        (_stamp(acme, seconds_ago=3 * 60 * 60), "open too long"),
    ):
        subject = f"timed {uuid.uuid4().hex[:6]}"
        response = _post(_client(acme), acme, subject=subject, stamp=stamp)
        assert response.status_code == 400 and message in response.content.decode()
        with schema_context(acme.schema):
            assert not Ticket.objects.filter(subject=subject).exists()


def test_a_stamp_of_another_tenant_is_refused(acme, globex):
    subject = f"foreign {uuid.uuid4().hex[:6]}"
    response = _post(_client(acme), acme, subject=subject, stamp=_stamp(globex))
    assert response.status_code == 400
    with schema_context(acme.schema):
        assert not Ticket.objects.filter(subject=subject).exists()


@override_settings(SUPPORT_WEB_FORM_PER_IP=2)
def test_one_address_is_rate_limited_with_a_clear_429(acme):
    client = _client(acme)
    assert _post(client, acme).status_code == 302
    assert _post(client, acme).status_code == 302
    subject = f"third {uuid.uuid4().hex[:6]}"
    response = _post(client, acme, subject=subject)
    assert response.status_code == 429
    assert "Please wait an hour" in response.content.decode()
    assert response["Retry-After"] == "3600"
    with schema_context(acme.schema):
        assert not Ticket.objects.filter(subject=subject).exists()
    assert _post(_client(acme), acme).status_code == 302, "another address goes on"


@override_settings(SUPPORT_WEB_FORM_PER_CONTACT=1)
def test_one_email_is_rate_limited_from_any_address(acme):
    email = f"flood.{uuid.uuid4().hex[:8]}@example.com"
    assert _post(_client(acme), acme, email=email).status_code == 302
    response = _post(_client(acme), acme, email=email.upper())
    assert response.status_code == 429
    with schema_context(acme.schema):
        assert Ticket.objects.filter(requester_email=email).count() == 1


def test_turned_off_the_form_is_a_404(acme):
    with schema_context(acme.schema):
        WebFormSettings.objects.filter(id=1).update(enabled=False)
    client = _client(acme)
    assert client.get(URL).status_code == 404
    subject = f"off {uuid.uuid4().hex[:6]}"
    assert _post(client, acme, subject=subject).status_code == 404
    with schema_context(acme.schema):
        assert not Ticket.objects.filter(subject=subject).exists()


def test_categories_come_from_the_settings_and_the_intro_is_shown(acme):
    with schema_context(acme.schema):
        WebFormSettings.objects.filter(id=1).update(
            intro="We answer within a day.", categories=["Delivery", "Refunds"]
        )
    client = _client(acme)
    body = client.get(URL).content.decode()
    assert "We answer within a day." in body and ">Refunds</option>" in body
    assert _post(client, acme, category="Other").status_code == 400
    subject = f"cat {uuid.uuid4().hex[:6]}"
    assert _post(client, acme, category="Refunds", subject=subject).status_code == 302
    with schema_context(acme.schema):
        assert Ticket.objects.get(subject=subject).category == "Refunds"


def test_the_language_follows_the_browser_then_the_workspace(acme, globex):
    chinese = _client(acme, HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9,en;q=0.8").get(URL)
    assert chinese["Content-Language"] == "zh-hans"
    assert 'lang="zh-hans"' in chinese.content.decode()
    english = _client(acme, HTTP_ACCEPT_LANGUAGE="en-GB,en;q=0.9").get(URL)
    assert english["Content-Language"] == "en"
    assert "Contact us" in english.content.decode()
    assert "Accept-Language" in english["Vary"]
    with schema_context(globex.schema):
        WebFormSettings.objects.update_or_create(id=1, defaults={"enabled": True})
    workspace = Client(HTTP_HOST=globex.host, REMOTE_ADDR=_ip()).get(URL)
    assert workspace["Content-Language"] == "zh-hans", "globex works in Chinese"
    chosen = Client(HTTP_HOST=globex.host, REMOTE_ADDR=_ip(), HTTP_ACCEPT_LANGUAGE="zh-CN")
    chosen.cookies["crm_language"] = "en"
    assert chosen.get(URL)["Content-Language"] == "en", "the site's switcher wins"


def test_a_forged_or_foreign_confirmation_link_shows_nothing(acme, globex):
    client = _client(acme)
    with schema_context(globex.schema):
        foreign = web_form.sent_token(1)
    response = client.get(reverse("web_form:sent", kwargs={"token": foreign}))
    assert response.status_code == 302 and response.url == URL
    response = client.get(reverse("web_form:sent", kwargs={"token": "forged:x"}))
    assert response.status_code == 302 and response.url == URL


def test_the_settings_page_for_configurers_only(acme):
    manager = client_for(acme, "manager")
    page = manager.get(reverse("support:web_form_settings"))
    assert page.status_code == 200
    assert f"http://{acme.host}/help/" in page.content.decode()
    response = manager.post(
        reverse("support:web_form_settings"),
        {"enabled": "", "intro": "Hello", "categories": "Delivery\nRefunds\ndelivery\n"},
    )
    assert response.status_code == 302
    with schema_context(acme.schema):
        saved = WebFormSettings.objects.get(id=1)
        assert (saved.enabled, saved.intro, saved.categories) == (
            False,
            "Hello",
            ["Delivery", "Refunds"],
        )
    agent = client_for(acme, "agent")
    assert agent.get(reverse("support:web_form_settings")).status_code == 403
    assert agent.post(reverse("support:web_form_settings"), {"enabled": "on"}).status_code == 403
    with schema_context(acme.schema):
        assert WebFormSettings.objects.get(id=1).enabled is False


@override_settings(SUPPORT_WEB_FORM_PER_CONTACT=1)
def test_one_phone_is_rate_limited_however_it_is_written(acme):
    digits = f"139{uuid.uuid4().int % 10**8:08d}"
    spaced = f"{digits[:3]} {digits[3:7]} {digits[7:]}"
    assert _post(_client(acme), acme, email="", phone=digits).status_code == 302
    response = _post(_client(acme), acme, email="", phone=f"+86 {spaced}")
    assert response.status_code == 429

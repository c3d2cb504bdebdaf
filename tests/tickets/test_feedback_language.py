"""Surveys ask in the customer's preferred language (Customer.language); the name's script is
only the fallback when it is not known, then the workspace's language."""

import pytest
from django.utils import translation

from customers.models import Customer
from customers.services import CustomerInput, customer_update
from support import feedback_services
from support.feedback_mail import surveys_deliver
from support.feedback_rules import survey_language
from support.feedback_selectors import feedback_settings
from support.models_feedback import SurveyInvitation
from tests.conftest import client_for
from tests.tickets.factory import in_tenant
from tests.tickets.feedback_kit import later, resolved_ticket, survey_path, surveyable

pytestmark = pytest.mark.django_db


@pytest.fixture
def real_smtp(settings, smtp_server):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp_server.port
    return smtp_server


def _with_language(person: Customer, language: str) -> Customer:
    return customer_update(
        actor=None,
        customer=person,
        data=CustomerInput(
            name=person.name,
            emails=list(person.emails.values_list("email", flat=True)),
            language=language,
        ),
    )


def _surveyed(acme, real_smtp, person: Customer) -> tuple[SurveyInvitation, str, str]:
    """Resolve a ticket of `person`, mail the survey; its invitation, the mail's subject and
    the survey page as the link opens it."""
    resolved_ticket(person)
    pending = feedback_services.surveys_on_resolve_decide(actor=None, now=later(minutes=61))
    assert surveys_deliver(pending.pending) == 1
    invitation = SurveyInvitation.objects.get(customer=person)
    address = person.emails.get().email
    mail = real_smtp.wait_for(address)
    page = client_for(acme).get(survey_path(real_smtp, address)).content.decode()
    return invitation, str(mail["Subject"]), page


def test_a_latin_named_customer_who_prefers_chinese_is_asked_in_chinese(acme, real_smtp):
    with in_tenant(acme):
        feedback_settings()
        person = _with_language(surveyable("Lena Park"), "zh-hans")
        invitation, subject, page = _surveyed(acme, real_smtp, person)
    assert invitation.language == "zh-hans"
    assert '<html lang="zh-hans"' in page
    question = "How satisfied are you with how we handled your request?"
    with translation.override("zh-hans"):
        chinese = translation.gettext(question)
    # The Chinese words come from the compiled catalogue (`make messages`, which `make test`
    # runs); without it Django falls back to English, the language decided is still Chinese.
    if chinese != question:
        assert chinese in page and question not in page
        assert not subject.isascii(), subject


def test_a_chinese_named_customer_who_prefers_english_is_asked_in_english(acme, real_smtp):
    with in_tenant(acme):
        feedback_settings()
        person = _with_language(surveyable("王芳"), "en")
        invitation, subject, page = _surveyed(acme, real_smtp, person)
    assert invitation.language == "en"
    assert '<html lang="en"' in page and "How satisfied" in page
    assert subject.isascii(), subject


def test_without_a_language_the_name_decides_as_before(acme, real_smtp):
    with in_tenant(acme):
        feedback_settings()
        person = surveyable("王芳")
        assert person.language == ""
        invitation, _subject, page = _surveyed(acme, real_smtp, person)
    assert invitation.language == "zh-hans"
    assert '<html lang="zh-hans"' in page


@pytest.mark.parametrize(
    ("language", "name", "tenant_language", "expected"),
    [
        ("zh-hans", "Lena Park", "en", "zh-hans"),
        ("en", "王芳", "zh-hans", "en"),
        ("", "王芳", "en", "zh-hans"),
        ("", "Lena Park", "zh-hans", "en"),
        ("", "12345", "zh-hans", "zh-hans"),
        ("", "", "en", "en"),
        ("fr", "12345", "en", "en"),  # not one of ours: as if not known
    ],
)
def test_survey_language_order(language, name, tenant_language, expected):
    chosen = survey_language(language=language, name=name, tenant_language=tenant_language)
    assert chosen == expected

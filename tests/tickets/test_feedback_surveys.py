"""Feedback surveys end to end in one process: CSAT after a resolved ticket (mailed through a
real SMTP server), the link (single use, expiry, another tenant's host), survey fatigue,
consent, the detractor's follow-up ticket."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.accounts.models import AuditEntry
from crm.accounts.services import team_save
from customers.models import Interaction
from support import feedback_services
from support.feedback_mail import surveys_deliver
from support.feedback_selectors import detractor_customer_ids, feedback_settings
from support.models import Ticket
from support.models_feedback import SurveyContact, SurveyInvitation, SurveyResponse
from tests.conftest import client_for
from tests.tickets.factory import in_tenant, staff
from tests.tickets.feedback_kit import later, resolved_ticket, survey_path, surveyable

pytestmark = pytest.mark.django_db


@pytest.fixture
def real_smtp(settings, smtp_server):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp_server.port
    return smtp_server


def _decide(now: datetime.datetime) -> list[int]:
    return feedback_services.surveys_on_resolve_decide(actor=None, now=now).pending


def _sent_to(person) -> SurveyInvitation:
    return SurveyInvitation.objects.get(customer=person)


def test_a_resolved_ticket_is_surveyed_once_after_the_delay_by_real_email(acme, real_smtp):
    with in_tenant(acme):
        feedback_settings()
        agent = staff(acme, "agent")
        person = surveyable()
        done = resolved_ticket(person, assignee=agent, category="Delivery", channel="email")
        assert _decide(later(minutes=30)) == [], "the default delay is an hour"
        ids = _decide(later(minutes=61))
        assert len(ids) == 1
        assert surveys_deliver(ids) == 1
        assert _decide(later(minutes=90)) == [], "one survey per ticket"
        assert surveys_deliver(ids) == 0, "a second delivery mails nothing"
        invitation = _sent_to(person)
        assert invitation.ticket == done and invitation.kind == "csat"
        assert (invitation.agent, invitation.category, invitation.channel) == (
            agent,
            "Delivery",
            "email",
        )
        address = person.emails.get().email
    mail = real_smtp.wait_for(address)
    assert done.reference in str(mail["Subject"])
    assert len(real_smtp.messages_to(address)) == 1
    path = survey_path(real_smtp, address)
    page = client_for(acme).get(path)
    assert page.status_code == 200
    assert "How satisfied are you" in page.content.decode()
    with in_tenant(acme):
        token = path.rstrip("/").rsplit("/", 1)[1]
        stored = SurveyInvitation.objects.get(pk=invitation.pk).token_hash
        assert stored and token not in stored, "only the token's hash is kept"


def test_a_chinese_customer_gets_the_survey_in_chinese(acme, real_smtp):
    with in_tenant(acme):
        feedback_settings()
        person = surveyable("王芳")
        resolved_ticket(person)
        surveys_deliver(_decide(later(minutes=61)))
        address = person.emails.get().email
    path = survey_path(real_smtp, address)
    # (The page's Chinese text comes from the zh_Hans catalogue; the language is what the
    # survey decides.)
    assert '<html lang="zh-hans"' in client_for(acme).get(path).content.decode()
    english = client_for(acme).get(path + "?lang=en").content.decode()
    assert '<html lang="en"' in english and "How satisfied" in english


def _invite(acme, real_smtp, person, **settings_values):
    """Resolve a ticket of `person` and mail its survey; the link's path."""
    settings = feedback_settings()
    for name, value in settings_values.items():
        setattr(settings, name, value)
    settings.save()
    resolved_ticket(person)
    assert surveys_deliver(_decide(later(minutes=61))) == 1
    return survey_path(real_smtp, person.emails.get().email)


def test_the_link_works_once(acme, real_smtp):
    with in_tenant(acme):
        person = surveyable()
        path = _invite(acme, real_smtp, person)
    browser = client_for(acme)
    answered = browser.post(path, {"score": "5", "comment": "Quick and kind"})
    assert answered.status_code == 200
    assert "Thank you" in answered.content.decode()
    with in_tenant(acme):
        before = (SurveyResponse.objects.count(), AuditEntry.objects.count())
    again = client_for(acme).post(path, {"score": "1", "comment": "changed my mind"})
    assert again.status_code == 410
    assert "answered this survey" in again.content.decode()
    assert client_for(acme).get(path).status_code == 410
    with in_tenant(acme):
        assert (SurveyResponse.objects.count(), AuditEntry.objects.count()) == before
        response = SurveyResponse.objects.get(customer=person)
        assert (response.score, response.comment, response.detractor) == (
            5,
            "Quick and kind",
            False,
        )
        entry = Interaction.objects.get(customer=person, source="survey_answered")
        assert "5" in entry.title


def test_the_service_refuses_a_second_answer_too(acme, real_smtp):
    with in_tenant(acme):
        person = surveyable()
        token = _invite(acme, real_smtp, person).rstrip("/").rsplit("/", 1)[1]
        feedback_services.survey_answer(actor=None, token=token, score=4)
        with pytest.raises(feedback_services.SurveyClosed):
            feedback_services.survey_answer(actor=None, token=token, score=1)
        assert SurveyResponse.objects.filter(customer=person).count() == 1


def test_an_expired_link_takes_no_answer(acme, real_smtp):
    with in_tenant(acme):
        person = surveyable()
        path = _invite(acme, real_smtp, person, expiry_days=3)
        invitation = _sent_to(person)
        assert invitation.expires_at - invitation.sent_at == datetime.timedelta(days=3)
        SurveyInvitation.objects.filter(pk=invitation.pk).update(
            expires_at=timezone.now() - datetime.timedelta(seconds=1)
        )
    refused = client_for(acme).post(path, {"score": "5"})
    assert refused.status_code == 410
    assert "expired" in refused.content.decode()
    with in_tenant(acme):
        assert not SurveyResponse.objects.filter(customer=person).exists()


def test_a_link_is_404_on_another_tenants_host_and_when_made_up(acme, globex, real_smtp):
    with in_tenant(acme):
        person = surveyable()
        path = _invite(acme, real_smtp, person)
    assert client_for(globex).get(path).status_code == 404
    assert client_for(globex).post(path, {"score": "1"}).status_code == 404
    assert client_for(acme).get("/survey/not-a-real-token/").status_code == 404
    with in_tenant(acme):
        assert not SurveyResponse.objects.filter(customer=person).exists()


def test_a_score_outside_the_scale_is_refused(acme, real_smtp):
    with in_tenant(acme):
        person = surveyable()
        path = _invite(acme, real_smtp, person)
    refused = client_for(acme).post(path, {"score": "9"})
    assert refused.status_code == 200
    assert "valid choice" in refused.content.decode()
    with in_tenant(acme):
        assert not SurveyResponse.objects.filter(customer=person).exists()


def test_survey_fatigue_one_survey_per_window(acme, real_smtp):
    with in_tenant(acme):
        settings = feedback_settings()
        settings.fatigue_days = 30
        settings.save()
        person = surveyable()
        resolved_ticket(person)
        assert len(_decide(later(minutes=61))) == 1
        second = resolved_ticket(person)
        assert _decide(later(minutes=62)) == []
        skipped = SurveyInvitation.objects.get(ticket=second)
        assert (skipped.state, skipped.skip_reason) == ("skipped", "fatigue")
        # Once the window has passed the customer may be asked again.
        SurveyContact.objects.filter(customer=person).update(
            last_at=timezone.now() - datetime.timedelta(days=31)
        )
        third = resolved_ticket(person)
        assert len(_decide(later(minutes=63))) == 1
        assert SurveyInvitation.objects.get(ticket=third).state == "pending"


def test_two_tickets_of_one_customer_resolved_together_get_one_survey(acme):
    with in_tenant(acme):
        feedback_settings()
        person = surveyable()
        resolved_ticket(person)
        resolved_ticket(person)
        assert len(_decide(later(minutes=61))) == 1
        assert SurveyInvitation.objects.filter(customer=person, state="skipped").count() == 1


def test_only_consenting_customers_with_an_email_are_asked(acme):
    with in_tenant(acme):
        feedback_settings()
        never = surveyable(consent=None)
        withdrew = surveyable(consent=False)
        no_email = surveyable(email="")
        consenting = surveyable()
        for person in (never, withdrew, no_email, consenting):
            resolved_ticket(person)
        ids = _decide(later(minutes=61))
        assert [SurveyInvitation.objects.get(pk=pk).customer for pk in ids] == [consenting]
        reasons = {p.pk: _sent_to(p).skip_reason for p in (never, withdrew, no_email, consenting)}
        assert reasons == {
            never.pk: "no_consent",
            withdrew.pk: "no_consent",
            no_email.pk: "no_email",
            consenting.pk: "",
        }
        assert not SurveyContact.objects.filter(customer__in=[never, withdrew, no_email]).exists()


def test_turned_off_no_survey_and_turning_on_does_not_mail_the_backlog(acme):
    with in_tenant(acme):
        feedback_services.feedback_settings_save(
            actor=None,
            csat_on_resolve=False,
            ces_on_resolve=False,
            resolve_delay_minutes=0,
            expiry_days=14,
            fatigue_days=30,
            complaint_keywords=["refund"],
        )
        person = surveyable()
        resolved_ticket(person)
        assert _decide(later(minutes=5)) == []
        feedback_services.feedback_settings_save(
            actor=None,
            csat_on_resolve=True,
            ces_on_resolve=False,
            resolve_delay_minutes=0,
            expiry_days=14,
            fatigue_days=30,
            complaint_keywords=["refund"],
        )
        assert _decide(later(minutes=5)) == [], "resolved before surveys were turned on"
        resolved_ticket(surveyable())
        assert len(_decide(later(minutes=5))) == 1


def _answer(person, score: int, comment: str = "", kind_settings: dict | None = None):
    feedback_settings()
    resolved_ticket(person)
    (pk,) = _decide(later(minutes=61))
    token = feedback_services.survey_invitation_claim(actor=None, invitation_id=pk)
    return feedback_services.survey_answer(actor=None, token=token, score=score, comment=comment)


def test_a_detractor_opens_one_follow_up_ticket_for_the_customers_team(acme):
    with in_tenant(acme):
        team = team_save(actor=None, team=None, name="Retention desk", members=[])
        person = surveyable(team=team)
        response = _answer(person, 2, "The parcel came broken")
        assert response.detractor and response.detractor_reason == "score"
        follow_up = response.follow_up
        assert follow_up is not None
        assert follow_up.team == team and follow_up.customer == person
        assert follow_up.priority == "high"
        assert "The parcel came broken" in follow_up.description
        again = feedback_services.survey_follow_up_open(actor=None, response=response)
        assert again == follow_up
        # The surveyed ticket and one follow-up.
        assert Ticket.objects.filter(customer=person).count() == 2
        assert detractor_customer_ids(since=later(days=-1)) >= {person.pk}
        assert person.pk not in detractor_customer_ids(since=later(days=1))


def test_a_complaint_keyword_makes_a_detractor_whatever_the_score(acme):
    with in_tenant(acme):
        person = surveyable()
        response = _answer(person, 5, "还行，但我要退款")
        assert response.detractor and response.detractor_reason == "退款"
        assert response.follow_up is not None and response.follow_up.kind == "complaint"


def test_a_happy_answer_opens_no_ticket(acme):
    with in_tenant(acme):
        person = surveyable()
        response = _answer(person, 4, "Fine")
        assert not response.detractor and response.follow_up is None
        assert Ticket.objects.filter(customer=person).count() == 1, "only the surveyed one"
        assert person.pk not in detractor_customer_ids(since=later(days=-1))


def test_ces_beside_csat_asks_both_and_a_hard_effort_is_a_detractor(acme, real_smtp):
    with in_tenant(acme):
        person = surveyable()
        path = _invite(acme, real_smtp, person, ces_on_resolve=True)
        assert _sent_to(person).with_effort
    page = client_for(acme).get(path).content.decode()
    assert "How easy was it" in page
    assert client_for(acme).post(path, {"score": "4", "effort": "1"}).status_code == 200
    with in_tenant(acme):
        response = SurveyResponse.objects.get(customer=person)
        assert (response.score, response.effort, response.detractor) == (4, 1, True)
        assert response.follow_up is not None


def test_a_failed_mail_voids_the_link(acme, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 9  # nothing listens there
    settings.EMAIL_TIMEOUT = 2
    with in_tenant(acme):
        feedback_settings()
        person = surveyable()
        resolved_ticket(person)
        ids = _decide(later(minutes=61))
        assert surveys_deliver(ids) == 0
        invitation = _sent_to(person)
        assert invitation.state == "failed" and invitation.token_hash is None


def test_reverse_of_the_public_page_is_on_the_tenant_host():
    assert reverse("survey_answer", kwargs={"token": "abc"}) == "/survey/abc/"


def test_consent_withdrawn_after_the_decision_stops_the_mail(acme, real_smtp):
    from customers.services import consent_set

    with in_tenant(acme):
        feedback_settings()
        person = surveyable()
        resolved_ticket(person)
        ids = _decide(later(minutes=61))
        consent_set(actor=None, customer=person, channel="email", granted=False, source="call")
        assert surveys_deliver(ids) == 0
        invitation = _sent_to(person)
        assert (invitation.state, invitation.skip_reason, invitation.token_hash) == (
            "skipped",
            "no_consent",
            None,
        )
        address = person.emails.get().email
    assert real_smtp.messages_to(address) == []


def test_more_due_tickets_than_a_round_are_all_decided(acme, monkeypatch):
    """A round of tickets whose customers may not be asked still counts as work done: the
    scan goes on to the next round instead of stopping at an empty list of mails."""
    from support import feedback_selectors

    monkeypatch.setattr(feedback_selectors, "CHUNK", 2)
    monkeypatch.setattr(feedback_services, "CHUNK", 2)
    with in_tenant(acme):
        feedback_settings()
        for _n in range(3):
            resolved_ticket(surveyable(consent=None))
        asked = surveyable()
        resolved_ticket(asked)
        rounds = []
        for _n in range(4):
            result = feedback_services.surveys_on_resolve_decide(actor=None, now=later(minutes=61))
            rounds.append((result.tickets, len(result.pending)))
        assert rounds == [(2, 0), (2, 1), (0, 0), (0, 0)]

"""Feedback pages for staff: the reports' numbers, comments, settings, an NPS send counted
before it goes; and what merges and erasure do to survey rows."""

import datetime
import re
import time
import uuid

import pytest
from django.urls import reverse
from django.utils import timezone
from django_tenants.utils import schema_context

from crm.accounts.models import AuditEntry
from customers.merge import customer_merge
from customers.privacy import customer_erase
from support import feedback_services
from support.feedback_selectors import (
    CommentQuery,
    comment_page,
    feedback_report,
    feedback_settings,
)
from support.models_feedback import SurveyInvitation, SurveyResponse, SurveySend
from tests.conftest import client_for
from tests.testkit.cleanup import customers_delete
from tests.tickets.factory import in_tenant, staff
from tests.tickets.feedback_kit import resolved_ticket, surveyable


def _answered(
    person,
    kind: str,
    score: int,
    *,
    comment: str = "",
    at: datetime.datetime | None = None,
    ticket=None,
) -> SurveyResponse:
    settings = feedback_settings()
    settings.fatigue_days = 0
    settings.save()
    (pk,) = feedback_services.survey_invitations_decide(
        actor=None,
        occasions=[
            feedback_services.Occasion(
                customer_id=person.pk,
                key=f"test:{uuid.uuid4().hex}",
                kind=kind,
                ticket_id=ticket.pk if ticket else None,
                agent_id=ticket.assignee_id if ticket else None,
                team_id=ticket.team_id if ticket else None,
                category=ticket.category if ticket else "",
                channel=ticket.channel if ticket else "",
            )
        ],
    )
    token = feedback_services.survey_invitation_claim(actor=None, invitation_id=pk)
    return feedback_services.survey_answer(
        actor=None, token=token, score=score, comment=comment, now=at
    )


@pytest.mark.django_db
def test_the_report_counts_csat_nps_by_month_and_by_agent(acme):
    with in_tenant(acme):
        agent, manager = staff(acme, "agent"), staff(acme, "manager")
        for score, who in ((5, agent), (4, agent), (2, manager)):
            person = surveyable()
            done = resolved_ticket(person, assignee=who, category="Returns", channel="phone")
            _answered(person, "csat", score, ticket=done)
        march = timezone.make_aware(datetime.datetime(2026, 3, 10, 12))
        april = timezone.make_aware(datetime.datetime(2026, 4, 2, 12))
        for score, at in ((10, march), (9, march), (6, march), (3, march), (10, april)):
            _answered(surveyable(), "nps", score, at=at)
        report = feedback_report(
            staff(acme, "marketing"),
            since=datetime.date(2026, 1, 1),
            until=timezone.localdate() + datetime.timedelta(days=1),
        )
        assert (report.csat.answers, report.csat.satisfied, report.csat.csat) == (3, 2, 66.7)
        months = [
            (m.month.month, m.answers, m.promoters, m.detractors, m.nps) for m in report.nps_months
        ]
        assert months == [(3, 4, 2, 2, 0.0), (4, 1, 1, 0, 100.0)]
        assert (report.nps_answers, report.nps) == (5, 20.0)
        by_agent = {row.label: (row.answers, row.csat) for row in report.by_agent}
        assert by_agent[agent.full_name] == (2, 100.0)
        assert by_agent[manager.full_name] == (1, 0.0)
        # The NPS answers came from sends, not tickets: no agent, category or channel.
        assert {r.label: r.answers for r in report.by_category} == {"Returns": 3, "—": 5}
        assert {r.label: r.answers for r in report.by_channel} == {"Phone": 3, "—": 5}
        by_team = {r.label: (r.answers, r.csat, r.nps) for r in report.by_team}
        assert by_team == {"—": (8, 66.7, 20.0)}
        # NPS 6 and 3, CSAT 2: three detractors, each with its follow-up ticket.
        assert (report.detractors, report.follow_ups) == (3, 3)
    page = client_for(acme, "marketing").get(
        reverse("support:feedback_reports"), {"since": "2026-01-01"}
    )
    assert page.status_code == 200
    html = page.content.decode()
    assert re.search(r'id="csat-figure">66.7 %', html)
    assert re.search(r'id="nps-figure">20.0<', html)


@pytest.mark.django_db
def test_comments_are_filtered_and_paged_newest_first(acme):
    with in_tenant(acme):
        people = [surveyable() for _ in range(3)]
        first = _answered(people[0], "nps", 9, comment="Lovely shop")
        second = _answered(people[1], "nps", 2, comment="Rude cashier")
        third = _answered(people[2], "csat", 5, comment="Fast reply")
        _answered(surveyable(), "csat", 5)  # no comment: not listed
        user = staff(acme, "marketing")
        page = comment_page(user, CommentQuery(), after=None, size=2)
        assert [r.pk for r in page.responses] == [third.pk, second.pk]
        rest = comment_page(user, CommentQuery(), after=page.next_after, size=2)
        assert first.pk in [r.pk for r in rest.responses]
        detractors = comment_page(user, CommentQuery(detractors_only=True), after=None)
        assert [r.pk for r in detractors.responses if r.pk in {first.pk, second.pk, third.pk}] == [
            second.pk
        ]
    html = (
        client_for(acme, "marketing")
        .get(reverse("support:feedback_comments"), {"q": "Rude"})
        .content.decode()
    )
    assert "Rude cashier" in html and "Lovely shop" not in html
    assert second.follow_up.reference in html


@pytest.mark.django_db
def test_settings_are_saved_by_a_marketer_and_refused_to_an_agent(acme):
    url = reverse("support:feedback_settings")
    data = {
        "csat_on_resolve": "on",
        "resolve_delay_minutes": "15",
        "expiry_days": "7",
        "fatigue_days": "45",
        "complaint_keywords": "refund\n投诉，差评",
    }
    assert client_for(acme, "agent").post(url, data).status_code == 403
    assert client_for(acme, "marketing").post(url, data).status_code == 302
    with in_tenant(acme):
        settings = feedback_settings()
        assert (settings.resolve_delay_minutes, settings.expiry_days, settings.fatigue_days) == (
            15,
            7,
            45,
        )
        assert sorted(settings.complaint_keywords) == sorted(["refund", "投诉", "差评"])
        assert settings.ces_on_resolve is False


@pytest.mark.django_db
def test_an_nps_send_is_counted_before_it_is_sent(acme):
    tag = uuid.uuid4().hex[:6]
    with in_tenant(acme):
        feedback_settings()
        ids = [f"nps-{tag}-{n}" for n in range(3)]
        surveyable(external_id=ids[0])
        surveyable(external_id=ids[1], consent=None)
        surveyable(external_id=ids[2], email="")
    browser = client_for(acme, "marketing")
    url = reverse("support:feedback_sends")
    form = {"name": "Spring NPS", "external_ids": "\n".join([*ids, "nobody-" + tag])}
    counted = browser.post(url, form)
    html = counted.content.decode()
    assert "3 customers match." in html
    assert "1 can be sent the survey" in html
    with in_tenant(acme):
        assert not SurveySend.objects.filter(name="Spring NPS").exists(), "counting sends nothing"
    sent = browser.post(url, {**form, "confirm": "1"})
    assert sent.status_code == 302
    with in_tenant(acme):
        send = SurveySend.objects.get(name="Spring NPS")
        assert send.status == "queued" and send.created_by == staff(acme, "marketing")
        chunks = feedback_services.survey_send_plan(actor=None, send=send)
        assert [len(c) for c in chunks] == [3]
        assert feedback_services.survey_send_plan(actor=None, send=send) == [], "planned once"
        send.refresh_from_db()
        assert send.total == 3 and "1 external id matched no customer" in send.status_detail


@pytest.mark.django_db
def test_a_filter_the_customer_list_cannot_read_is_refused(acme):
    browser = client_for(acme, "marketing")
    refused = browser.post(
        reverse("support:feedback_sends"),
        {"name": "Bad", "audience_query": "owner=999999999", "confirm": "1"},
    )
    assert refused.status_code == 200
    with in_tenant(acme):
        assert not SurveySend.objects.filter(name="Bad").exists()


@pytest.mark.django_db
def test_a_merge_moves_survey_rows_and_an_erasure_blanks_comments(acme):
    with in_tenant(acme):
        admin = staff(acme, "admin")
        keep, drop = surveyable(), surveyable()
        _answered(keep, "nps", 9, comment="keep's words")
        _answered(drop, "nps", 8, comment="drop's words")
        customer_merge(actor=admin, keep=keep, drop=drop, chosen={})
        assert SurveyResponse.objects.filter(customer=keep).count() == 2
        assert SurveyInvitation.objects.filter(customer=keep).count() == 2
        customer_erase(actor=admin, customer=keep)
        assert set(
            SurveyResponse.objects.filter(customer=keep).values_list("comment", flat=True)
        ) == {""}
        assert set(
            SurveyInvitation.objects.filter(customer=keep).values_list("email", flat=True)
        ) == {""}


@pytest.mark.django_db
def test_an_erasure_scrubs_the_nps_sends_that_name_the_person(acme):
    with in_tenant(acme):
        admin = staff(acme, "admin")
        person = surveyable(name=f"Odile Varga {uuid.uuid4().hex[:6]}")
        address = person.emails.get().email
        named = SurveySend.objects.create(
            kind="nps", name=f"Ask {person.name}", audience_query=f"q={address}&tag=vip"
        )
        other = SurveySend.objects.create(kind="nps", name="Spring", audience_query="tag=vip")
        customer_erase(actor=admin, customer=person)
        named.refresh_from_db()
        other.refresh_from_db()
        assert named.audience_query == "tag=vip"
        assert person.name not in named.name and named.name == f"Survey send #{named.pk}"
        assert (other.name, other.audience_query) == ("Spring", "tag=vip")
        logged = AuditEntry.objects.filter(table_name="support_surveysend", record_id=str(named.pk))
        assert logged.exists() and address not in str(list(logged.values()))


@pytest.mark.worker
def test_an_nps_send_runs_in_the_worker_and_its_progress_shows(
    committed_db, celery_worker, smtp_server, acme
):
    tag = uuid.uuid4().hex[:6]
    with schema_context(acme.schema):
        feedback_settings()
        people = [surveyable(external_id=f"w-{tag}-{n}") for n in range(3)]
    browser = client_for(acme, "marketing")
    try:
        sent = browser.post(
            reverse("support:feedback_sends"),
            {
                "name": f"Worker {tag}",
                "external_ids": f"w-{tag}-0 w-{tag}-1 w-{tag}-2",
                "confirm": "1",
            },
        )
        assert sent.status_code == 302
        progress_url = sent.url.rstrip("/") + "/progress/"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            html = browser.get(progress_url).content.decode()
            if "Done" in html:
                break
            time.sleep(0.5)
        assert "Done" in html
        assert re.search(r'id="sent-count">3<', html)
        for person in people:
            with schema_context(acme.schema):
                address = person.emails.get().email
            assert "/survey/" in smtp_server.wait_for(address).get_body().get_content()
    finally:
        with schema_context(acme.schema):
            SurveySend.objects.filter(name=f"Worker {tag}").delete()
            SurveyInvitation.objects.filter(customer__in=people).delete()
            customers_delete([p.pk for p in people])


def _queries(client, url: str) -> list[str]:  # type: ignore[no-untyped-def]
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(url)
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return [q["sql"] for q in captured.captured_queries if "search_path" not in q["sql"]]


@pytest.mark.django_db
def test_the_reports_and_comments_do_not_grow_with_answers(acme):
    browser = client_for(acme, "marketing")
    urls = [reverse("support:feedback_reports"), reverse("support:feedback_comments")]
    with in_tenant(acme):
        agent = staff(acme, "agent")
        person = surveyable()
        _answered(person, "csat", 2, comment="slow", ticket=resolved_ticket(person, assignee=agent))
    few = [_queries(browser, url) for url in urls]
    with in_tenant(acme):
        for score in (1, 5, 9, 3, 10, 7):
            person = surveyable()
            done = resolved_ticket(person, assignee=agent, category=f"c{score}")
            _answered(
                person, "csat" if score <= 5 else "nps", score, comment=f"c {score}", ticket=done
            )
    many = [_queries(browser, url) for url in urls]
    for before, after in zip(few, many, strict=True):
        assert len(after) == len(before), "\n".join(after)
        assert len(after) <= 16, "\n".join(after)


@pytest.mark.django_db
def test_the_demo_seeder_answers_surveys_once(acme):
    import random

    from crm.tenants.seeding import SeedOptions
    from support.feedback_seeding import surveys_seed
    from support.models import Ticket

    with in_tenant(acme):
        for _n in range(3):
            surveyable()
        resolved_ticket(surveyable(), category="Demo")
        summary = surveys_seed(random.Random(3), SeedOptions(customers=100, seed=3))
        made = SurveyResponse.objects.filter(invitation__key__startswith="demo:").count()
        resolved = Ticket.objects.filter(status="resolved", customer__isnull=False).count()
        follow_ups = SurveyResponse.objects.filter(
            invitation__key__startswith="demo:", follow_up__isnull=False
        ).count()
        detractors = SurveyResponse.objects.filter(
            invitation__key__startswith="demo:", detractor=True
        ).count()
        assert made >= resolved + 4 and follow_ups == detractors
        assert summary == f"{made} survey answers, {follow_ups} follow-up tickets"
        assert "already seeded" in surveys_seed(random.Random(3), SeedOptions(100, 3))
        assert SurveyResponse.objects.filter(invitation__key__startswith="demo:").count() == made

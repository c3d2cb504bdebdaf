"""Each churn flag, its numbers and its reason in words; the rules registry takes new rules."""

import datetime

import pytest
from django.utils import timezone
from django.utils.translation import gettext_lazy

from analytics.churn import churn_refresh
from analytics.churn_rules import (
    COMPLAINT_PAST_SLA,
    OVERDUE,
    POINTS_EXPIRING,
    ChurnRule,
    churn_rule_register,
    churn_rule_unregister,
    flags_shown,
)
from loyalty.models import Lot
from loyalty.services import points_adjust
from support.models import Kind, Status, Ticket
from tests.analytics.churn_kit import at, codes, customer, flag, order, settings_set, today
from tests.tickets.factory import in_tenant, ticket

AS_OF = datetime.date(2026, 6, 30)


@pytest.mark.django_db
def test_no_purchase_for_several_usual_gaps(acme):
    with in_tenant(acme):
        settings_set(min_customers=1000)  # the model is skipped: only the rules
        hal = customer("Hal")  # gaps 10, 10, 10 days; last bought 150 days before
        for day in (datetime.date(2026, 1, 1), datetime.date(2026, 1, 11)):
            order(hal, at(day))
        order(hal, at(datetime.date(2026, 1, 21)))
        order(hal, at(datetime.date(2026, 1, 31)))
        order(hal, at(datetime.date(2026, 1, 31), 18))  # same day: no new gap
        ida = customer("Ida")  # one gap only: no usual gap to speak of
        order(ida, at(datetime.date(2026, 1, 1)))
        order(ida, at(datetime.date(2026, 1, 11)))
        jo = customer("Jo")  # gaps 30 and 60 (median 45); 90 days since < 3 x 45
        for day in (
            datetime.date(2026, 1, 1),
            datetime.date(2026, 1, 31),
            datetime.date(2026, 4, 1),
        ):
            order(jo, at(day))

        churn_refresh(as_of=AS_OF)

        assert flag(hal, OVERDUE) == {
            "code": OVERDUE,
            "days_since": 150,
            "usual_gap_days": 10.0,
            "multiple": 3.0,
            "times": 15.0,
        }
        assert OVERDUE not in codes(ida) and OVERDUE not in codes(jo)
        # A lower multiple flags Jo too (90 > 1.5 x 45); two gaps are enough.
        settings_set(gap_multiple="1.5")
        churn_refresh(as_of=AS_OF)
        assert flag(jo, OVERDUE)["usual_gap_days"] == 45.0
        [shown] = flags_shown([flag(hal, OVERDUE)])
        assert shown.reason == (
            "No purchase for 150 days: 15.0 times their usual gap of 10.0 days "
            "(flagged after 1.5 times)."
        )


@pytest.mark.django_db
def test_an_open_complaint_past_its_resolution_time(acme):
    with in_tenant(acme):
        kim, lou, max_ = customer("Kim"), customer("Lou"), customer("Max")
        late = ticket(customer_=kim, kind=Kind.COMPLAINT, severity="major")
        ticket(customer_=kim, kind=Kind.COMPLAINT)  # not due yet
        done = ticket(customer_=lou, kind=Kind.COMPLAINT)
        question = ticket(customer_=max_)  # a question, not a complaint
        now = timezone.now()
        Ticket.objects.filter(pk=late.pk).update(resolution_due=now - datetime.timedelta(hours=30))
        Ticket.objects.exclude(pk__in=[late.pk, done.pk, question.pk]).update(
            resolution_due=now + datetime.timedelta(hours=5)
        )
        Ticket.objects.filter(pk__in=[done.pk, question.pk]).update(
            resolution_due=now - datetime.timedelta(hours=30)
        )
        Ticket.objects.filter(pk=done.pk).update(status=Status.RESOLVED)

        churn_refresh(as_of=today())

        numbers = flag(kim, COMPLAINT_PAST_SLA)
        assert numbers["tickets"] == 1 and numbers["oldest"] == late.number
        assert 29 <= numbers["hours_overdue"] <= 30
        assert codes(lou) == set() and codes(max_) == set()
        [shown] = flags_shown([numbers])
        assert late.reference in shown.reason and "1 open complaint" in shown.reason
        # Refreshed as of a day before the complaint was due: not past its time then.
        churn_refresh(as_of=today() - datetime.timedelta(days=3))
        assert COMPLAINT_PAST_SLA not in codes(kim)


@pytest.mark.django_db
def test_points_about_to_expire_unused(acme):
    with in_tenant(acme):
        ned, ola = customer("Ned"), customer("Ola")
        for who in (ned, ned, ola):
            points_adjust(actor=None, customer=who, points=40, reason="Goodwill")
        ned_lots = Lot.objects.filter(account__customer=ned).order_by("id")
        Lot.objects.filter(pk=ned_lots[0].pk).update(expires_on=AS_OF + datetime.timedelta(days=9))
        Lot.objects.filter(pk=ned_lots[1].pk).update(
            expires_on=AS_OF + datetime.timedelta(days=20), remaining=25
        )
        # Ola's points expire in 60 days: beyond the 30-day window.
        Lot.objects.filter(account__customer=ola).update(
            expires_on=AS_OF + datetime.timedelta(days=60)
        )

        churn_refresh(as_of=AS_OF)

        assert flag(ned, POINTS_EXPIRING) == {
            "code": POINTS_EXPIRING,
            "points": 65,
            "first_expiry": "2026-07-09",
            "within_days": 30,
        }
        assert codes(ola) == set()
        [shown] = flags_shown([flag(ned, POINTS_EXPIRING)])
        assert shown.reason.startswith("65 unused points expire within 30 days")
        # Spent points are not about to expire.
        Lot.objects.filter(account__customer=ned).update(remaining=0)
        churn_refresh(as_of=AS_OF)
        assert codes(ned) == set()


@pytest.mark.django_db
def test_a_registered_rule_flags_with_its_own_reason(acme):
    """How a later rule (a recent detractor answer) plugs in: SQL over any table, numbers, a
    sentence."""

    def query(ctx):  # type: ignore[no-untyped-def]
        return (
            "SELECT id, jsonb_build_object('tags', cardinality(tags)) FROM customers_customer"
            " WHERE %s = ANY(tags)",
            ["vip-unhappy"],
        )

    rule = ChurnRule(
        "test_unhappy",
        gettext_lazy("Unhappy"),
        query,
        lambda n: f"{n['tags']} tags",
        order=5,
    )
    churn_rule_register(rule)
    try:
        with in_tenant(acme):
            pat = customer("Pat")
            pat.tags = ["vip-unhappy", "x"]
            pat.save()
            hal = customer("Hal")
            for day in (1, 11, 21):
                order(hal, at(datetime.date(2026, 1, day)))

            summary = churn_refresh(as_of=AS_OF)

            assert flag(pat, "test_unhappy") == {"code": "test_unhappy", "tags": 2}
            assert summary["flags"]["test_unhappy"] == 1
            [shown] = flags_shown([flag(pat, "test_unhappy")])
            assert (shown.label, shown.reason) == ("Unhappy", "2 tags")
    finally:
        churn_rule_unregister("test_unhappy")
    # A flag whose rule is gone still shows, by its code.
    assert flags_shown([{"code": "test_unhappy"}])[0].label == "test_unhappy"


@pytest.mark.django_db
def test_erased_customers_are_neither_scored_nor_flagged(acme):
    with in_tenant(acme):
        quinn = customer("Quinn")
        for day in (1, 11, 21):
            order(quinn, at(datetime.date(2026, 1, day)))
        type(quinn).objects.filter(pk=quinn.pk).update(erased_at=timezone.now())
        churn_refresh(as_of=AS_OF)
        assert codes(quinn) == set()

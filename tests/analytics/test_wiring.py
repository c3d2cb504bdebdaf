"""Where analytics' parts meet: RFM scores and survey answers as segment conditions, their
dashboard panels, the refresh's steps in order, and line charts that leave a gap for a month
without answers rather than drawing a zero."""

import datetime

import pytest
from django.urls import reverse
from django_tenants.utils import schema_context

from analytics.dashboard import dashboard_cache_forget
from analytics.feedback_plugins import feedback_trend
from analytics.models import RfmScore
from analytics.models_segments import SegmentMember
from analytics.refresh import analytics_refresh, refresh_steps
from analytics.rfm import rfm_refresh
from analytics.rfm_plugins import rfm_grid_counts
from crm.lib import charts
from customers.models import Customer
from loyalty.programme import local_today
from support import feedback_services
from support.feedback_selectors import feedback_settings
from tests.analytics.helpers import AS_OF, five_buyers, rules, segment
from tests.conftest import client_for
from tests.tickets.feedback_kit import later, resolved_ticket, surveyable

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_panels(acme):
    with schema_context(acme.schema):
        dashboard_cache_forget()
    yield


def _ids(seg) -> set[int]:
    return set(SegmentMember.objects.filter(segment=seg).values_list("customer_id", flat=True))


def _names(seg) -> set[str]:
    return set(Customer.objects.filter(pk__in=_ids(seg)).values_list("name", flat=True))


def test_refresh_runs_rfm_before_the_segments_that_test_it():
    keys = [step.key for step in refresh_steps()]
    assert keys.index("rfm") < keys.index("segments")
    assert keys[-1] == "segments"


def test_rfm_segment_and_scores_are_segment_conditions(acme):
    with schema_context(acme.schema):
        people = five_buyers()
        rfm_refresh(as_of=AS_OF)
        scores = {s.customer_id: s for s in RfmScore.objects.all()}
        a = scores[people["A"].pk]
        same_segment = {f"Buyer {k}" for k in "ABCDE" if scores[people[k].pk].segment == a.segment}
        seg = segment("Same as A", rules([("rfm_segment", "eq", a.segment)]))
        assert _names(seg) == same_segment
        recent = segment("Recent", rules([("rfm_r", "gte", 5)]))
        assert _names(recent) == {f"Buyer {k}" for k in "ABCDE" if scores[people[k].pk].r >= 5}
        unscored = segment("Unscored", rules([("rfm_segment", "empty", None)]))
        assert {"Buyer F", "Buyer G", "Buyer H"} <= _names(unscored)
        assert not _names(unscored) & {f"Buyer {k}" for k in "ABCDE"}


def test_rfm_grid_counts_every_scored_customer_in_its_cell(acme):
    with schema_context(acme.schema):
        people = five_buyers()
        rfm_refresh(as_of=AS_OF)
        grid = rfm_grid_counts(acme.manager)
        a = RfmScore.objects.get(customer=people["A"])
        assert sum(sum(row) for row in grid) == 5
        # Row 0 is R 5; columns are FM 1..5.
        assert grid[5 - a.r][a.fm - 1] >= 1


def _answer(person, score: int, comment: str = ""):
    feedback_settings()
    resolved_ticket(person)
    (pk,) = feedback_services.surveys_on_resolve_decide(actor=None, now=later(minutes=61)).pending
    token = feedback_services.survey_invitation_claim(actor=None, invitation_id=pk)
    return feedback_services.survey_answer(actor=None, token=token, score=score, comment=comment)


def test_survey_answers_are_segment_conditions_and_a_dashboard_trend(acme):
    with schema_context(acme.schema):
        unhappy, happy = surveyable(), surveyable()
        _answer(unhappy, 1, "Late again")
        _answer(happy, 5, "Lovely")
        seg = segment("Detractors", rules([("feedback_detractor", "within_days", 30)]))
        assert _ids(seg) == {unhappy.pk}
        this_month = feedback_trend(acme.manager, local_today())[local_today().replace(day=1)]
        assert this_month == (50.0, None)  # one of two CSAT answers 4-5; no NPS answers
        earlier = feedback_trend(acme.manager, local_today())
        assert next(iter(earlier.values())) == (None, None)
    page = client_for(acme, "manager").get(reverse("analytics:home"))
    assert page.status_code == 200
    assert 'data-panel="feedback_trend"' in page.text


def test_refresh_forgets_cached_panels_and_the_dashboard_shows_rfm(acme):
    manager = client_for(acme, "manager")
    with schema_context(acme.schema):
        five_buyers()
    before = manager.get(reverse("analytics:home")).text
    assert 'data-panel="rfm_grid"' not in before or "Nothing to show yet" in before
    with schema_context(acme.schema):
        analytics_refresh(as_of=AS_OF, actor=None)
    after = manager.get(reverse("analytics:home")).text
    assert 'data-panel="rfm_grid"' in after
    assert 'data-panel="rfm_segments"' in after


def test_a_line_chart_leaves_a_gap_for_a_missing_value():
    chart = charts.line_chart(
        title="Trend", x_labels=["2026-01", "2026-02", "2026-03"], series={"NPS": [10, None, -5]}
    )
    assert chart.table.rows[1] == ["2026-02", "—"]
    assert chart.table.rows[2] == ["2026-03", "-5"]
    bars = charts.bar_chart(title="Bars", categories=["a", "b"], series={"n": [1, None]})
    assert bars.table.rows[1] == ["b", "0"]


def test_rfm_pages_draw_their_charts(acme):
    with schema_context(acme.schema):
        five_buyers()
        rfm_refresh(as_of=AS_OF - datetime.timedelta(days=30))
        rfm_refresh(as_of=AS_OF)
    manager = client_for(acme, "manager")
    overview = manager.get(reverse("analytics:rfm")).text
    assert "<svg" in overview
    transitions = manager.get(reverse("analytics:rfm_transitions")).text
    assert transitions.count("<svg") >= 1


def test_the_refresh_runs_rfm_then_churn_then_segments():
    keys = [step.key for step in refresh_steps()]
    assert keys.index("rfm") < keys.index("churn") < keys.index("segments")


def test_an_unhappy_answer_flags_churn_with_its_reason_and_feeds_segments_and_exports(acme):
    from django.http import QueryDict

    from analytics.churn import churn_refresh
    from analytics.churn_rules import flags_shown
    from analytics.models_churn import ChurnScore
    from crm.accounts.models import User
    from crm.transfer.exporting import export_kind

    with schema_context(acme.schema):
        unhappy, happy = surveyable(), surveyable()
        _answer(unhappy, 1, "Late again")
        _answer(happy, 5, "Lovely")
        churn_refresh(as_of=local_today())
        score = ChurnScore.objects.get(customer=unhappy)
        (flag,) = [f for f in flags_shown(score.flags) if f.code == "detractor"]
        assert "CSAT 1" in flag.reason and "1 such answer in 90 days" in flag.reason
        assert not ChurnScore.objects.filter(
            customer=happy, flags__contains=[{"code": "detractor"}]
        ).exists()
        seg = segment("Unhappy", rules([("churn_flag", "eq", "detractor")]))
        assert _ids(seg) == {unhappy.pk}
        kind = export_kind("customers")
        user = User.objects.get(pk=acme.users["manager"].pk)
        headers = list(kind.header_row(user, QueryDict()))
        rows = {row[headers.index("name")]: row for row in kind.rows_for(user, QueryDict())}
    for column in ("p_alive", "expected_purchases_90d", "churn_flags"):
        assert column in headers
    assert "detractor" in rows[unhappy.name][headers.index("churn_flags")].split()
    assert "detractor" not in str(rows[happy.name][headers.index("churn_flags")])


def test_the_dashboard_lists_churn_risk_in_the_readers_scope(acme):
    from analytics.churn import churn_refresh

    with schema_context(acme.schema):
        unhappy = surveyable()
        _answer(unhappy, 1, "Late again")
        churn_refresh(as_of=local_today())
    page = client_for(acme, "manager").get(reverse("analytics:home")).text
    assert 'data-panel="churn_risk"' in page and unhappy.name in page


def test_the_demo_segments_seed_once_with_rules_that_compile(acme):
    import random

    from analytics.models_segments import Segment
    from analytics.segment_seeding import DEMO_SEGMENTS, segments_seed
    from crm.tenants.seeding import SeedOptions

    with schema_context(acme.schema):
        before = Segment.objects.count()
        first = segments_seed(random.Random(1), SeedOptions(customers=10, seed=1))
        again = segments_seed(random.Random(1), SeedOptions(customers=10, seed=1))
        assert Segment.objects.count() == before + len(DEMO_SEGMENTS)
    assert first.startswith(f"{len(DEMO_SEGMENTS)} segments made")
    assert again.startswith("0 segments made")

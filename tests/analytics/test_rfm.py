"""RFM scores on a small hand-checked set, as of 2026-06-30 (tenant-local dates):

    customer  completed orders (amount)                     recency  F  M
    A         06-29 (100), 06-20 (200), 06-01 (300)            1     3  600   (+07-02 ignored)
    B         06-29 (50)                                       1     1   50
    C         05-31 (500), 04-01 (500)                        30     2 1000
    D         01-01 (20)                                     180     1   20
    E         03-01, 02-01, 01-15, 01-10 (100 each)           121     4  400
    F none; G a cancelled order only; H an order after the as-of date only: not scored.

Quintiles: recency ascending A=B (cume 2/5), C 3/5, E 4/5, D 5/5 -> R 4, 4, 3, 2, 1 (A and B
tie: equal values, equal scores, and nobody gets 5). Frequency B=D 2/5, C 3/5, A 4/5, E 1
-> F 2, 2, 3, 4, 5. Monetary D, B, E, A, C -> M 1..5. FM = (F + M + 1) // 2.
"""

import datetime
import json
from decimal import Decimal

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from analytics.models import RfmScore, RfmSettings, RfmSnapshot, RfmSnapshotEntry, SegmentRule
from analytics.refresh import analytics_refresh
from analytics.rfm import rfm_refresh
from analytics.rfm_map import DEFAULT_RULES, grid
from analytics.rfm_selectors import customer_rfm, transitions
from analytics.rfm_settings import (
    RuleInput,
    rfm_settings_save,
    segment_rules_reset,
    segment_rules_save,
)
from crm.accounts.models import AuditEntry
from customers.models import Order
from tests.analytics.helpers import AS_OF, customer, d, five_buyers, order

pytestmark = pytest.mark.django_db


def _scores() -> dict[str, tuple[int, int, int, int, int, Decimal, str]]:
    return {
        s.customer.name[-1]: (s.r, s.f, s.m, s.recency_days, s.frequency, s.monetary, s.segment)
        for s in RfmScore.objects.select_related("customer")
    }


def test_the_tenant_starts_without_orders(acme):
    with schema_context(acme.schema):
        assert not Order.objects.exists()


def test_quintile_scores_ties_and_segments_match_the_hand_checked_set(acme):
    with schema_context(acme.schema):
        five_buyers()
        summary = rfm_refresh(as_of=AS_OF)
        assert _scores() == {
            "A": (4, 4, 4, 1, 3, Decimal("600.00"), "loyal"),
            "B": (4, 2, 2, 1, 1, Decimal("50.00"), "potential_loyalist"),
            "C": (3, 3, 5, 30, 2, Decimal("1000.00"), "loyal"),
            "D": (1, 2, 1, 180, 1, Decimal("20.00"), "lost"),
            "E": (2, 5, 3, 121, 4, Decimal("400.00"), "at_risk"),
        }
        assert summary["scored"] == 5
        assert summary["segments"] == {
            "loyal": 2,
            "potential_loyalist": 1,
            "lost": 1,
            "at_risk": 1,
        }
        a = RfmScore.objects.get(customer__name="Buyer A")
        assert (a.fm, a.recency_cume, a.frequency_cume, a.monetary_cume) == (4, 0.4, 0.8, 0.8)


def test_an_earlier_as_of_date_ignores_later_orders(acme):
    with schema_context(acme.schema):
        five_buyers()
        rfm_refresh(as_of=d(5, 31))
        scores = _scores()
        # On 31 May: A, B have no orders yet; C bought that day (recency 0).
        assert set(scores) == {"C", "D", "E"}
        assert scores["C"][3:6] == (0, 2, Decimal("1000.00"))
        assert scores["E"][3] == 91


def test_the_as_of_date_ends_at_midnight_in_the_tenant_time_zone(globex):
    with schema_context(globex.schema):
        late, early = customer("Late"), customer("Early")
        # 23:30 on the 30th in Shanghai counts; 00:30 on 1 July does not (both 30 June in UTC).
        order(late, datetime.datetime(2026, 6, 30, 15, 30, tzinfo=datetime.UTC), 10)
        order(early, datetime.datetime(2026, 6, 30, 16, 30, tzinfo=datetime.UTC), 10)
        rfm_refresh(as_of=AS_OF)
        assert list(RfmScore.objects.values_list("customer__name", "recency_days")) == [("Late", 0)]


def test_a_window_scores_only_its_orders(acme):
    with schema_context(acme.schema):
        five_buyers()
        settings = RfmSettings.objects.get(pk=1)
        rfm_settings_save(
            actor=None,
            window_days=100,  # 23 March to 30 June
            scoring="quintiles",
            recency_days=settings.recency_days,
            frequency=settings.frequency,
            monetary=settings.monetary,
            snapshot_keep_days=400,
        )
        summary = rfm_refresh(as_of=AS_OF)
        scores = _scores()
        assert set(scores) == {"A", "B", "C"} and summary["window_days"] == 100
        # Recency A=B (2/3), C (3/3): R 6-ceil(10/3)=2 and 6-5=1.
        assert [scores[k][0] for k in "ABC"] == [2, 2, 1]


def test_fixed_thresholds(acme):
    with schema_context(acme.schema):
        five_buyers()
        rfm_settings_save(
            actor=None,
            window_days=None,
            scoring="fixed",
            recency_days=[30, 90, 180, 365],
            frequency=[2, 3, 5, 10],
            monetary=[Decimal(100), Decimal(250), Decimal(500), Decimal(1000)],
            snapshot_keep_days=400,
        )
        rfm_refresh(as_of=AS_OF)
        assert {k: v[:3] for k, v in _scores().items()} == {
            "A": (5, 3, 4),  # 1 day; 3 orders reach 2 and 3; 600 reaches 100, 250, 500
            "B": (5, 1, 1),
            "C": (5, 2, 5),  # exactly 30 days is still R 5; 1000 reaches every threshold
            "D": (3, 1, 1),  # 180 days: at most 180 -> R 3
            "E": (3, 3, 3),
        }


def test_settings_refuse_thresholds_that_do_not_rise(acme):
    from django.core.exceptions import ValidationError

    with schema_context(acme.schema):
        with pytest.raises(ValidationError) as refused:
            rfm_settings_save(
                actor=None,
                window_days=None,
                scoring="fixed",
                recency_days=[30, 30, 180, 365],
                frequency=[2, 3, 5],
                monetary=[Decimal(1), Decimal(2), Decimal(3), Decimal(4)],
                snapshot_keep_days=400,
            )
        assert set(refused.value.message_dict) == {"recency_days", "frequency"}
        assert RfmSettings.objects.get(pk=1).scoring == "quintiles"


def test_an_edited_map_gives_new_segments_at_the_next_refresh(acme):
    with schema_context(acme.schema):
        five_buyers()
        rfm_refresh(as_of=AS_OF)
        rules = [RuleInput("champions", 3, 5, 4, 5), *(RuleInput(*r) for r in DEFAULT_RULES)]
        segment_rules_save(actor=None, rules=rules)
        tab = customer_rfm(RfmScore.objects.get(customer__name="Buyer A").customer_id)
        assert tab["map_changed"] and "Champions" in tab["rule_text"]
        rfm_refresh(as_of=AS_OF)
        assert {k: v[6] for k, v in _scores().items()}["A"] == "champions"
        assert {k: v[6] for k, v in _scores().items()}["C"] == "champions"
        # A gap in the map leaves customers without a segment, and the grid says where.
        segment_rules_save(actor=None, rules=[RuleInput("lost", 1, 1, 1, 5)])
        rfm_refresh(as_of=AS_OF)
        assert {k: v[6] for k, v in _scores().items()} == {
            "A": "",
            "B": "",
            "C": "",
            "D": "lost",
            "E": "",
        }
        cells = grid(list(SegmentRule.objects.all()))
        assert sum(1 for row in cells for c in row if c.rule is None) == 20
        segment_rules_reset(actor=None)
        assert [
            (r.segment, r.r_min, r.r_max, r.fm_min, r.fm_max) for r in SegmentRule.objects.all()
        ] == [tuple(rule) for rule in DEFAULT_RULES]


def test_the_default_rules_cover_every_cell_once_and_match_the_migration(acme):
    with schema_context(acme.schema):
        rows = [
            (r.segment, r.r_min, r.r_max, r.fm_min, r.fm_max) for r in SegmentRule.objects.all()
        ]
    assert rows == [tuple(rule) for rule in DEFAULT_RULES]
    for r in range(1, 6):
        for fm in range(1, 6):
            hits = [s for s, r1, r2, f1, f2 in DEFAULT_RULES if r1 <= r <= r2 and f1 <= fm <= f2]
            assert len(hits) == 1, (r, fm, hits)


def test_the_customer_tab_explains_the_scores_in_words(acme):
    with schema_context(acme.schema):
        people = five_buyers()
        rfm_refresh(as_of=AS_OF)
        tab = customer_rfm(people["A"].pk)
        assert tab["segment"] == "Loyal" and not tab["map_changed"]
        assert tab["recency"]["text"] == "Last completed order 1 day before 2026-06-30"
        assert "40%" in tab["recency"]["why"] and "R 4" in tab["recency"]["why"]
        assert "80%" in tab["frequency"]["why"] and "F 4" in tab["frequency"]["why"]
        assert tab["fm_text"].startswith("FM 4: the average of F 4 and M 4")
        assert tab["rule_text"] == "Rule 2 of the segment map (R 3–4, FM 4–5) gives Loyal"
        assert customer_rfm(people["F"].pk)["score"] is None


def test_snapshots_one_per_date_and_transitions_between_them(acme):
    with schema_context(acme.schema):
        people = five_buyers()
        rfm_refresh(as_of=d(5, 31))
        rfm_refresh(as_of=AS_OF)
        again = rfm_refresh(as_of=AS_OF)  # the same date again replaces its snapshot
        assert RfmSnapshot.objects.count() == 2
        latest = RfmSnapshot.objects.get(as_of=AS_OF)
        assert again["snapshot"] == latest.pk
        assert RfmSnapshotEntry.objects.filter(snapshot=latest).count() == 5
        assert latest.counts == {"loyal": 2, "potential_loyalist": 1, "lost": 1, "at_risk": 1}
        before = RfmSnapshot.objects.get(as_of=d(5, 31))
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT customer_id, segment FROM analytics_rfmsnapshotentry"
                " WHERE snapshot_id = %s",
                [before.pk],
            )
            then = dict(cursor.fetchall())
        table = transitions(before, latest)
        cells = {
            (a, b): n
            for a, (_label, counts, _total) in zip(table.keys_before, table.rows, strict=True)
            for b, n in zip(table.keys_after, counts, strict=True)
            if n
        }
        now = dict(RfmScore.objects.values_list("customer_id", "segment"))
        expected: dict[tuple[str, str], int] = {}
        for pk in set(then) | set(now):
            key = (then.get(pk, "-"), now.get(pk, "-"))
            expected[key] = expected.get(key, 0) + 1
        assert cells == expected
        # A and B were not scored on 31 May.
        assert cells[("-", "loyal")] == 1 and cells[("-", "potential_loyalist")] == 1
        assert table.stayed + table.moved == 3
        assert people["A"].pk not in then


def test_old_snapshots_are_removed_after_the_kept_days(acme):
    with schema_context(acme.schema):
        five_buyers()
        rfm_refresh(as_of=d(1, 31))
        settings = RfmSettings.objects.get(pk=1)
        settings.snapshot_keep_days = 30
        settings.save()
        summary = rfm_refresh(as_of=AS_OF)
        assert summary["snapshots_removed"] == 1
        assert list(RfmSnapshot.objects.values_list("as_of", flat=True)) == [AS_OF]


def test_erased_customers_are_not_scored(acme):
    from customers.privacy import customer_erase

    with schema_context(acme.schema):
        people = five_buyers()
        customer_erase(actor=None, customer=people["D"])
        rfm_refresh(as_of=AS_OF)
        assert people["D"].pk not in RfmScore.objects.values_list("customer_id", flat=True)
        assert RfmScore.objects.count() == 4


def test_the_refresh_runs_the_registered_steps_in_order_and_is_audited(acme):
    from analytics.refresh import RefreshStep, refresh_step_register, refresh_step_unregister

    seen: list[str] = []

    def later(*, as_of: datetime.date) -> dict[str, object]:
        seen.append(f"later {as_of}")
        return {"n": RfmScore.objects.count()}

    refresh_step_register(RefreshStep("later", "Later", later, order=15))
    try:
        with schema_context(acme.schema):
            five_buyers()
            steps: list[tuple[int, int, str]] = []
            summary = analytics_refresh(
                as_of=AS_OF, actor=None, progress=lambda *a: steps.append(a)
            )
            # RFM (10), ours (15), then the churn model (20) and segments (30).
            assert list(summary["steps"]) == ["rfm", "later", "churn", "segments"]
            assert summary["steps"]["later"] == {"n": 5}  # after RFM had scored
            assert steps[:2] == [(0, 4, "RFM scores"), (1, 4, "Later")]
            assert steps[-1] == (4, 4, "")
            entry = AuditEntry.objects.filter(action="analytics_refresh").latest("id")
            assert entry.detail["steps"]["rfm"]["scored"] == 5
            json.dumps(summary)
    finally:
        refresh_step_unregister("later")
    assert seen == ["later 2026-06-30"]


def test_the_demo_seeder_refreshes_a_month_ago_and_today(acme):
    import random

    from analytics.rfm_seeding import rfm_seed
    from crm.tenants.seeding import SeedOptions
    from loyalty.programme import local_today

    with schema_context(acme.schema):
        five_buyers()
        line = rfm_seed(random.Random(1), SeedOptions(customers=0, seed=1))
        rfm_seed(random.Random(1), SeedOptions(customers=0, seed=1))  # safe twice
        today = local_today()
        assert sorted(RfmSnapshot.objects.values_list("as_of", flat=True)) == [
            today - datetime.timedelta(days=30),
            today,
        ]
        assert line.endswith("6 scored") and RfmScore.objects.count() == 6

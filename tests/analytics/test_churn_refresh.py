"""The churn refresh with enough data to fit: the fit recorded with its data and holdout check,
every buyer scored, value tiers by the documented cut points, low P(alive) flags and the risk
order; with too little data the model is skipped and the rules still run."""

import datetime
import json

import numpy as np
import pytest

from analytics.churn import churn_refresh
from analytics.churn_rules import LOW_P_ALIVE, OVERDUE
from analytics.models_churn import ChurnFit, ChurnScore, ValueTier
from tests.analytics.churn_kit import at, codes, customer, order, settings_set, simulated_customers
from tests.tickets.factory import in_tenant

AS_OF = datetime.date(2026, 6, 30)


@pytest.mark.django_db
def test_a_fitted_refresh_scores_every_buyer_and_checks_itself_on_a_holdout(acme):
    with in_tenant(acme):
        settings_set(min_customers=100, min_repeaters=30, holdout_days=60)
        ids = simulated_customers(600, as_of=AS_OF, seed=17)

        summary = churn_refresh(as_of=AS_OF)

        json.dumps(summary)  # what the refresh pipeline prints with --json
        fit = ChurnFit.objects.latest()
        assert summary["status"] == fit.status == ChurnFit.Status.FITTED
        assert fit.customers == 600 and 0 < fit.repeaters < 600
        for name in ("r", "alpha", "a", "b"):
            assert getattr(fit, name) > 0 and summary[name] == getattr(fit, name)
        assert fit.log_likelihood < 0 and fit.unique_rows <= 600
        # Loose: 600 customers pin the parameters only roughly.
        assert 0.05 < fit.r < 1.5

        scores = ChurnScore.objects.filter(customer_id__in=ids)
        assert scores.count() == 600
        alive = np.array([s.p_alive for s in scores])
        assert ((alive > 0) & (alive <= 1)).all()
        assert all(s.expected_purchases_90d >= 0 for s in scores)
        # Never bought again: nothing to have dropped out after (P(alive) = 1).
        assert all(s.p_alive == 1.0 for s in scores if s.frequency == 0)

        # Value tiers: high from the 80th percentile of expected value, middle from the 50th.
        values = np.array([float(s.expected_value) for s in scores])
        high, middle = fit.tier_cuts["high"], fit.tier_cuts["middle"]
        assert high == pytest.approx(np.quantile(values, 0.8), abs=0.01)
        for s in scores:
            want = (
                ValueTier.HIGH
                if float(s.expected_value) >= high
                else ValueTier.MIDDLE
                if float(s.expected_value) >= middle
                else ValueTier.LOW
            )
            assert s.value_tier == want
        assert 0.15 < np.mean([s.value_tier == ValueTier.HIGH for s in scores]) < 0.3

        # Low P(alive): exactly the customers under the threshold, with their numbers.
        under = {s.customer_id for s in scores if s.p_alive < 0.3}
        assert under
        flagged = {s.customer_id for s in scores if LOW_P_ALIVE in codes_of(s)}
        assert flagged == under
        one = next(s for s in scores if s.customer_id in under)
        numbers = next(f for f in one.flags if f["code"] == LOW_P_ALIVE)
        assert numbers["threshold"] == 0.3 and numbers["p_alive"] == round(one.p_alive, 3)

        # The risk order: 1..n over the flagged, most reasons first, then lowest P(alive).
        ranked = list(ChurnScore.objects.exclude(risk_rank=None).order_by("risk_rank"))
        assert [s.risk_rank for s in ranked] == list(range(1, len(ranked) + 1))
        assert len(ranked) == fit.flagged == summary["flagged"]
        keys = [(-len(s.flags), s.p_alive) for s in ranked]
        assert keys == sorted(keys)

        # The holdout check: a second fit up to 60 days earlier, grouped by frequency then.
        check = fit.holdout
        assert check["status"] == ChurnFit.Status.FITTED
        assert check["calibration_end"] == "2026-05-01"
        rows = check["rows"]
        assert rows[0][0] == "0" and sum(r[1] for r in rows) == check["customers"]
        assert check["customers"] <= 600
        # The model's expectation is in the actual total's neighbourhood.
        assert 0.5 < check["expected_total"] / max(check["actual_total"], 1) < 2.0


def codes_of(score: ChurnScore) -> set[str]:
    return {f["code"] for f in score.flags}


@pytest.mark.django_db
def test_with_too_little_data_the_model_is_skipped_and_the_rules_still_run(acme):
    with in_tenant(acme):
        settings_set(min_customers=50)
        gus = customer("Gus")
        for day in (1, 11, 21, 31):  # every ten days in January, then nothing
            order(gus, at(datetime.date(2026, 1, day)))

        summary = churn_refresh(as_of=AS_OF)

        fit = ChurnFit.objects.latest()
        assert fit.status == ChurnFit.Status.SKIPPED == summary["status"]
        assert fit.skip_reason == {"code": "few_customers", "have": 1, "need": 50}
        assert fit.r is None and fit.log_likelihood is None
        assert LOW_P_ALIVE not in summary["flags"]
        assert codes(gus) == {OVERDUE}
        score = ChurnScore.objects.get(customer_id=gus.pk)
        assert score.p_alive is None and score.value_tier == "" and score.risk_rank == 1


@pytest.mark.django_db
def test_too_few_repeat_customers_also_skip_the_model(acme):
    with in_tenant(acme):
        settings_set(min_customers=10, min_repeaters=5)
        for _n in range(12):
            order(customer(), at(datetime.date(2026, 3, 3)))
        churn_refresh(as_of=AS_OF)
        fit = ChurnFit.objects.latest()
        assert fit.skip_reason == {"code": "few_repeaters", "have": 0, "need": 5}


@pytest.mark.django_db
def test_a_tenant_without_orders_refreshes_to_an_empty_skipped_model(globex):
    with in_tenant(globex):
        summary = churn_refresh(as_of=AS_OF)
        fit = ChurnFit.objects.latest()
        assert (summary["status"], summary["customers"], summary["flagged"]) == ("skipped", 0, 0)
        assert fit.first_purchase_day is None and fit.holdout == {}
        assert not ChurnScore.objects.exists()

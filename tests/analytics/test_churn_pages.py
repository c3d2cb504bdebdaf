"""The churn pages: the model page (fitted, skipped, not run), the churn-risk list (keyset
pages, filters, record scope, bounded queries), the customer's churn tab, the settings."""

import datetime
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from analytics.churn import churn_refresh, churn_settings
from analytics.churn_rules import OVERDUE
from analytics.churn_selectors import churn_risk_page
from analytics.models_churn import ChurnSettings
from crm.accounts.models import AuditEntry
from tests.analytics.churn_kit import at, customer, order, settings_set, simulated_customers
from tests.conftest import client_for
from tests.tickets.factory import in_tenant, staff

AS_OF = datetime.date(2026, 6, 30)


def _overdue_customers(n: int, **fields):  # type: ignore[no-untyped-def]
    made = []
    for i in range(n):
        who = customer(f"Late {i}", **fields)
        for day in (1, 11, 21):
            order(who, at(datetime.date(2026, 1, day)))
        made.append(who)
    return made


def _listed(html: str) -> list[str]:
    return re.findall(r'href="/customers/(\d+)/#tab-churn"', html)


@pytest.mark.django_db
def test_the_model_page_shows_the_fit_its_data_and_the_holdout_check(acme):
    with in_tenant(acme):
        settings_set(min_customers=100, min_repeaters=30, holdout_days=60)
        simulated_customers(400, as_of=AS_OF, seed=3)
        churn_refresh(as_of=AS_OF)
    for role in ("manager", "marketing"):
        page = client_for(acme, role).get(reverse("analytics:churn"))
        assert page.status_code == 200
        html = page.content.decode()
        assert 'data-testid="churn-params"' in html and 'data-testid="churn-holdout"' in html
        assert "{# chart" not in html  # the chart marker is a template comment
        assert "churn-skipped" not in html
    assert (
        "Settings" in client_for(acme, "manager").get(reverse("analytics:churn")).content.decode()
    )


@pytest.mark.django_db
def test_the_model_page_says_when_the_model_was_skipped_or_has_not_run(acme):
    manager = client_for(acme, "manager")
    html = manager.get(reverse("analytics:churn")).content.decode()
    assert "The model has not run yet" in html
    with in_tenant(acme):
        _overdue_customers(2)
        churn_refresh(as_of=AS_OF)
    html = manager.get(reverse("analytics:churn")).content.decode()
    assert "Too little data: 2 customers with a completed order, the model needs 200." in html
    assert "The churn rules still ran." in html
    assert len(_listed(html)) == 2  # the rules' flags are listed all the same


@pytest.mark.django_db
def test_the_risk_list_pages_by_rank_and_filters(acme):
    with in_tenant(acme):
        made = _overdue_customers(5)
        churn_refresh(as_of=AS_OF)
        manager = staff(acme, "manager")
        seen, after = [], ""
        while True:
            page = churn_risk_page(manager, after=after, size=2)
            seen += [row.customer_id for row in page.rows]
            if not page.next_cursor:
                break
            after = page.next_cursor
        assert sorted(seen) == sorted(w.pk for w in made) and len(seen) == 5
        assert all(row.flags[0].code == OVERDUE for row in churn_risk_page(manager).rows)
        assert churn_risk_page(manager, flag="points_expiring").rows == []
        assert len(churn_risk_page(manager, flag=OVERDUE).rows) == 5
        assert churn_risk_page(manager, tier="high").rows == []  # no model, no tiers
        # A cursor that is not one starts from the top.
        assert len(churn_risk_page(manager, after="x';--").rows) == 5

    client = client_for(acme, "marketing")
    html = client.get(reverse("analytics:churn_risk")).content.decode()
    assert len(_listed(html)) == 5 and "No purchase for" in html


@pytest.mark.django_db
def test_the_risk_list_keeps_to_the_readers_records(acme):
    with in_tenant(acme):
        agent = staff(acme, "agent")
        mine = _overdue_customers(2, owner=agent)
        _overdue_customers(3)
        churn_refresh(as_of=AS_OF)
        assert {r.customer_id for r in churn_risk_page(agent).rows} == {w.pk for w in mine}
        assert len(churn_risk_page(staff(acme, "manager")).rows) == 5


@pytest.mark.django_db
def test_the_risk_list_runs_the_same_queries_for_few_and_many_rows(acme):
    client = client_for(acme, "marketing")
    url = reverse("analytics:churn_risk")

    def queries() -> int:
        client.get(url)
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return sum(1 for q in captured.captured_queries if "search_path" not in q["sql"])

    with in_tenant(acme):
        _overdue_customers(1)
        churn_refresh(as_of=AS_OF)
    few = queries()
    with in_tenant(acme):
        _overdue_customers(6)
        churn_refresh(as_of=AS_OF)
    assert queries() == few


@pytest.mark.django_db
def test_the_customer_tab_shows_scores_and_reasons(acme):
    with in_tenant(acme):
        [late] = _overdue_customers(1, owner=staff(acme, "agent"))
        quiet = customer("Quiet", owner=staff(acme, "agent"))
        churn_refresh(as_of=AS_OF)
    agent = client_for(acme, "agent")
    html = agent.get(reverse("customers:detail", args=[late.pk])).content.decode()
    assert 'id="tab-churn"' in html or "tab-churn" in html
    assert 'data-testid="churn-flags"' in html and "No purchase for 160 days" in html
    assert "not scored: the model was skipped" in html
    html = agent.get(reverse("customers:detail", args=[quiet.pk])).content.decode()
    assert 'data-testid="churn-none"' in html
    with in_tenant(acme):
        assert not ChurnSettings.objects.exists()  # reading the defaults wrote nothing


@pytest.mark.django_db
def test_managers_change_the_settings_and_others_may_not(acme):
    url = reverse("analytics:churn_settings")
    form = {
        "p_alive_threshold": "0.250",
        "gap_multiple": "4.0",
        "gap_min_gaps": "3",
        "points_expiry_days": "14",
        "min_customers": "500",
        "min_repeaters": "100",
        "holdout_days": "120",
    }
    assert client_for(acme, "marketing").post(url, form).status_code == 403
    with in_tenant(acme):
        assert str(churn_settings().p_alive_threshold) == "0.300"
    bad = client_for(acme, "manager").post(url, {**form, "p_alive_threshold": "1.5"})
    assert bad.status_code == 200 and "errorlist" in bad.content.decode()
    done = client_for(acme, "manager").post(url, form)
    assert done.status_code == 302 and done["Location"] == reverse("analytics:churn")
    with in_tenant(acme):
        saved = churn_settings()
        assert (str(saved.p_alive_threshold), saved.gap_min_gaps, saved.holdout_days) == (
            "0.250",
            3,
            120,
        )
        entry = AuditEntry.objects.filter(table_name="analytics_churnsettings").latest("id")
        assert entry.actor_id == acme.users["manager"].pk
        assert entry.after["p_alive_threshold"] in ("0.250", 0.25)

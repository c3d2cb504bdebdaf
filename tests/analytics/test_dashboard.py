"""The analytics home: panels per capability, each built from known data (new against returning
customers, tickets and SLA, points, segment sizes), drawn as charts with their numbers."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone
from django_tenants.utils import schema_context

from analytics import dashboard_panels
from analytics.dashboard import (
    Panel,
    dashboard_cache_forget,
    dashboard_panel_register,
    dashboard_panel_unregister,
)
from loyalty.programme import local_today, tenant_zone
from loyalty.services import points_adjust
from support.models import Status, Ticket
from tests.analytics.helpers import rules, segment
from tests.conftest import client_for
from tests.loyalty.helpers import customer, order
from tests.tickets.factory import ticket

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_panels(acme):
    """Panels are cached per tenant for a few minutes; each test starts without."""
    with schema_context(acme.schema):
        dashboard_cache_forget()
    yield


def _month_start(months_back: int) -> datetime.datetime:
    day = local_today().replace(day=1)
    for _i in range(months_back):
        day = (day - datetime.timedelta(days=1)).replace(day=1)
    return datetime.datetime.combine(day, datetime.time(12), tenant_zone())


def test_new_against_returning_by_month(acme):
    with schema_context(acme.schema):
        old, new = customer("Dash Old"), customer("Dash New")
        order(old, "10", at=_month_start(14))  # before the window: makes "old" returning
        order(old, "10", at=_month_start(1))
        order(old, "10", at=_month_start(0))
        order(new, "10", at=_month_start(1))
        order(new, "10", at=_month_start(1) + datetime.timedelta(days=2))  # same month: once
        order(new, "10", at=_month_start(0), status="cancelled")  # not completed: ignored
        counts = dashboard_panels.new_returning(acme.manager, local_today())
    months = list(counts)
    assert len(months) == 12 and months[-1] == local_today().replace(day=1)
    last, this = counts[months[-2]], counts[months[-1]]
    # Other tests' orders are rolled back: only ours count.
    assert last == (1, 1)
    assert this == (0, 1)


def test_ticket_volume_and_sla_attainment_by_week(acme):
    with schema_context(acme.schema):
        now = timezone.now()
        met, missed, open_ = ticket(), ticket(), ticket()
        Ticket.objects.filter(pk=met.pk).update(
            status=Status.RESOLVED,
            resolved_at=now,
            resolution_due=now + datetime.timedelta(hours=1),
        )
        Ticket.objects.filter(pk=missed.pk).update(
            status=Status.RESOLVED,
            resolved_at=now,
            resolution_due=now - datetime.timedelta(hours=1),
        )
        weeks = dashboard_panels.ticket_weeks(acme.manager, local_today())
    assert len(weeks) == 12
    week, opened, resolved, with_sla, on_time = weeks[-1]
    assert week == local_today() - datetime.timedelta(days=local_today().weekday())
    assert (opened, resolved, with_sla, on_time) == (3, 2, 2, 1)
    assert open_.pk
    # The attainment line: 50 % this week, and no figure (a gap, "—"), not 0 %, for the weeks
    # in which no ticket was resolved.
    with schema_context(acme.schema):
        built = dashboard_panels._tickets_build(acme.manager)
    assert built is not None
    rows = built["sla"].table.rows
    assert rows[-1][1] == "50" and rows[0][1] == "—"


def test_points_by_month(acme):
    with schema_context(acme.schema):
        member = customer("Dash Points")
        points_adjust(actor=None, customer=member, points=200, reason="dash")
        order(member, "100")
        months = dashboard_panels.points_months(acme.manager, local_today())
    issued, redeemed, expired = months[local_today().replace(day=1)]
    assert issued > 0 and redeemed == 0 and expired == 0


@pytest.mark.parametrize("role", ["admin", "manager", "agent", "marketing", "viewer"])
def test_home_shows_panels_to_report_readers(role, acme):
    with schema_context(acme.schema):
        who = customer("Dash Chart", city="上海")
        order(who, "50")
        segment("Dash 上海", rules([("city", "eq", "上海")]))
    response = client_for(acme, role).get(reverse("analytics:home"))
    assert response.status_code == 200
    body = response.content.decode()
    if role in ("agent", "viewer"):
        assert 'data-testid="dashboard"' not in body
        assert "See reports" in body
        return
    keys = [built.panel.key for built in response.context["panels"]]
    built_in = [k for k in keys if k in ("new_returning", "segments", "points", "tickets")]
    assert built_in == ["new_returning", "segments", "tickets", "points"]
    assert body.count("<svg") >= 3
    assert "<script" not in body.split('data-testid="dashboard"')[1]
    assert "Dash 上海" in body  # the segment's name, in its chart's table


def test_a_registered_panel_appears_in_order_and_per_capability(acme):
    panel = Panel(
        key="test_panel",
        title="Test panel",
        build=lambda user: {"chart": None},
        template="analytics/panels/chart.html",
        order=1,
        capability="administer",
    )
    dashboard_panel_register(panel)
    try:
        admin = client_for(acme, "admin").get(reverse("analytics:home"))
        assert admin.context["panels"][0].panel.key == "test_panel"
        manager = client_for(acme, "manager").get(reverse("analytics:home"))
        assert "test_panel" not in [b.panel.key for b in manager.context["panels"]]
    finally:
        dashboard_panel_unregister("test_panel")

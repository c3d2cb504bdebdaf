"""The dashboard counts only what its reader may see: each panel's figures for a reader with
record scope "own", "team" and "all", its cache kept per reader scope (never shared between
scopes, dropped whole by dashboard_cache_forget), and the query count of an "all" reader's
dashboard where it was before panels applied scope.

Five customers, each with a weight (its order's amount is ten times it, so its points too):

    own      owner: the "own" reader, team T1    seen by own, team, all    weight 1
    mate     owner: a teammate, team T1           seen by team, all         weight 2
    teamself owner: the "team" reader, no team    seen by team, all         weight 4
    other    owner: someone of T2, team T2        seen by all               weight 8
    nobody   no owner, no team                    seen by all               weight 16

A "team" reader sees their teams' records and their own (crm.accounts.permissions.scope_filter),
so "teamself" tells a team scope keyed by the teams alone from the right one. Tickets are placed
the same way through their assignee and team. The three readers have the same capabilities."""

import datetime
import uuid
from dataclasses import dataclass

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_tenants.utils import schema_context

from analytics import dashboard, dashboard_panels, rfm_selectors
from analytics.dashboard import (
    Panel,
    dashboard_built,
    dashboard_cache_forget,
    panel_data,
    visible_customer_ids,
)
from analytics.feedback_plugins import feedback_trend
from analytics.models import RfmSnapshot
from analytics.refresh import analytics_refresh
from analytics.rfm import rfm_refresh
from analytics.rfm_plugins import rfm_grid_counts
from crm.accounts import capabilities as cap
from crm.accounts.models import Team, User
from crm.accounts.services import role_create, staff_create
from customers.models import Customer
from customers.services import CustomerInput, consent_set, customer_create
from loyalty.programme import local_today
from loyalty.services import points_adjust
from support import feedback_services
from support.feedback_selectors import feedback_settings
from support.models import Status, Ticket
from tests.analytics.helpers import AS_OF, five_buyers, rules, segment
from tests.conftest import client_for
from tests.loyalty.helpers import order
from tests.tickets.factory import ticket
from tests.tickets.feedback_kit import later, resolved_ticket

pytestmark = pytest.mark.django_db

SCOPES = ("own", "team", "all")
WEIGHTS = {"own": 1, "mate": 2, "teamself": 4, "other": 8, "nobody": 16}
SEEN = {
    "own": {"own"},
    "team": {"own", "mate", "teamself"},
    "all": set(WEIGHTS),
}


def _weight(scope: str) -> int:
    return sum(WEIGHTS[key] for key in SEEN[scope])


@dataclass
class World:
    marker: str
    readers: dict[str, User]
    customers: dict[str, Customer]
    places: dict[str, tuple[User | None, Team | None]]  # key -> (owner or assignee, team)
    t1: Team
    host: str
    schema: str

    def reader(self, scope: str) -> User:
        """A fresh copy, as each request has (the record scope is read once per user object)."""
        return User.objects.get(pk=self.readers[scope].pk)

    def client(self, scope: str) -> Client:
        client = Client(HTTP_HOST=self.host)
        with schema_context(self.schema):
            client.force_login(User.objects.get(pk=self.readers[scope].pk))
        return client


@pytest.fixture(autouse=True)
def _fresh_panels(acme):
    with schema_context(acme.schema):
        dashboard_cache_forget()
    yield


@pytest.fixture
def world(acme) -> World:
    marker = "ds" + uuid.uuid4().hex[:8]
    with schema_context(acme.schema):
        readers: dict[str, User] = {}
        for scope in SCOPES:
            role = role_create(
                actor=None,  # type: ignore[arg-type]
                name=f"Dash {scope} {marker}",
                description="",
                scope=scope,
                codenames=[cap.VIEW, cap.REPORTS],
            )
            readers[scope] = staff_create(
                actor=None,
                email=f"{scope}-{marker}@acme.test",
                full_name=f"Dash {scope}",
                role=role,
                password=None,
            )
        mate, outsider = (
            staff_create(
                actor=None,
                email=f"{who}-{marker}@acme.test",
                full_name=who,
                role="Agent",
                password=None,
            )
            for who in ("mate", "outsider")
        )
        t1 = Team.objects.create(name=f"T1 {marker}")
        t1.members.add(*readers.values(), mate)
        t2 = Team.objects.create(name=f"T2 {marker}")
        t2.members.add(outsider)
        places: dict[str, tuple[User | None, Team | None]] = {
            "own": (readers["own"], t1),
            "mate": (mate, t1),
            "teamself": (readers["team"], None),
            "other": (outsider, t2),
            "nobody": (None, None),
        }
        customers = {
            key: customer_create(
                actor=None,
                data=CustomerInput(
                    name=f"{key} {marker}",
                    emails=[f"{key}.{marker}@example.com"],
                    owner=owner,
                    team=team,
                ),
            )
            for key, (owner, team) in places.items()
        }
    return World(marker, readers, customers, places, t1, acme.host, acme.schema)


def _orders(world: World) -> None:
    """One completed order this month per customer, of ten times its weight."""
    for key, who in world.customers.items():
        order(who, str(10 * WEIGHTS[key]))


def test_new_against_returning_counts_the_readers_customers(acme, world):
    with schema_context(acme.schema):
        _orders(world)
        month = local_today().replace(day=1)
        found = {
            scope: dashboard_panels.new_returning(world.reader(scope), local_today())[month]
            for scope in SCOPES
        }
    assert found == {"own": (1, 0), "team": (3, 0), "all": (5, 0)}


def test_ticket_volume_and_sla_count_the_readers_tickets(acme, world):
    """Tickets in scope through assignee and team, as the queues decide (visible_tickets)."""
    with schema_context(acme.schema):
        now = timezone.now()
        made = {}
        for key, (assignee, team) in world.places.items():
            made[key] = ticket(customer_=world.customers[key], assignee=assignee)
            Ticket.objects.filter(pk=made[key].pk).update(team=team)
        for key, met in (("own", True), ("teamself", False), ("other", True)):
            Ticket.objects.filter(pk=made[key].pk).update(
                status=Status.RESOLVED,
                resolved_at=now,
                resolution_due=now + datetime.timedelta(hours=1 if met else -1),
            )
        found = {
            scope: tuple(dashboard_panels.ticket_weeks(world.reader(scope), local_today())[-1][1:])
            for scope in SCOPES
        }
    # (opened, resolved, resolved with an SLA, resolved in time)
    assert found == {"own": (1, 1, 1, 1), "team": (3, 2, 2, 1), "all": (5, 3, 3, 2)}


def test_points_issued_and_outstanding_count_the_readers_members(acme, world):
    with schema_context(acme.schema):
        for key, who in world.customers.items():
            points_adjust(actor=None, customer=who, points=WEIGHTS[key], reason="dash scope")
        _orders(world)  # earns ten points a weight (one point per currency unit)
        month = local_today().replace(day=1)
        issued = {
            scope: dashboard_panels.points_months(world.reader(scope), local_today())[month]
            for scope in SCOPES
        }
        outstanding = {
            scope: dashboard_panels.points_outstanding(world.reader(scope)) for scope in SCOPES
        }
    assert issued == {scope: (10 * _weight(scope), 0, 0) for scope in SCOPES}
    assert outstanding == {scope: 11 * _weight(scope) for scope in SCOPES}
    assert outstanding["all"] == 11 * 31


def test_segment_sizes_count_the_readers_members(acme, world):
    with schema_context(acme.schema):
        segment(f"Dash {world.marker}", rules([("name", "contains", world.marker)]))
        sizes = {
            scope: dict(dashboard_panels.segment_sizes(world.reader(scope))) for scope in SCOPES
        }
    name = f"Dash {world.marker}"
    assert {scope: sizes[scope][name] for scope in SCOPES} == {"own": 1, "team": 3, "all": 5}


def test_rfm_segments_and_grid_count_the_readers_customers(acme, world):
    with schema_context(acme.schema):
        _orders(world)
        rfm_refresh(as_of=local_today())
        snapshot = rfm_selectors.latest_snapshot()
        segments, grid = {}, {}
        for scope in SCOPES:
            reader = world.reader(scope)
            counts = rfm_selectors.segment_counts(snapshot, customers=visible_customer_ids(reader))
            segments[scope] = sum(row.count for row in counts)
            grid[scope] = sum(sum(row) for row in rfm_grid_counts(reader))
        # The "all" reader reads the snapshot's stored counts: the same total.
        stored = sum(row.count for row in rfm_selectors.segment_counts(snapshot))
    assert segments == {"own": 1, "team": 3, "all": 5}
    assert grid == {"own": 1.0, "team": 3.0, "all": 5.0}
    assert stored == 5


def test_the_rfm_page_and_its_transitions_count_the_readers_customers(acme, world):
    with schema_context(acme.schema):
        _orders(world)
        rfm_refresh(as_of=local_today() - datetime.timedelta(days=1))
        rfm_refresh(as_of=local_today())
        dates = sorted(str(s.as_of) for s in RfmSnapshot.objects.all())[-2:]
    overview, moved = {}, {}
    for scope in SCOPES:
        client = world.client(scope)
        page = client.get(reverse("analytics:rfm"))
        overview[scope] = sum(row.count for row in page.context["counts"])
        assert page.context["scored"] == overview[scope]  # the "N customers scored" line too
        table = client.get(
            reverse("analytics:rfm_transitions"), {"before": dates[0], "after": dates[1]}
        ).context["table"]
        moved[scope] = sum(total for _label, _counts, total in table.rows)
    assert overview == {"own": 1, "team": 3, "all": 5}
    assert moved == {"own": 1, "team": 3, "all": 5}


def _answer(person: Customer, score: int) -> None:
    feedback_settings()
    consent_set(actor=None, customer=person, channel="email", granted=True, source="form")
    resolved_ticket(person)
    (pk,) = feedback_services.surveys_on_resolve_decide(actor=None, now=later(minutes=61)).pending
    token = feedback_services.survey_invitation_claim(actor=None, invitation_id=pk)
    feedback_services.survey_answer(actor=None, token=token, score=score, comment="")


def test_csat_counts_the_answers_of_the_readers_customers(acme, world):
    with schema_context(acme.schema):
        for key, score in (("own", 5), ("mate", 1), ("other", 1)):
            _answer(world.customers[key], score)
        month = local_today().replace(day=1)
        found = {
            scope: feedback_trend(world.reader(scope), local_today())[month] for scope in SCOPES
        }
    # CSAT %: answers 4-5 of all CSAT answers; no NPS answers.
    assert found == {"own": (100.0, None), "team": (50.0, None), "all": (33.3, None)}


def test_the_dashboard_page_shows_each_reader_their_own_figures(acme, world):
    with schema_context(acme.schema):
        for key, who in world.customers.items():
            points_adjust(actor=None, customer=who, points=WEIGHTS[key], reason="dash scope")
    for scope in SCOPES:
        response = world.client(scope).get(reverse("analytics:home"))
        assert response.status_code == 200
        built = {b.panel.key: b.data for b in response.context["panels"]}
        assert built["points"]["outstanding"] == _weight(scope), scope
        assert 'data-panel="points"' in response.text


def _points_panel(user: User) -> Panel:
    return next(p for p in dashboard.dashboard_panels(user) if p.key == "points")


def _outstanding(user: User) -> int:
    data = panel_data(_points_panel(user), user)
    assert data is not None
    return int(data["outstanding"])


def test_readers_of_different_scopes_never_share_a_cached_panel(acme, world):
    with schema_context(acme.schema):
        assert _points_panel(world.reader("own")).cache_seconds > 0
        for key, who in world.customers.items():
            points_adjust(actor=None, customer=who, points=WEIGHTS[key], reason="dash scope")
        # Narrowest first, then broader: a shared entry would hand the first one's figure on.
        firsts = {scope: _outstanding(world.reader(scope)) for scope in SCOPES}
        assert firsts == {scope: _weight(scope) for scope in SCOPES}
        # Broadest first in a fresh cache, then narrower.
        dashboard_cache_forget()
        seconds = {scope: _outstanding(world.reader(scope)) for scope in reversed(SCOPES)}
        assert seconds == firsts
        # Two readers with scope "all" share the tenant-wide entry (the cache still works).
        points_adjust(actor=None, customer=world.customers["nobody"], points=100, reason="more")
        assert _outstanding(User.objects.get(pk=acme.manager.pk)) == _weight("all")


def test_two_team_readers_of_the_same_teams_keep_apart(acme, world):
    """A team reader also sees what they own outside the team: the entry is theirs alone."""
    with schema_context(acme.schema):
        for key, who in world.customers.items():
            points_adjust(actor=None, customer=who, points=WEIGHTS[key], reason="dash scope")
        colleague = staff_create(
            actor=None,
            email=f"team2-{world.marker}@acme.test",
            full_name="Dash team 2",
            role=world.readers["team"].groups.get(),
            password=None,
        )
        world.t1.members.add(colleague)
        assert _outstanding(world.reader("team")) == _weight("team")
        # The colleague does not own "teamself": their teams' customers only.
        assert _outstanding(colleague) == _weight("team") - WEIGHTS["teamself"]


def test_forget_drops_every_readers_cached_panel(acme, world):
    with schema_context(acme.schema):
        who = world.customers["own"]  # seen by every scope
        points_adjust(actor=None, customer=who, points=5, reason="dash scope")
        assert {scope: _outstanding(world.reader(scope)) for scope in SCOPES} == {
            scope: 5 for scope in SCOPES
        }
        points_adjust(actor=None, customer=who, points=7, reason="dash scope")
        # Kept: each reader's entry answers until forgotten.
        assert {scope: _outstanding(world.reader(scope)) for scope in SCOPES} == {
            scope: 5 for scope in SCOPES
        }
        dashboard_cache_forget()
        assert {scope: _outstanding(world.reader(scope)) for scope in SCOPES} == {
            scope: 12 for scope in SCOPES
        }


def test_a_team_readers_entry_follows_their_teams(acme, world):
    """Leaving a team changes what a team reader sees at once, not when the entry expires."""
    with schema_context(acme.schema):
        for key, who in world.customers.items():
            points_adjust(actor=None, customer=who, points=WEIGHTS[key], reason="dash scope")
        assert _outstanding(world.reader("team")) == _weight("team")
        world.t1.members.remove(world.readers["team"])
        assert _outstanding(world.reader("team")) == WEIGHTS["teamself"]


def test_an_all_readers_dashboard_runs_the_queries_it_did_before_scope(acme):
    """Measured on the dashboard before panels applied the reader's scope: 5 queries with the
    panels cached (session user, record scope, churn risk list, segment sizes and count), 24
    when every panel is built. Scope "all" adds no query (the scope is read once per request's
    user, support.selectors.reader_scope, and the panels add no filter for it)."""
    with schema_context(acme.schema):
        people = five_buyers()
        points_adjust(actor=None, customer=people["A"], points=50, reason="budget")
        ticket(customer_=people["B"])
        segment("Budget", rules([("name", "contains", "Buyer")]))
        analytics_refresh(as_of=AS_OF, actor=None)
    connection.set_schema_to_public()
    client = client_for(acme, "manager")
    url = reverse("analytics:home")
    client.get(url)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return sum(1 for q in captured.captured_queries if "search_path" not in q["sql"])

    assert queries() == 5
    with schema_context(acme.schema):
        dashboard_cache_forget()
    connection.set_schema_to_public()
    assert queries() == 24


def test_dashboard_built_applies_scope_to_every_cached_panel(acme, world):
    """Every cached panel a scoped reader gets is built for them: with data only the "all"
    reader may see, the "own" reader's panels show nothing or less."""
    with schema_context(acme.schema):
        who = world.customers["nobody"]
        order(who, "100")
        points_adjust(actor=None, customer=who, points=3, reason="dash scope")
        ticket(customer_=who)
        everyone = {b.panel.key: b.data for b in dashboard_built(world.reader("all"))}
        own = {b.panel.key: b.data for b in dashboard_built(world.reader("own"))}
    for key in ("new_returning", "tickets", "points"):
        assert everyone[key] is not None, key
        assert own[key] is None, key

"""The attainment report: per team and agent over a date range (met %, medians in business
minutes, breached, open past due), complaints apart, the reader's scope, the CSV, roles and a
bounded number of queries. Fixed moments in the tenant's time zone (acme: Europe/London, 09:00
to 18:00 Monday to Friday, no public holidays for these tests)."""

import csv
import datetime
import io
import zoneinfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crm.accounts.services import team_save
from support.attainment import attainment
from support.models import SupportSettings, Ticket
from tests.conftest import client_for
from tests.tickets.factory import in_tenant, staff, ticket

pytestmark = pytest.mark.django_db

LONDON = zoneinfo.ZoneInfo("Europe/London")
START, END = datetime.date(2026, 11, 9), datetime.date(2026, 11, 13)  # Monday to Friday
RANGE = {"start": "2026-11-09", "end": "2026-11-13"}


def at(day: int, hour: int, minute: int = 0) -> datetime.datetime:
    return datetime.datetime(2026, 11, day, hour, minute, tzinfo=LONDON)


def _made(**fields: object) -> Ticket:
    extra = {k: fields.pop(k) for k in ("assignee", "team", "kind", "severity") if k in fields}
    made = ticket(**extra)  # type: ignore[arg-type]
    fields.setdefault("sla_due", None)
    Ticket.objects.filter(pk=made.pk).update(**fields)
    made.refresh_from_db()
    return made


def _world(acme):  # type: ignore[no-untyped-def]
    """Five tickets in the week (and two that do not count), as the module's doc says."""
    SupportSettings.objects.update_or_create(id=1, defaults={"holiday_country": ""})
    agent, manager = staff(acme, "agent"), staff(acme, "manager")
    desk = team_save(actor=None, team=None, name="=Desk A", members=[agent])
    later = timezone.now() + datetime.timedelta(days=30)
    made = {
        # Met both: 30 business minutes to respond, 120 to resolve.
        "t1": _made(
            assignee=agent,
            team=desk,
            created_at=at(10, 10),
            first_response_due=at(10, 11),
            first_responded_at=at(10, 10, 30),
            resolution_due=at(11, 10),
            resolved_at=at(10, 12),
            status="resolved",
        ),
        # Missed both: 120 minutes to respond (Tue 17-18, Wed 9-10); resolved Thu 10:00 after
        # 660 business minutes, 60 of them paused: 600.
        "t2": _made(
            assignee=agent,
            team=desk,
            created_at=at(10, 17),
            first_response_due=at(10, 17, 30),
            first_responded_at=at(11, 10),
            resolution_due=at(11, 17),
            resolved_at=at(12, 10),
            sla_paused_minutes=60,
            status="closed",
        ),
        # Not due yet: neither met nor missed.
        "t3": _made(
            created_at=at(11, 9),
            first_response_due=later,
            resolution_due=later,
            sla_due=later,
            status="new",
        ),
        # Unanswered past its due moments: both missed, open past due. A complaint.
        "t4": _made(
            assignee=manager,
            created_at=at(11, 9),
            first_response_due=at(11, 10),
            resolution_due=at(12, 9),
            sla_due=at(11, 10),
            status="open",
            kind="complaint",
            severity="major",
            root_cause=" Late delivery ",
            compensation="100 points",
        ),
        # A complaint without targets.
        "t5": _made(
            assignee=agent,
            team=desk,
            created_at=at(12, 11),
            status="new",
            kind="complaint",
            severity="minor",
            root_cause="late delivery",
        ),
    }
    # Opened the week before, and a merged duplicate: not counted.
    _made(assignee=agent, team=desk, created_at=at(2, 10), status="new")
    _made(
        assignee=agent,
        team=desk,
        created_at=at(10, 10),
        status="closed",
        merged_into=made["t1"],
    )
    return made, desk, agent, manager


def test_attainment_per_team_and_agent_and_complaints_apart(acme):
    with in_tenant(acme):
        _world(acme)
        report = attainment(staff(acme, "manager"), start=START, end=END)
    teams = {r.name: r for r in report.teams}
    assert set(teams) == {"=Desk A", "No team"}
    a = teams["=Desk A"]
    assert (a.tickets, a.first_met, a.first_missed, a.resolution_met, a.resolution_missed) == (
        3,
        1,
        1,
        1,
        1,
    )
    assert a.first_met_pct == 50.0 and a.resolution_met_pct == 50.0
    assert a.median_first_minutes == 75 and a.median_resolution_minutes == 360
    assert (a.breached, a.open_past_due) == (1, 0)
    none = teams["No team"]
    assert (none.tickets, none.first_met, none.first_missed, none.breached) == (2, 0, 1, 1)
    assert none.first_met_pct == 0.0 and none.open_past_due == 1
    assert none.median_first_minutes is None
    agents = {r.name: r for r in report.agents}
    assert agents["acme agent"].tickets == 3 and agents["acme manager"].open_past_due == 1
    assert agents["Unassigned"].tickets == 1 and agents["Unassigned"].first_met_pct is None
    assert report.total is not None
    assert (report.total.tickets, report.total.breached, report.total.open_past_due) == (5, 2, 1)
    complaints = report.complaints
    assert (complaints.total, complaints.resolved, complaints.breached) == (2, 0, 1)
    assert complaints.compensated == 1
    assert complaints.by_severity == [("Minor", 1), ("Major", 1)]
    assert complaints.by_root_cause == [("late delivery", 2)]


def test_a_reader_sees_only_the_teams_and_agents_of_their_scope(acme):
    with in_tenant(acme):
        _world(acme)
        # The agent's role sees their team's and their own tickets (team scope).
        report = attainment(staff(acme, "agent"), start=START, end=END)
    assert [r.name for r in report.teams] == ["=Desk A"]
    assert [r.name for r in report.agents] == ["acme agent"]
    assert report.total is not None and report.total.tickets == 3
    assert report.complaints.total == 1


def test_the_page_the_csv_and_who_may_see_them(acme):
    with in_tenant(acme):
        _world(acme)
    url = reverse("support:reports")
    for role in ("agent", "viewer"):
        assert client_for(acme, role).get(url, RANGE).status_code == 403
        assert client_for(acme, role).get(reverse("support:reports_csv"), RANGE).status_code == 403
    manager = client_for(acme, "manager")
    page = manager.get(url, RANGE).content.decode()
    assert "=Desk A" in page and "50.0%" in page and "1 h 15 min" in page and "6 h" in page
    assert "late delivery" in page and "Compensation given" in page
    assert client_for(acme, "marketing").get(url, RANGE).status_code == 200
    empty = manager.get(url, {"start": "2024-01-01", "end": "2024-01-31"}).content.decode()
    assert "No tickets were opened in this range." in empty
    assert "No complaints were opened in this range." in empty
    wrong = manager.get(url, {"start": "2026-11-13", "end": "2026-11-09"}).content.decode()
    assert "The range must end after it starts." in wrong
    response = manager.get(reverse("support:reports_csv"), RANGE)
    assert response["Content-Disposition"].startswith("attachment;")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][0] == "Group"
    team_row = next(r for r in rows if r[1] == "'=Desk A")  # a formula start is escaped
    assert team_row[2:8] == ["3", "50.0", "50.0", "75", "360", "1"]
    assert rows[-1][0] == "Total" and rows[-1][2] == "5"


def test_the_report_runs_a_bounded_number_of_queries(acme):
    manager = client_for(acme, "manager")
    url = reverse("support:reports")

    def counted() -> int:
        manager.get(url)
        with CaptureQueriesContext(connection) as captured:
            assert manager.get(url).status_code == 200
        return len([q for q in captured.captured_queries if "search_path" not in q["sql"]])

    with in_tenant(acme):
        team = team_save(actor=None, team=None, name="Second desk", members=[])
        ticket(assignee=staff(acme, "agent"), team=team)
    few = counted()
    with in_tenant(acme):
        for n in range(8):
            ticket(assignee=staff(acme, "manager" if n % 2 else "agent"), team=team)
    assert counted() == few
    assert few <= 14


@pytest.mark.parametrize(
    ("role", "configures"), [("manager", True), ("admin", True), ("marketing", False)]
)
def test_every_support_page_draws_the_same_sections_for_a_reader(acme, role, configures):
    """The sections come from the reader's permissions, not from each page's context: the
    reports page once left out the settings a manager sees everywhere else."""
    client = client_for(acme, role)
    settings_link = f'href="{reverse("support:settings")}"'
    pages = [reverse("support:reports"), reverse("support:home")]
    if configures:
        pages.append(reverse("support:canned"))
    for url in pages:
        page = client.get(url).content.decode()
        assert (settings_link in page) is configures, url
        assert f'href="{reverse("support:reports")}"' in page, url

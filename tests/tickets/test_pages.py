"""The support pages: queues by scope, the ticket page, its forms, settings by role."""

import datetime
import re
import uuid

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.accounts.models import AuditEntry, Team
from crm.accounts.services import team_save
from support.models import CannedResponse, SlaPolicy, Status, Ticket, TicketMessage
from tests.conftest import client_for
from tests.tickets.factory import customer, in_tenant, staff, ticket

pytestmark = pytest.mark.django_db


def _refs(response) -> set[str]:
    return set(re.findall(r"T-\d{6}", response.content.decode()))


def test_an_agent_sees_only_tickets_within_their_scope(acme):
    with in_tenant(acme):
        agent, manager = staff(acme, "agent"), staff(acme, "manager")
        team = team_save(actor=None, team=None, name="Care desk", members=[agent])
        other_team = team_save(actor=None, team=None, name="Billing desk", members=[manager])
        mine = ticket(assignee=agent)
        teams = ticket(team=team)
        elsewhere = ticket(assignee=manager, team=other_team)
        unowned = ticket()
    agent_sees = _refs(client_for(acme, "agent").get(reverse("support:home") + "?queue=all"))
    assert {mine.reference, teams.reference} <= agent_sees
    assert not {elsewhere.reference, unowned.reference} & agent_sees
    manager_sees = _refs(client_for(acme, "manager").get(reverse("support:home") + "?queue=all"))
    assert {mine.reference, teams.reference, elsewhere.reference, unowned.reference} <= manager_sees
    # Out of scope is a 404, as another tenant's ticket is.
    browser = client_for(acme, "agent")
    assert browser.get(reverse("support:detail", args=[elsewhere.pk])).status_code == 404
    response = browser.post(reverse("support:reply", args=[elsewhere.pk]), {"body": "hi"})
    assert response.status_code == 404
    with in_tenant(acme):
        assert not TicketMessage.objects.filter(ticket_id=elsewhere.pk).exists()
        assert Team.objects.filter(pk=team.pk).exists()


def test_a_customer_outside_the_agents_scope_is_not_named_on_their_ticket(acme):
    """The agent may work the ticket, but its customer belongs to someone else's records: the
    queue and the ticket page say so without naming them (as the duplicate hints do)."""
    name = f"Zephyrine {uuid.uuid4().hex[:6]}"
    with in_tenant(acme):
        agent, manager = staff(acme, "agent"), staff(acme, "manager")
        theirs = customer(name, owner=manager)
        work = ticket(assignee=agent, customer_=theirs)
    browser = client_for(acme, "agent")
    queue = browser.get(reverse("support:home") + "?queue=all").content.decode()
    assert work.reference in queue and name not in queue
    assert "Outside your records" in queue
    page = browser.get(reverse("support:detail", args=[work.pk])).content.decode()
    assert work.reference in page and name not in page
    managers = client_for(acme, "manager").get(reverse("support:home") + "?queue=all")
    assert name in managers.content.decode()


def test_the_queues_mine_unassigned_and_near_breach(acme):
    with in_tenant(acme):
        agent = staff(acme, "agent")
        mine = ticket(assignee=agent)
        loose = ticket()
        late = ticket(assignee=agent, priority="urgent")
        due = timezone.now() - datetime.timedelta(minutes=5)
        Ticket.objects.filter(pk=late.pk).update(first_response_due=due, sla_due=due)
    manager = client_for(acme, "manager")
    home = reverse("support:home")
    unassigned = _refs(manager.get(home + "?queue=unassigned"))
    assert loose.reference in unassigned and mine.reference not in unassigned
    near = manager.get(home + "?queue=near")
    assert late.reference in _refs(near) and mine.reference not in _refs(near)
    assert "overdue" in near.content.decode()
    mine_page = _refs(client_for(acme, "agent").get(home + "?queue=mine"))
    assert {mine.reference, late.reference} <= mine_page and loose.reference not in mine_page


def test_the_queue_pages_by_keyset_and_filters(acme):
    with in_tenant(acme):
        made = [ticket(priority="high", category="Keyset") for _n in range(3)]
    manager = client_for(acme, "manager")
    url = reverse("support:home") + "?queue=all&category=Keyset&priority=high"
    from support import selectors

    with in_tenant(acme):
        page = selectors.ticket_page(
            staff(acme, "manager"),
            selectors.TicketQuery(queue="all", category="Keyset", priority="high"),
            size=2,
        )
        assert [r.ticket.pk for r in page.rows] == [made[2].pk, made[1].pk]
        second = selectors.ticket_page(
            staff(acme, "manager"),
            selectors.TicketQuery(queue="all", category="Keyset", priority="high"),
            size=2,
            after=page.next_cursor or "",
        )
        assert [r.ticket.pk for r in second.rows] == [made[0].pk] and second.next_cursor is None
    assert _refs(manager.get(url)) == {t.reference for t in made}
    # A forged cursor is the first page, not an error.
    assert manager.get(url + "&after=!!not-a-cursor").status_code == 200


def test_an_agent_replies_notes_and_changes_the_status_from_the_page(acme):
    with in_tenant(acme):
        made = ticket(assignee=staff(acme, "agent"))
    agent = client_for(acme, "agent")
    page = agent.get(reverse("support:detail", args=[made.pk]))
    assert page.status_code == 200 and made.subject in page.content.decode()
    agent.post(reverse("support:reply", args=[made.pk]), {"body": "We are on it", "status": ""})
    agent.post(reverse("support:note", args=[made.pk]), {"body": "Checked stock"})
    agent.post(reverse("support:status", args=[made.pk]), {"status": "pending"})
    with in_tenant(acme):
        made.refresh_from_db()
        assert made.status == Status.PENDING and made.first_responded_at is not None
        kinds = list(made.messages.values_list("kind", flat=True))
        assert kinds == ["reply", "note"]
    # A refused transition is said, and changes nothing.
    agent.post(reverse("support:status", args=[made.pk]), {"status": "closed"})
    with in_tenant(acme):
        audit = AuditEntry.objects.count()
    response = agent.post(reverse("support:status", args=[made.pk]), {"status": "new"}, follow=True)
    assert "cannot be set to" in response.content.decode()
    with in_tenant(acme):
        assert Ticket.objects.get(pk=made.pk).status == Status.CLOSED
        assert AuditEntry.objects.count() == audit


def test_a_viewer_reads_but_has_no_forms(acme):
    with in_tenant(acme):
        made = ticket(assignee=staff(acme, "agent"))
    page = client_for(acme, "viewer").get(reverse("support:detail", args=[made.pk]))
    body = page.content.decode()
    assert page.status_code == 200 and made.subject in body
    assert reverse("support:reply", args=[made.pk]) not in body
    assert (
        client_for(acme, "viewer")
        .post(reverse("support:reply", args=[made.pk]), {"body": "x"})
        .status_code
        == 403
    )


def test_new_ticket_form_opens_a_ticket_for_a_customer(acme):
    with in_tenant(acme):
        person = customer(owner=staff(acme, "agent"))
    agent = client_for(acme, "agent")
    form = agent.get(reverse("support:new") + f"?customer={person.pk}")
    assert person.name in form.content.decode()
    response = agent.post(
        reverse("support:new"),
        {
            "subject": "发票抬头错误",
            "description": "请重新开具",
            "customer": person.pk,
            "channel": "phone",
            "priority": "high",
            "kind": "question",
            "assignee": staff(acme, "agent").pk,
        },
    )
    assert response.status_code == 302
    with in_tenant(acme):
        made = Ticket.objects.get(subject="发票抬头错误")
        assert made.customer_id == person.pk and made.priority == "high"
    assert response.url == reverse("support:detail", args=[made.pk])
    # The customer page's Tickets tab lists it.
    page = agent.get(reverse("customers:detail", args=[person.pk])).content.decode()
    assert 'id="tab-tickets"' in page and made.reference in page


def test_bulk_assign_and_status_from_the_queue(acme):
    with in_tenant(acme):
        agent = staff(acme, "agent")
        a, b = ticket(), ticket()
    manager = client_for(acme, "manager")
    manager.post(
        reverse("support:bulk"),
        {"ids": [a.pk, b.pk], "action": "assign", "assignee": agent.pk},
    )
    manager.post(reverse("support:bulk"), {"ids": [a.pk], "action": "status", "status": "on_hold"})
    with in_tenant(acme):
        assert set(
            Ticket.objects.filter(pk__in=[a.pk, b.pk]).values_list("assignee", flat=True)
        ) == {agent.pk}
        assert Ticket.objects.get(pk=a.pk).status == Status.ON_HOLD


def test_canned_responses_render_safely_on_the_ticket_page(acme):
    with in_tenant(acme):
        # Owned by the agent: a customer outside their records is not named, not even here.
        person = customer(name="<b>Mei</b> 李", owner=staff(acme, "agent"))
        made = ticket(customer_=person, assignee=staff(acme, "agent"))
        CannedResponse.objects.create(
            title="Greeting",
            body="Hello {{customer.name}}, about {{ticket.reference}} {{ ticket.secret }} "
            "{% load static %}",
        )
    page = client_for(acme, "agent").get(reverse("support:detail", args=[made.pk]))
    body = page.content.decode()
    assert f"Hello &lt;b&gt;Mei&lt;/b&gt; 李, about {made.reference}" in body
    assert "{{ ticket.secret }}" in body and "{% load static %}" in body


def test_settings_save_targets_and_hours(acme):
    manager = client_for(acme, "manager")
    data = {"part": "targets"}
    for priority in ("low", "normal", "high", "urgent"):
        data[f"{priority}-first"] = "30"
        data[f"{priority}-resolution"] = "600"
    assert manager.post(reverse("support:settings"), data).status_code == 302
    hours = {"part": "hours"}
    for day in range(6):
        hours.update({f"open-{day}": "1", f"opens-{day}": "08:00", f"closes-{day}": "20:00"})
    assert manager.post(reverse("support:settings"), hours).status_code == 302
    with in_tenant(acme):
        assert set(SlaPolicy.objects.values_list("first_response_minutes", flat=True)) == {30}
        from support.models import BusinessHours

        assert BusinessHours.objects.count() == 6
    # Nonsense is refused and changes nothing.
    with in_tenant(acme):
        audit = AuditEntry.objects.count()
    manager.post(reverse("support:settings"), {"part": "targets", "low-first": "-1"})
    manager.post(reverse("support:settings"), {"part": "hours"})
    with in_tenant(acme):
        assert AuditEntry.objects.count() == audit
    assert client_for(acme, "agent").get(reverse("support:settings")).status_code == 403


def test_canned_responses_are_managed_by_managers(acme):
    manager = client_for(acme, "manager")
    url = reverse("support:canned")
    manager.post(url, {"title": "Refund", "body": "Hello {{customer.name}}, refunded."})
    with in_tenant(acme):
        made = CannedResponse.objects.get(title="Refund")
        audit = AuditEntry.objects.count()
    # The same title in other case is refused and changes nothing.
    page = manager.post(url, {"title": "REFUND", "body": "again"})
    assert "Another response has this title." in page.content.decode()
    manager.post(reverse("support:canned_edit", args=[made.pk]), {"title": "Refund", "body": "v2"})
    with in_tenant(acme):
        assert AuditEntry.objects.count() == audit + 1
        assert CannedResponse.objects.get(pk=made.pk).body == "v2"
    assert client_for(acme, "agent").post(url, {"title": "x", "body": "y"}).status_code == 403
    manager.post(reverse("support:canned_delete", args=[made.pk]))
    with in_tenant(acme):
        assert not CannedResponse.objects.filter(pk=made.pk).exists()


def test_merge_and_watch_from_the_ticket_page(acme):
    with in_tenant(acme):
        agent = staff(acme, "agent")
        person = customer()
        keep = ticket(customer_=person, assignee=agent)
        drop = ticket(customer_=person, assignee=agent)
    client = client_for(acme, "agent")
    client.post(reverse("support:watch", args=[keep.pk]), {"watch": "1"})
    response = client.post(reverse("support:merge", args=[drop.pk]), {"other": keep.reference})
    assert response.url == reverse("support:detail", args=[keep.pk])
    with in_tenant(acme):
        drop.refresh_from_db()
        assert drop.merged_into_id == keep.pk and drop.status == Status.CLOSED
        assert list(keep.watchers.values_list("pk", flat=True)) == [agent.pk]
    # A reference out of the agent's scope (or unknown) merges nothing.
    with in_tenant(acme):
        hidden = ticket(assignee=staff(acme, "manager"))
        other = ticket(customer_=person, assignee=agent)
    client.post(reverse("support:merge", args=[other.pk]), {"other": hidden.reference})
    client.post(reverse("support:merge", args=[other.pk]), {"other": "T-999999999"})
    with in_tenant(acme):
        assert Ticket.objects.get(pk=other.pk).status == Status.NEW


def test_a_holiday_override_moves_due_moments_in_the_tenants_time_zone(acme):
    from support import sla
    from support.services_settings import holiday_override_save

    manager = client_for(acme, "manager")
    day = datetime.date(2031, 3, 17)  # a Monday
    response = manager.post(
        reverse("support:settings"),
        {"part": "override", "date": day.isoformat(), "kind": "holiday", "name": "Stocktake"},
    )
    assert response.status_code == 302
    with in_tenant(acme):
        calendar = sla.calendar_load()
        assert str(calendar.tz) == "Europe/London"
        friday = datetime.datetime(2031, 3, 14, 17, 30, tzinfo=calendar.tz)
        # Half an hour on Friday; Monday is off; three and a half hours on Tuesday.
        assert calendar.add(friday, 240) == datetime.datetime(
            2031, 3, 18, 12, 30, tzinfo=calendar.tz
        )
        holiday_override_save(actor=None, date=day, kind="working", name="")
        assert sla.calendar_load().add(friday, 240) == datetime.datetime(
            2031, 3, 17, 12, 30, tzinfo=calendar.tz
        )


def test_the_holiday_calendar_follows_the_workspaces_country_unless_set(acme):
    from crm.tenants.models import Tenant
    from support import sla

    manager = client_for(acme, "manager")
    with in_tenant(acme):
        assert sla.support_settings().holiday_country is None
        Tenant.objects.filter(pk=acme.tenant.pk).update(phone_region="GB")
        assert sla.calendar_load().country == "GB"
    settings = {"part": "settings", "near_breach_minutes": "30", "pause_on_hold": "on"}
    manager.post(reverse("support:settings"), {**settings, "holiday_country": ""})
    with in_tenant(acme):
        assert sla.calendar_load().country == ""
    manager.post(reverse("support:settings"), {**settings, "holiday_country": "CN"})
    with in_tenant(acme):
        assert sla.calendar_load().country == "CN"
        assert sla.support_settings().near_breach_minutes == 30
    manager.post(reverse("support:settings"), {**settings, "holiday_country": "auto"})
    with in_tenant(acme):
        assert sla.calendar_load().country == "GB"
    # A country the calendar does not know is refused.
    manager.post(reverse("support:settings"), {**settings, "holiday_country": "ZZ"})
    with in_tenant(acme):
        assert sla.support_settings().holiday_country is None


def test_the_history_names_who_a_ticket_was_given_to(acme):
    with in_tenant(acme):
        made = ticket()
    manager = client_for(acme, "manager")
    manager.post(reverse("support:assign", args=[made.pk]), {"assignee": acme.agent.pk, "team": ""})
    manager.post(reverse("support:status", args=[made.pk]), {"status": "on_hold"})
    body = manager.get(reverse("support:detail", args=[made.pk])).content.decode()
    assert "changed the assignment: acme agent" in body
    assert "changed the status: New → On hold" in body


def test_the_queue_finds_a_ticket_by_reference_or_part_of_its_subject(acme):
    with in_tenant(acme):
        marker = uuid.uuid4().hex[:6]
        wanted = ticket(subject=f"退款没有到账 {marker}")
        other = ticket()
    manager = client_for(acme, "manager")
    home = reverse("support:home") + "?queue=all&status=any&q="
    assert _refs(manager.get(home + wanted.reference)) == {wanted.reference}
    assert _refs(manager.get(home + str(wanted.number))) >= {wanted.reference}
    assert _refs(manager.get(home + f"到账 {marker}")) == {wanted.reference}
    assert other.reference not in _refs(manager.get(home + marker))

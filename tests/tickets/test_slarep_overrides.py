"""SLA overrides by customer filter: a loyalty tier (loyalty's registered "tier" filter; support
itself never imports loyalty) gets faster targets, the fastest matching override wins, a
vanished filter or value is ignored and said so, and the ticket page names what applied."""

import pytest
from django.urls import reverse

from crm.accounts.models import AuditEntry
from customers.list_columns import list_filter, list_filter_register, list_filter_unregister
from loyalty.models import Tier
from support import sla
from support.models import SlaOverride, SlaOverrideTarget, Status, Ticket, TicketSla
from support.services import (
    TicketDetails,
    TicketInput,
    ticket_create,
    ticket_details_set,
    ticket_merge,
    ticket_status_set,
)
from support.sla_override_services import sla_override_save
from support.sla_overrides import targets_decide
from tests.conftest import client_for
from tests.loyalty.helpers import order
from tests.tickets.factory import customer, in_tenant, staff, ticket

pytestmark = pytest.mark.django_db

STANDARD_NORMAL_FIRST = 4 * 60  # support's default standard target (migration 0002)


def _gold_member(name: str = ""):  # type: ignore[no-untyped-def]
    """A customer whose orders make them Gold through loyalty's own rules."""
    member = customer(name)
    order(member, "6000")
    member.refresh_from_db()
    assert member.loyalty_account.tier.name == "Gold"
    return member


def _first_minutes(made: Ticket) -> float:
    made.refresh_from_db()
    return sla.calendar_load().minutes_between(made.created_at, made.first_response_due)


def _vip_override(minutes: tuple[int, int] = (30, 120), **extra: tuple[int, int]) -> SlaOverride:
    gold = Tier.objects.get(name="Gold")
    return sla_override_save(
        actor=None,
        override=None,
        name="VIP Gold",
        filter_key="tier",
        filter_value=str(gold.pk),
        targets={"normal": minutes, **extra},
    )


def test_a_manager_sets_a_tier_override_and_gold_tickets_get_faster_targets(acme):
    with in_tenant(acme):
        gold = Tier.objects.get(name="Gold")
    manager = client_for(acme, "manager")
    url = reverse("support:sla_overrides")
    # Step one names the filter; the form then shows that filter's own field (the tiers).
    page = manager.get(url, {"filter": "tier"}).content.decode()
    assert 'name="filter_value"' in page and ">Gold<" in page
    response = manager.post(
        url,
        {
            "name": "VIP Gold",
            "filter_key": "tier",
            "filter_value": str(gold.pk),
            "normal_first": "30",
            "normal_resolution": "120",
            "urgent_first": "10",
            "urgent_resolution": "60",
        },
    )
    assert response.status_code == 302
    with in_tenant(acme):
        override = SlaOverride.objects.get(name="VIP Gold")
        assert {(t.priority, t.first_response_minutes) for t in override.targets.all()} == {
            ("normal", 30),
            ("urgent", 10),
        }
        assert AuditEntry.objects.filter(table_name="support_slaoverride").exists()
        vip = ticket(customer_=_gold_member())
        plain = ticket(customer_=customer())
        assert _first_minutes(vip) == 30
        assert _first_minutes(plain) == STANDARD_NORMAL_FIRST
        # A priority the override leaves out keeps the standard targets.
        high = ticket(customer_=_gold_member(), priority="high")
        assert _first_minutes(high) == 2 * 60
        assert TicketSla.objects.get(ticket=vip).override_id == override.pk
        assert TicketSla.objects.get(ticket=plain).override_name == ""
    listing = manager.get(url).content.decode()
    assert "VIP Gold" in listing and "Gold" in listing and "Ignored" not in listing
    detail = manager.get(reverse("support:detail", args=[vip.pk])).content.decode()
    assert "override “VIP Gold”" in detail and "30 min" in detail
    detail = manager.get(reverse("support:detail", args=[plain.pk])).content.decode()
    assert "Standard SLA targets of this priority" in detail and "4 h" in detail


def test_the_fastest_matching_override_wins(acme):
    with in_tenant(acme):
        _vip_override((30, 600))
        sla_override_save(
            actor=None,
            override=None,
            name="Big spenders",
            filter_key="points_min",
            filter_value="5000",
            targets={"normal": (20, 900)},
        )
        sla_override_save(
            actor=None,
            override=None,
            name="Slow lane",
            filter_key="points_min",
            filter_value="1",
            targets={"normal": (45, 300)},
        )
        member = _gold_member()
        made = ticket(customer_=member)
        assert _first_minutes(made) == 20
        assert made.sla_applied.override_name == "Big spenders"  # type: ignore[attr-defined]
        decided = targets_decide(customer_id=member.pk, priority="normal")
        assert decided is not None and decided.resolution_minutes == 900
        # Someone none of them picks: the standard.
        assert targets_decide(customer_id=customer().pk, priority="normal").override_id is None  # type: ignore[union-attr]


def test_a_new_priority_or_customer_decides_the_targets_again(acme):
    with in_tenant(acme):
        _vip_override((30, 120), urgent=(5, 30))
        agent = staff(acme, "agent")
        made = ticket(customer_=_gold_member(), assignee=agent)
        ticket_details_set(actor=agent, ticket=made, details=TicketDetails(priority="urgent"))
        assert _first_minutes(made) == 5
        assert TicketSla.objects.get(ticket=made).first_response_minutes == 5
        # A ticket without a customer gets the standard; merged into by a Gold customer's
        # ticket, it takes the customer and the override's targets.
        bare = ticket_create(
            actor=agent,
            data=TicketInput(subject="Who am I", requester_email="nobody-known@example.com"),
        )
        assert bare.customer_id is None and _first_minutes(bare) == STANDARD_NORMAL_FIRST
        gold_ticket = ticket(customer_=made.customer)
        ticket_merge(actor=agent, keep=bare, drop=gold_ticket)
        assert _first_minutes(bare) == 30
        assert TicketSla.objects.get(ticket=bare).override_name == "VIP Gold"


def test_a_resumed_clock_keeps_the_targets_the_ticket_was_given(acme):
    with in_tenant(acme):
        override = _vip_override((30, 120))
        agent = staff(acme, "agent")
        made = ticket(customer_=_gold_member(), assignee=agent)
        ticket_status_set(actor=agent, ticket=made, status=Status.PENDING)
        # The override changes meanwhile: the ticket keeps what it was given.
        SlaOverrideTarget.objects.filter(override=override).update(first_response_minutes=90)
        ticket_status_set(actor=agent, ticket=made, status=Status.OPEN)
        made.refresh_from_db()
        expected = sla.calendar_load().add(made.created_at, 30 + made.sla_paused_minutes)
        assert made.first_response_due == expected


def test_a_vanished_filter_or_value_is_ignored_and_shown_as_such(acme):
    with in_tenant(acme):
        _vip_override((30, 120))
        member = _gold_member()
        stale = Tier.objects.create(name="Diamond", position=99, threshold=10**8)
        sla_override_save(
            actor=None,
            override=None,
            name="Diamond desk",
            filter_key="tier",
            filter_value=str(stale.pk),
            targets={"normal": (1, 2)},
        )
        stale.delete()
    manager = client_for(acme, "manager")
    page = manager.get(reverse("support:sla_overrides")).content.decode()
    assert "Diamond desk" in page and "This value is no longer valid." in page
    registered = list_filter("tier")
    assert registered is not None
    list_filter_unregister("tier")
    try:
        with in_tenant(acme):
            made = ticket(customer_=member)
            assert _first_minutes(made) == STANDARD_NORMAL_FIRST
        page = manager.get(reverse("support:sla_overrides")).content.decode()
        assert "This customer filter no longer exists." in page
    finally:
        list_filter_register(registered)
    with in_tenant(acme):
        assert _first_minutes(ticket(customer_=member)) == 30


def test_only_configurers_change_overrides_and_bad_values_change_nothing(acme):
    url = reverse("support:sla_overrides")
    post = {
        "name": "Sneaky",
        "filter_key": "tier",
        "filter_value": "999999",
        "normal_first": "1",
        "normal_resolution": "2",
    }
    for role in ("agent", "viewer", "marketing"):
        assert client_for(acme, role).post(url, post).status_code == 403
    manager = client_for(acme, "manager")
    response = manager.post(url, post)
    assert response.status_code == 200  # the form again, with the field's own error
    assert "Select a valid choice" in response.content.decode()
    with in_tenant(acme):
        gold = Tier.objects.get(name="Gold")
    response = manager.post(url, {**post, "filter_value": str(gold.pk), "normal_resolution": ""})
    assert "Give both targets, or neither." in response.content.decode()
    response = manager.post(url, {**post, "filter_value": str(gold.pk), "normal_first": ""})
    assert response.status_code == 200
    response = manager.post(
        url, {"name": "Empty", "filter_key": "tier", "filter_value": str(gold.pk)}
    )
    assert "Give targets for at least one priority." in response.content.decode()
    with in_tenant(acme):
        assert not SlaOverride.objects.exists()
        override = _vip_override()
    # Two overrides may not name the same customers.
    response = manager.post(url, {**post, "filter_value": str(gold.pk), "name": "Again"})
    assert "Another override already names these customers." in response.content.decode()
    edit = reverse("support:sla_override_edit", args=[override.pk])
    response = manager.post(
        edit,
        {
            **post,
            "name": "VIP Gold+",
            "filter_value": str(gold.pk),
            "normal_first": "15",
            "normal_resolution": "90",
        },
    )
    assert response.status_code == 302
    delete = reverse("support:sla_override_delete", args=[override.pk])
    assert client_for(acme, "agent").post(delete).status_code == 403
    with in_tenant(acme):
        assert SlaOverride.objects.get().name == "VIP Gold+"
        assert SlaOverrideTarget.objects.get().first_response_minutes == 15
    assert manager.post(delete).status_code == 302
    with in_tenant(acme):
        assert not SlaOverride.objects.exists()


def test_linking_a_customer_by_hand_decides_the_targets_again(acme):
    with in_tenant(acme):
        _vip_override((30, 120))
        agent, manager = staff(acme, "agent"), staff(acme, "manager")
        bare = ticket_create(
            actor=agent,
            data=TicketInput(
                subject="Unknown caller", requester_email="caller@example.com", assignee=agent
            ),
        )
        assert bare.customer_id is None and _first_minutes(bare) == STANDARD_NORMAL_FIRST
        member = _gold_member()
        member.owner = agent
        member.save(update_fields=["owner"])
        theirs = customer("Not yours", owner=manager)
    url = reverse("support:customer_link", args=[bare.pk])
    browser = client_for(acme, "agent")
    page = browser.get(reverse("support:detail", args=[bare.pk])).content.decode()
    assert "Link a customer" in page
    # A customer outside the agent's records, or no such number: nothing changes.
    browser.post(url, {"customer": str(theirs.pk)})
    browser.post(url, {"customer": "99999999"})
    assert client_for(acme, "viewer").post(url, {"customer": str(member.pk)}).status_code == 403
    with in_tenant(acme):
        bare.refresh_from_db()
        assert bare.customer_id is None
    assert browser.post(url, {"customer": str(member.pk)}).status_code == 302
    with in_tenant(acme):
        bare.refresh_from_db()
        assert bare.customer_id == member.pk
        assert _first_minutes(bare) == 30
        assert TicketSla.objects.get(ticket=bare).override_name == "VIP Gold"
        assert bare.events.filter(kind="customer").exists()
    page = browser.get(reverse("support:detail", args=[bare.pk])).content.decode()
    assert "override “VIP Gold”" in page and "linked the customer" in page
    # Linked once; a second link is refused.
    browser.post(url, {"customer": str(theirs.pk)})
    with in_tenant(acme):
        assert Ticket.objects.get(pk=bare.pk).customer_id == member.pk

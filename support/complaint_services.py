"""Writes on complaints beyond their fields: escalating one to the team's managers, and running
an action another app registered on a ticket (support.ticket_actions: loyalty's goodwill points).
Keyword-only, one transaction each, attributed to `actor`."""

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.accounts import roles
from crm.accounts.models import User
from crm.lib.audit_actor import writes
from support.models import Kind, SlaNotice, Status, Ticket, TicketEvent
from support.selectors import customers_mark_in_scope
from support.ticket_actions import ActionOutcome, TicketAction


def team_managers(ticket: Ticket) -> list[User]:
    """Who a complaint escalates to: the active Manager-role members of the ticket's team;
    without a team (or a manager in it), every active manager (as the SLA scan escalates)."""
    managers = User.objects.filter(is_active=True, groups__name=roles.MANAGER).order_by("id")
    if ticket.team_id is not None:
        in_team = list(managers.filter(teams=ticket.team_id).distinct())
        if in_team:
            return in_team
    return list(managers.distinct())


def _locked(ticket: Ticket) -> Ticket:
    return Ticket.objects.select_for_update().get(pk=ticket.pk)


@writes
@transaction.atomic
def ticket_escalate(*, actor: User | None, ticket: Ticket) -> list[User]:
    """Escalate a complaint to its team's managers: marked on the ticket (the queues' filter),
    noted in its history, and a notice to each manager (on their queue page, and emailed by
    support.mail_notices). Returns who was told."""
    ticket = _locked(ticket)
    if ticket.kind != Kind.COMPLAINT:
        raise ValidationError(_("Only a complaint can be escalated."))
    if ticket.status == Status.CLOSED:
        raise ValidationError(_("This ticket is closed."))
    if ticket.escalated_at is not None:
        raise ValidationError(_("This complaint was escalated already."))
    managers = team_managers(ticket)
    if not managers:
        raise ValidationError(_("There is no active manager to escalate to."))
    now = timezone.now()
    ticket.escalated_at = now
    ticket.save(update_fields=["escalated_at", "updated_at"])
    SlaNotice.objects.bulk_create(
        [
            SlaNotice(
                ticket=ticket,
                clock=SlaNotice.Clock.COMPLAINT,
                level=SlaNotice.Level.ESCALATED,
                recipient=manager,
                due_at=now,
                created_at=now,
            )
            for manager in managers
        ]
    )
    TicketEvent.objects.create(
        ticket=ticket,
        actor=actor,
        kind="escalated",
        at=now,
        data={"managers": [m.pk for m in managers]},
    )
    return managers


@writes
@transaction.atomic
def ticket_action_run(
    *, actor: User | None, ticket: Ticket, action: TicketAction, data: dict[str, Any]
) -> ActionOutcome:
    """Run a registered action on the ticket (its app's own service writes), then note it in
    the history and, when it says so, on the compensation field. A refusal (ValidationError)
    undoes all of it."""
    ticket = _locked(ticket)
    # The ticket page offers no action on a closed ticket; a post made anyway is refused too.
    if ticket.status == Status.CLOSED:
        raise ValidationError(_("This ticket is closed."))
    # The action sees whether the actor may see the ticket's customer, whoever calls this
    # service (the page's ticket knew; the locked copy is marked again).
    customers_mark_in_scope(actor, [ticket])
    if not action.applies(ticket):
        raise ValidationError(_("This action does not apply to this ticket."))
    outcome = action.run(actor=actor, ticket=ticket, data=data)
    if outcome.compensation:
        lines = [ticket.compensation.strip(), outcome.compensation.strip()]
        ticket.compensation = "\n".join(line for line in lines if line)
        ticket.save(update_fields=["compensation", "updated_at"])
    TicketEvent.objects.create(
        ticket=ticket, actor=actor, kind="action", data={"key": action.key, **outcome.data}
    )
    return outcome

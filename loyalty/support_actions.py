""" "Goodwill points" on a complaint (support.ticket_actions), registered from LoyaltyConfig.ready:
the points go through loyalty's adjustment service (loyalty.counter_services.counter_adjust,
which notes them on the customer's timeline), so the programme's limit applies: above it the
grant waits for a second user's approval, as at the counter."""

from collections.abc import Mapping
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.accounts import capabilities as cap
from crm.accounts.models import User
from loyalty import counter_services
from loyalty.errors import InsufficientPoints
from loyalty.models import Adjustment
from support.ticket_actions import ActionOutcome, TicketAction, ticket_action_register

KEY = "loyalty.goodwill"


class GoodwillForm(forms.Form):
    points = forms.IntegerField(label=gettext_lazy("Points"), min_value=1, max_value=10_000_000)
    reason = forms.CharField(
        label=gettext_lazy("Reason"), max_length=500, widget=forms.Textarea(attrs={"rows": 2})
    )


def _applies(ticket: Any) -> bool:
    # Support marks whether the ticket's customer is in the actor's scope
    # (support.selectors.customers_mark_in_scope); unmarked or outside it gets nothing here.
    in_scope = getattr(ticket, "customer_in_scope", False)
    return ticket.kind == "complaint" and ticket.customer_id is not None and bool(in_scope)


def _pending_text(points: int) -> str:
    return _("%(points)+d points, awaiting approval (above the limit)") % {"points": points}


def _applied_text(points: int) -> str:
    return _("%(points)+d points") % {"points": points}


def _describe(data: Mapping[str, Any]) -> str:
    points = int(data.get("points", 0))
    if data.get("status") == Adjustment.Status.PENDING:
        return _pending_text(points)
    return _applied_text(points)


def _run(*, actor: User | None, ticket: Any, data: Mapping[str, Any]) -> ActionOutcome:
    reference = ticket.reference
    reason = f"{reference}: {data['reason'].strip()}"
    try:
        adjustment = counter_services.counter_adjust(
            actor=actor, customer=ticket.customer, points=data["points"], reason=reason
        )
    except InsufficientPoints as exc:  # only deductions can; goodwill grants
        raise ValidationError(str(exc)) from exc
    pending = adjustment.status == Adjustment.Status.PENDING
    shown = _pending_text(adjustment.points) if pending else _applied_text(adjustment.points)
    return ActionOutcome(
        message=(
            _("Goodwill of %(points)+d points is above the limit: it waits for approval.")
            if pending
            else _("Goodwill of %(points)+d points granted.")
        )
        % {"points": adjustment.points},
        data={
            "points": adjustment.points,
            "adjustment": adjustment.pk,
            "status": adjustment.status,
        },
        compensation=_("Goodwill points: %(shown)s") % {"shown": shown},
    )


def register() -> None:
    ticket_action_register(
        TicketAction(
            key=KEY,
            label=gettext_lazy("Goodwill points"),
            form_class=GoodwillForm,
            applies=_applies,
            run=_run,
            capability=cap.CHANGE,
            describe=_describe,
            position=10,
        )
    )

"""Actions other apps offer on a ticket (loyalty's "Goodwill points" on a complaint), registered
from their AppConfig.ready so support imports none of them.

An action draws its form on the ticket page when `applies(ticket)` holds and the reader has
`capability`; posting it runs support.complaint_services.ticket_action_run, which locks the
ticket and calls `run` in the same transaction: `run` does its app's write through that app's
own service and returns an ActionOutcome. Support then notes the outcome in the ticket's history
(event "action", with `data`: ids and codes, never free text) and, when `compensation` is
given, on the complaint's compensation field. `run` refuses with ValidationError; the whole
transaction is then undone, so a refusal changes nothing."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django import forms

from crm.accounts.permissions import can


@dataclass(frozen=True)
class ActionOutcome:
    message: str  # told to the user who ran it
    data: dict[str, Any] = field(default_factory=dict)  # kept in the history's event
    compensation: str = ""  # a line added to the complaint's compensation field


@dataclass(frozen=True)
class TicketAction:
    key: str
    label: Any  # a lazily translated short name (the form's title and the history's word)
    form_class: type[forms.Form]
    applies: Callable[[Any], bool]  # ticket -> whether the action is offered on it
    run: Callable[..., ActionOutcome]  # (*, actor, ticket, data: cleaned_data) -> outcome
    capability: str
    # The history's line from the event's data ("+50 points, awaiting approval").
    describe: Callable[[Mapping[str, Any]], str] = lambda data: ""
    position: int = 100


_ACTIONS: dict[str, TicketAction] = {}


def ticket_action_register(action: TicketAction) -> None:
    _ACTIONS[action.key] = action


def ticket_action_unregister(key: str) -> None:
    _ACTIONS.pop(key, None)


def ticket_action(key: str) -> TicketAction | None:
    return _ACTIONS.get(key)


def ticket_actions_for(user: Any, ticket: Any) -> list[TicketAction]:
    """The actions the reader may run on this ticket, in their order."""
    return sorted(
        (a for a in _ACTIONS.values() if can(user, a.capability) and a.applies(ticket)),
        key=lambda a: (a.position, a.key),
    )


def action_history_text(data: Mapping[str, Any]) -> str:
    """The history's words for an "action" event: the action's label and its description."""
    action = _ACTIONS.get(str(data.get("key", "")))
    if action is None:
        return str(data.get("key", ""))
    described = action.describe(data)
    return f"{action.label}: {described}" if described else str(action.label)

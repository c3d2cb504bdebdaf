"""Canned responses with variables: "{{customer.name}}", "{{ticket.reference}}"... filled in
from an allow-list by plain substitution (never a template engine: a response's author must not
reach anything but these values). An unknown variable stays as written, so the agent sees it."""

import re
from collections.abc import Callable
from typing import Any

from django.utils.translation import gettext_lazy as _

_VARIABLE = re.compile(r"\{\{\s*([a-z_]+\.[a-z_]+)\s*\}\}")


def _customer_name(ticket: Any, agent: Any) -> str:
    # A customer outside the agent's records is not named (support.selectors.ticket_for).
    if getattr(ticket, "customer_in_scope", True) is False:
        return str(ticket.requester_name)
    if ticket.customer_id and ticket.customer.erased_at is None:
        return str(ticket.customer.name)
    return str(ticket.requester_name)


VARIABLES: dict[str, tuple[Any, Callable[[Any, Any], str]]] = {
    "customer.name": (_("the customer's name"), _customer_name),
    "ticket.reference": (_("the ticket's reference"), lambda t, a: str(t.reference)),
    "ticket.subject": (_("the ticket's subject"), lambda t, a: str(t.subject)),
    "agent.name": (_("your name"), lambda t, a: a.get_full_name() if a else ""),
}


def canned_render(text: str, *, ticket: Any, agent: Any) -> str:
    """`text` with every known variable filled in for this ticket and agent."""

    def fill(match: re.Match[str]) -> str:
        known = VARIABLES.get(match.group(1))
        return known[1](ticket, agent) if known else match.group(0)

    return _VARIABLE.sub(fill, text)

"""A complaint's escalation to the team's managers, and the actions other apps register on a
ticket (support.ticket_actions), posted from the ticket page."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from crm.accounts import capabilities as cap
from crm.accounts.permissions import acting_user, can, capability_required
from support import complaint_services, selectors
from support.models import Ticket
from support.ticket_actions import ticket_action


def _ticket_or_404(request: HttpRequest, pk: int) -> Ticket:
    try:
        return selectors.ticket_for(request.user, pk)
    except Ticket.DoesNotExist:
        raise Http404 from None


@capability_required(cap.CHANGE)
@require_POST
def ticket_escalate(request: HttpRequest, pk: int) -> HttpResponse:
    ticket = _ticket_or_404(request, pk)
    try:
        told = complaint_services.ticket_escalate(actor=acting_user(request), ticket=ticket)
    except ValidationError as exc:
        for error in exc.messages:
            messages.error(request, error)
    else:
        messages.success(
            request,
            ngettext(
                "Complaint escalated to %(count)d manager.",
                "Complaint escalated to %(count)d managers.",
                len(told),
            )
            % {"count": len(told)},
        )
    return redirect("support:detail", pk=ticket.pk)


@capability_required(cap.VIEW)
@require_POST
def ticket_action_run(request: HttpRequest, pk: int, key: str) -> HttpResponse:
    ticket = _ticket_or_404(request, pk)
    action = ticket_action(key)
    if action is None:
        raise Http404
    user = acting_user(request)
    if not can(user, action.capability):
        raise PermissionDenied
    back = redirect("support:detail", pk=ticket.pk)
    if not action.applies(ticket):
        messages.error(request, _("This action does not apply to this ticket."))
        return back
    form = action.form_class(request.POST, prefix=key)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, f"{action.label}: {error}")
        return back
    try:
        outcome = complaint_services.ticket_action_run(
            actor=user, ticket=ticket, action=action, data=form.cleaned_data
        )
    except ValidationError as exc:
        for error in exc.messages:
            messages.error(request, error)
        return back
    messages.success(request, outcome.message)
    return back

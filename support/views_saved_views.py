"""Saved views of the queues, posted from the queue page: save the current queue and filters
under a name, rename or delete one's own. Opening a view is a link to the queue page."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm.accounts import capabilities as cap
from crm.accounts.permissions import acting_user, capability_required
from support import saved_view_services
from support.forms import SavedViewForm
from support.models import TicketSavedView


def _queue(query: str) -> HttpResponse:
    return redirect(f"{reverse('support:home')}?{query}" if query else reverse("support:home"))


def _report(request: HttpRequest, exc: ValidationError) -> None:
    for error in exc.messages:
        messages.error(request, error)


def _own_view_or_404(request: HttpRequest, pk: int) -> TicketSavedView:
    view = TicketSavedView.objects.filter(pk=pk, user=acting_user(request)).first()
    if view is None:
        raise Http404
    return view


@capability_required(cap.VIEW)
@require_POST
def saved_view_save(request: HttpRequest) -> HttpResponse:
    form = SavedViewForm(request.POST)
    query = QueryDict(request.POST.get("query", "")[:2000])
    if not form.is_valid():
        messages.error(request, _("Give the view a name."))
        return _queue(saved_view_services.view_query(query))
    try:
        view = saved_view_services.ticket_view_save(
            actor=acting_user(request),
            name=form.cleaned_data["name"],
            query=query,
            shared=form.cleaned_data["shared"],
        )
    except ValidationError as exc:
        _report(request, exc)
        return _queue(saved_view_services.view_query(query))
    messages.success(request, _("View “%(name)s” saved.") % {"name": view.name})
    return _queue(view.query)


@capability_required(cap.VIEW)
@require_POST
def saved_view_rename(request: HttpRequest, pk: int) -> HttpResponse:
    view = _own_view_or_404(request, pk)
    try:
        saved_view_services.ticket_view_rename(
            actor=acting_user(request), view=view, name=request.POST.get("name", "")
        )
    except ValidationError as exc:
        _report(request, exc)
    else:
        messages.success(request, _("View renamed."))
    return _queue(view.query)


@capability_required(cap.VIEW)
@require_POST
def saved_view_delete(request: HttpRequest, pk: int) -> HttpResponse:
    actor = acting_user(request)
    view = TicketSavedView.objects.filter(pk=pk).first()
    # Someone else's personal view, or a shared one they may not remove: as if there were none.
    if view is None or not saved_view_services.may_delete(actor, view):
        raise Http404
    saved_view_services.ticket_view_delete(actor=actor, view=view)
    messages.success(request, _("View “%(name)s” deleted.") % {"name": view.name})
    return _queue("")

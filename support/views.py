"""Support pages: the queues, a ticket with its conversation, the new-ticket form. Settings
and canned responses are in support.views_settings."""

import datetime
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST

from crm.accounts import capabilities as cap
from crm.accounts.models import Team, User
from crm.accounts.permissions import acting_user, can, capability_required
from crm.transfer.uploads import UploadLimit, upload_limit_install
from customers.selectors import visible_customers
from support import page_data, selectors, services, sla
from support.attachments import attachment_from_upload
from support.canned import canned_render
from support.forms import (
    AssignForm,
    BulkForm,
    DetailsForm,
    MergeForm,
    MessageForm,
    QueueFilterForm,
    StatusForm,
    TicketForm,
    tags_from,
)
from support.models import Kind, Status, Ticket
from support.permissions import can_configure_support
from support.saved_view_services import view_query
from support.ticket_actions import ticket_actions_for
from support.transitions import next_statuses
from support.views_mail import ticket_mail_context


def _ticket_or_404(request: HttpRequest, pk: int) -> Ticket:
    try:
        return selectors.ticket_for(request.user, pk)
    except Ticket.DoesNotExist:
        raise Http404 from None


def _report(request: HttpRequest, exc: ValidationError) -> None:
    for error in exc.messages:
        messages.error(request, error)


def _staff(pk: int | None) -> User | None:
    return User.objects.filter(pk=pk, is_active=True).first() if pk else None


def _team(pk: int | None) -> Team | None:
    return Team.objects.filter(pk=pk).first() if pk else None


def _margin() -> datetime.timedelta:
    return datetime.timedelta(minutes=sla.support_settings().near_breach_minutes)


@capability_required(cap.VIEW)
def queue(request: HttpRequest) -> HttpResponse:
    user = acting_user(request)
    # Staff, teams and settings in one query (support.page_data: at most 8 queries a page).
    reference = page_data.reference_data(views_for=user)
    choices = reference.choices
    form = QueueFilterForm(request.GET or None, choices=choices)
    name = request.GET.get("queue", "mine")
    if name not in selectors.QUEUES:
        name = "mine"
    values: dict[str, Any] = form.cleaned_data if form.is_valid() else {}
    query = selectors.TicketQuery(
        queue=name,
        status=values.get("status") or "",
        priority=values.get("priority") or "",
        team_id=values.get("team"),
        assignee_id=values.get("assignee"),
        category=values.get("category") or "",
        text=values.get("q") or "",
        escalated=bool(values.get("escalated")),
    )
    margin = datetime.timedelta(minutes=reference.settings.near_breach_minutes)
    page = selectors.ticket_page(user, query, after=request.GET.get("after", ""), margin=margin)
    next_query = None
    if page.next_cursor:
        params = request.GET.copy()
        params["after"] = page.next_cursor
        next_query = params.urlencode()
    base = QueryDict(mutable=True)
    return render(
        request,
        "support/queue.html",
        {
            "nav_section": "support",
            "form": form,
            "queue": name,
            "queues": [
                ("mine", _("My open tickets")),
                ("unassigned", _("Unassigned")),
                ("near", _("Near breach")),
                ("all", _("All")),
            ],
            "counts": selectors.queue_counts(user, margin),
            "notices": selectors.sla_notices_for(user),
            "page": page,
            "next_query": next_query,
            "filter_query": _without(request.GET, "after", "queue"),
            "blank_query": base.urlencode(),
            "can_change": can(user, cap.CHANGE),
            "can_create": can(user, cap.CREATE),
            "can_configure": can_configure_support(user),
            "staff": choices.staff,
            # Nothing goes back to "new" (support.transitions).
            "statuses": [c for c in Status.choices if c[0] != Status.NEW],
            "categories": selectors.categories(),
            # Saved views (support.views_saved_views): the reader's own and the shared ones.
            "saved_views": reference.saved_views,
            "view_query": view_query(request.GET),
            "can_share": can_configure_support(user),
        },
    )


def _without(query: QueryDict, *names: str) -> str:
    params = query.copy()
    for name in names:
        params.pop(name, None)
    return params.urlencode()


@capability_required(cap.CHANGE)
@require_POST
def bulk(request: HttpRequest) -> HttpResponse:
    """Assign or set the status of the ticked tickets (only those the user may see)."""
    user = acting_user(request)
    back = redirect(f"{reverse('support:home')}?{request.POST.get('return_query', '')}")
    form = BulkForm(request.POST, choices=selectors.staff_choices())
    if not form.is_valid():
        messages.error(request, _("Tick at least one ticket and choose what to do."))
        return back
    ids = form.cleaned_data["ids"]
    visible = selectors.visible_tickets(user)
    try:
        if form.cleaned_data["action"] == "assign":
            result = services.tickets_bulk_assign(
                actor=user,
                tickets=ids,
                assignee=_staff(form.cleaned_data["assignee"]),
                visible=visible,
            )
        else:
            if not form.cleaned_data["status"]:
                messages.error(request, _("Choose the status to set."))
                return back
            result = services.tickets_bulk_status(
                actor=user, tickets=ids, status=form.cleaned_data["status"], visible=visible
            )
    except ValidationError as exc:
        _report(request, exc)
        return back
    messages.success(
        request,
        ngettext("%(count)d ticket changed.", "%(count)d tickets changed.", result.changed)
        % {"count": result.changed},
    )
    if result.refused:
        messages.warning(
            request,
            _("Not changed (that status cannot follow theirs): %(refs)s")
            % {"refs": ", ".join(result.refused)},
        )
    return back


@capability_required(cap.CREATE)
def ticket_new(request: HttpRequest) -> HttpResponse:
    user = acting_user(request)
    choices = selectors.staff_choices()
    initial: dict[str, Any] = {"assignee": user.pk}
    if request.GET.get("customer", "").isdigit():
        initial["customer"] = int(request.GET["customer"])
    form = TicketForm(request.POST or None, initial=initial, choices=choices)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        customer = None
        if data["customer"]:
            customer = visible_customers(user).filter(pk=data["customer"]).first()
            if customer is None:
                form.add_error("customer", _("No customer with this number in your records."))
        if form.is_valid():
            try:
                ticket = services.ticket_create(
                    actor=user,
                    data=services.TicketInput(
                        subject=data["subject"],
                        description=data["description"],
                        customer=customer,
                        requester_name=data["requester_name"],
                        requester_email=data["requester_email"],
                        requester_phone=data["requester_phone"],
                        channel=data["channel"],
                        category=data["category"],
                        priority=data["priority"],
                        tags=tags_from(data["tags"]),
                        kind=data["kind"],
                        severity=data["severity"],
                        assignee=_staff(data["assignee"]),
                        team=_team(data["team"]),
                    ),
                )
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    for error in errors:
                        form.add_error(field if field in form.fields else None, error)
            else:
                messages.success(request, _("Ticket %(ref)s opened.") % {"ref": ticket.reference})
                if selectors.visible_tickets(user).filter(pk=ticket.pk).exists():
                    return redirect("support:detail", pk=ticket.pk)
                return redirect("support:home")
    customer_name = ""
    if initial.get("customer"):
        found = visible_customers(user).filter(pk=initial["customer"]).first()
        customer_name = found.name if found else ""
    return render(
        request,
        "support/ticket_form.html",
        {
            "nav_section": "support",
            "form": form,
            "customer_name": customer_name,
            "categories": selectors.categories(),
        },
    )


@capability_required(cap.VIEW)
def ticket_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = acting_user(request)
    ticket = _ticket_or_404(request, pk)
    reference = page_data.reference_data(with_canned=True)
    choices = reference.choices
    customer_in_scope = getattr(ticket, "customer_in_scope", False)
    side = page_data.ticket_side(user, ticket, customer_in_scope=customer_in_scope)
    margin = datetime.timedelta(minutes=reference.settings.near_breach_minutes)
    allowed = next_statuses(ticket.status)
    status_choices = [(s, Status(s).label) for s in allowed]
    can_change = can(user, cap.CHANGE)
    canned = [(c.title, canned_render(c.body, ticket=ticket, agent=user)) for c in reference.canned]
    conversation = selectors.conversation(ticket)
    return render(
        request,
        "support/ticket_detail.html",
        {
            "nav_section": "support",
            "ticket": ticket,
            "sla": selectors.sla_row(ticket, _now(), margin),
            "messages_list": conversation,
            # An unlinked ticket's requester is shown; a hidden customer's address is not.
            **ticket_mail_context(
                conversation,
                side.mail,
                senders_shown=ticket.customer_id is None or customer_in_scope,
            ),
            "events": selectors.history(ticket, choices),
            "context": side.context,
            "can_change": can_change and ticket.status != Status.CLOSED,
            "reply_form": MessageForm(statuses=status_choices),
            "note_form": MessageForm(),
            "status_form": StatusForm(),
            "status_choices": status_choices,
            "assign_form": AssignForm(
                initial={"assignee": ticket.assignee_id, "team": ticket.team_id},
                choices=choices,
            ),
            "details_form": DetailsForm(
                initial={
                    "priority": ticket.priority,
                    "category": ticket.category,
                    "tags": ", ".join(ticket.tags),
                    "kind": ticket.kind,
                    "severity": ticket.severity,
                    "root_cause": ticket.root_cause,
                    "resolution": ticket.resolution,
                    "compensation": ticket.compensation,
                }
            ),
            "merge_form": MergeForm(),
            "canned": canned,
            "watching": side.watching,
            "watchers": side.watchers,
            "next_ticket": side.next_ticket,
            "staff_names": dict(choices.staff),
            # Complaints: escalation and the actions other apps registered (loyalty's goodwill).
            "can_escalate": can_change
            and ticket.kind == Kind.COMPLAINT
            and ticket.escalated_at is None
            and ticket.status != Status.CLOSED,
            "actions": [
                (action, action.form_class(prefix=action.key))
                for action in ticket_actions_for(user, ticket)
            ]
            if ticket.status != Status.CLOSED
            else [],
        },
    )


def _now() -> Any:
    from django.utils import timezone

    return timezone.now()


def _back(ticket: Ticket) -> HttpResponse:
    return redirect("support:detail", pk=ticket.pk)


@csrf_protect  # the check runs here, once the upload limit is in place (see ticket_reply)
def _message(request: HttpRequest, pk: int, kind: str, limit: UploadLimit) -> HttpResponse:
    ticket = _ticket_or_404(request, pk)
    user = acting_user(request)
    form = MessageForm(request.POST)
    if limit.refused:
        messages.error(
            request,
            _("The attachments are larger than %(limit)s; nothing was saved.")
            % {"limit": filesizeformat(settings.CRM_ATTACHMENT_MAX_BYTES)},
        )
        return _back(ticket)
    if not form.is_valid():
        messages.error(request, _("Write the message first."))
        return _back(ticket)
    files = [attachment_from_upload(f) for f in request.FILES.getlist("files")]
    try:
        if kind == "reply":
            services.ticket_reply(
                actor=user,
                ticket=ticket,
                body=form.cleaned_data["body"],
                status=form.cleaned_data["status"] or None,
                attachments=files,
            )
            messages.success(request, _("Reply saved; it is being emailed."))
        else:
            services.ticket_note(
                actor=user, ticket=ticket, body=form.cleaned_data["body"], attachments=files
            )
            messages.success(request, _("Internal note added."))
    except ValidationError as exc:
        _report(request, exc)
    return _back(ticket)


# The upload handlers must change before the CSRF check reads the body (as in
# crm.transfer.views_imports): exempt here, checked in _message.
@csrf_exempt
@capability_required(cap.CHANGE)
@require_POST
def ticket_reply(request: HttpRequest, pk: int) -> HttpResponse:
    limit = upload_limit_install(request, settings.CRM_ATTACHMENT_MAX_BYTES)
    return _message(request, pk, "reply", limit)


@csrf_exempt
@capability_required(cap.CHANGE)
@require_POST
def ticket_note(request: HttpRequest, pk: int) -> HttpResponse:
    limit = upload_limit_install(request, settings.CRM_ATTACHMENT_MAX_BYTES)
    return _message(request, pk, "note", limit)


@capability_required(cap.CHANGE)
@require_POST
def ticket_status(request: HttpRequest, pk: int) -> HttpResponse:
    ticket = _ticket_or_404(request, pk)
    form = StatusForm(request.POST)
    if form.is_valid():
        try:
            services.ticket_status_set(
                actor=acting_user(request), ticket=ticket, status=form.cleaned_data["status"]
            )
            messages.success(request, _("Status changed."))
        except ValidationError as exc:
            _report(request, exc)
    else:
        messages.error(request, _("Choose a status."))
    return _back(ticket)


@capability_required(cap.CHANGE)
@require_POST
def ticket_assign(request: HttpRequest, pk: int) -> HttpResponse:
    ticket = _ticket_or_404(request, pk)
    user = acting_user(request)
    form = AssignForm(request.POST, choices=selectors.staff_choices())
    if not form.is_valid():
        messages.error(request, _("Choose someone from the list."))
        return _back(ticket)
    try:
        ticket = services.ticket_assign(
            actor=user,
            ticket=ticket,
            assignee=_staff(form.cleaned_data["assignee"]),
            team=_team(form.cleaned_data["team"]),
        )
    except ValidationError as exc:
        _report(request, exc)
        return _back(ticket)
    messages.success(request, _("Assignment saved."))
    if not selectors.visible_tickets(user).filter(pk=ticket.pk).exists():
        return redirect("support:home")
    return _back(ticket)


@capability_required(cap.CHANGE)
@require_POST
def ticket_details(request: HttpRequest, pk: int) -> HttpResponse:
    ticket = _ticket_or_404(request, pk)
    form = DetailsForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Check the ticket's details."))
        return _back(ticket)
    data = form.cleaned_data
    try:
        services.ticket_details_set(
            actor=acting_user(request),
            ticket=ticket,
            details=services.TicketDetails(
                priority=data["priority"],
                category=data["category"],
                tags=tags_from(data["tags"]),
                kind=data["kind"],
                severity=data["severity"],
                root_cause=data["root_cause"],
                resolution=data["resolution"],
                compensation=data["compensation"],
            ),
        )
        messages.success(request, _("Details saved."))
    except ValidationError as exc:
        _report(request, exc)
    return _back(ticket)


@capability_required(cap.CHANGE)
@require_POST
def ticket_watch(request: HttpRequest, pk: int) -> HttpResponse:
    ticket = _ticket_or_404(request, pk)
    user = acting_user(request)
    services.ticket_watch(
        actor=user, ticket=ticket, user=user, watching=request.POST.get("watch") == "1"
    )
    return _back(ticket)


@capability_required(cap.CHANGE)
@require_POST
def ticket_merge(request: HttpRequest, pk: int) -> HttpResponse:
    """Merge this ticket into another the user may see (given by its reference)."""
    user = acting_user(request)
    drop = _ticket_or_404(request, pk)
    form = MergeForm(request.POST)
    number = selectors.number_from_reference(form.data.get("other", ""))
    keep = (
        selectors.visible_tickets(user).filter(number=number).first()
        if number is not None
        else None
    )
    if keep is None:
        messages.error(request, _("No ticket with this reference in your queues."))
        return _back(drop)
    try:
        services.ticket_merge(actor=user, keep=keep, drop=drop)
    except ValidationError as exc:
        _report(request, exc)
        return _back(drop)
    messages.success(
        request,
        _("%(drop)s merged into %(keep)s.") % {"drop": drop.reference, "keep": keep.reference},
    )
    return _back(keep)

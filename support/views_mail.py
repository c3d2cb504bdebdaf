"""Support's email pages and endpoints: the inbound address relays post to, attachment
downloads (scope-checked), the mail settings and the inbound secret's rotation, and sending a
failed reply again. Also what the ticket and settings pages show of email
(ticket_mail_context, mail_settings_context)."""

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, SuspiciousFileOperation, ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from crm.accounts import capabilities as cap
from crm.accounts.permissions import acting_user, can_administer, capability_required
from crm.lib.audit_actor import audit_actor
from support import mail_settings as settings_service
from support import selectors
from support.attachments import attachment_path
from support.mail_inbound import inbound_mail_receive
from support.mail_outbound import reply_retry
from support.mail_parsing import mail_parse
from support.models import TicketMessage
from support.models_mail import TicketAttachment
from support.page_data import TicketMailData
from support.permissions import support_configurer_required

INBOUND_ACTOR = "inbound email"
STATUS_BY_OUTCOME = {
    "created": 201,
    "follow_up": 201,
    "threaded": 200,
    "duplicate": 200,
    "dropped": 202,
}


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": code, "message": message}, status=status)


@csrf_exempt  # mail relays post here without a session; the secret is the credential
def inbound_email(request: HttpRequest, secret: str) -> HttpResponse:
    """A raw RFC 822 message as the request body. 201 a ticket opened, 200 threaded into one
    (or already received: relays retry), 202 dropped (automatic mail or a loop), 400 not a
    usable message, 404 a wrong secret, 405 not a POST, 413 too large."""
    if not settings_service.inbound_secret_matches(secret):
        return _error(404, "not_found", "No inbound address here.")
    if request.method != "POST":
        response = _error(405, "method_not_allowed", "POST the raw message.")
        response["Allow"] = "POST"
        return response
    limit = settings.CRM_INBOUND_MAIL_MAX_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        return _error(413, "too_large", f"A message may have at most {limit} bytes.")
    raw = request.read(limit + 1)
    if len(raw) > limit:
        return _error(413, "too_large", f"A message may have at most {limit} bytes.")
    if not raw.strip():
        return _error(400, "empty", "The request body is empty; POST the raw message.")
    mail = mail_parse(raw)
    try:
        with audit_actor(INBOUND_ACTOR):
            result = inbound_mail_receive(actor=None, mail=mail)
    except ValidationError as exc:
        return _error(400, "unusable", " ".join(exc.messages))
    body: dict[str, Any] = {"result": result.outcome}
    if result.ticket is not None:
        body["ticket"] = result.ticket.reference
    if result.reason:
        body["reason"] = result.reason
    return JsonResponse(body, status=STATUS_BY_OUTCOME[result.outcome])


@capability_required(cap.VIEW)
def attachment_download(request: HttpRequest, pk: int) -> HttpResponseBase:
    """An attachment, for a reader whose scope holds its ticket (anyone else: 404), always as
    a download (never shown inline, nosniff), from the tenant's private files."""
    user = acting_user(request)
    attachment = TicketAttachment.objects.filter(pk=pk).first()
    if attachment is None:
        raise Http404
    if not selectors.visible_tickets(user).filter(pk=attachment.ticket_id).exists():
        raise Http404
    try:
        path = attachment_path(attachment)
        handle = path.open("rb")
    except (SuspiciousFileOperation, FileNotFoundError):
        raise Http404 from None
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=attachment.filename,
        content_type="application/octet-stream",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@capability_required(cap.CHANGE)
@require_POST
def reply_send_again(request: HttpRequest, pk: int) -> HttpResponse:
    """Send a reply whose delivery failed once more (a reply of a ticket in the reader's scope)."""
    user = acting_user(request)
    message = (
        TicketMessage.objects.filter(pk=pk, kind=TicketMessage.Kind.REPLY)
        .select_related("ticket")
        .first()
    )
    if message is None or not selectors.visible_tickets(user).filter(pk=message.ticket_id).exists():
        raise Http404
    if message.delivery == TicketMessage.Delivery.FAILED:
        reply_retry(actor=user, message=message)
        messages.success(request, _("The reply will be sent again."))
    return redirect("support:detail", pk=message.ticket_id)


@support_configurer_required
@require_POST
def mail_settings_save(request: HttpRequest) -> HttpResponse:
    try:
        settings_service.mail_settings_save(
            actor=acting_user(request),
            from_address=request.POST.get("from_address", ""),
            from_name=request.POST.get("from_name", ""),
        )
        messages.success(request, _("Email settings saved."))
    except ValidationError as exc:
        for error in exc.messages:
            messages.error(request, error)
    return redirect("support:settings")


@support_configurer_required
@require_POST
def inbound_secret_rotate(request: HttpRequest) -> HttpResponse:
    """A new inbound address (administrators only); the old one stops working at once."""
    user = acting_user(request)
    if not can_administer(user):
        raise PermissionDenied
    settings_service.inbound_secret_rotate(actor=user)
    messages.success(
        request, _("The inbound address changed: give the new one to your mail relay.")
    )
    return redirect("support:settings")


def mail_settings_context(user: Any) -> dict[str, Any]:
    """The settings page's email section: the sender, and for administrators the inbound
    address."""
    row = settings_service.mail_settings()
    tenant = settings_service.current_tenant()
    administers = can_administer(user)
    url = ""
    if administers and row.inbound_secret:
        url = settings_service.inbound_url(tenant, row.inbound_secret)
    return {
        "mail": row,
        "mail_default_from": settings_service.default_from_address(tenant),
        "mail_from_header": settings_service.from_shown(tenant, row),
        "mail_inbound_url": url,
        "mail_can_rotate": administers,
    }


def ticket_mail_context(
    conversation: list[TicketMessage], mail: TicketMailData, *, senders_shown: bool
) -> dict[str, Any]:
    """What the ticket page shows of email: each message's attachments, who sent an inbound
    one and a reply's last delivery error (set on the messages), the description's
    attachments, and whether replies can be emailed (the page says so when there is no
    address). `mail` is read in the page's side query (support.page_data.ticket_side).
    `senders_shown`: False when the ticket's customer is outside the reader's records, whose
    address the page does not name (as it does not name the requester)."""
    for message in conversation:
        sender, error = mail.headers.get(message.pk, ("", ""))
        if not senders_shown:
            sender = ""
        message.files = mail.files.get(message.pk, [])  # type: ignore[attr-defined]
        message.mail_error = error  # type: ignore[attr-defined]
        message.mail_sender = sender  # type: ignore[attr-defined]
    return {
        "opening_files": mail.files.get(None, []),
        "reply_emailed": mail.reply_emailed,
    }

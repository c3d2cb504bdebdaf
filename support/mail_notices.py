"""SLA notices (support.models.SlaNotice, made by the SLA scan) emailed to their recipients:
the assignee near or past a breach, the team's managers on an escalation.

Each notice is emailed at most once: an SlaNoticeEmail row is inserted (the claim, its unique
key the notice) in its own transaction before the mail goes, so a rerun, or a second worker
running the same task, skips it. A failed send is recorded on that row and not retried: the
notice is on the queue page anyway, and a late warning is worth little. Notices older than a
day, of deactivated staff or staff without an email, are never sent."""

import datetime
import smtplib
from dataclasses import dataclass

from django.core.mail import EmailMessage, get_connection
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from crm.accounts.models import User
from crm.lib.audit_actor import writes
from crm.tenants.selectors import tenant_site_url
from support.mail_settings import current_tenant
from support.models import SlaNotice
from support.models_mail import SlaNoticeEmail

FRESH = datetime.timedelta(days=1)
BATCH = 200


@dataclass(frozen=True)
class NoticesSent:
    sent: int
    failed: int


def _unsent() -> list[SlaNotice]:
    return list(
        SlaNotice.objects.filter(
            created_at__gte=timezone.now() - FRESH,
            email__isnull=True,
            recipient__is_active=True,
        )
        .exclude(recipient__email="")
        .select_related("ticket", "recipient")
        .order_by("id")[:BATCH]
    )


@writes
@transaction.atomic
def notice_claim(*, actor: User | None, notice: SlaNotice) -> SlaNoticeEmail | None:
    """The claim on emailing `notice`; None when someone has it already."""
    try:
        with transaction.atomic():
            return SlaNoticeEmail.objects.create(notice=notice)
    except IntegrityError:
        return None


@writes
@transaction.atomic
def notice_mark(*, actor: User | None, claim: SlaNoticeEmail, error: str = "") -> None:
    """Record how the claimed notice's email went."""
    if error:
        SlaNoticeEmail.objects.filter(pk=claim.pk).update(last_error=error[:100])
    else:
        SlaNoticeEmail.objects.filter(pk=claim.pk).update(sent_at=timezone.now())


def _message(notice: SlaNotice, site: str, language: str) -> EmailMessage:
    ticket = notice.ticket
    with translation.override(language):
        level = str(SlaNotice.Level(notice.level).label)
        clock = str(SlaNotice.Clock(notice.clock).label)
        subject = f"[{ticket.reference}] {level}: {clock}"
        link = site + reverse("support:detail", urlconf="crm.urls_tenant", args=[ticket.pk])
        body = "\n".join(
            [
                _("%(level)s on %(reference)s (%(clock)s).")
                % {"level": level, "reference": ticket.reference, "clock": clock},
                # A complaint escalated by hand has no due moment: its notice keeps when.
                (
                    _("Escalated: %(at)s UTC")
                    if notice.clock == SlaNotice.Clock.COMPLAINT
                    else _("Due: %(due)s UTC")
                )
                % {
                    "due": notice.due_at.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M"),
                    "at": notice.due_at.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M"),
                },
                "",
                link,
            ]
        )
    # The ticket's subject stays out of the mail: it is the customer's words, and the link
    # leads to it for whoever may read it.
    return EmailMessage(subject=subject, body=body, to=[notice.recipient.email])


def sla_notices_send() -> NoticesSent:
    """Email the current tenant's unsent notices (called per tenant by the beat task)."""
    tenant = current_tenant()
    site = tenant_site_url(tenant)
    sent = failed = 0
    for notice in _unsent():
        claim = notice_claim(actor=None, notice=notice)
        if claim is None:
            continue
        language = getattr(notice.recipient, "language", "") or tenant.language
        try:
            with get_connection(fail_silently=False) as smtp:
                smtp.send_messages([_message(notice, site, language)])
        except (smtplib.SMTPException, OSError) as exc:
            notice_mark(actor=None, claim=claim, error=type(exc).__name__)
            failed += 1
            continue
        notice_mark(actor=None, claim=claim)
        sent += 1
    return NoticesSent(sent, failed)

"""What support's email keeps about a person, registered as an erasure holder
(crm.lib.erasure): the attachment files and rows of the person's tickets (and the file names
in their audit entries), the address each reply was sent to and each inbound mail came from.
Message-IDs stay (random, and what keeps a relay's retry from reopening anything). Runs before
the tickets holder (order 14 < 15), which blanks the requester emails that reach the person's
unlinked tickets: the same tickets are found here the same way."""

from crm.accounts.audit import audit_redact
from crm.lib.erasure import Erasure, ErasureHolder, erasure_holder_register
from support.attachments import attachments_files_remove
from support.erasure import person_ticket_ids
from support.models_mail import MailHeader, TicketAttachment


def _erase_mail(erasure: Erasure) -> None:
    ticket_ids = person_ticket_ids(erasure)
    if not ticket_ids:
        return
    attachments = TicketAttachment.objects.filter(ticket__in=ticket_ids)
    rows = list(attachments.values_list("pk", "path"))
    attachments.delete()
    # The audit entries of their creation hold the file names.
    audit_redact(
        table_name=TicketAttachment._meta.db_table, record_ids=[str(pk) for pk, _p in rows]
    )
    paths = [path for _pk, path in rows]
    MailHeader.objects.filter(ticket__in=ticket_ids).update(recipient="", sender="")
    # Removed inside the erasure's transaction (as crm.transfer.erasure does), so a committed
    # erasure never leaves a file behind; one rolled back leaves rows whose download is a 404.
    attachments_files_remove(paths)


def register() -> None:
    erasure_holder_register(
        ErasureHolder(
            "support.mail",
            _erase_mail,
            "ticket attachments (files and rows), the addresses replies were emailed to",
            order=14,
        )
    )

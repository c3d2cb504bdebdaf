"""Ticket attachments: checked against the limits, written under the tenant's private files
root (crm.tenants.files: a random file name, 0600, the row keeps the relative path) and read
back only through that root's resolver. Callers are services, inside their transaction; the
download view checks the ticket's scope first (support.views_mail)."""

import unicodedata
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.core.exceptions import ValidationError
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.tenants.files import private_open, tenant_dir, tenant_file_path, tenant_file_relative
from support.models import Ticket, TicketMessage
from support.models_mail import TicketAttachment

FOLDER = "support/attachments"


@dataclass(frozen=True)
class AttachmentInput:
    """A file to attach: an upload's chunks or an email part's bytes."""

    filename: str
    content_type: str
    size: int
    chunks: Iterable[bytes]


def attachment_from_bytes(filename: str, content_type: str, data: bytes) -> AttachmentInput:
    return AttachmentInput(filename, content_type, len(data), [data])


def attachment_from_upload(upload: object) -> AttachmentInput:
    """An uploaded file (django.core.files.uploadedfile.UploadedFile)."""
    return AttachmentInput(
        getattr(upload, "name", "") or "",
        getattr(upload, "content_type", "") or "",
        int(getattr(upload, "size", 0) or 0),
        upload.chunks(),  # type: ignore[attr-defined]
    )


def filename_clean(name: str) -> str:
    """The last part of a sender's file name, without control characters (a header or a
    download's Content-Disposition must not carry them); "attachment" when nothing is left."""
    base = PurePosixPath(name.replace("\\", "/")).name
    cleaned = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip(" .")
    return cleaned[:200] or "attachment"


def attachments_check(files: Sequence[AttachmentInput]) -> None:
    """Refuse too many files, or one too large (the limits are settings), changing nothing."""
    limit = settings.CRM_ATTACHMENT_MAX_BYTES
    if len(files) > settings.CRM_ATTACHMENT_MAX_COUNT:
        raise ValidationError(
            {
                "files": _("Attach at most %(count)d files to one message.")
                % {"count": settings.CRM_ATTACHMENT_MAX_COUNT}
            }
        )
    for item in files:
        if item.size > limit:
            raise ValidationError(
                {
                    "files": _("“%(name)s” is larger than %(limit)s.")
                    % {"name": filename_clean(item.filename), "limit": filesizeformat(limit)}
                }
            )


def _write(item: AttachmentInput, folder: Path) -> tuple[Path, int]:
    path = folder / uuid.uuid4().hex
    size = 0
    try:
        with private_open(path, "xb") as out:
            for chunk in item.chunks:
                size += len(chunk)
                if size > settings.CRM_ATTACHMENT_MAX_BYTES:
                    raise ValidationError(
                        {
                            "files": _("“%(name)s” is larger than %(limit)s.")
                            % {
                                "name": filename_clean(item.filename),
                                "limit": filesizeformat(settings.CRM_ATTACHMENT_MAX_BYTES),
                            }
                        }
                    )
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, size


def attachments_store(
    *, ticket: Ticket, message: TicketMessage | None, files: Sequence[AttachmentInput]
) -> list[TicketAttachment]:
    """Write `files` and their rows, inside the caller's transaction (its last step, so a
    refusal comes before any file is written). Should the commit itself fail, the files stay
    behind without rows: unreachable (no row names them), removed with the tenant."""
    if not files:
        return []
    attachments_check(files)
    now = timezone.now()
    folder = tenant_dir(f"{FOLDER}/{now:%Y}/{now:%m}")
    written: list[Path] = []
    rows = []
    try:
        for item in files:
            path, size = _write(item, folder)
            written.append(path)
            rows.append(
                TicketAttachment(
                    ticket=ticket,
                    message=message,
                    filename=filename_clean(item.filename),
                    content_type=item.content_type[:100],
                    size=size,
                    path=tenant_file_relative(path),
                    created_at=now,
                )
            )
        TicketAttachment.objects.bulk_create(rows)
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return rows


def attachment_path(attachment: TicketAttachment) -> Path:
    """The file of `attachment` (the resolver refuses any path outside the tenant's root)."""
    return tenant_file_path(attachment.path)


def attachments_files_remove(paths: Iterable[str]) -> None:
    """Remove the files at these relative paths (after their rows were deleted and committed)."""
    for relative in paths:
        tenant_file_path(relative).unlink(missing_ok=True)

"""Rejected import rows as someone who may not see personal data may read them.

The engine's reasons quote the cell they refused ("“1990-02-30” is not a date that exists"),
and it writes them once for whoever reads the job page later. So the page masks them when it
shows them: a reason about a personal column (ImportField.personal) gets its quoted values
masked by the column's kind, every reason loses the row's personal cells wherever it quotes
them, and the cells themselves are not handed on at all."""

import re
from collections.abc import Sequence
from typing import Any

from crm.accounts.masking import mask_address, mask_birthday, mask_email, mask_phone
from crm.transfer.models import ImportJob
from crm.transfer.selectors import RejectedRow

_QUOTED = re.compile(r"“([^”]*)”")
_MASKERS = {
    "phone": mask_phone,
    "email": mask_email,
    "birthday": mask_birthday,
    "address": mask_address,
}


def _shortened(text: str) -> str:
    """A cell as crm.transfer.values quotes it in a message."""
    return text if len(text) <= 40 else text[:39] + "…"


def rejected_rows_masked(
    job: ImportJob, fields: Sequence[Any] | None, rows: list[RejectedRow]
) -> list[RejectedRow]:
    """`fields`: the import kind's ImportFields (None if the kind is gone: then every quoted
    value is masked)."""
    personal = {f.key: f.personal for f in fields or () if f.personal}
    labels = {str(f.label): f.key for f in fields or ()}
    field_labels = {str(f.label) for f in fields or () if f.personal}
    key_of = {**labels, **{header: key for header, key in job.mapping.items() if key}}
    personal_cells = [
        (index, personal[job.mapping[header]])
        for index, header in enumerate(job.headers)
        if job.mapping.get(header) in personal
    ]
    shown: list[RejectedRow] = []
    for row in rows:
        reason = row.reason
        kind = personal.get(key_of.get(row.column, ""), "") if fields is not None else "address"
        if kind:
            masker = _MASKERS[kind]

            def masked(match: re.Match[str], masker: Any = masker) -> str:
                quoted = match.group(1)
                return match.group(0) if quoted in field_labels else f"“{masker(quoted)}”"

            reason = _QUOTED.sub(masked, reason)
        for index, cell_kind in personal_cells:
            cell = row.values[index].strip() if index < len(row.values) else ""
            if len(cell) >= 3:
                mask = _MASKERS[cell_kind](cell)
                reason = reason.replace(cell, mask).replace(_shortened(cell), mask)
        shown.append(RejectedRow(row.row, row.column, reason, []))
    return shown

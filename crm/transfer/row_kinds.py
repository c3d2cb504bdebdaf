"""The short path for an import kind that writes through its app's own services, row by row.

A kind with a COPY fast path of its own implements ImportKind itself, and one with many rows to
write through its app's bulk services subclasses crm.transfer.batch_kinds.BatchImportKind. Most
kinds need less: parse a row, find the record it is about, call the app's service, and let undo
remove what was created and restore what was updated. A RowImportKind says only that; the engine
still reads the file in batches, keeps the rejected rows' report, the tenant context, progress,
the commit's single transaction and the job's lock, and this module adds the rest of a run: keys
seen twice in the file, one savepoint per written row (a service that refuses a row in "valid
rows only" mode leaves nothing behind), and one ImportChange per created or updated record::

    class NotesImport(RowImportKind):
        key = "notes"
        label = _("Notes")
        model = Interaction
        noun = _("notes")
        options = (ImportOption(key="pinned", label=_("Pin the notes")),)

        fields = [ImportField("customer", _("Customer"), required=True), ...]

        def parse(self, job, row): ...        # a value, or raise RowRejected
        def create(self, job, parsed): ...    # call the service, return the record

Undo refuses while a record the job touched is gone (deleted, merged) and, for updated
records, when ``snapshot`` differs from the one written (changed since); it then deletes the
created records (through ``remove``) and gives the updated ones their before-image back (through
``restore``), inside the engine's undo transaction.
"""

from abc import abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils.translation import gettext as _

from crm.transfer import bulk
from crm.transfer.registry import BatchOutcome, ImportKind, ImportRun, Rejection, SourceRow

if TYPE_CHECKING:
    from crm.transfer.models import ImportJob


class RowRejected(Exception):
    """A row the kind refuses: the field key ("" for the row) and the reason a user reads, and
    more (field, reason) pairs when several cells are wrong (each is a line of the report)."""

    def __init__(self, field: str, reason: str, *more: tuple[str, str]) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason
        self.problems = [(field, reason), *more]

    def rejections(self, row: int) -> list[Rejection]:
        return [Rejection(row, field, reason) for field, reason in self.problems]


class RowImportKind(ImportKind):
    """An ImportKind whose rows go one by one through the app's services (see the module)."""

    model: type[models.Model]
    noun: Any  # the records in a sentence, plural ("notes")

    @abstractmethod
    def parse(self, job: "ImportJob", row: SourceRow) -> Any:
        """The row's meaning (anything the other methods take); RowRejected to refuse it."""

    def row_key(self, job: "ImportJob", parsed: Any) -> str | None:
        """What must not repeat inside the file (None: rows may repeat)."""
        return None

    def existing(self, job: "ImportJob", parsed: Any) -> models.Model | None:
        """The record the row updates, or None when it creates one."""
        return None

    @abstractmethod
    def create(self, job: "ImportJob", parsed: Any) -> models.Model:
        """Create the row's record through the app's service (ValidationError refuses it)."""

    def update(self, job: "ImportJob", parsed: Any, record: models.Model) -> bool:
        """Update `record` through the app's service; whether anything changed."""
        raise NotImplementedError(f"{self.key} imports do not update records")

    def snapshot(self, record: models.Model) -> dict[str, Any]:
        """What undo restores and checks for changes since: the record's own columns."""
        return {
            f.attname: None if f.value_from_object(record) is None else f.value_to_string(record)
            for f in record._meta.concrete_fields
            if not f.primary_key
        }

    def restore(self, record: models.Model, before: dict[str, Any]) -> None:
        for f in record._meta.concrete_fields:
            if f.attname in before:
                value = before[f.attname]
                setattr(record, f.attname, None if value is None else f.to_python(value))
        record.save()

    def remove(self, record: models.Model) -> None:
        record.delete()

    # --- the ImportKind protocol, done once for every row kind ---------------------------------

    def start(self, job: "ImportJob", *, write: bool) -> ImportRun:
        return RowRun(self, job, write=write)

    def _changes(self, job: "ImportJob") -> Any:
        return job.changes.filter(model=bulk.label_of(self.model)).order_by("-id")

    def undo_blocker(self, job: "ImportJob") -> str | None:
        missing = bulk.missing_blocker(job, self.model, str(self.noun))
        if missing:
            return missing
        records = self.model._default_manager.in_bulk(
            list(self._changes(job).values_list("object_id", flat=True))
        )
        for change in self._changes(job):
            after = (change.before or {}).get("after")
            if after is not None and self.snapshot(records[change.object_id]) != after:
                return _(
                    "Records this import created or updated were changed after it; undo would "
                    "lose those changes."
                )
        return None

    def undo_lock(self, job: "ImportJob") -> None:
        ids = self._changes(job).values_list("object_id", flat=True)
        list(self.model._default_manager.select_for_update().filter(pk__in=ids).order_by("pk"))

    def undo(self, job: "ImportJob") -> None:
        from crm.transfer.models import ImportChange

        records = self.model._default_manager.in_bulk(
            list(self._changes(job).values_list("object_id", flat=True))
        )
        for change in self._changes(job):
            record = records[change.object_id]
            if change.action == ImportChange.Action.CREATED:
                self.remove(record)
            else:
                self.restore(record, (change.before or {}).get("row", {}))


class RowRun(ImportRun):
    """A run of a RowImportKind: checks every row; with `write`, writes each accepted row in a
    savepoint and records it for undo."""

    def __init__(self, kind: RowImportKind, job: "ImportJob", *, write: bool) -> None:
        self.kind = kind
        self.job = job
        self.write = write
        self.seen: dict[str, int] = {}

    def batch(self, rows: Sequence[SourceRow]) -> BatchOutcome:
        outcome = BatchOutcome()
        for row in rows:
            try:
                action = self._row(row)
            except RowRejected as exc:
                outcome.rejected.extend(exc.rejections(row.number))
            except ValidationError as exc:
                outcome.rejected.append(Rejection(row.number, "", " ".join(exc.messages)))
            else:
                if action == "created":
                    outcome.created += 1
                elif action == "updated":
                    outcome.updated += 1
                else:
                    outcome.unchanged += 1
        return outcome

    def _row(self, row: SourceRow) -> str:
        kind, job = self.kind, self.job
        parsed = kind.parse(job, row)
        key = kind.row_key(job, parsed)
        if key is not None:
            first = self.seen.get(key)
            if first is not None:
                raise RowRejected(
                    "",
                    _("Row %(row)d repeats row %(first)d.") % {"row": row.number, "first": first},
                )
            self.seen[key] = row.number
        record = kind.existing(job, parsed)
        if not self.write:
            return "created" if record is None else "updated"
        with transaction.atomic():
            if record is None:
                record = kind.create(job, parsed)
                self._record(record, "created", None)
                return "created"
            before = kind.snapshot(record)
            if not kind.update(job, parsed, record):
                return "unchanged"
            self._record(record, "updated", before)
            return "updated"

    def _record(self, record: models.Model, action: str, before: dict[str, Any] | None) -> None:
        from crm.transfer.models import ImportChange

        after = self.kind.snapshot(record)
        change, made = ImportChange.objects.get_or_create(
            job=self.job,
            model=bulk.label_of(self.kind.model),
            object_id=record.pk,
            defaults={"action": action, "before": {"row": before, "after": after}},
        )
        if not made:
            # A later row of the file touched the record again: undo still goes back to the
            # state before the first, and checks against the state after the last.
            change.before = {**(change.before or {}), "after": after}
            change.save(update_fields=["before"])

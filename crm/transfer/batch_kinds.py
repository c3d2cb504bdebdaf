# ruff: noqa: S608  (SQL is built from model metadata and constants; values are parameters)
"""The short path for an import kind that writes a batch at a time through its app's bulk
services.

RowImportKind (crm.transfer.row_kinds) writes row by row, a savepoint per row: simple, and slow
past some thousands of rows. A kind with many rows (a million in a minute) subclasses
BatchImportKind instead and says only what is its own::

    class VisitsImport(BatchImportKind):
        key = "visits"
        label = _("Visits")
        model = Visit
        noun = _("visits")
        fields = [...]

        def parse(self, run, row): ...       # the row's meaning, or raise RowRejected
        def row_key(self, run, parsed): ...  # what must not repeat in the file (or None)
        def prepare(self, run, parsed): ...  # the batch's lookups, one query each, run.reads()
        def decide(self, run, batch, parsed): ...  # Create(item), Update(pk, item), None
                                                    # (unchanged), or raise RowRejected
        def write(self, run, batch, creates, updates): ...  # the app's bulk service: ids created

What this module does for it, once for every such kind:

- The second read connection. While committing, the writes of a batch run in the background
  on the import's own connection and transaction (bulk.BackgroundWriter) while the next batch
  is read, parsed and decided; lookups of what existed before the import go to a second
  connection of the same tenant (``run.reads()``) so they need not wait for those writes (the
  rows of a file are compared with each other in memory, by the kind). ``run.own()`` is the
  import's connection once the writes sent so far are done (for a lookup that must see them,
  or a row lock); ``run.queue(operation)`` sends a write (a COPY) with the batch's background
  writes; ``run.reserve_ids(n)`` takes ids for new records from the reader, so they can be
  referred to without reading them back.
- Keys that repeat inside the file: a row whose ``row_key`` an earlier accepted row had is
  rejected (``repeated`` says how), before ``decide`` sees it.
- Rejected rows (RowRejected, from ``parse``, ``repeated`` or ``decide``) go to the report.
- The records kept for undo, in bulk: the before-images of the records a batch updates are
  taken in SQL right before ``write``; each created or updated record's ImportChange keeps a
  fingerprint of its row as the import left it (``before["after"]``, ``fingerprint_sql``),
  so undo can tell a record that was changed since.
- Telling the app: ``written(job, actor, ids)`` once a batch's writes are done (at the latest
  before the next batch's start, or at the end of the run), inside the import's transaction (a
  set, once per batch; never in a dry run nor for a run that fails); ``removing`` before undo
  deletes created records and ``restored`` after it gave the updated ones their rows back.
  ``actor`` is the user committing or undoing (None for the system or the command line).
  ``writing(job, actor)`` is a context around all of a commit's batches (and undo's chunks),
  entered with the first and ended after the last was told, in the same transaction: the app
  may keep work for once a run there (customers' orders: customers.order_hooks
  ``orders_in_batches``); it ends with an error (its work dropped) when the run fails.
- Undo: refused while a record is gone (deleted, merged) or changed since (``changed_message``),
  or when records the import created have records of their own; it then deletes the created
  records and restores the updated ones from their before-images. A kind that writes more than
  its model (records of another model its rows create) extends undo_blocker, undo_lock and undo.
"""

from abc import abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import connection, models
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.lib.audit_actor import acting_user
from crm.transfer import bulk
from crm.transfer.registry import BATCH_ROWS, BatchOutcome, ImportKind, ImportRun, SourceRow
from crm.transfer.row_kinds import RowRejected

if TYPE_CHECKING:
    from crm.transfer.models import ImportJob


@dataclass(slots=True)
class Create:
    """A row that creates a record: `item` is what the kind's write takes."""

    item: Any


@dataclass(slots=True)
class Update:
    """A row that changes the record `pk`."""

    pk: int
    item: Any


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), BATCH_ROWS):
        yield ids[start : start + BATCH_ROWS]


class BatchImportKind(ImportKind):
    """An ImportKind that writes a batch at a time through its app's services (see the
    module)."""

    model: type[models.Model]
    noun: Any  # the records in a sentence, plural ("visits")
    # True when ``write`` sends its writes through ``run.queue`` and any foreground one through
    # ``run.own()``: it then starts while the previous batch's writes finish (formatting a COPY
    # overlaps them). False: the scaffolding waits for those writes before calling it.
    overlapped_write = False
    changed_message: Any = gettext_lazy(
        "Records this import created or updated were changed after it; undo would lose those "
        "changes."
    )

    # --- a run: what the kind says ------------------------------------------------------------

    def begin(self, run: "BatchRun") -> Any:
        """What the kind keeps across the batches of one run (``run.state``)."""
        return None

    @abstractmethod
    def parse(self, run: "BatchRun", row: SourceRow) -> Any:
        """The row's meaning; RowRejected to refuse it."""

    def row_key(self, run: "BatchRun", parsed: Any) -> str | None:
        """What must not repeat inside the file (None: rows may repeat)."""
        return None

    def repeated(self, run: "BatchRun", row: int, first: int) -> RowRejected:
        """The rejection of row `row`, whose key the accepted row `first` had."""
        return RowRejected(
            "", _("Row %(row)d repeats row %(first)d.") % {"row": row, "first": first}
        )

    def prepare(self, run: "BatchRun", parsed: list[Any]) -> Any:
        """The batch's lookups (the records its rows name), for ``decide`` and ``write``."""
        return None

    @abstractmethod
    def decide(self, run: "BatchRun", batch: Any, parsed: Any) -> Create | Update | None:
        """What the row does: Create, Update, or None when it changes nothing; RowRejected to
        refuse it. Rows are decided in file order."""

    @abstractmethod
    def write(
        self, run: "BatchRun", batch: Any, creates: list[Any], updates: list[Update]
    ) -> Sequence[int]:
        """Write the batch through the app's bulk service (inside the import's transaction; a
        COPY may go through ``run.queue``, see ``overlapped_write``): the ids of the created
        records, in the order of `creates`. Only called while committing."""

    def batch_done(self, run: "BatchRun", batch: Any) -> None:
        """After each batch, written or not (a dry run)."""

    def written(self, job: "ImportJob", actor: Any, ids: list[int]) -> None:
        """The records a batch created or updated are written (in the import's transaction)."""

    def removing(self, job: "ImportJob", actor: Any, ids: list[int]) -> None:
        """Undo is about to delete these records it created (in undo's transaction)."""

    def restored(self, job: "ImportJob", actor: Any, ids: list[int]) -> None:
        """Undo gave these records their rows from before the import back."""

    def writing(self, job: "ImportJob", actor: Any) -> AbstractContextManager[None]:
        """Around every batch of a commit, or every chunk undo tells (see the module)."""
        return nullcontext()

    def fingerprint_sql(self, alias: str) -> str:
        """SQL over a row of the model's table (aliased `alias`) that changes when the row does."""
        return f"md5(to_jsonb({alias})::text)"

    # --- the ImportKind protocol, done once for every batch kind ------------------------------

    def start(self, job: "ImportJob", *, write: bool) -> "BatchRun":
        return BatchRun(self, job, write=write)

    def _table(self) -> str:
        return bulk.qualified(self.model._meta.db_table)

    def undo_blocker(self, job: "ImportJob") -> str | None:
        return self.gone_blocker(job) or self.changed_blocker(job) or self.dependents_blocker(job)

    def gone_blocker(self, job: "ImportJob") -> str | None:
        return bulk.missing_blocker(job, self.model, str(self.noun))

    def changed_blocker(self, job: "ImportJob") -> str | None:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT EXISTS (SELECT 1 FROM {bulk.qualified('transfer_importchange')} ch"
                f" JOIN {self._table()} t ON t.id = ch.object_id"
                " WHERE ch.job_id = %s AND ch.model = %s"
                f" AND {self.fingerprint_sql('t')} IS DISTINCT FROM ch.before->>'after')",
                [job.pk, bulk.label_of(self.model)],
            )
            changed = cursor.fetchone()[0]
        return str(self.changed_message) if changed else None

    def dependents_blocker(self, job: "ImportJob") -> str | None:
        return bulk.created_dependents_blocker(job, self.model)

    def undo_lock(self, job: "ImportJob") -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id FROM {self._table()} WHERE id IN"
                f" (SELECT object_id FROM {bulk.qualified('transfer_importchange')}"
                "  WHERE job_id = %s AND model = %s) ORDER BY id FOR UPDATE",
                [job.pk, bulk.label_of(self.model)],
            )

    def undo(self, job: "ImportJob") -> None:
        """Delete the records `job` created, give the ones it updated their rows back."""
        actor = acting_user()
        label = bulk.label_of(self.model)
        table = self._table()
        columns = [f.column for f in self.model._meta.concrete_fields if not f.primary_key]
        assignments = ", ".join(f'"{c}" = r."{c}"' for c in columns)
        with connection.cursor() as cursor:
            cursor.execute(
                f"{bulk.changed_ids_sql(bulk.CREATED)} ORDER BY object_id", [job.pk, label]
            )
            created = [row[0] for row in cursor.fetchall()]
        with self.writing(job, actor):
            for chunk in _chunks(created):
                self.removing(job, actor, chunk)
                with connection.cursor() as cursor:
                    cursor.execute(f"DELETE FROM {table} WHERE id = ANY(%s)", [chunk])
            with connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {table} o SET {assignments} FROM"
                    f" {bulk.qualified('transfer_importchange')} ch,"
                    f" jsonb_populate_record(NULL::{table}, ch.before->'row') r"
                    " WHERE ch.job_id = %s AND ch.model = %s AND ch.action = %s"
                    " AND o.id = ch.object_id RETURNING o.id",
                    [job.pk, label, bulk.UPDATED],
                )
                restored = sorted(row[0] for row in cursor.fetchall())
            for chunk in _chunks(restored):
                self.restored(job, actor, chunk)


class BatchRun(ImportRun):
    """A run of a BatchImportKind over one file (see the module)."""

    def __init__(self, kind: BatchImportKind, job: "ImportJob", *, write: bool) -> None:
        self.kind = kind
        self.job = job
        self.write = write
        self.actor = acting_user()
        self.label = bulk.label_of(kind.model)
        # Keys of earlier accepted rows -> their row number (repeats inside the file).
        self.seen: dict[str, int] = {}
        self.writer = bulk.BackgroundWriter() if write else None
        self._queued: list[tuple[Any, ...]] = []
        # Ids the last batch wrote, told to the kind once its writes are done.
        self._untold: list[int] = []
        self.state = kind.begin(self)
        # The kind's context around every batch written (kind.writing): open until finish.
        self._writing: ExitStack | None = None
        if write:
            self._writing = ExitStack()
            self._writing.enter_context(kind.writing(job, self.actor))

    # --- for the kind -----------------------------------------------------------------------

    def reads(self) -> Any:
        """The connection for lookups of what existed before the import: while committing, a
        second connection, so they need not wait for the previous batch's writes."""
        return self.writer.reader if self.writer is not None else connection

    def own(self) -> Any:
        """The import's own connection, once the background writes sent so far are done (and
        the kind told what they wrote)."""
        if self.writer is not None:
            self.writer.wait()
            self._tell()
        return connection

    def queue(self, operation: tuple[Any, ...]) -> None:
        """A write (a bulk.BackgroundWriter operation) sent with the batch's background writes."""
        if self.writer is None:
            raise RuntimeError("a dry run does not write")
        self._queued.append(operation)

    def reserve_ids(self, count: int) -> list[int]:
        """`count` ids of new records of the kind's model (from the reader: sequences are not
        transactional)."""
        return bulk.reserve_ids(self.kind.model._meta.db_table, count, using=self.reads())

    # --- the ImportRun protocol -------------------------------------------------------------

    def batch(self, rows: Sequence[SourceRow]) -> BatchOutcome:
        kind = self.kind
        outcome = BatchOutcome()
        accepted: list[tuple[int, Any]] = []
        for row in rows:
            try:
                accepted.append((row.number, kind.parse(self, row)))
            except RowRejected as exc:
                outcome.rejected.extend(exc.rejections(row.number))
        batch = kind.prepare(self, [parsed for _number, parsed in accepted])
        creates: list[Any] = []
        updates: list[Update] = []
        seen = self.seen
        for number, parsed in accepted:
            key = kind.row_key(self, parsed)
            try:
                first = seen.get(key) if key is not None else None
                if first is not None:
                    raise kind.repeated(self, number, first)
                decision = kind.decide(self, batch, parsed)
            except RowRejected as exc:
                outcome.rejected.extend(exc.rejections(number))
                continue
            if decision is None:
                outcome.unchanged += 1
            elif isinstance(decision, Create):
                creates.append(decision.item)
                outcome.created += 1
            else:
                updates.append(decision)
                outcome.updated += 1
            if key is not None:
                seen[key] = number
        if self.write:
            self._write(batch, creates, updates)
        kind.batch_done(self, batch)
        return outcome

    def _write(self, batch: Any, creates: list[Any], updates: list[Update]) -> None:
        job, kind, label = self.job, self.kind, self.label
        if not kind.overlapped_write:
            self.own()
        table = bulk.qualified(kind.model._meta.db_table)
        changes = bulk.qualified("transfer_importchange")
        updated = [u.pk for u in updates]
        if updated:
            # The before-images, right before the write (a record the file updates again keeps
            # its first one: undo goes back to before the import).
            with self.own().cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO {changes} (job_id, model, object_id, action, before)"
                    " SELECT %s, %s, t.id, %s, jsonb_build_object('row', to_jsonb(t))"
                    f" FROM {table} t WHERE t.id = ANY(%s)"
                    " ON CONFLICT (job_id, model, object_id) DO NOTHING",
                    [job.pk, label, bulk.UPDATED, updated],
                )
        created = list(kind.write(self, batch, creates, updates))
        if len(created) != len(creates):
            raise RuntimeError(f"{kind.key}: write returned {len(created)} ids for {len(creates)}")
        operations, self._queued = self._queued, []
        if created:
            operations.append(
                (
                    "execute",
                    f"INSERT INTO {changes} (job_id, model, object_id, action, before)"
                    " SELECT %s, %s, t.id, %s,"
                    f" jsonb_build_object('after', {kind.fingerprint_sql('t')})"
                    f" FROM {table} t WHERE t.id = ANY(%s)",
                    [job.pk, label, bulk.CREATED, created],
                )
            )
        if updated:
            operations.append(
                (
                    "execute",
                    f"UPDATE {changes} ch SET before = ch.before"
                    f" || jsonb_build_object('after', {kind.fingerprint_sql('t')})"
                    f" FROM {table} t WHERE ch.job_id = %s AND ch.model = %s"
                    " AND ch.object_id = t.id AND t.id = ANY(%s)",
                    [job.pk, label, updated],
                )
            )
        if self.writer is None:
            raise RuntimeError("a dry run does not write")
        self.own()  # the previous batch's writes done and told, before this batch's start
        self.writer.submit(operations)
        self._untold = created + updated

    def _tell(self) -> None:
        """Once the last batch's writes are done: tell the kind what they wrote."""
        ids, self._untold = self._untold, []
        if ids:
            self.kind.written(self.job, self.actor, ids)

    def finish(self) -> None:
        self.own()
        writing, self._writing = self._writing, None
        if writing is not None:
            writing.close()

    def close(self) -> None:
        writing, self._writing = self._writing, None
        if writing is not None:
            # The run failed before finish: the kind's context ends with the error, its kept
            # work dropped (the transaction rolls back).
            failed = RuntimeError(f"{self.kind.key}: the run failed")
            writing.__exit__(RuntimeError, failed, None)
        if self.writer is not None:
            self.writer.close()

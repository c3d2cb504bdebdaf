# ruff: noqa: S608  (SQL is built from model metadata and constants; values are parameters)
"""Bulk writes for imports, and the checks undo shares between kinds.

Imports write with COPY (psycopg 3 ``cursor.copy``) and set-based statements, one per batch, never
a save() per row: 100,000 rows must go in within seconds. Every helper runs on Django's
connection, inside the caller's transaction and the tenant's search_path.

The audit triggers on the written tables are quieted for the length of the import's transaction
(``audit_quiet``): they would add one audit row per written row (and double the time of a large
import). The story stays complete without them: the job holds who, when, the file and the
counts, each created or updated record has an ImportChange row (the before-image of updated
ones, taken in SQL right before the update), and the engine writes one audit entry per upload,
commit and undo.
"""

import datetime
import json
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db import connection, connections, models
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from psycopg.types.json import Jsonb

from crm.lib.tenancy import current_schema

if TYPE_CHECKING:
    from crm.transfer.models import ImportJob

CREATED = "created"
UPDATED = "updated"


def qualified(table: str) -> str:
    """A table name with the tenant's schema, quoted (COPY does not need the search_path)."""
    return f'"{current_schema()}"."{table}"'


def label_of(model: type[models.Model]) -> str:
    return f"{model._meta.app_label}.{model._meta.model_name}"


COPY_ESCAPES = _ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _array(items: Sequence[Any]) -> str:
    elements = ('"' + str(item).replace("\\", "\\\\").replace('"', '\\"') + '"' for item in items)
    return "{" + ",".join(elements) + "}"


def copy_field(value: Any) -> str:
    """One value in COPY's text format (what psycopg's write_row does, at a third of the cost
    for the few types imports write)."""
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, str):
        return value.translate(_ESCAPES)
    if isinstance(value, int | float | Decimal):
        return str(value)
    if isinstance(value, datetime.date):  # dates and datetimes (aware ones carry their offset)
        return value.isoformat()
    if isinstance(value, list | tuple):
        return _array(value).translate(_ESCAPES)
    if isinstance(value, Jsonb):
        value = value.obj
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, default=str).translate(_ESCAPES)
    raise TypeError(f"cannot COPY a {type(value).__name__}")


def _copy_into(
    cursor: Any, target: str, columns: Sequence[str], rows: Iterable[Sequence[Any]], chunk: int
) -> int:
    count = 0
    names = ", ".join(f'"{c}"' for c in columns)
    lines: list[str] = []
    with cursor.copy(f"COPY {target} ({names}) FROM STDIN") as copy:
        for row in rows:
            lines.append("\t".join([copy_field(v) for v in row]))
            count += 1
            if len(lines) >= chunk:
                lines.append("")
                copy.write("\n".join(lines))
                lines.clear()
        if lines:
            lines.append("")
            copy.write("\n".join(lines))
    return count


class BackgroundWriter:
    """Runs a batch's writes in a thread, on the same connection and in the same transaction,
    while the caller reads and checks the next batch: the database's work on one batch
    overlaps Python's on the next. psycopg serialises the use of a connection, and ``wait``
    (called before the next batch's lookups, and by ``close`` at the end of the run) makes the
    order explicit. Operations are prepared in the caller's thread, table names qualified with
    its schema: ("copy", target, columns, rows) or ("execute", sql, params).

    Why a thread on Django's connection is kept, with its risk fenced: the writes must share the
    import's transaction (all or nothing, one undo), so a second connection cannot do them; and
    the 100,000-customer commit is at its goal's edge (docs/benchmarks.md, import and export),
    so the overlap earns its place: bench/import_writer_overlap.py, 30,000 customers, the same
    writer made to wait at once took 1.22x and 1.05x the overlapping commit's median time (two
    runs of four rounds each, Dec 6, on a machine shared with other work, so noisy). The
    risk is the tenant: the thread uses the raw connection under Django's back, so nothing
    may depend on its search_path. Hence the writer is pinned to the schema it was made in:
    COPY targets must be qualified with that schema (or be this session's temporary tables),
    and a submit from another schema is refused (tests/transfer/test_background_writer.py)."""

    def __init__(self) -> None:
        from concurrent.futures import Future, ThreadPoolExecutor

        connection.ensure_connection()
        self.raw = connection.connection
        self.schema = current_schema()
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-writer")
        self.pending: Future[None] | None = None
        self._reader: Any = None
        # Inside someone else's transaction (a test's, a caller's), records written before the
        # import are not committed: another connection would not see them.
        self.separate_reads = len(connection.atomic_blocks) <= 1

    @property
    def reader(self) -> Any:
        """A second connection (same tenant) for reads that need not see this transaction's
        own writes (keys of existing records: a file's rows among themselves are compared in
        memory) and for sequence values: they go on while the writes run. The run's own
        connection when the import's transaction is nested in another."""
        if not self.separate_reads:
            self.wait()
            return connection
        if self._reader is None:
            self._reader = connections.create_connection("default")
            self._reader.set_schema(current_schema())
        return self._reader

    def _execute(self, operations: list[tuple[Any, ...]]) -> None:
        with self.raw.cursor() as cursor:
            for operation in operations:
                if operation[0] == "copy":
                    _kind, target, columns, data = operation
                    names = ", ".join(f'"{c}"' for c in columns)
                    with cursor.copy(f"COPY {target} ({names}) FROM STDIN") as copy:
                        copy.write(data)
                else:
                    _kind, sql, params = operation
                    cursor.execute(sql, params)

    def submit(self, operations: list[tuple[Any, ...]]) -> None:
        """Formats the COPY data here (the thread then only waits on the database, without
        the interpreter lock) and starts the writes once the previous ones are done."""
        if current_schema() != self.schema:
            raise RuntimeError(
                f"a writer made in schema {self.schema} was given writes from {current_schema()}"
            )
        prepared: list[tuple[Any, ...]] = []
        for operation in operations:
            if operation[0] == "copy":
                _kind, target, columns, rows = operation
                if not self._pinned(target):
                    raise RuntimeError(f"COPY target {target} is not in schema {self.schema}")
                if isinstance(rows, str):  # already COPY text (a kind's own fast formatter)
                    if rows:
                        prepared.append(operation)
                    continue
                lines = ["\t".join([copy_field(v) for v in row]) for row in rows]
                if lines:
                    lines.append("")
                    prepared.append(("copy", target, columns, "\n".join(lines)))
            else:
                prepared.append(operation)
        self.wait()
        if prepared:
            self.pending = self.pool.submit(self._execute, prepared)

    def _pinned(self, target: str) -> bool:
        # "schema"."table", or a quoted bare name: a temporary table of this session.
        return target.startswith(f'"{self.schema}".') or (
            target.startswith('"') and target.count('"') == 2
        )

    def wait(self) -> None:
        """Until the writes sent so far are done; their error, if any, is raised here."""
        pending, self.pending = self.pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        try:
            self.wait()
        finally:
            self.pool.shutdown(wait=True)
            if self._reader is not None:
                self._reader.close()
                self._reader = None


def copy_rows(
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    chunk: int = 2000,
    qualify: bool = True,
) -> int:
    """COPY rows into `table` (lists become arrays, dicts or Jsonb become JSON; a temporary
    table with qualify=False). The number of rows. Rows are formatted here and sent a chunk at
    a time."""
    with connection.cursor() as cursor:
        target = qualified(table) if qualify else f'"{table}"'
        return _copy_into(cursor.cursor, target, columns, rows, chunk)


def reserve_ids(table: str, count: int, *, using: Any = None) -> list[int]:
    """`count` ids from the table's sequence, so rows written by COPY can be referred to by the
    rows written next (phones of new customers) without reading them back. Sequences are not
    transactional: `using` may be another connection (a BackgroundWriter's reader)."""
    if count <= 0:
        return []
    with (using or connection).cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [qualified(table), count],
        )
        return [row[0] for row in cursor.fetchall()]


def changes_copy(
    job: "ImportJob", model: type[models.Model], action: str, ids: Iterable[int]
) -> int:
    """ImportChange rows without a before-image (created records)."""
    from crm.transfer.models import ImportChange

    label = label_of(model)
    return copy_rows(
        ImportChange._meta.db_table,
        ("job_id", "model", "object_id", "action"),
        ((job.pk, label, pk, action) for pk in ids),
    )


def changes_record_updates(
    job: "ImportJob", model: type[models.Model], ids: Sequence[int], before_sql: str = ""
) -> int:
    """ImportChange rows for records about to be updated, with their before-image taken in SQL:
    {"row": the whole row as JSON, **extra} where `before_sql` adds extra keys as
    ``, 'key', (expression over the row aliased t)``. Call before the update."""

    if not ids:
        return 0
    _kind, sql, params = changes_update_operation(job, model, ids, before_sql)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def changes_update_operation(
    job: "ImportJob", model: type[models.Model], ids: Sequence[int], before_sql: str = ""
) -> tuple[str, str, list[Any]]:
    """changes_record_updates as an operation for a BackgroundWriter."""
    from crm.transfer.models import ImportChange

    sql = (
        f"INSERT INTO {qualified(ImportChange._meta.db_table)}"
        " (job_id, model, object_id, action, before)"
        f" SELECT %s, %s, t.id, %s, jsonb_build_object('row', to_jsonb(t){before_sql})"
        f" FROM {qualified(model._meta.db_table)} t WHERE t.id = ANY(%s)"
    )
    return ("execute", sql, [job.pk, label_of(model), UPDATED, list(ids)])


def changes_copy_operation(
    job: "ImportJob", model: type[models.Model], action: str, ids: Sequence[int]
) -> tuple[str, str, Sequence[str], str]:
    """changes_copy as an operation for a BackgroundWriter."""
    from crm.transfer.models import ImportChange

    # COPY text written out here: the job, model and action are the same on every line, so
    # they are formatted once, not once a row (copy_field per value cost ~0.25 s a 100,000).
    head = f"{copy_field(job.pk)}\t{copy_field(label_of(model))}\t"
    tail = f"\t{copy_field(action)}\n"
    return (
        "copy",
        qualified(ImportChange._meta.db_table),
        ("job_id", "model", "object_id", "action"),
        "".join([f"{head}{int(pk)}{tail}" for pk in ids]),
    )


def changed_ids_sql(action: str) -> str:
    """A subquery of the object ids of one job's changes of one model (parameters: job id,
    model label)."""
    from crm.transfer.models import ImportChange

    return (
        f"SELECT object_id FROM {qualified(ImportChange._meta.db_table)}"
        f" WHERE job_id = %s AND model = %s AND action = '{action}'"
    )


def audit_quiet(on: bool = True) -> None:
    """Inside the import's transaction: the row triggers skip their entries until it ends (or
    until ``audit_quiet(False)``, for a caller whose own transaction goes on afterwards)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('crm.audit_bulk', %s, true)", ["on" if on else ""])


# --- undo checks ------------------------------------------------------------------------------


def _count(sql: str, params: list[Any]) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.fetchone()[0])


def missing_blocker(job: "ImportJob", model: type[models.Model], noun: str) -> str | None:
    """Records the job created or updated that no longer exist (deleted, or merged away)."""
    from crm.transfer.models import ImportChange

    label = label_of(model)
    table = qualified(model._meta.db_table)
    gone = _count(
        f"SELECT count(*) FROM {qualified(ImportChange._meta.db_table)} ch"
        f" WHERE ch.job_id = %s AND ch.model = %s"
        f" AND NOT EXISTS (SELECT 1 FROM {table} t WHERE t.id = ch.object_id)",
        [job.pk, label],
    )
    if gone:
        return ngettext(
            "%(n)d %(noun)s this import created or updated was deleted or merged since; "
            "undo cannot bring the import's state back.",
            "%(n)d %(noun)s this import created or updated were deleted or merged since; "
            "undo cannot bring the import's state back.",
            gone,
        ) % {"n": gone, "noun": noun}
    return None


def changed_since_blocker(
    job: "ImportJob",
    model: type[models.Model],
    *,
    children: Sequence[tuple[str, str]] = (),
    updated_field: str | None = "updated_at",
) -> str | None:
    """Records of the job changed after it finished: their `updated_at` is later, or the audit
    log holds a change of the row (or of a child row: (table, foreign key column) pairs such as
    the customer's phones) since then. Undo would lose those changes."""
    from crm.accounts.models import AuditEntry
    from crm.transfer.models import ImportChange

    since = job.finished_at or job.started_at or job.created_at
    # Audit entries after the job's own "import" entry (ids grow; the entries' times are their
    # transactions' start times, which may be earlier than the job's end).
    mark = (
        AuditEntry.objects.filter(
            action="import", table_name="transfer_importjob", record_id=str(job.pk)
        )
        .order_by("-id")
        .values_list("id", flat=True)
        .first()
    )
    after, after_value = ("a.id > %s", mark) if mark else ("a.at > %s", since)
    label = label_of(model)
    table = model._meta.db_table
    changes = qualified(ImportChange._meta.db_table)
    audit = qualified(AuditEntry._meta.db_table)
    changed = 0
    if updated_field:
        changed = _count(
            f"SELECT count(*) FROM {qualified(table)} t JOIN {changes} ch ON ch.object_id = t.id"
            f" WHERE ch.job_id = %s AND ch.model = %s AND t.{updated_field} > %s",
            [job.pk, label, since],
        )
    if not changed:
        changed = _count(
            f"SELECT count(*) FROM {audit} a WHERE a.table_name = %s AND {after}"
            f" AND a.record_id IN (SELECT object_id::text FROM {changes}"
            f" WHERE job_id = %s AND model = %s)",
            [table, after_value, job.pk, label],
        )
    for child_table, column in children:
        if changed:
            break
        changed = _count(
            f"SELECT count(*) FROM {audit} a WHERE a.table_name = %s AND {after}"
            f" AND coalesce(a.after->>%s, a.before->>%s) IN (SELECT object_id::text FROM {changes}"
            f" WHERE job_id = %s AND model = %s)",
            [child_table, after_value, column, column, job.pk, label],
        )
    if changed:
        return _(
            "Records this import created or updated were changed after it (by staff or another "
            "import); undo would lose those changes."
        )
    return None


def created_dependents_blocker(
    job: "ImportJob", model: type[models.Model], *, ignore: Iterable[type[models.Model]] = ()
) -> str | None:
    """Records that point at what the job created and that the job did not create itself
    (orders imported later, tickets, notes): undo would have to delete them too. Relations to
    `ignore` are removed with the records (their own contacts, derived rows)."""
    from crm.transfer.models import ImportChange

    skip = set(ignore)
    created = changed_ids_sql(CREATED)
    changes = qualified(ImportChange._meta.db_table)
    found: list[str] = []
    for relation in model._meta.related_objects:
        related = relation.related_model
        if related in skip or not (relation.one_to_many or relation.one_to_one):
            continue
        column = relation.field.column
        rel_table = qualified(related._meta.db_table)
        rel_label = label_of(related)
        count = _count(
            f"SELECT count(*) FROM (SELECT 1 FROM {rel_table} r WHERE r.{column} IN ({created})"
            f" AND NOT EXISTS (SELECT 1 FROM {changes} own WHERE own.job_id = %s"
            f" AND own.model = %s AND own.object_id = r.id) LIMIT 1) x",
            [job.pk, label_of(model), job.pk, rel_label],
        )
        if count:
            found.append(str(related._meta.verbose_name_plural))
    if found:
        return _(
            "Records this import created now have other records of their own (%(what)s); "
            "undo would delete those too."
        ) % {"what": ", ".join(found)}
    return None


def now() -> datetime.datetime:
    return timezone.now()

"""Job liveness: is anybody still running this background job?

A job row that says "running" records that a run was asked for; the process doing the work can
die at any moment (SIGKILL, out of memory, a deploy) and leave the row saying so forever. This
module answers from PostgreSQL itself, without heartbeats to tune:

- The runner (a Celery task, or the request or command that runs a small job inline) holds a
  session-level advisory lock named after the job, on a database connection of its own
  (``RunnerHold``), from before it takes the job until after its final status is committed.
  PostgreSQL releases the lock when that connection ends, and a process's death ends it at
  once: the kernel closes the socket and the server backend, idle between the runner's
  statements, exits. (A host that drops off the network is noticed only when TCP keepalive
  gives up.) A connection of its own, not the runner's: the lock must not depend on whether
  the work is in a transaction, and the runner's own connection may be reused for years.
- A runner takes a job at most once: right after getting the lock it sets the job's
  ``taken_at``, only if it is still empty (a conditional UPDATE, committed at once, or in the
  same transaction as the claim when the claimer runs the job itself). A second taker (a
  redelivered task) finds ``taken_at`` set: the run it would repeat has died, since the lock
  was free, so it settles the job instead of running it again (no redelivery loop).
- A busy job is then:
    alive  while its lock is held (``runner_alive`` looks at pg_locks, which takes nothing, so
           looking never keeps a runner from starting);
    alive  while no runner has taken it and it was queued less than START_WITHIN ago (its task
           may wait behind others in the queue);
    dead   otherwise: taken and the lock is free, or not taken within START_WITHIN (its task was
           lost: the broker was down when it was sent, or a worker died holding it).
- Whoever finds a dead job settles it with one conditional UPDATE matching the row as it was
  read (the same status and the same ``taken_at``). A runner commits its final status before
  it lets the lock go, so a runner that finished between that read and the look at pg_locks
  has already changed the row, and the UPDATE matches nothing. So a job is never settled while
  its runner lives.

To use it for a new kind of job: give the table ``queued_at`` and ``taken_at``; set queued_at
(and taken_at = None) when the job is handed to a worker; in the runner::

    with RunnerHold("app_table", job.pk) as hold:
        if not hold.acquired:
            return  # another runner has it
        taken = Job.objects.filter(pk=job.pk, status=BUSY, taken_at=None).update(taken_at=now())
        if not taken:
            ...settle it (if still busy) and return
        ...work, and commit the final status inside the block...

and wherever such jobs are listed, shown or claimed, and in their daily clean-up: for each busy
one, ``if job_is_dead(...)``, the conditional UPDATE (see crm.transfer.services.imports_settle
and crm.transfer.exporting.exports_settle).
"""

import datetime
import hashlib
from types import TracebackType
from typing import Any

from django.db import connection, connections
from django.utils import timezone

from crm.lib.tenancy import current_schema

# How long a job handed to the workers may wait for one to take it. Longer than any queue we
# expect, short enough that a lost task does not block its records for long.
START_WITHIN = datetime.timedelta(minutes=10)


def lock_key(table: str, pk: int, *, schema: str | None = None) -> int:
    """The advisory lock's 64-bit key for one job: per schema (ids repeat across tenants),
    table and id. A hash of 64 bits, so two jobs meeting on one key is not a concern."""
    name = f"{schema or current_schema()}:{table}:{pk}".encode()
    return int.from_bytes(hashlib.blake2b(name, digest_size=8).digest(), "big", signed=True)


def _pg_locks_ids(key: int) -> tuple[int, int]:
    """pg_locks shows a bigint advisory key as classid (high half) and objid (low half)."""
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    return unsigned >> 32, unsigned & 0xFFFFFFFF


_HELD_SQL = """
    SELECT EXISTS (
        SELECT 1 FROM pg_locks
        WHERE locktype = 'advisory' AND granted AND objsubid = 1
          AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND classid = %s::bigint::oid AND objid = %s::bigint::oid {extra}
    )
"""


def runner_alive(table: str, pk: int) -> bool:
    """Whether some process holds the job's lock now (it only looks; it takes nothing)."""
    high, low = _pg_locks_ids(lock_key(table, pk))
    with connection.cursor() as cursor:
        cursor.execute(_HELD_SQL.format(extra=""), [high, low])
        return bool(cursor.fetchone()[0])


def job_is_dead(
    *,
    table: str,
    pk: int,
    taken_at: datetime.datetime | None,
    queued_at: datetime.datetime | None,
    now: datetime.datetime | None = None,
) -> bool:
    """The rule above, for a job whose row says it is busy."""
    if taken_at is None:
        start_by = (now or timezone.now()) - START_WITHIN
        if queued_at is not None and queued_at > start_by:
            return False  # still waiting for a worker
        # Not taken in time, unless a runner holds the lock and is about to mark the row.
        return not runner_alive(table, pk)
    return not runner_alive(table, pk)


class RunnerHold:
    """The lock a runner holds while it works on a job (see the module's docstring). Use as a
    context manager and look at ``acquired``: False when another process holds it."""

    def __init__(self, table: str, pk: int) -> None:
        self.table = table
        self.pk = pk
        self.key = lock_key(table, pk)
        self.acquired = False
        self._conn: Any = None

    def acquire(self) -> bool:
        if self._conn is not None:
            raise RuntimeError("this hold is taken already")
        self._conn = connections.create_connection("default")
        # django-tenants wants a schema before a cursor; the lock lives outside every schema.
        set_public = getattr(self._conn, "set_schema_to_public", None)
        if set_public is not None:
            set_public()
        try:
            with self._conn.cursor() as cursor:
                cursor.execute("SELECT pg_try_advisory_lock(%s)", [self.key])
                self.acquired = bool(cursor.fetchone()[0])
        except BaseException:
            self.release()
            raise
        if not self.acquired:
            self.release()
        return self.acquired

    def still_held(self) -> bool:
        """Whether this hold's connection still has the lock (a connection cut by the server
        loses it; a runner checks before it commits its work)."""
        if self._conn is None or not self.acquired:
            return False
        high, low = _pg_locks_ids(self.key)
        try:
            with self._conn.cursor() as cursor:
                cursor.execute(_HELD_SQL.format(extra="AND pid = pg_backend_pid()"), [high, low])
                return bool(cursor.fetchone()[0])
        except Exception:
            return False

    def release(self) -> None:
        """Let the lock go (closing the connection does; a dead process's connection too)."""
        self.acquired = False
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def __enter__(self) -> "RunnerHold":
        if self._conn is None:  # not when entered after an explicit acquire()
            self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

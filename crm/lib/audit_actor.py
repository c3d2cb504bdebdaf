"""Who is acting, told to the audit triggers (crm.accounts.audit_sql reads crm.actor_id,
crm.actor_label and crm.actor_ip from the session), and the contract every writing service
keeps: `@writes` takes the acting user as a keyword-only `actor` (None meaning the system) and
attributes every row the service changes to that actor; a Celery task that writes without a user
is named "system: <task name>".

In crm.lib because services of every app use it, crm.tenants' included; crm.accounts.audit
re-exports it beside the rest of the audit log."""

import functools
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, ParamSpec, TypeVar

from django.db import connection

_SETTINGS = ("crm.actor_id", "crm.actor_label", "crm.actor_ip")
_BLANK = ("", "", "")
SYSTEM = "system"

# What this thread of work last told its connection: (the DB-API connection it told, the
# values). Nested services acting for the same user then cost no round trip; a connection that
# was replaced since (closed, reopened) is told again.
_told: ContextVar[tuple[int, tuple[str, str, str]]] = ContextVar(
    "crm_audit_told", default=(0, _BLANK)
)
# The user the innermost audit_actor block acts for (None: the system, or a label).
_acting: ContextVar[Any] = ContextVar("crm_audit_acting", default=None)


def _raw_connection_id() -> int:
    return id(connection.connection) if connection.connection is not None else 0


def _set(values: tuple[str, str, str]) -> None:
    told_on, told = _told.get()
    if told == values and told_on and told_on == _raw_connection_id():
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config(%s, %s, false), set_config(%s, %s, false),"
            " set_config(%s, %s, false)",
            [item for pair in zip(_SETTINGS, values, strict=True) for item in pair],
        )
    _told.set((_raw_connection_id(), values))


def _current_system_label() -> str:
    """The label of the system work in progress ("system: <task name>", "command line"), or
    plain "system" where a user is acting or nothing was said."""
    _on, (actor_id, label, _ip) = _told.get()
    return label if label and not actor_id else SYSTEM


def actor_label(actor: Any) -> str:
    """How the log names `actor`: their email, or the system work acting without a user."""
    return (getattr(actor, "email", "") or str(actor)) if actor else _current_system_label()


def actor_values(actor: Any, ip: str | None) -> tuple[str, str, str]:
    if actor is None:
        return ("", _current_system_label(), "")
    if isinstance(actor, str):
        return ("", actor, ip or "")
    actor_id = getattr(actor, "pk", None)
    label = getattr(actor, "email", None) or str(actor)
    if ip is None:
        # The request's address, told by AuditActorMiddleware, stays with the same user.
        _on, (told_id, _label, told_ip) = _told.get()
        ip = told_ip if told_id and told_id == str(actor_id) else None
    return (str(actor_id) if actor_id else "", label, ip or "")


@contextmanager
def audit_actor(actor: Any, *, ip: str | None = None) -> Iterator[None]:
    """Attribute every row change inside the block to `actor`: a user, a label naming system
    work ("command line", "system: <task>"), or None for the system work already named (plain
    "system" otherwise). Blocks nest: the outer actor is back when the block ends."""
    _on, before = _told.get()
    _set(actor_values(actor, ip))
    acting = _acting.set(actor if getattr(actor, "pk", None) else None)
    try:
        yield
    finally:
        _acting.reset(acting)
        if connection.needs_rollback:
            # The transaction is broken and its rollback undoes what this block told it.
            _told.set((0, before))
        else:
            _set(before)


def acting_user() -> Any:
    """The user the innermost audit_actor block (or `@writes` service) acts for; None for the
    system or a label. For code that runs inside such a block without an `actor` of its own to
    pass on: an import kind's run, inside the engine's commit and undo, telling an app's
    listeners who wrote."""
    return _acting.get()


P = ParamSpec("P")
R = TypeVar("R")

# Every service that writes, by dotted name: the actor walk (tests/accounts/test_actor_contract)
# checks each one's signature and that it names its actor in the log.
WRITING_SERVICES: dict[str, Callable[..., Any]] = {}


def writes(func: Callable[P, R]) -> Callable[P, R]:
    """Mark a service that writes. It must take the acting user as a keyword-only `actor`
    (`User | None`, None meaning the system); every row it changes is attributed to that actor,
    whoever calls it (a view, a task, a command, another service)."""
    parameter = inspect.signature(func).parameters.get("actor")
    if parameter is None or parameter.kind is not inspect.Parameter.KEYWORD_ONLY:
        raise TypeError(f"{func.__qualname__}: a writing service takes a keyword-only actor")

    @functools.wraps(func)
    def service(*args: P.args, **kwargs: P.kwargs) -> R:
        with audit_actor(kwargs["actor"]):
            return func(*args, **kwargs)

    WRITING_SERVICES[f"{func.__module__}.{func.__qualname__}"] = service
    return service


@contextmanager
def system_actor(name: str) -> Iterator[None]:
    """System work without a user (a Celery task, a command): row changes inside, and services
    called with actor=None, are recorded as "system: <name>"."""
    with audit_actor(f"{SYSTEM}: {name}"):
        yield


_TASKS_BEFORE: dict[str, tuple[int, tuple[str, str, str]]] = {}


def task_actor_begin(task_id: str = "", task: Any = None, **_signal: Any) -> None:
    """Celery's task_prerun: a task acts as "system: <task name>" until a service it calls
    names a user (an import committed for someone)."""
    _TASKS_BEFORE[task_id] = _told.get()
    _set(("", f"{SYSTEM}: {task.name}", ""))


def task_actor_end(task_id: str = "", **_signal: Any) -> None:
    """Celery's task_postrun: the worker's connection forgets the task's label."""
    _on, before = _TASKS_BEFORE.pop(task_id, (0, _BLANK))
    if connection.needs_rollback:
        _told.set((0, before))
    else:
        _set(before)

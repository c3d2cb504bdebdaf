"""Apps that react to orders being written register here (loyalty earns and reverses points).

customers cannot import the apps above it, so every path that writes orders (the order
services, the orders import, its undo, the API through the services) tells the listeners
registered from those apps' `AppConfig.ready`. Listeners run inside the writer's transaction,
so what they write commits or rolls back with the orders; they must work on the whole list at
once (an import hands over a batch of thousands), never order by order.

A writer that hands over many lists in one transaction (an import's batches, its undo's chunks)
says so with `orders_in_batches`: listeners registered with `orders_batches_register` are
entered around all the lists and may keep work for once at the end (loyalty changes each
account's balance once an import, not once a batch), still inside that transaction. Their end
runs only when the writer's block finished without an error; otherwise they are left with the
error and the transaction rolls back.
"""

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from typing import TYPE_CHECKING, Protocol

from django.db import connection

if TYPE_CHECKING:
    from crm.accounts.models import User


class OrdersListener(Protocol):
    def __call__(self, *, actor: "User | None", order_ids: Sequence[int]) -> None: ...


class BatchesListener(Protocol):
    """Made once around many lists of orders written in one transaction: its context ends
    after the last list (normally: finish what was kept; on an error: drop it)."""

    def __call__(self, *, actor: "User | None") -> AbstractContextManager[None]: ...


_written: list[OrdersListener] = []
_removing: list[OrdersListener] = []
_batches: list[BatchesListener] = []


def orders_written_register(listener: OrdersListener) -> None:
    """Call `listener` after orders were created or their status or amount changed."""
    if listener not in _written:
        _written.append(listener)


def orders_removing_register(listener: OrdersListener) -> None:
    """Call `listener` just before orders are deleted (an import undone), in that transaction."""
    if listener not in _removing:
        _removing.append(listener)


def orders_batches_register(listener: BatchesListener) -> None:
    """Enter `listener(actor=...)` around the lists of an `orders_in_batches` block."""
    if listener not in _batches:
        _batches.append(listener)


def orders_listener_unregister(listener: OrdersListener | BatchesListener) -> None:
    """Forget `listener` (a test's own, once the test is done)."""
    for listeners in (_written, _removing, _batches):
        if listener in listeners:
            listeners.remove(listener)  # type: ignore[arg-type]


def _tell(listeners: list[OrdersListener], actor: "User | None", order_ids: Sequence[int]) -> None:
    if not order_ids:
        return
    for listener in listeners:
        listener(actor=actor, order_ids=order_ids)


def orders_written(*, actor: "User | None", order_ids: Sequence[int]) -> None:
    _tell(_written, actor, order_ids)


def orders_removing(*, actor: "User | None", order_ids: Sequence[int]) -> None:
    _tell(_removing, actor, order_ids)


@contextmanager
def orders_in_batches(*, actor: "User | None") -> Iterator[None]:
    """Around a writer's many `orders_written` / `orders_removing` calls in one transaction.
    The batches listeners' ends run as the block ends without an error, in the transaction."""
    if not connection.in_atomic_block:
        raise RuntimeError("orders_in_batches needs the writer's transaction around it")
    with ExitStack() as stack:
        for listener in list(_batches):
            stack.enter_context(listener(actor=actor))
        yield

"""Apps that react to orders being written register here (loyalty earns and reverses points).

customers cannot import the apps above it, so every path that writes orders (the order
services, the orders import, its undo, the API through the services) tells the listeners
registered from those apps' `AppConfig.ready`. Listeners run inside the writer's transaction,
so what they write commits or rolls back with the orders; they must work on the whole list at
once (an import hands over a batch of thousands), never order by order.
"""

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from crm.accounts.models import User


class OrdersListener(Protocol):
    def __call__(self, *, actor: "User | None", order_ids: Sequence[int]) -> None: ...


_written: list[OrdersListener] = []
_removing: list[OrdersListener] = []


def orders_written_register(listener: OrdersListener) -> None:
    """Call `listener` after orders were created or their status or amount changed."""
    if listener not in _written:
        _written.append(listener)


def orders_removing_register(listener: OrdersListener) -> None:
    """Call `listener` just before orders are deleted (an import undone), in that transaction."""
    if listener not in _removing:
        _removing.append(listener)


def orders_listener_unregister(listener: OrdersListener) -> None:
    """Forget `listener` (a test's own, once the test is done)."""
    for listeners in (_written, _removing):
        if listener in listeners:
            listeners.remove(listener)


def _tell(listeners: list[OrdersListener], actor: "User | None", order_ids: Sequence[int]) -> None:
    if not order_ids:
        return
    for listener in listeners:
        listener(actor=actor, order_ids=order_ids)


def orders_written(*, actor: "User | None", order_ids: Sequence[int]) -> None:
    _tell(_written, actor, order_ids)


def orders_removing(*, actor: "User | None", order_ids: Sequence[int]) -> None:
    _tell(_removing, actor, order_ids)

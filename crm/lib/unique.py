"""Check-then-insert without the race: a service checks that a name (an email, a key, an
external id) is free and gives a form error when it is not, but two requests can both pass the
check and the second insert then meets the unique constraint. `clash_refused` turns that
violation into the same form error, so the loser of the race sees what the check would have told
them instead of a server error."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

Clash = Callable[[], ValidationError | None]


def clash_check(clash: Clash) -> None:
    """The check before the insert: raise the clash's form error, if any."""
    error = clash()
    if error is not None:
        raise error


@contextmanager
def clash_refused(clash: Clash) -> Iterator[None]:
    """Around the insert or update guarded by `clash` (the same function clash_check ran): a
    unique violation inside rolls back to a savepoint (the caller's transaction stays usable),
    and if `clash` now finds the row another transaction committed meanwhile, its form error is
    raised. Any other integrity error goes on as it was."""
    try:
        with transaction.atomic():
            yield
    except IntegrityError:
        error = clash()
        if error is None:
            raise
        raise error from None

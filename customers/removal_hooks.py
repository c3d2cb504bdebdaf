"""Rows of apps above customers that only exist because of a customer's own records (loyalty's
point account, opened by the customer's orders) register here, so that undoing an import that
created the customer can remove them with it, or say why it may not.

customers cannot import those apps; they register from their AppConfig.ready. The undo's
"records of their own" check (crm.transfer.bulk.created_dependents_blocker) ignores the
registered models and asks each registration's `blocker` instead; `remove` runs inside the
undo's transaction, after the import's orders were removed (their listeners told) and before
the customers are deleted."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.db import models


@dataclass(frozen=True)
class DerivedRows:
    model: type[models.Model]
    # Why the rows of these customers may not go with them (staff work on them), or None.
    blocker: Callable[[Sequence[int]], str | None]
    remove: Callable[[Sequence[int]], None]


_DERIVED: dict[type[models.Model], DerivedRows] = {}


def derived_rows_register(rows: DerivedRows) -> None:
    _DERIVED[rows.model] = rows


def derived_rows() -> list[DerivedRows]:
    return list(_DERIVED.values())

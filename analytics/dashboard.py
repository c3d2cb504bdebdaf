"""The analytics home is a dashboard of panels, by registration.

A Panel names what it shows, how its data is built (`build(user)` -> the template's context,
or None when there is nothing to show yet), the template that draws it, its place and the
capability a reader needs. RFM, churn and feedback panels register beside the built-in ones
(analytics.dashboard_panels).

Every build counts only what its reader may see: the customers of the reader's record scope
(customers.selectors.customer_scope_sql / visible_customers) and the tickets of their ticket
scope (support.selectors.ticket_scope_sql, the queues' rule). The helpers below
(`customers_scope_sql`, `tickets_scope_sql`, `customers_scoped`, `visible_customer_ids`) add
nothing for a reader who sees everything, so that reader's figures and SQL are the tenant-wide
ones.

A panel whose build is slow says `cache_seconds`: its data is kept that long per tenant (the
cache's keys carry the schema, django_tenants.cache.make_key), language and reader scope: one
entry shared by every reader with scope "all", one per user and teams for scope "team" (a team
reader also sees what they own), one per user for "own". Two readers with different scopes
never share an entry. Every key carries the tenant's panel version, which
`dashboard_cache_forget` replaces: every entry of the tenant, whatever its reader, is then
unreachable and expires on its own."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db.models import QuerySet
from django.utils.translation import get_language

from crm.accounts import capabilities as cap
from crm.accounts.models import RecordScope
from crm.accounts.permissions import can
from customers.selectors import customer_scope_sql, visible_customers
from support.selectors import reader_scope, ticket_scope_sql


@dataclass(frozen=True)
class Panel:
    key: str
    title: Any  # lazily translated
    build: Callable[[Any], dict[str, Any] | None]  # must apply the reader's scope
    template: str
    order: int = 100
    capability: str | None = cap.REPORTS
    cache_seconds: int = 0
    wide: bool = False  # spans both columns on a laptop


_PANELS: dict[str, Panel] = {}


def dashboard_panel_register(panel: Panel) -> None:
    _PANELS[panel.key] = panel


def dashboard_panel_unregister(key: str) -> None:
    _PANELS.pop(key, None)


def dashboard_panels(user: Any) -> list[Panel]:
    """The panels this reader may see, in order."""
    panels = sorted(_PANELS.values(), key=lambda p: (p.order, p.key))
    return [p for p in panels if p.capability is None or can(user, p.capability)]


# --- the reader's scope, for the builds -------------------------------------------------------

_PLACEHOLDER = re.compile(r"%%|%s")


def _named(sql: str, values: list[Any], params: dict[str, Any]) -> str:
    """`sql` with its positional %s as named placeholders added to `params` (the panels' SQL
    names its parameters); a literal %% stays as it is."""
    prefix = f"scope{len(params)}_"
    found = iter(values)
    count = 0

    def name(match: re.Match[str]) -> str:
        nonlocal count
        if match.group() == "%%":
            return "%%"
        key = f"{prefix}{count}"
        count += 1
        params[key] = next(found)
        return f"%({key})s"

    return _PLACEHOLDER.sub(name, sql)


def customers_scope_sql(user: Any, column: str, params: dict[str, Any]) -> str:
    """ " AND <column> IN (...)" limiting `column`, a customer id, to the reader's customers, its
    parameters added to `params`; "" for a reader who sees every customer."""
    sql, values = customer_scope_sql(user, column, scope=reader_scope(user))
    return _named(sql, values, params) if sql else ""


def tickets_scope_sql(user: Any, column: str, params: dict[str, Any]) -> str:
    """ " AND <column> IN (...)" limiting `column`, a ticket id, to the reader's tickets (the
    queues' scope), its parameters added to `params`; "" for a reader who sees every ticket."""
    sql, values = ticket_scope_sql(user, column, scope=reader_scope(user))
    return _named(sql, values, params) if sql else ""


def visible_customer_ids(user: Any) -> QuerySet[Any] | None:
    """The reader's customers' ids as a subquery; None for a reader who sees every customer."""
    scope = reader_scope(user)
    if scope == RecordScope.ALL:
        return None
    return visible_customers(user, scope=scope).values("pk")


def customers_scoped(
    queryset: QuerySet[Any], user: Any, field: str = "customer_id"
) -> QuerySet[Any]:
    """`queryset` limited to rows whose `field` is one of the reader's customers; unchanged for a
    reader who sees every customer."""
    visible = visible_customer_ids(user)
    return queryset if visible is None else queryset.filter(**{f"{field}__in": visible})


# --- the cache --------------------------------------------------------------------------------

_VERSION_KEY = "analytics:panel:version"


def _tenant_version() -> str:
    """The tenant's panel version (its cache key carries the schema); a new one when none is
    kept, never a number that could come back after an eviction."""
    version = cache.get(_VERSION_KEY)
    if version is None:
        fresh = uuid.uuid4().hex
        cache.add(_VERSION_KEY, fresh, timeout=None)  # whoever adds first wins
        version = cache.get(_VERSION_KEY) or fresh
    return str(version)


def reader_cache_scope(user: Any) -> str:
    """Who a cached panel's figures are for: "all" for every reader with scope all; the user
    and their teams for "team" (they see their own records too); the user for "own"."""
    scope = reader_scope(user)
    if scope == RecordScope.ALL:
        return "all"
    if scope == RecordScope.TEAM:
        teams = sorted(user.teams.values_list("pk", flat=True))
        return f"team:{user.pk}:{'.'.join(str(pk) for pk in teams)}"
    return f"own:{user.pk}"


def dashboard_cache_prefix(user: Any) -> str:
    """The part of a cached panel's key that names the tenant's version and the reader's scope
    (read once per dashboard)."""
    return f"analytics:panel:{_tenant_version()}:{reader_cache_scope(user)}"


def dashboard_cache_forget() -> None:
    """Drop this tenant's cached panels (every language and reader), so the next view rebuilds
    them: a new version makes every kept key unreachable."""
    cache.set(_VERSION_KEY, uuid.uuid4().hex, timeout=None)


def panel_data(panel: Panel, user: Any, *, prefix: str | None = None) -> dict[str, Any] | None:
    """The panel's data, from the cache when the panel allows it. `prefix`: the reader's
    dashboard_cache_prefix when the caller already made it."""
    if not panel.cache_seconds:
        return panel.build(user)
    key = f"{prefix or dashboard_cache_prefix(user)}:{panel.key}:{get_language()}"
    found = cache.get(key)
    if found is not None:
        return found.get("data")
    data = panel.build(user)
    cache.set(key, {"data": data}, panel.cache_seconds)
    return data


@dataclass
class BuiltPanel:
    panel: Panel
    data: dict[str, Any] | None


def dashboard_built(user: Any) -> list[BuiltPanel]:
    panels = dashboard_panels(user)
    prefix = dashboard_cache_prefix(user) if any(p.cache_seconds for p in panels) else ""
    return [BuiltPanel(p, panel_data(p, user, prefix=prefix or None)) for p in panels]

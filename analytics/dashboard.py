"""The analytics home is a dashboard of panels, by registration.

A Panel names what it shows, how its data is built (`build(user)` -> the template's context,
or None when there is nothing to show yet), the template that draws it, its place and the
capability a reader needs. RFM, churn and feedback panels register beside the built-in ones
(analytics.dashboard_panels) when merged. A panel whose build is slow says `cache_seconds`: its
data is kept that long per tenant and language (the cache's keys carry the schema,
django_tenants.cache.make_key), so a busy dashboard costs one query set a few minutes; such a
build must not depend on the reader (tenant-wide figures only)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils.translation import get_language

from crm.accounts import capabilities as cap
from crm.accounts.permissions import can


@dataclass(frozen=True)
class Panel:
    key: str
    title: Any  # lazily translated
    build: Callable[[Any], dict[str, Any] | None]
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


CACHE_VERSION = 1


def _cache_key(panel_key: str, language: str) -> str:
    return f"analytics:panel:{CACHE_VERSION}:{panel_key}:{language}"


def dashboard_cache_forget() -> None:
    """Drop this tenant's cached panels (every language), so the next view rebuilds them."""
    cache.delete_many(
        [_cache_key(key, code) for key in _PANELS for code, _name in settings.LANGUAGES]
    )


def panel_data(panel: Panel, user: Any) -> dict[str, Any] | None:
    """The panel's data, from the cache when the panel allows it."""
    if not panel.cache_seconds:
        return panel.build(user)
    key = _cache_key(panel.key, get_language())
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
    return [BuiltPanel(p, panel_data(p, user)) for p in dashboard_panels(user)]

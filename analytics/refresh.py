"""The analytics refresh: registered steps run in order for one as-of date (RFM 10, churn 20,
segments 30), each in its own transaction, then one audit entry with every step's summary.

A step registers from AnalyticsConfig.ready:

    refresh_step_register(RefreshStep("rfm", _("RFM scores"), rfm_refresh, order=10))

where `run(*, as_of: date) -> dict` does its work for that date and returns a JSON-able
summary. The nightly task, the page's refresh button and `manage.py refresh_analytics` all
come here (the first two through analytics.refresh_jobs, which adds status and progress)."""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from analytics.dashboard import dashboard_cache_forget
from crm.accounts.audit import audit_record
from crm.accounts.models import User
from crm.lib.audit_actor import writes
from loyalty.programme import local_today

AUDIT_ACTION = "analytics_refresh"


@dataclass(frozen=True)
class RefreshStep:
    key: str
    label: Any  # a lazily translated name, shown while the step runs
    run: Callable[..., dict[str, Any]]  # run(*, as_of: date) -> JSON-able summary
    order: int = 100


_STEPS: dict[str, RefreshStep] = {}


def refresh_step_register(step: RefreshStep) -> None:
    _STEPS[step.key] = step


def refresh_step_unregister(key: str) -> None:
    _STEPS.pop(key, None)


def refresh_steps() -> list[RefreshStep]:
    return sorted(_STEPS.values(), key=lambda s: (s.order, s.key))


# (steps done, steps in all, the label of the step about to run or "" when all are done)
Progress = Callable[[int, int, str], None]


@writes
def analytics_refresh(
    *,
    as_of: datetime.date | None,
    actor: User | None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run every registered step for `as_of` (default: today in the tenant's time zone) and
    record the audit entry. A step that fails stops the refresh (the steps before it keep
    their results, each having committed) and the error goes to the caller."""
    as_of = as_of or local_today()
    steps = refresh_steps()
    summary: dict[str, Any] = {"as_of": as_of.isoformat(), "steps": {}, "seconds": {}}
    started = time.perf_counter()
    for n, step in enumerate(steps):
        if progress is not None:
            progress(n, len(steps), str(step.label))
        began = time.perf_counter()
        summary["steps"][step.key] = step.run(as_of=as_of)
        summary["seconds"][step.key] = round(time.perf_counter() - began, 3)
    summary["seconds"]["total"] = round(time.perf_counter() - started, 3)
    if progress is not None:
        progress(len(steps), len(steps), "")
    # The dashboard's cached panels show the new figures from the next view on.
    dashboard_cache_forget()
    audit_record(
        action=AUDIT_ACTION, actor=actor, table_name="analytics_rfmsnapshot", detail=summary
    )
    return summary

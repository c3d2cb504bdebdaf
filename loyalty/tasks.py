"""Nightly programme work, one task per tenant (sent by the beat dispatcher); each is thin and
idempotent, and writes as "system: <task name>"."""

from celery import shared_task

from crm.lib.tenancy import current_schema
from loyalty import jobs


@shared_task(name="loyalty.tasks.points_expire")
def points_expire_task() -> dict[str, object]:
    return {"schema": current_schema(), "accounts": jobs.points_expire(actor=None)}


@shared_task(name="loyalty.tasks.tiers_refresh")
def tiers_refresh_task() -> dict[str, object]:
    return {"schema": current_schema(), "changed": jobs.tiers_refresh(actor=None)}


@shared_task(name="loyalty.tasks.ledger_reconcile")
def ledger_reconcile_task() -> dict[str, object]:
    return {"schema": current_schema(), "issues": jobs.ledger_reconcile(actor=None)}


@shared_task(name="loyalty.tasks.birthday_bonuses")
def birthday_bonuses_task() -> dict[str, object]:
    return {"schema": current_schema(), "credited": jobs.birthday_bonuses(actor=None)}

"""Celery application: every task runs in the schema it was sent from (tenant-schemas-celery)."""

import os

from celery.schedules import crontab
from tenant_schemas_celery.app import CeleryApp

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")

app = CeleryApp("crm")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Beat runs one dispatcher per job kind; the dispatcher enqueues one task per ready tenant.
app.conf.beat_schedule = {
    "sessions-clear-expired": {
        "task": "crm.tenants.tasks.tenants_dispatch",
        "schedule": crontab(minute=17, hour=3),
        "args": ("crm.accounts.tasks.sessions_clear_expired",),
    },
    "customer-stages": {
        "task": "crm.tenants.tasks.tenants_dispatch",
        "schedule": crontab(minute=30, hour=2),
        "args": ("customers.tasks.stages_derive",),
    },
    "customer-duplicates": {
        "task": "crm.tenants.tasks.tenants_dispatch",
        "schedule": crontab(minute=50, hour=2),
        "args": ("customers.tasks.duplicates_refresh",),
    },
    "exports-expire": {
        "task": "crm.tenants.tasks.tenants_dispatch",
        "schedule": crontab(minute=45, hour=3),
        "args": ("crm.transfer.tasks_exports.exports_expire",),
    },
    # Loyalty: expiry and birthdays hourly, so they follow local midnight in every tenant's
    # time zone (both idempotent: an hour with nothing due changes nothing).
    "loyalty-expire": {
        "task": "crm.tenants.tasks.tenants_dispatch",
        "schedule": crontab(minute=5),
        "args": ("loyalty.tasks.points_expire",),
    },
    "loyalty-birthdays": {
        "task": "crm.tenants.tasks.tenants_dispatch",
        "schedule": crontab(minute=15),
        "args": ("loyalty.tasks.birthday_bonuses",),
    },
    "loyalty-tiers": {
        "task": "crm.tenants.tasks.tenants_dispatch",
        "schedule": crontab(minute=25, hour=1),
        "args": ("loyalty.tasks.tiers_refresh",),
    },
    "loyalty-reconcile": {
        "task": "crm.tenants.tasks.tenants_dispatch",
        "schedule": crontab(minute=40, hour=4),
        "args": ("loyalty.tasks.ledger_reconcile",),
    },
    "imports-expire": {
        "task": "crm.tenants.tasks.tenants_dispatch",
        "schedule": crontab(minute=55, hour=3),
        "args": ("crm.transfer.tasks_imports.imports_expire",),
    },
    # Analytics: RFM (and the steps registered after it) for today in each tenant.
    "analytics-refresh": {
        "task": "crm.tenants.tasks.tenants_dispatch",
        "schedule": crontab(minute=45, hour=1),
        "args": ("analytics.tasks.refresh_nightly",),
    },
    "support-sla-scan": {
        "task": "crm.tenants.tasks.tenants_dispatch",
        "schedule": crontab(minute="*/5"),
        "args": ("support.tasks.sla_scan",),
    },
    # Surveys of resolved tickets (after the tenant's delay), and invitations left pending.
    "support-surveys-on-resolve": {
        "task": "crm.tenants.tasks.tenants_dispatch",
        "schedule": crontab(minute="*/5"),
        "args": ("support.feedback_tasks.surveys_on_resolve",),
    },
    # Replies whose send task was lost (support.tasks_mail): idempotent, the claim decides.
    "support-replies-sweep": {
        "task": "crm.tenants.tasks.tenants_dispatch",
        "schedule": crontab(minute="*/10"),
        "args": ("support.tasks.replies_sweep",),
    },
    # SLA notices by email (support.mail_notices): each notice once, claimed before sending.
    "support-sla-notices-email": {
        "task": "crm.tenants.tasks.tenants_dispatch",
        "schedule": crontab(minute="1-59/5"),
        "args": ("support.tasks.sla_notices_email",),
    },
}

"""Demo data: after every other seeder, refresh the analytics for a month ago and for today,
so the demo tenant shows segments and a month of transitions. Safe twice (a refresh replaces
its date's snapshot)."""

import datetime
import random

from analytics.refresh import analytics_refresh
from crm.tenants.seeding import SeedOptions
from loyalty.programme import local_today


def rfm_seed(rng: random.Random, options: SeedOptions) -> str:
    today = local_today()
    analytics_refresh(as_of=today - datetime.timedelta(days=30), actor=None)
    summary = analytics_refresh(as_of=today, actor=None)
    scored = summary["steps"].get("rfm", {}).get("scored", 0)
    return f"refreshed as of {today - datetime.timedelta(days=30)} and {today}: {scored} scored"

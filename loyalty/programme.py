"""The tenant's programme settings and calendar: its one Programme row, its time zone, and the
dates points expire on (the end of a day in that zone)."""

import datetime
import zoneinfo

from django.utils import timezone

from crm.lib.tenancy import current_schema
from crm.tenants.models import Tenant
from loyalty.models import Programme


def programme() -> Programme:
    """The tenant's programme (migration 0002 makes it; made again here if someone removed it)."""
    found, _created = Programme.objects.get_or_create(pk=1)
    return found


def tenant_zone() -> zoneinfo.ZoneInfo:
    name = (
        Tenant.objects.filter(schema_name=current_schema())
        .values_list("time_zone", flat=True)
        .first()
    )
    try:
        return zoneinfo.ZoneInfo(name or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def local_date(moment: datetime.datetime, zone: zoneinfo.ZoneInfo) -> datetime.date:
    return timezone.localtime(moment, zone).date()


def local_today(zone: zoneinfo.ZoneInfo | None = None) -> datetime.date:
    return local_date(timezone.now(), zone or tenant_zone())


def months_later(day: datetime.date, months: int) -> datetime.date:
    """The same day `months` later, or the month's last day (31 Jan + 1 month = 28/29 Feb),
    as PostgreSQL's date + interval does it."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return datetime.date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable")


def expiry_date(
    earned_at: datetime.datetime, months: int, zone: zoneinfo.ZoneInfo
) -> datetime.date:
    """The last day points earned at `earned_at` may be spent: they expire at that day's end
    in the tenant's time zone."""
    return months_later(local_date(earned_at, zone), months)

"""The SLA clock: business time over the tenant's opening hours, public holidays and its own
overrides, in the tenant's time zone.

- Opening hours: one span per weekday (support.models.BusinessHours); a weekday without one is
  closed.
- Public holidays come from the `holidays` package (maintained yearly), which also knows the
  working days China's State Council moves onto weekends (调休, `weekend_workdays`): such a
  Saturday is a working day with the hours of a normal weekday (Monday's, or the first
  weekday that has hours).
- The tenant's overrides (HolidayOverride) win over both: an extra day off, or an extra
  working day (again with a normal weekday's hours).
- Pauses: the clock stops while a ticket is pending on the customer and, when the tenant's
  settings say so (the default), while it is on hold: waiting for a supplier or a manager's
  decision is not time the customer should see counted against the team. The business minutes
  spent paused add to each due moment that is not met yet: due = created + target + paused,
  counted in business minutes (support.services keeps `sla_paused_minutes`). A resolved
  ticket's clock stands still as well, so a reopened ticket does not count the time it was
  thought done.

All arithmetic is done in UTC between span boundaries computed in local time, so a day on
which the clocks change counts its real length."""

import datetime
import functools
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass

import holidays

from support.models import BusinessHours, HolidayOverride, Status, SupportSettings

# A search for the next opening stops after this many days: a calendar with no working day.
_MAX_DAYS = 3 * 366


class NoBusinessHours(Exception):
    """The calendar has no working time within the search window (no opening hours at all)."""


@functools.lru_cache(maxsize=64)
def _public(country: str, year: int) -> tuple[frozenset[datetime.date], frozenset[datetime.date]]:
    """(days off, weekend days that are working days) of `country` in `year`."""
    if not country:
        return frozenset(), frozenset()
    try:
        table = holidays.country_holidays(country, years=year)
    except NotImplementedError:
        return frozenset(), frozenset()
    moved: set[datetime.date] = set(getattr(table, "weekend_workdays", ()))
    return frozenset(table.keys()), frozenset(d for d in moved if d.year == year)


def holiday_countries() -> list[str]:
    """Country codes the holidays package knows, for the settings form."""
    return sorted(holidays.list_supported_countries())


@dataclass(frozen=True)
class BusinessCalendar:
    tz: datetime.tzinfo
    # weekday (0 Monday) -> (opens, closes), local wall times
    hours: dict[int, tuple[datetime.time, datetime.time]]
    country: str = ""
    days_off: frozenset[datetime.date] = frozenset()
    working_days: frozenset[datetime.date] = frozenset()

    def _normal_hours(self) -> tuple[datetime.time, datetime.time] | None:
        for weekday in range(7):
            if weekday in self.hours:
                return self.hours[weekday]
        return None

    def day_hours(self, day: datetime.date) -> tuple[datetime.time, datetime.time] | None:
        """The day's opening hours, or None when it is not a working day."""
        if day in self.days_off:
            return None
        if day in self.working_days:
            return self.hours.get(day.weekday()) or self._normal_hours()
        public_off, moved_working = _public(self.country, day.year)
        if day in public_off:
            return None
        if day in moved_working:
            return self.hours.get(day.weekday()) or self._normal_hours()
        return self.hours.get(day.weekday())

    def span(self, day: datetime.date) -> tuple[datetime.datetime, datetime.datetime] | None:
        """The day's working span as UTC moments."""
        found = self.day_hours(day)
        if found is None:
            return None
        opens, closes = found
        start = datetime.datetime.combine(day, opens, tzinfo=self.tz).astimezone(datetime.UTC)
        end = datetime.datetime.combine(day, closes, tzinfo=self.tz).astimezone(datetime.UTC)
        return start, end

    def _spans_from(
        self, moment: datetime.datetime
    ) -> Iterator[tuple[datetime.datetime, datetime.datetime]]:
        day = moment.astimezone(self.tz).date()
        for offset in range(_MAX_DAYS):
            span = self.span(day + datetime.timedelta(days=offset))
            if span is not None:
                yield span

    def add(self, start: datetime.datetime, minutes: float) -> datetime.datetime:
        """The moment `minutes` business minutes after `start` (0: the next open moment)."""
        remaining = datetime.timedelta(minutes=minutes)
        moment = start.astimezone(datetime.UTC)
        for opens, closes in self._spans_from(moment):
            if closes <= moment:
                continue
            begin = max(opens, moment)
            if begin + remaining <= closes and (remaining or begin < closes):
                return begin + remaining
            remaining -= closes - begin
        raise NoBusinessHours

    def minutes_between(self, start: datetime.datetime, end: datetime.datetime) -> float:
        """Business minutes from `start` to `end` (negative when `end` comes first)."""
        if end < start:
            return -self.minutes_between(end, start)
        start = start.astimezone(datetime.UTC)
        end = end.astimezone(datetime.UTC)
        total = datetime.timedelta()
        for opens, closes in self._spans_from(start):
            if opens >= end:
                break
            overlap = min(closes, end) - max(opens, start)
            if overlap > datetime.timedelta():
                total += overlap
        return total.total_seconds() / 60


def paused_statuses(*, pause_on_hold: bool) -> frozenset[str]:
    """The statuses in which the clock stands still."""
    return frozenset({Status.PENDING, Status.ON_HOLD} if pause_on_hold else {Status.PENDING})


def calendar_load() -> BusinessCalendar:
    """The current tenant's calendar (four small reads)."""
    from crm.lib.tenancy import current_schema
    from crm.tenants.models import Tenant

    settings = support_settings()
    zone, region = (
        Tenant.objects.filter(schema_name=current_schema())
        .values_list("time_zone", "phone_region")
        .first()
    ) or ("UTC", "")
    try:
        tz: datetime.tzinfo = zoneinfo.ZoneInfo(zone or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        tz = datetime.UTC
    overrides = list(HolidayOverride.objects.values_list("date", "kind"))
    return BusinessCalendar(
        tz=tz,
        hours={h.weekday: (h.opens, h.closes) for h in BusinessHours.objects.all()},
        # None: the workspace's own country, as its phone region names it.
        country=region if settings.holiday_country is None else settings.holiday_country,
        days_off=frozenset(d for d, kind in overrides if kind == "holiday"),
        working_days=frozenset(d for d, kind in overrides if kind == "working"),
    )


def support_settings() -> SupportSettings:
    return SupportSettings.objects.get_or_create(id=1)[0]

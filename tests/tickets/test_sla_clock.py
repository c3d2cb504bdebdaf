"""support.sla: business-time arithmetic over opening hours, public holidays (China's moved
working days included), the tenant's overrides and its time zone. Fixed dates, no clock."""

import datetime
import zoneinfo

import pytest

from support.sla import BusinessCalendar, NoBusinessHours

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
LONDON = zoneinfo.ZoneInfo("Europe/London")
NINE_TO_SIX = {d: (datetime.time(9), datetime.time(18)) for d in range(5)}


def at(tz: datetime.tzinfo, *parts: int) -> datetime.datetime:
    return datetime.datetime(*parts).replace(tzinfo=tz)


def calendar(tz=SHANGHAI, country="", **kwargs) -> BusinessCalendar:
    return BusinessCalendar(
        tz=tz, hours=kwargs.pop("hours", NINE_TO_SIX), country=country, **kwargs
    )


def test_friday_evening_ticket_with_four_business_hours_lands_on_monday():
    # Friday 2026-03-13 17:30: half an hour on Friday, three and a half on Monday.
    due = calendar().add(at(SHANGHAI, 2026, 3, 13, 17, 30), 4 * 60)
    assert due == at(SHANGHAI, 2026, 3, 16, 12, 30)


def test_a_ticket_before_opening_starts_counting_at_opening():
    assert calendar().add(at(SHANGHAI, 2026, 3, 10, 7, 0), 30) == at(SHANGHAI, 2026, 3, 10, 9, 30)


def test_ending_exactly_at_closing_stays_that_day():
    assert calendar().add(at(SHANGHAI, 2026, 3, 10, 17, 0), 60) == at(SHANGHAI, 2026, 3, 10, 18)


def test_zero_minutes_is_the_next_open_moment():
    assert calendar().add(at(SHANGHAI, 2026, 3, 14, 12), 0) == at(SHANGHAI, 2026, 3, 16, 9)


def test_national_day_week_is_skipped_and_the_moved_saturday_works():
    # China 2026: 1-7 October off (public holidays and moved days off), Saturday 10 October is a
    # working day (调休). A ticket on Wednesday 30 September at 17:00 with 2 business hours:
    # one hour on the 30th, the next on Thursday the 8th.
    cn = calendar(country="CN")
    assert cn.add(at(SHANGHAI, 2026, 9, 30, 17), 120) == at(SHANGHAI, 2026, 10, 8, 10)
    # Friday 9 October at 17:00 plus 2 hours: the Saturday counts, with Monday's hours.
    assert cn.add(at(SHANGHAI, 2026, 10, 9, 17), 120) == at(SHANGHAI, 2026, 10, 10, 10)
    # Without the holiday calendar the same Saturday is closed and the 1st is a working day.
    plain = calendar()
    assert plain.add(at(SHANGHAI, 2026, 10, 9, 17), 120) == at(SHANGHAI, 2026, 10, 12, 10)
    assert plain.add(at(SHANGHAI, 2026, 9, 30, 17), 120) == at(SHANGHAI, 2026, 10, 1, 10)


def test_minutes_between_counts_only_business_time():
    cn = calendar(country="CN")
    # Thursday 30 Sep 17:00 -> Thursday 8 Oct 10:00: one hour before, one hour after the break.
    assert cn.minutes_between(at(SHANGHAI, 2026, 9, 30, 17), at(SHANGHAI, 2026, 10, 8, 10)) == 120
    # A whole working week (Monday 9:00 to the next Monday 9:00) is 5 x 9 hours.
    week = cn.minutes_between(at(SHANGHAI, 2026, 3, 9, 9), at(SHANGHAI, 2026, 3, 16, 9))
    assert week == 5 * 9 * 60
    # Reversed: negative.
    assert cn.minutes_between(at(SHANGHAI, 2026, 3, 9, 10), at(SHANGHAI, 2026, 3, 9, 9)) == -60


def test_add_and_minutes_between_agree():
    cn = calendar(country="CN")
    start = at(SHANGHAI, 2026, 9, 28, 15, 17)
    for minutes in (1, 59, 540, 541, 3000, 9000):
        due = cn.add(start, minutes)
        assert cn.minutes_between(start, due) == pytest.approx(minutes)


def test_tenant_overrides_win_over_the_public_calendar():
    day_off = datetime.date(2026, 3, 16)  # a Monday
    working = datetime.date(2026, 10, 2)  # a public holiday
    cn = calendar(country="CN", days_off=frozenset({day_off}), working_days=frozenset({working}))
    assert cn.add(at(SHANGHAI, 2026, 3, 13, 17, 30), 4 * 60) == at(SHANGHAI, 2026, 3, 17, 12, 30)
    assert cn.add(at(SHANGHAI, 2026, 9, 30, 17), 120) == at(SHANGHAI, 2026, 10, 2, 10)


def test_the_tenants_time_zone_decides_what_is_open():
    # 08:30 UTC on a Tuesday is 16:30 in Shanghai (1.5 h left that day) and 08:30 in London
    # in winter (opening at 09:00).
    moment = datetime.datetime(2026, 1, 13, 8, 30, tzinfo=datetime.UTC)
    assert calendar(SHANGHAI).add(moment, 120) == at(SHANGHAI, 2026, 1, 14, 9, 30)
    assert calendar(LONDON).add(moment, 120) == at(LONDON, 2026, 1, 13, 11)


def test_a_day_the_clocks_change_counts_its_real_length():
    # London, Sunday 29 March 2026: clocks go forward at 01:00. Open 00:00-06:00 that day only:
    # five real hours.
    hours = {6: (datetime.time(0), datetime.time(6))}
    cal = calendar(LONDON, hours=hours)
    assert cal.minutes_between(at(LONDON, 2026, 3, 29, 0), at(LONDON, 2026, 3, 29, 6)) == 300


def test_a_calendar_without_opening_hours_refuses():
    with pytest.raises(NoBusinessHours):
        calendar(hours={}).add(at(SHANGHAI, 2026, 3, 9, 9), 10)

"""Writes of segments: saving one (its rules checked, its membership rebuilt at once),
deleting one, and rebuilding memberships (one segment from its page, every segment at the
nightly refresh). Membership is rebuilt set-based in one statement per segment: the matching
ids are inserted, the rest deleted, and both recorded as the refresh's joins and leaves."""

from __future__ import annotations

import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from analytics.models_segments import Segment, SegmentRefresh
from analytics.segment_list_filter import segment_choices_forget
from analytics.segment_rules import Rules, segment_customers
from crm.accounts.models import User
from crm.lib.audit_actor import writes
from crm.lib.unique import clash_check, clash_refused

_MATERIALISE_SQL = """
WITH target AS MATERIALIZED ({target}),
joined AS (
    INSERT INTO analytics_segmentmember (segment_id, customer_id, since)
    SELECT %s, target.id, %s FROM target
    ON CONFLICT (segment_id, customer_id) DO NOTHING
    RETURNING customer_id),
gone AS (
    DELETE FROM analytics_segmentmember AS member
    WHERE member.segment_id = %s
      AND NOT EXISTS (SELECT 1 FROM target WHERE target.id = member.customer_id)
    RETURNING customer_id),
changes AS (
    INSERT INTO analytics_segmentchange (refresh_id, customer_id, joined)
    SELECT %s, customer_id, true FROM joined
    UNION ALL
    SELECT %s, customer_id, false FROM gone
    RETURNING joined)
SELECT (SELECT count(*) FROM target),
       count(*) FILTER (WHERE joined),
       count(*) FILTER (WHERE NOT joined)
FROM changes
"""


def _materialise(segment: Segment, rules: Rules, as_of: datetime.date) -> SegmentRefresh:
    """Rebuild one segment's membership (inside the caller's transaction, the segment locked)."""
    now = timezone.now()
    refresh = SegmentRefresh.objects.create(
        segment=segment, at=now, as_of=as_of, members=0, joined=0, left=0
    )
    target_sql, target_params = (
        segment_customers(rules, as_of=as_of).values("id").query.sql_with_params()
    )
    with connection.cursor() as cursor:
        cursor.execute(
            _MATERIALISE_SQL.format(target=target_sql),
            [*target_params, segment.pk, now, segment.pk, refresh.pk, refresh.pk],
        )
        members, joined, left = cursor.fetchone()
    refresh.members, refresh.joined, refresh.left = members, joined, left
    refresh.save(update_fields=["members", "joined", "left"])
    Segment.objects.filter(pk=segment.pk).update(refreshed_at=now, member_count=members)
    segment.refreshed_at, segment.member_count = now, members
    return refresh


def _choices_changed() -> None:
    """The list filter's cached names: dropped now and again at commit (a page drawn between
    the two would have cached the names as they were)."""
    segment_choices_forget()
    transaction.on_commit(segment_choices_forget)


@writes
@transaction.atomic
def segment_save(*, actor: User | None, segment: Segment, rules: Rules) -> Segment:
    """Save the segment with these rules (checked with the fields `actor` may test) and rebuild
    its membership. ValidationError names what is wrong (the rules' mistakes included)."""
    from analytics.segment_rules import rules_compile

    rules_compile(rules, user=actor)  # refuses bad rules before anything is written
    segment.rules = rules.as_json()
    if segment.pk is None and actor is not None:
        segment.created_by = actor

    def clash() -> ValidationError | None:
        if Segment.objects.exclude(pk=segment.pk).filter(name=segment.name).exists():
            return ValidationError({"name": _("Another segment has this name.")})
        return None

    clash_check(clash)
    with clash_refused(clash):
        segment.full_clean()
        segment.save()
    _choices_changed()
    Segment.objects.select_for_update().get(pk=segment.pk)
    _materialise(segment, rules, timezone.localdate())
    return segment


@writes
@transaction.atomic
def segment_delete(*, actor: User | None, segment: Segment) -> None:
    """Its membership and history go with it; customers are untouched."""
    Segment.objects.filter(pk=segment.pk).delete()
    _choices_changed()


@writes
@transaction.atomic
def segment_refresh(
    *, actor: User | None, segment: Segment, as_of: datetime.date | None = None
) -> SegmentRefresh:
    """Rebuild one segment's membership now. Stored rules that no longer check (a field
    archived) raise ValidationError and change nothing."""
    from analytics.segment_rules import rules_compile, rules_from_json

    locked = Segment.objects.select_for_update().get(pk=segment.pk)
    rules = rules_from_json(locked.rules)
    rules_compile(rules)
    refresh = _materialise(locked, rules, as_of or timezone.localdate())
    segment.refreshed_at, segment.member_count = locked.refreshed_at, locked.member_count
    return refresh


@writes
def segments_materialise(*, actor: User | None, as_of: datetime.date) -> dict[str, Any]:
    """Rebuild every segment's membership, each in its own transaction (one bad segment does
    not stop the others). Returns a JSON-able summary."""
    summary: dict[str, Any] = {"segments": 0, "members": {}, "failed": {}}
    for segment in Segment.objects.order_by("pk"):
        try:
            refresh = segment_refresh(actor=actor, segment=segment, as_of=as_of)
        except ValidationError as error:
            summary["failed"][segment.name] = error.messages
            continue
        summary["segments"] += 1
        summary["members"][segment.name] = refresh.members
    return summary

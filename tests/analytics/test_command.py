"""manage.py refresh_analytics: the summary in text and JSON, the as-of date, refusals."""

import io
import json

import pytest
from django.core.management import CommandError, call_command
from django_tenants.utils import schema_context

from analytics.models import RefreshJob, RfmScore
from crm.accounts.models import AuditEntry
from tests.analytics.helpers import five_buyers

pytestmark = pytest.mark.django_db


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command("refresh_analytics", *args, stdout=out)
    return out.getvalue()


def test_text_summary_counts_per_segment(acme):
    with schema_context(acme.schema):
        five_buyers()
    text = _run("acme", "--as-of", "2026-06-30")
    assert "analytics of acme as of 2026-06-30" in text
    assert "scored 5 customers (quintiles, window all history)" in text
    rows = [line.rsplit(None, 1) for line in text.splitlines()[3:-1]]
    lines = {label.strip(): count for label, count in rows}
    assert lines["Loyal"] == "2" and lines["Potential Loyalist"] == "1"
    assert lines["Lost"] == "1" and lines["At Risk"] == "1" and lines["Champions"] == "0"
    with schema_context(acme.schema):
        assert RfmScore.objects.count() == 5
        job = RefreshJob.objects.get()
        assert job.status == "done" and job.requested_by is None
        entry = AuditEntry.objects.filter(action="analytics_refresh").latest("id")
        assert entry.actor_label == "command line"


def test_json_summary(acme):
    with schema_context(acme.schema):
        five_buyers()
    data = json.loads(_run("acme", "--as-of", "2026-05-31", "--json"))
    assert data["tenant"] == "acme" and data["as_of"] == "2026-05-31"
    assert data["steps"]["rfm"]["scored"] == 3
    assert sum(data["steps"]["rfm"]["segments"].values()) == 3


def test_refusals(acme):
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        _run("acme", "--as-of", "30/06/2026")
    with pytest.raises(CommandError):
        _run("nobody")
    from django.utils import timezone

    with schema_context(acme.schema):
        # A refresh queued a moment ago (its worker may still come) blocks a second one.
        RefreshJob.objects.create(status="queued", queued_at=timezone.now())
    with pytest.raises(CommandError, match="already running"):
        _run("acme")

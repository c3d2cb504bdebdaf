"""The RFM pages per role, the settings and map editors with their validation, the refresh
button's job, the customer tab, list column and filter, and the customers export's columns."""

import csv
import io

import pytest
from django.urls import reverse
from django_tenants.utils import schema_context

from analytics.models import RefreshJob, RfmScore, RfmSettings, SegmentRule
from analytics.refresh import refresh_steps
from analytics.refresh_jobs import refresh_job_run
from analytics.rfm import rfm_refresh
from crm.accounts.models import User
from crm.transfer.exporting import export_kind
from tests.analytics.helpers import AS_OF, d, five_buyers
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

ROLES = ("admin", "manager", "agent", "marketing", "viewer")
READERS = ("admin", "manager", "marketing")
EDITORS = ("admin", "manager")

SETTINGS = {
    "window_days": "365",
    "scoring": "fixed",
    "recency_days": "10, 20, 30, 40",
    "frequency": "2,4,6,8",
    "monetary": "10,20,30,40",
    "snapshot_keep_days": "90",
}


@pytest.mark.parametrize("role", ROLES)
def test_who_reads_the_pages(role, acme):
    client = client_for(acme, role)
    for name in ("analytics:rfm", "analytics:rfm_transitions", "analytics:rfm_refresh_status"):
        assert client.get(reverse(name)).status_code == (200 if role in READERS else 403), name
    for name in ("analytics:rfm_settings", "analytics:rfm_map"):
        assert client.get(reverse(name)).status_code == (200 if role in EDITORS else 403), name


@pytest.mark.parametrize("role", ROLES)
def test_only_editors_change_the_settings(role, acme):
    response = client_for(acme, role).post(reverse("analytics:rfm_settings"), SETTINGS)
    with schema_context(acme.schema):
        settings = RfmSettings.objects.get(pk=1)
    if role not in EDITORS:
        assert response.status_code == 403
        assert (settings.scoring, settings.window_days) == ("quintiles", None)
        return
    assert response.status_code == 302
    assert (settings.scoring, settings.window_days, settings.snapshot_keep_days) == (
        "fixed",
        365,
        90,
    )
    assert settings.recency_days == [10, 20, 30, 40]


def test_the_settings_page_says_what_is_wrong(acme):
    response = client_for(acme, "manager").post(
        reverse("analytics:rfm_settings"),
        SETTINGS | {"recency_days": "10, 5, 30, 40", "frequency": "1,2,x,4"},
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert "recency_days" in errors and "frequency" in errors
    with schema_context(acme.schema):
        assert RfmSettings.objects.get(pk=1).scoring == "quintiles"


def _map_post(rules: list[tuple[str, int, int, int, int]], delete: tuple[int, ...] = ()) -> dict:
    data = {
        "rules-TOTAL_FORMS": str(len(rules)),
        "rules-INITIAL_FORMS": "11",
        "rules-MIN_NUM_FORMS": "0",
        "rules-MAX_NUM_FORMS": "50",
    }
    for n, (segment, r1, r2, f1, f2) in enumerate(rules):
        data |= {
            f"rules-{n}-segment": segment,
            f"rules-{n}-r_min": str(r1),
            f"rules-{n}-r_max": str(r2),
            f"rules-{n}-fm_min": str(f1),
            f"rules-{n}-fm_max": str(f2),
        }
        if n in delete:
            data[f"rules-{n}-DELETE"] = "on"
    return data


def test_the_map_editor_saves_removes_and_refuses(acme):
    from analytics.rfm_map import DEFAULT_RULES

    client = client_for(acme, "manager")
    rules = [tuple(r) for r in DEFAULT_RULES]
    rules[0] = ("champions", 4, 5, 4, 5)
    response = client.post(reverse("analytics:rfm_map"), _map_post(rules, delete=(10,)))
    assert response.status_code == 302
    with schema_context(acme.schema):
        saved = [
            (r.segment, r.r_min, r.r_max, r.fm_min, r.fm_max) for r in SegmentRule.objects.all()
        ]
    assert saved == rules[:10]
    page = client.get(reverse("analytics:rfm_map"))
    assert page.context["gaps"] == 2  # R 1 with FM 1-2 lost its rule
    # A range backwards is refused and nothing changes.
    bad = list(rules)
    bad[1] = ("loyal", 4, 3, 4, 5)
    response = client.post(reverse("analytics:rfm_map"), _map_post(bad))
    assert response.status_code == 200
    assert "A range" in response.content.decode()
    with schema_context(acme.schema):
        assert SegmentRule.objects.count() == 10
    client.post(reverse("analytics:rfm_map_reset"))
    with schema_context(acme.schema):
        assert SegmentRule.objects.count() == 11


def test_the_refresh_button_queues_one_job_and_the_runner_finishes_it(acme):
    client = client_for(acme, "marketing")
    with schema_context(acme.schema):
        five_buyers()
    response = client.post(reverse("analytics:rfm_refresh"), {"as_of": AS_OF.isoformat()})
    assert response.status_code == 302
    # A second click while the first is busy is refused, and no second job is made.
    client.post(reverse("analytics:rfm_refresh"), {"as_of": ""})
    with schema_context(acme.schema):
        job = RefreshJob.objects.get()
        assert job.status == "queued" and job.as_of == AS_OF
        assert job.requested_by_id == acme.users["marketing"].pk
    status = client.get(reverse("analytics:rfm_refresh_status")).content.decode()
    assert "hx-trigger" in status and "Waiting for a worker" in status
    with schema_context(acme.schema):
        refresh_job_run(job.pk)
        job.refresh_from_db()
        assert job.status == "done" and job.steps_done == job.steps_total == len(refresh_steps())
        assert job.summary["steps"]["rfm"]["scored"] == 5
        # Run again (a redelivered task): nothing changes.
        refresh_job_run(job.pk)
        assert RefreshJob.objects.get().status == "done"
    page = client.get(reverse("analytics:rfm")).content.decode()
    assert "hx-trigger" not in page.split('id="rfm-job"')[1].split(">")[0]
    assert "Loyal" in page and "Potential Loyalist" in page


def test_a_job_whose_worker_died_is_settled_when_looked_at(acme):
    from django.utils import timezone

    with schema_context(acme.schema):
        job = RefreshJob.objects.create(
            status="running", queued_at=timezone.now(), taken_at=timezone.now()
        )
    page = client_for(acme, "manager").get(reverse("analytics:rfm_refresh_status"))
    assert "stopped without finishing" in page.content.decode()
    with schema_context(acme.schema):
        assert RefreshJob.objects.get(pk=job.pk).status == "failed"


def test_transitions_page_shows_the_table_between_two_dates(acme):
    with schema_context(acme.schema):
        five_buyers()
        rfm_refresh(as_of=d(5, 31))
        rfm_refresh(as_of=AS_OF)
    response = client_for(acme, "marketing").get(
        reverse("analytics:rfm_transitions"), {"before": "2026-05-31", "after": "2026-06-30"}
    )
    table = response.context["table"]
    assert table.before.as_of == d(5, 31) and table.after.as_of == AS_OF
    assert sum(total for _label, _counts, total in table.rows) == 5
    assert "chart: rfm_transitions" not in response.content.decode()  # a template comment
    assert 'data-testid="rfm-transitions"' in response.content.decode()


def test_customer_tab_list_column_and_filter(acme):
    with schema_context(acme.schema):
        people = five_buyers()
        rfm_refresh(as_of=AS_OF)
    client = client_for(acme, "viewer")  # every role with "view" sees the tab
    detail = client.get(reverse("customers:detail", kwargs={"pk": people["A"].pk}))
    text = detail.content.decode()
    assert 'data-testid="rfm-tab"' in text and "Why this segment" in text
    assert "Rule 2 of the segment map" in text
    listing = client_for(acme, "manager").get(reverse("customers:home"), {"rfm_segment": "loyal"})
    body = listing.content.decode()
    assert "Buyer A" in body and "Buyer C" in body and "Buyer B" not in body
    assert "R4 F4 M4" in body
    none = client_for(acme, "manager").get(reverse("customers:home"), {"rfm_segment": "none"})
    assert "Buyer F" in none.content.decode() and "Buyer A" not in none.content.decode()


def test_the_customers_export_carries_the_rfm_columns(acme):
    kind = export_kind("customers")
    with schema_context(acme.schema):
        people = five_buyers()
        rfm_refresh(as_of=AS_OF)
        user = User.objects.get(pk=acme.users["manager"].pk)
        from django.http import QueryDict

        headers = list(kind.header_row(user, QueryDict()))
        rows = {row[headers.index("name")]: row for row in kind.rows_for(user, QueryDict())}
    columns = [
        "rfm_recency_days",
        "rfm_frequency",
        "rfm_monetary",
        "rfm_r",
        "rfm_f",
        "rfm_m",
        "rfm_segment",
    ]
    at = [headers.index(c) for c in columns]
    assert at == sorted(at) and len(headers) == len(rows["Buyer A"])
    assert [str(rows["Buyer C"][i]) for i in at] == ["30", "2", "1000.00", "3", "3", "5", "loyal"]
    assert [rows["Buyer F"][i] for i in at] == [""] * 7
    assert people["A"].pk  # built
    # And the list's "export selection" file agrees.
    response = client_for(acme, "manager").post(
        reverse("customers:bulk"), {"action": "export", "ids": [people["D"].pk]}
    )
    lines = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert [lines[1][lines[0].index(c)] for c in ("rfm_r", "rfm_segment")] == ["1", "lost"]
    with schema_context(acme.schema):
        assert RfmScore.objects.count() == 5

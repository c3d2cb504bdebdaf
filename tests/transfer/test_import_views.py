"""The import wizard's pages: role matrix, tenant isolation, the whole flow through the test
client (upload, map, dry run, commit, undo) with its effects on the database, a GB18030 file
with Chinese headers, rejected rows and their CSV, a refused commit, and the progress partial."""

import csv
import io
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from django_tenants.utils import schema_context

from crm.accounts.models import User
from crm.transfer import services
from crm.transfer.models import ImportJob
from customers.models import Customer
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

IMPORTERS = ("admin", "manager")
REFUSED = ("agent", "marketing", "viewer")


def _csv(rows: list[list[str]], encoding: str = "utf-8") -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode(encoding)


def _names(n: int) -> list[str]:
    tag = uuid.uuid4().hex[:6]
    return [f"导入{tag}{i}" for i in range(n)]


def _good_file(names: list[str]) -> bytes:
    rows = [["姓名", "手机", "邮箱"]]
    rows += [
        [name, f"1390000{i:04d}", f"imp{i}-{name[-7:]}@example.cn"] for i, name in enumerate(names)
    ]
    return _csv(rows)


def _upload(client, data: bytes, name: str = "customers.csv", kind: str = "customers"):
    return client.post(
        reverse("transfer:import_new"),
        {"kind": kind, "file": SimpleUploadedFile(name, data, content_type="text/csv")},
    )


def _latest(member) -> ImportJob:
    with schema_context(member.schema):
        return ImportJob.objects.order_by("-pk").first()  # type: ignore[return-value]


def _map_post(job: ImportJob, **options) -> dict[str, str]:
    """The mapping form as the page proposes it (the engine's automatic mapping)."""
    data = {f"col_{i}": job.mapping.get(header, "") for i, header in enumerate(job.headers)}
    data["match_by"] = options.pop("match_by", "phone")
    for flag in ("update_existing", "valid_only"):
        if options.pop(flag, False):
            data[flag] = "on"
    data.update(options)
    return data


def _customers(member, names: list[str]) -> int:
    with schema_context(member.schema):
        return Customer.objects.filter(name__in=names).count()


def _job_count(member) -> int:
    with schema_context(member.schema):
        return ImportJob.objects.count()


def _start(member, data: bytes, name: str = "case.csv") -> ImportJob:
    with schema_context(member.schema):
        return services.import_start(
            actor=User.objects.get(pk=member.manager.pk),
            kind="customers",
            upload=io.BytesIO(data),
            filename=name,
        )


# --- role matrix -------------------------------------------------------------------------------


@pytest.mark.parametrize("role", IMPORTERS + REFUSED)
def test_pages_by_role(acme, role):
    job = _start(acme, _good_file(_names(1)))
    client = client_for(acme, role)
    before = _job_count(acme)
    urls = [
        reverse("transfer:imports"),
        reverse("transfer:import_new"),
        reverse("transfer:import_map", kwargs={"pk": job.pk}),
        reverse("transfer:import_detail", kwargs={"pk": job.pk}),
        reverse("transfer:import_progress", kwargs={"pk": job.pk}),
        reverse("transfer:import_undo", kwargs={"pk": job.pk}),
    ]
    for url in urls:
        status = client.get(url).status_code
        assert status == (200 if role in IMPORTERS else 403), (url, status)
    if role in REFUSED:
        assert _upload(client, _good_file(_names(1))).status_code == 403
        for name in ("transfer:import_map", "transfer:import_commit", "transfer:import_undo"):
            response = client.post(reverse(name, kwargs={"pk": job.pk}), _map_post(job))
            assert response.status_code == 403
        assert _job_count(acme) == before
        with schema_context(acme.schema):
            assert ImportJob.objects.get(pk=job.pk).status == ImportJob.Status.UPLOADED


def test_another_tenant_sees_none_of_it(acme, globex):
    job = _start(acme, _good_file(_names(1)))
    with schema_context(globex.schema):
        assert not ImportJob.objects.filter(pk=job.pk).exists()
    client = client_for(globex, "manager")
    for name in (
        "transfer:import_map",
        "transfer:import_detail",
        "transfer:import_progress",
        "transfer:import_rejected_csv",
        "transfer:import_undo",
    ):
        assert client.get(reverse(name, kwargs={"pk": job.pk})).status_code == 404, name
    for name in ("transfer:import_commit", "transfer:import_undo", "transfer:import_map"):
        assert client.post(reverse(name, kwargs={"pk": job.pk})).status_code == 404, name
    listing = client.get(reverse("transfer:imports")).content.decode()
    assert "case.csv" not in listing or _job_count(globex) > 0


# --- the whole flow ----------------------------------------------------------------------------


def test_upload_map_check_commit_undo(acme):
    names = _names(2)
    client = client_for(acme, "manager")
    response = _upload(client, _good_file(names))
    job = _latest(acme)
    assert response.status_code == 302
    assert response.url == reverse("transfer:import_map", kwargs={"pk": job.pk})
    assert job.status == ImportJob.Status.UPLOADED and job.headers == ["姓名", "手机", "邮箱"]
    assert all(job.mapping.get(h) for h in job.headers), job.mapping

    page = client.get(response.url).content.decode()
    assert "姓名" in page and names[0] in page and "<select" in page
    assert "selected>" in page

    response = client.post(reverse("transfer:import_map", kwargs={"pk": job.pk}), _map_post(job))
    assert response.status_code == 302, response.content.decode()[:2000]
    assert response.url == reverse("transfer:import_detail", kwargs={"pk": job.pk})
    job = _latest(acme)
    assert job.status == ImportJob.Status.CHECKED
    assert (job.created_count, job.rejected_count) == (2, 0)
    assert _customers(acme, names) == 0, "a dry run writes nothing"
    detail = client.get(response.url).content.decode()
    assert (
        "Commit" in detail
        or 'action="' + reverse("transfer:import_commit", kwargs={"pk": job.pk}) in detail
    )

    response = client.post(reverse("transfer:import_commit", kwargs={"pk": job.pk}))
    assert response.status_code == 302
    assert _latest(acme).status == ImportJob.Status.DONE
    assert _customers(acme, names) == 2
    listing = client.get(reverse("transfer:imports")).content.decode()
    assert "customers.csv" in listing
    assert reverse("transfer:import_undo", kwargs={"pk": job.pk}) in listing

    confirm = client.get(reverse("transfer:import_undo", kwargs={"pk": job.pk}))
    assert confirm.status_code == 200 and _customers(acme, names) == 2, "GET only asks"
    response = client.post(reverse("transfer:import_undo", kwargs={"pk": job.pk}))
    assert response.status_code == 302
    assert _latest(acme).status == ImportJob.Status.UNDONE
    assert _customers(acme, names) == 0
    detail = client.get(reverse("transfer:import_detail", kwargs={"pk": job.pk})).content.decode()
    assert reverse("transfer:import_undo", kwargs={"pk": job.pk}) not in detail


def test_gb18030_file_with_chinese_headers_is_mapped(acme):
    names = _names(1)
    data = _csv(
        [
            ["姓名", "手机号", "邮箱", "生日"],
            [names[0], "13900001111", "gb@example.cn", "1990/3/5"],
        ],
        "gb18030",
    )
    client = client_for(acme, "manager")
    assert _upload(client, data, "客户.csv").status_code == 302
    job = _latest(acme)
    assert job.encoding.lower().replace("-", "") in ("gb18030", "gbk", "gb2312")
    assert all(job.mapping.get(h) for h in job.headers), job.mapping
    page = client.get(reverse("transfer:import_map", kwargs={"pk": job.pk})).content.decode()
    assert "手机号" in page and names[0] in page


def test_empty_file_shows_the_engines_message(acme):
    client = client_for(acme, "manager")
    before = _job_count(acme)
    response = _upload(client, b"")
    assert response.status_code == 200
    assert 'class="errorlist"' in response.content.decode()
    assert _job_count(acme) == before


def test_mapping_needs_the_required_fields_once(acme):
    job = _start(acme, _good_file(_names(1)))
    client = client_for(acme, "manager")
    url = reverse("transfer:import_map", kwargs={"pk": job.pk})
    skipped = _map_post(job, **{f"col_{i}": "" for i in range(len(job.headers))})
    response = client.post(url, skipped)
    assert response.status_code == 200 and "is required" in response.content.decode()
    first = job.mapping[job.headers[0]]
    twice = _map_post(job, col_1=first)
    response = client.post(url, twice)
    assert response.status_code == 200 and "several columns" in response.content.decode()
    assert _latest(acme).status == ImportJob.Status.UPLOADED


# --- rejected rows -----------------------------------------------------------------------------


def _checked_with_a_bad_row(acme, client, names: list[str], **options) -> ImportJob:
    data = _good_file(names) + _csv([["坏行", "not a phone", "not-an-email"]])
    _upload(client, data, "bad.csv")
    job = _latest(acme)
    client.post(reverse("transfer:import_map", kwargs={"pk": job.pk}), _map_post(job, **options))
    return _latest(acme)


def test_rejected_rows_are_listed_and_downloadable_and_block_all_or_nothing(acme):
    names = _names(2)
    client = client_for(acme, "manager")
    job = _checked_with_a_bad_row(acme, client, names)
    assert job.status == ImportJob.Status.CHECKED and job.rejected_count == 1
    detail = client.get(reverse("transfer:import_detail", kwargs={"pk": job.pk})).content.decode()
    assert "坏行" in detail
    assert "import valid rows only" in detail and "disabled" in detail

    download = client.get(reverse("transfer:import_rejected_csv", kwargs={"pk": job.pk}))
    assert download.status_code == 200
    assert "attachment" in download["Content-Disposition"]
    body = b"".join(download.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0][:3] == ["姓名", "手机", "邮箱"] and "error" in [c.lower() for c in rows[0]]
    assert [row[0] for row in rows[1:]] == ["坏行"]

    response = client.post(reverse("transfer:import_commit", kwargs={"pk": job.pk}))
    assert response.status_code == 302
    assert _latest(acme).status == ImportJob.Status.CHECKED
    assert _customers(acme, [*names, "坏行"]) == 0, "a refused commit writes nothing"


def test_valid_only_imports_the_good_rows(acme):
    names = _names(2)
    client = client_for(acme, "manager")
    job = _checked_with_a_bad_row(acme, client, names, valid_only=True)
    assert job.valid_only and job.rejected_count == 1
    client.post(reverse("transfer:import_commit", kwargs={"pk": job.pk}))
    assert _latest(acme).status == ImportJob.Status.DONE
    assert _customers(acme, names) == 2 and _customers(acme, ["坏行"]) == 0


def test_rejected_csv_needs_personal_data_access_and_a_file(acme):
    job = _start(acme, _good_file(_names(1)))
    client = client_for(acme, "manager")
    assert (
        client.get(reverse("transfer:import_rejected_csv", kwargs={"pk": job.pk})).status_code
        == 404
    )


# --- progress ----------------------------------------------------------------------------------


def test_progress_partial_polls_while_running_and_stops_when_done(acme):
    job = _start(acme, _good_file(_names(1)))
    client = client_for(acme, "manager")
    url = reverse("transfer:import_progress", kwargs={"pk": job.pk})
    with schema_context(acme.schema):
        # Queued for the worker just now (alive: crm.lib.liveness).
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportJob.Status.RUNNING, rows_total=10, rows_done=4, queued_at=timezone.now()
        )
    running = client.get(url).content.decode()
    assert "<progress" in running and 'hx-trigger="every 1s"' in running
    page = client.get(reverse("transfer:import_detail", kwargs={"pk": job.pk})).content.decode()
    assert 'hx-trigger="every 1s"' in page
    with schema_context(acme.schema):
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportJob.Status.FAILED, message="Stopped"
        )
    finished = client.get(url).content.decode()
    assert "<progress" not in finished and "hx-trigger" not in finished and "Stopped" in finished


def test_empty_list_invites_an_import(globex):
    client = client_for(globex, "manager")
    page = client.get(reverse("transfer:imports")).content.decode()
    if _job_count(globex) == 0:
        # globex works in Chinese: look for the empty state, not its English words.
        assert 'class="empty-state"' in page
    assert reverse("transfer:import_new") in page


def _list_queries(client) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(reverse("transfer:imports"))  # warm: sessions, permissions
    with CaptureQueriesContext(connection) as captured:
        assert client.get(reverse("transfer:imports")).status_code == 200
    return sum(1 for q in captured.captured_queries if "search_path" not in q["sql"])


def test_the_list_of_imports_costs_the_same_queries_for_more_finished_jobs(acme):
    client = client_for(acme, "manager")
    with schema_context(acme.schema):
        first = _start(acme, _good_file(_names(1)))
        ImportJob.objects.filter(pk=first.pk).update(status=ImportJob.Status.DONE, created_count=1)
    fewer = _list_queries(client)
    with schema_context(acme.schema):
        for _i in range(3):
            job = _start(acme, _good_file(_names(1)))
            ImportJob.objects.filter(pk=job.pk).update(
                status=ImportJob.Status.DONE, created_count=1
            )
    assert _list_queries(client) == fewer


def test_the_mapping_page_says_a_saved_mapping_was_applied(acme):
    names = _names(1)
    client = client_for(acme, "manager")
    template = f"Shop export {uuid.uuid4().hex[:6]}"
    _upload(client, _good_file(names))
    job = _latest(acme)
    url = reverse("transfer:import_map", kwargs={"pk": job.pk})
    assert "saved mapping" not in client.get(url).content.decode()
    client.post(url, _map_post(job, save_as=template))
    _upload(client, _good_file(_names(1)))
    again = _latest(acme)
    page = client.get(reverse("transfer:import_map", kwargs={"pk": again.pk})).content.decode()
    assert f"saved mapping “{template}”" in page

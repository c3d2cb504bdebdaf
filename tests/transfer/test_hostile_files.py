"""Hostile import files, each built here and sent the way an attacker with an ordinary staff
login would (issue 13): a workbook whose cells claim a huge sheet, rows of a million cells, one
enormous line, a body larger than we accept. Each gets a bounded, plain answer: the reading is
measured in a child process (a Rust abort there must not take pytest down) for its time and
peak memory, and the pages for their size and time."""

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.files.uploadhandler import FileUploadHandler
from django.urls import reverse
from django_tenants.utils import schema_context

from crm.accounts.models import User
from crm.transfer import reading, services
from crm.transfer.models import ImportJob
from tests.conftest import client_for
from tests.transfer.files import inline_row, sheet_xml, write_raw_xlsx, write_xlsx

ROOT = Path(__file__).resolve().parents[2]
# What a read may cost in the child process beyond Django's own set-up, and how long it may take
# (generous for a loaded 2-core machine: the failures these guard against cost 550 GB and an
# abort, +500 MB and 2.8 s, or minutes).
READ_SECONDS = 10.0
READ_EXTRA_MB = 120

pytestmark = pytest.mark.django_db

_CHILD = r"""
import json, os, resource, sys, time
import django
django.setup()
from django.core.exceptions import ValidationError
from crm.transfer import reading
from pathlib import Path

path = Path(sys.argv[1])
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.monotonic()
outcome = {"rows": 0, "sample": None, "refused": None, "message": ""}
try:
    info = reading.inspect_table(path, path.name)
    try:
        outcome["sample"] = reading.sample_rows(path, info, 3)
    except ValidationError as exc:
        outcome["sample"] = exc.code
    for _number, _cells in reading.iter_rows(path, info):
        outcome["rows"] += 1
except ValidationError as exc:
    outcome["refused"] = exc.code
    outcome["message"] = " ".join(exc.messages)
outcome["seconds"] = time.monotonic() - start
outcome["extra_mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
print(json.dumps(outcome))
"""


def _read_in_child(path: Path) -> dict:
    """Inspect, sample and read ``path`` in a fresh process; its outcome, time and the peak
    memory it added. The process must end normally: a SIGABRT fails the test, not pytest."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "crm.settings", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def _within_bounds(outcome: dict) -> None:
    assert outcome["seconds"] < READ_SECONDS, outcome
    assert outcome["extra_mb"] < READ_EXTRA_MB, outcome


def _cell(ref: str, text: str) -> bytes:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'.encode()


def _two_rows_and(ref: str, path: Path) -> Path:
    """A two-row workbook with one more value at ``ref``, its <dimension> claiming A1:ref."""
    row = int("".join(ch for ch in ref if ch.isdigit()))
    rows = inline_row(1, ["姓名", "手机"]) + inline_row(2, ["张三", "13900001111"])
    rows += f'<row r="{row}">'.encode() + _cell(ref, "x") + b"</row>"
    return write_raw_xlsx(path, sheet_xml(rows, dimension=f"A1:{ref}"))


# --- 1. spreadsheets sized by their own claims --------------------------------------------------


@pytest.mark.parametrize("ref", ["XFD1048576", "XFD1000"])
def test_a_value_far_to_the_right_is_refused_by_name_without_building_the_grid(tmp_path, ref):
    """calamine built the whole grid for these: 550 GB (SIGABRT) and +500 MB, 2.8 s a view."""
    path = _two_rows_and(ref, tmp_path / "far.xlsx")
    outcome = _read_in_child(path)
    _within_bounds(outcome)
    assert outcome["sample"] == [["张三", "13900001111"]]  # the rows before it still serve
    assert outcome["refused"] == "column_beyond"
    assert f"Cell {ref}" in outcome["message"] and "1,000 columns" in outcome["message"]


def test_a_value_far_down_is_read_in_time_and_memory(tmp_path):
    """B1048576 is within our columns: a million-row grid that calamine must not build."""
    path = _two_rows_and("B1048576", tmp_path / "deep.xlsx")
    outcome = _read_in_child(path)
    _within_bounds(outcome)
    assert outcome["refused"] is None
    assert outcome["rows"] == 2
    assert outcome["sample"] == [["张三", "13900001111"], ["", "x"]]


@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_the_extent_is_the_cells_wherever_they_are(tmp_path, where):
    """Cells out of order (a value at Z900000 written among the rows of a 3 MB sheet, in its
    first, a middle or its last megabyte) still set the extent calamine's grid would take."""
    rows = [inline_row(1, ["姓名", "手机", "邮箱"])]
    rows += [inline_row(n, [f"N{n}", f"1390{n:07d}", ""]) for n in range(2, 20_002)]
    stray = b'<row r="5"><c r="Z900000" t="inlineStr"><is><t>x</t></is></c></row>'
    at = {"first": 3, "middle": len(rows) // 2, "last": len(rows)}[where]
    rows.insert(at, stray)
    path = write_raw_xlsx(tmp_path / "stray.xlsx", sheet_xml(b"".join(rows)), level=1)
    extent, size = reading._xlsx_prepare(path)
    assert size > 2 * 1024 * 1024
    assert (extent.last_row, extent.last_column) == (900_000, 26)
    assert not extent.fits_calamine  # 23 million grid cells for 60,000 values
    info = reading.inspect_table(path, path.name)
    assert len(list(reading.iter_rows(path, info))) == 20_001


def test_a_header_cell_at_zzzzzzzzzzzz1_is_refused_on_upload(acme, tmp_path):
    """It gave a MemoryError 500 ([""] * (max(cells) + 1))."""
    rows = b'<row r="1">' + _cell("A1", "姓名") + _cell("ZZZZZZZZZZZZ1", "x") + b"</row>"
    path = write_raw_xlsx(tmp_path / "wide.xlsx", sheet_xml(rows))
    outcome = _read_in_child(path)
    _within_bounds(outcome)
    assert outcome["refused"] == "column_beyond"
    before = _jobs(acme)
    response = _upload(client_for(acme, "manager"), path.read_bytes(), "wide.xlsx")
    assert response.status_code == 200
    assert "Cell ZZZZZZZZZZZZ1 holds a value in column ZZZZZZZZZZZZ" in response.content.decode()
    assert _jobs(acme) == before


def test_an_empty_formatted_cell_far_away_is_ignored(tmp_path):
    """Only values are refused: Excel writes formatted empty cells, which read as nothing."""
    rows = inline_row(1, ["姓名"]) + inline_row(2, ["张三"])
    rows += b'<row r="3"><c r="XFD3" s="1"/></row>'
    path = write_raw_xlsx(tmp_path / "styled.xlsx", sheet_xml(rows, dimension="A1:XFD3"))
    info = reading.inspect_table(path, path.name)
    assert list(reading.iter_rows(path, info)) == [(2, ["张三"])]


def test_the_check_of_a_far_value_fails_with_the_message(acme, tmp_path):
    """In the worker the check died the same way and the job stayed "checking" for ever."""
    path = _two_rows_and("XFD1048576", tmp_path / "far.xlsx")
    job = _start(acme, path.read_bytes(), "far.xlsx")
    with schema_context(acme.schema):
        job = services.import_check_request(actor=_manager(acme), job=job, inline=True)
    assert job.status == ImportJob.Status.FAILED
    assert "Cell XFD1048576 holds a value in column XFD" in job.message


def test_the_mapping_page_of_a_far_value_answers_at_once(acme, tmp_path):
    """It aborted the web worker on every view (the sample read the whole grid)."""
    path = _two_rows_and("XFD1048576", tmp_path / "far.xlsx")
    job = _start(acme, path.read_bytes(), "far.xlsx")
    client = client_for(acme, "manager")
    started = time.monotonic()
    response = client.get(reverse("transfer:import_map", kwargs={"pk": job.pk}))
    assert response.status_code == 200
    assert time.monotonic() - started < 2.0
    assert "13900001111" in response.content.decode()  # the sample row before the far value


# --- 2. output bounded by what is shown ---------------------------------------------------------


def _million_cell_rows(rows: int = 3, cells: int = 1_000_000) -> bytes:
    head = "姓名,手机,邮箱\r\n"
    wide = ",".join(["x"] * cells)
    lines = [f"超长{i},1390000{i:04d},{wide}\r\n" for i in range(rows)]
    return (head + "".join(lines)).encode()


def test_rows_of_a_million_cells_keep_the_job_page_small(acme):
    """9 MB, three rows of 1,000,000 cells: the page took 97 s and 45 MB of HTML."""
    data = _million_cell_rows()
    job = _start(acme, data, "wide.csv")
    with schema_context(acme.schema):
        assert not services._inline_file(job)  # 6 MB: the worker's, whatever the estimate
        job = services.import_check_request(actor=_manager(acme), job=job, inline=True)
    assert (job.status, job.rejected_count) == ("checked", 3), job.message
    client = client_for(acme, "manager")
    started = time.monotonic()
    response = client.get(reverse("transfer:import_detail", kwargs={"pk": job.pk}))
    seconds = time.monotonic() - started
    page = response.content.decode()
    assert response.status_code == 200
    assert seconds < 1.0, seconds
    assert len(response.content) < 100_000, len(response.content)
    cut = 2 + 1_000_000 - 8  # the headers' 3 cells and 5 more are shown
    assert page.count(f"… {cut} more cells cut") == 3
    # The report shown is as small; the CSV keeps every rejected row whole.
    with schema_context(acme.schema):
        _csv_path, json_path = services.rejected_paths(job)
    assert json_path.stat().st_size < 20_000
    shown = json.loads(json_path.read_text(encoding="utf-8"))
    assert [len(item["values"]) for item in shown] == [8, 8, 8]
    assert [item["cells_cut"] for item in shown] == [cut] * 3
    download = client.get(reverse("transfer:import_rejected_csv", kwargs={"pk": job.pk}))
    body = b"".join(download.streaming_content).decode("utf-8-sig")
    lines = body.split("\r\n")
    assert [len(line.split(",")) for line in lines[1:4]] == [2 + 1_000_000 + 1] * 3


def test_a_long_cell_is_cut_on_the_page(acme):
    data = ("姓名,手机,邮箱\r\n坏行,1," + "长" * 5000 + ",extra\r\n").encode()
    job = _start(acme, data, "long.csv")
    with schema_context(acme.schema):
        job = services.import_check_request(actor=_manager(acme), job=job, inline=True)
        _csv, json_path = services.rejected_paths(job)
    shown = json.loads(json_path.read_text(encoding="utf-8"))
    assert len(shown[0]["values"][2]) == services.REJECTED_CELL_CHARS
    assert shown[0]["values"][2].endswith("…")


def test_a_million_cell_row_is_read_in_bounded_time_and_memory(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_bytes(_million_cell_rows())
    outcome = _read_in_child(path)
    _within_bounds(outcome)
    assert outcome["rows"] == 3
    assert outcome["sample"] == [[f"超长{i}", f"1390000000{i}", "x"] for i in range(3)]


# --- 3. where the work runs ---------------------------------------------------------------------


def test_a_long_first_line_does_not_put_a_large_file_in_the_request(acme):
    """The estimate from the first 64 KB saw a few rows; the file holds 60,000."""
    lines = ["姓名,手机,邮箱", "长行,13900000000," + "a" * 65_400]
    lines += [f"N{i},1390{i:07d}," for i in range(60_000)]
    data = "\r\n".join(lines).encode()
    job = _start(acme, data, "long-first.csv")
    assert job.rows_total is not None and job.rows_total < 2000  # the estimate, fooled
    with schema_context(acme.schema):
        assert not services._inline_file(job)
        job = services.import_check_request(actor=_manager(acme), job=job)
    assert job.status == ImportJob.Status.CHECKING  # the worker's


def test_a_false_dimension_does_not_put_a_large_sheet_in_the_request(acme, tmp_path):
    rows = inline_row(1, ["姓名", "手机"])
    rows += b"".join(inline_row(n, [f"N{n}", f"1390{n:07d}"]) for n in range(2, 5002))
    path = write_raw_xlsx(tmp_path / "claim.xlsx", sheet_xml(rows, dimension="A1:B3"))
    job = _start(acme, path.read_bytes(), "claim.xlsx")
    with schema_context(acme.schema):
        assert not services._inline_file(job)
        job = services.import_check_request(actor=_manager(acme), job=job)
    assert job.status == ImportJob.Status.CHECKING


def test_a_small_file_is_still_checked_in_the_request(acme, tmp_path):
    path = write_xlsx(tmp_path / "small.xlsx", [["姓名", "手机"], ["张三", "13900001111"]])
    job = _start(acme, path.read_bytes(), "small.xlsx")
    with schema_context(acme.schema):
        assert services._inline_file(job)
        job = services.import_check_request(actor=_manager(acme), job=job)
    assert job.status == ImportJob.Status.CHECKED


# --- 4. reading in linear time; refusing oversized bodies as they stream in ---------------------


def test_one_enormous_gb18030_line_is_refused_in_linear_time(tmp_path):
    """A GB18030 file with one 64 MB line: the UTF-8 line search rebuilt the line for every
    1 MB read (quadratic: 100 MB took 4 s and +380 MB); the reader now refuses the line."""
    path = tmp_path / "line.csv"
    with path.open("wb") as out:
        out.write("姓名,备注\r\n".encode("gb18030"))
        block = ("张" * 512 * 1024).encode("gb18030")  # 1 MB
        for _ in range(64):
            out.write(block)
        out.write(b"\r\n")
    outcome = _read_in_child(path)
    _within_bounds(outcome)
    assert outcome["refused"] == "line_too_long"
    assert "Row 2 is longer than 4 MB" in outcome["message"]


def test_a_utf8_line_after_long_lines_is_still_found(tmp_path):
    """The search joins a long line's pieces once: what follows it is searched as before."""
    path = tmp_path / "mixed.csv"
    long_line = ("张" * 1_500_000).encode("gb18030")  # 3 MB, three chunks
    path.write_bytes(
        "姓名,备注\r\n".encode("gb18030")
        + b"a,"
        + long_line
        + b"\r\n"
        + "李四,老客户\r\n".encode("gb18030")
        + "王五,需要回访\r\n".encode()
    )
    assert reading._utf8_line_in(path) == 3


def _measure_search(path: Path) -> float:
    started = time.perf_counter()
    reading._utf8_line_in(path)
    return time.perf_counter() - started


def test_the_utf8_line_search_is_linear_in_the_line(tmp_path):
    """Lines just under the limit: four times the line costs about four times the time
    (quadratic would be sixteen)."""
    times = {}
    for megabytes in (3, 12):
        path = tmp_path / f"{megabytes}.csv"
        path.write_bytes(
            b"name,note\r\n" + b"a," + ("张" * (megabytes * 512 * 1024)).encode("gb18030")
        )
        times[megabytes] = min(_measure_search(path) for _ in range(3))
    assert times[12] < 8 * times[3] + 0.05, times


class SpoolWatch(FileUploadHandler):
    """Put after the view's UploadLimit: counts the bytes that got past it towards storage."""

    received: list[int] = []

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        SpoolWatch.received.append(len(raw_data))
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


@pytest.fixture
def small_uploads(settings):
    """A 256 KB import limit; the bytes that reach Django's own handlers are counted."""
    settings.CRM_IMPORT_MAX_BYTES = 256 * 1024
    settings.FILE_UPLOAD_HANDLERS = [
        "tests.transfer.test_hostile_files.SpoolWatch",
        "django.core.files.uploadhandler.MemoryFileUploadHandler",
        "django.core.files.uploadhandler.TemporaryFileUploadHandler",
    ]
    SpoolWatch.received = []
    return SpoolWatch.received


@pytest.mark.parametrize("size", [4 * 1024 * 1024, 256 * 1024 + 1])
def test_an_oversized_upload_is_refused_while_it_streams_in(acme, small_uploads, size):
    """4 MB: refused from the request's length before a byte is stored; one byte over: refused
    as that byte arrives. Either way the form says why and no file or job is left."""
    client = client_for(acme, "manager")
    before = _jobs(acme)
    data = b"name,phone\r\n" + b"x" * (size - 12)
    response = _upload(client, data, "big.csv")
    assert response.status_code == 200
    page = response.content.decode()
    assert "This file is larger than 0.25 MB" in page
    assert "This field is required" not in page
    assert sum(small_uploads) <= 256 * 1024
    if size > 1024 * 1024:
        assert small_uploads == []  # nothing passed on, let alone written
    assert _jobs(acme) == before


def test_an_upload_at_the_limit_passes_through(acme, small_uploads):
    client = client_for(acme, "manager")
    head = "姓名,手机\r\n张三,13900001111\r\n".encode()
    data = head + b" " * (256 * 1024 - len(head))
    response = _upload(client, data, "edge.csv")
    assert response.status_code == 302, response.content.decode()[:2000]
    assert sum(small_uploads) == 256 * 1024


# --- helpers ------------------------------------------------------------------------------------


def _manager(member) -> User:
    return User.objects.get(pk=member.manager.pk)


def _jobs(member) -> int:
    with schema_context(member.schema):
        return ImportJob.objects.count()


def _upload(client, data: bytes, name: str):
    return client.post(
        reverse("transfer:import_new"),
        {"kind": "customers", "file": SimpleUploadedFile(name, data, content_type="text/csv")},
    )


def _start(member, data: bytes, name: str) -> ImportJob:
    with schema_context(member.schema):
        return services.import_start(
            actor=_manager(member), kind="customers", upload=io.BytesIO(data), filename=name
        )

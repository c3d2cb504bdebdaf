"""An import run holds back Python's automatic garbage collections (crm.lib.collector: they
traversed the whole heap again and again, about 4 s of a 100,000-customer dry run and commit)
and collects what a batch left itself: a cycle made in one batch is gone by the next, and the
collector is back on afterwards, also when the run fails."""

import gc
import io
import weakref
from collections.abc import Sequence
from typing import Any

import pytest
from django.utils.translation import gettext_lazy
from django_tenants.utils import schema_context

from crm.lib.collector import collector_paused
from crm.transfer import services
from crm.transfer.models import ImportJob
from crm.transfer.registry import (
    BATCH_ROWS,
    BatchOutcome,
    ImportField,
    ImportKind,
    ImportRun,
    SourceRow,
    register_import_kind,
    unregister_import_kind,
)
from tests.transfer.test_import_engine import csv_bytes

pytestmark = pytest.mark.django_db


class _Cycle:
    def __init__(self) -> None:
        self.me = self


class _ProbeRun(ImportRun):
    def __init__(self, kind: "ProbeImport") -> None:
        self.kind = kind
        self.last_cycle: weakref.ref[_Cycle] | None = None

    def batch(self, rows: Sequence[SourceRow]) -> BatchOutcome:
        earlier = self.last_cycle() if self.last_cycle is not None else None
        self.kind.seen.append(
            {"collector_on": gc.isenabled(), "earlier_cycle_alive": earlier is not None}
        )
        del earlier
        if any(r.values.get("word") == "fail" for r in rows):
            raise RuntimeError("a batch failed")
        cycle = _Cycle()  # garbage only the collector can free
        self.last_cycle = weakref.ref(cycle)
        del cycle
        return BatchOutcome(unchanged=len(rows))


class ProbeImport(ImportKind):
    key = "collector_probe"
    label = gettext_lazy("Collector probe")

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    @property
    def fields(self) -> list[ImportField]:
        return [ImportField("word", gettext_lazy("Word"), required=True)]

    def start(self, job: ImportJob, *, write: bool) -> ImportRun:
        return _ProbeRun(self)

    def undo_blocker(self, job: ImportJob) -> str | None:
        return None

    def undo(self, job: ImportJob) -> None:
        pass


@pytest.fixture
def probe():
    kind = ProbeImport()
    register_import_kind(kind)
    yield kind
    unregister_import_kind(kind.key)


def _check(acme: Any, words: list[str]) -> ImportJob:
    data = csv_bytes([["word"], *[[w] for w in words]])
    with schema_context(acme.schema):
        job = services.import_start(
            actor=None, kind=ProbeImport.key, upload=io.BytesIO(data), filename="words.csv"
        )
        job = services.import_configure(
            actor=None, job=job, mapping={"word": "word"}, valid_only=False
        )
        return services.import_check_request(actor=None, job=job, inline=True)


def test_a_run_pauses_the_collector_and_frees_a_batchs_cycles_by_the_next(acme, probe):
    assert gc.isenabled()
    job = _check(acme, ["word"] * (BATCH_ROWS * 2 + 1))
    assert job.status == ImportJob.Status.CHECKED, job.message
    assert [s["collector_on"] for s in probe.seen] == [False, False, False]
    assert [s["earlier_cycle_alive"] for s in probe.seen] == [False, False, False]
    assert gc.isenabled(), "the collector is back on after the run"


def test_the_collector_is_back_on_after_a_failed_run(acme, probe):
    job = _check(acme, ["word", "fail"])
    assert job.status == ImportJob.Status.FAILED
    assert probe.seen and probe.seen[0]["collector_on"] is False
    assert gc.isenabled()


def test_a_pause_leaves_a_collector_that_was_off_off():
    gc.disable()
    try:
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
    with pytest.raises(ValueError), collector_paused():
        raise ValueError
    assert gc.isenabled()

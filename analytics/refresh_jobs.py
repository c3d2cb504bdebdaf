"""Refresh jobs: a refresh asked for from the page (run by a worker, with status and progress the
page polls) or by the nightly task (run in that task). One busy job per tenant: the table's
partial unique index refuses a second, and a job whose runner died is settled by whoever looks
(crm.lib.liveness), so a dead run never blocks the button for good."""

from __future__ import annotations

import datetime
import logging

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from analytics.models import RefreshJob
from analytics.refresh import analytics_refresh
from crm.accounts.models import User
from crm.lib import liveness
from crm.lib.audit_actor import writes

logger = logging.getLogger(__name__)

JOB_TABLE = "analytics_refreshjob"


def _fail_dead(job: RefreshJob) -> int:
    """Mark a job whose runner died (or never came) failed, matching the row as it was read."""
    message = (
        _("The refresh stopped without finishing (its process ended); start it again.")
        if job.taken_at
        else _("No worker started this refresh in time; start it again.")
    )
    return RefreshJob.objects.filter(pk=job.pk, status=job.status, taken_at=job.taken_at).update(
        status=RefreshJob.Status.FAILED, error=message, finished_at=timezone.now()
    )


def refresh_jobs_settle() -> int:
    """Fail every busy job whose runner is gone; how many."""
    settled = 0
    for job in RefreshJob.objects.filter(status__in=RefreshJob.BUSY):
        if liveness.job_is_dead(
            table=JOB_TABLE, pk=job.pk, taken_at=job.taken_at, queued_at=job.queued_at
        ):
            settled += _fail_dead(job)
    return settled


def refresh_job_current() -> RefreshJob | None:
    """The busy job after settling dead ones, else the latest one (None: never refreshed)."""
    refresh_jobs_settle()
    return RefreshJob.objects.order_by("-id").first()


def _claim(*, actor: User | None, as_of: datetime.date | None) -> RefreshJob:
    refresh_jobs_settle()
    try:
        with transaction.atomic():
            return RefreshJob.objects.create(
                status=RefreshJob.Status.QUEUED,
                as_of=as_of,
                requested_by=actor,
                queued_at=timezone.now(),
            )
    except IntegrityError:
        raise ValidationError(
            _("A refresh is already running; its progress is shown below.")
        ) from None


@writes
def refresh_job_request(*, actor: User | None, as_of: datetime.date | None = None) -> RefreshJob:
    """Queue a refresh for a worker (the task is sent once this commits). Refused while
    another refresh is busy."""
    from analytics.tasks import refresh_job_run_task

    job = _claim(actor=actor, as_of=as_of)
    transaction.on_commit(lambda: refresh_job_run_task.delay(job.pk))
    return job


def refresh_job_run(job_id: int) -> RefreshJob | None:
    """Run a queued job once (a duplicated or redelivered task changes nothing), holding its
    liveness lock until its final status is committed."""
    with liveness.RunnerHold(JOB_TABLE, job_id) as hold:
        if not hold.acquired:
            return None  # another worker runs it
        taken = RefreshJob.objects.filter(
            pk=job_id, status=RefreshJob.Status.QUEUED, taken_at=None
        ).update(status=RefreshJob.Status.RUNNING, taken_at=timezone.now())
        job = RefreshJob.objects.filter(pk=job_id).select_related("requested_by").first()
        if job is None:
            return None
        if not taken:
            if job.status == RefreshJob.Status.RUNNING:
                _fail_dead(job)  # taken by a runner that died: not run twice
            return job
        return _run(job)


def _run(job: RefreshJob) -> RefreshJob:
    def progress(done: int, total: int, label: str) -> None:
        RefreshJob.objects.filter(pk=job.pk).update(
            steps_done=done, steps_total=total, step_label=label[:100]
        )

    try:
        summary = analytics_refresh(as_of=job.as_of, actor=job.requested_by, progress=progress)
    except Exception as exc:
        logger.exception("analytics refresh %s failed", job.pk)
        RefreshJob.objects.filter(pk=job.pk, status=RefreshJob.Status.RUNNING).update(
            status=RefreshJob.Status.FAILED,
            error=str(exc)[:1000] or exc.__class__.__name__,
            finished_at=timezone.now(),
        )
    else:
        RefreshJob.objects.filter(pk=job.pk, status=RefreshJob.Status.RUNNING).update(
            status=RefreshJob.Status.DONE, summary=summary, finished_at=timezone.now()
        )
    job.refresh_from_db()
    return job


def refresh_job_run_here(*, actor: User | None, as_of: datetime.date | None) -> RefreshJob:
    """Claim and run a refresh in this process (the command line); refused while another
    refresh is busy."""
    job = _claim(actor=actor, as_of=as_of)
    ran = refresh_job_run(job.pk)
    assert ran is not None  # just claimed here: nobody else holds it
    return ran


def refresh_nightly() -> RefreshJob | None:
    """The nightly refresh, run here in the task (None: one was busy already, which will
    bring the scores up to date by itself)."""
    try:
        job = _claim(actor=None, as_of=None)
    except ValidationError:
        return None
    return refresh_job_run(job.pk)

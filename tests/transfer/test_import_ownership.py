"""Import jobs belong to their importer: another importer's job is a 404 on every job page and
action (and changes nothing), the list shows one's own jobs only, and administrators see and may
act on every job (as with exports). A job whose uploader is gone is refused, not run unscoped."""

import io
import uuid

import pytest
from django.test import Client
from django.urls import reverse
from django_tenants.utils import schema_context

from crm.accounts import capabilities as cap
from crm.accounts.models import User
from crm.accounts.services import role_create, staff_create
from crm.transfer import services
from crm.transfer.models import ImportJob
from crm.transfer.selectors import import_jobs
from customers.models import Customer
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def _importer(member, scope: str = "all") -> User:
    tag = uuid.uuid4().hex[:6]
    with schema_context(member.schema):
        role = role_create(
            actor=None,  # type: ignore[arg-type]
            name=f"Importer {tag}",
            description="",
            scope=scope,
            codenames=[cap.VIEW, cap.IMPORT, cap.PERSONAL_DATA],
        )
        return staff_create(
            actor=None,
            email=f"imp-{tag}@acme.test",
            full_name=f"Importer {tag}",
            role=role,
            password=None,
        )


def _client(member, user: User) -> Client:
    client = Client(HTTP_HOST=member.host)
    with schema_context(member.schema):
        client.force_login(User.objects.get(pk=user.pk))
    return client


def _job(member, owner: User, name: str, *, checked: bool = True, bad: bool = True) -> ImportJob:
    rows = f"姓名,手机\r\n{name},13800138000\r\n" + ("坏行,12\r\n" if bad else "")
    with schema_context(member.schema):
        job = services.import_start(
            actor=owner, kind="customers", upload=io.BytesIO(rows.encode()), filename="own.csv"
        )
        if checked:
            job = services.import_configure(
                actor=owner,
                job=job,
                mapping=job.mapping,
                match_by="phone",
                update_existing=True,
                valid_only=True,
            )
            job = services.import_check_request(actor=owner, job=job, inline=True)
        return job


def test_another_importers_job_is_a_404_everywhere_and_changes_nothing(acme):
    owner, stranger = _importer(acme), _importer(acme)
    name = f"Own {uuid.uuid4().hex[:6]}"
    job = _job(acme, owner, name)
    assert job.status == ImportJob.Status.CHECKED and job.rejected_count == 1
    client = _client(acme, stranger)
    pk = {"pk": job.pk}
    for view in (
        "import_detail",
        "import_map",
        "import_progress",
        "import_rejected_csv",
        "import_undo",
    ):
        assert client.get(reverse(f"transfer:{view}", kwargs=pk)).status_code == 404, view
    remap = {f"col_{i}": "" for i in range(len(job.headers))} | {"match_by": "phone"}
    for view, data in (("import_map", remap), ("import_commit", {}), ("import_undo", {})):
        assert client.post(reverse(f"transfer:{view}", kwargs=pk), data).status_code == 404, view
    listing = client.get(reverse("transfer:imports")).content.decode()
    assert f"/imports/{job.pk}/" not in listing
    with schema_context(acme.schema):
        fresh = ImportJob.objects.get(pk=job.pk)
        assert (fresh.status, fresh.mapping) == (ImportJob.Status.CHECKED, job.mapping)
        assert not Customer.objects.filter(name=name).exists()
    # The owner sees it and commits it; then the stranger still cannot undo it.
    mine = _client(acme, owner)
    assert f"/imports/{job.pk}/" in mine.get(reverse("transfer:imports")).content.decode()
    assert mine.get(reverse("transfer:import_rejected_csv", kwargs=pk)).status_code == 200
    assert mine.post(reverse("transfer:import_commit", kwargs=pk)).status_code == 302
    assert client.post(reverse("transfer:import_undo", kwargs=pk)).status_code == 404
    with schema_context(acme.schema):
        assert ImportJob.objects.get(pk=job.pk).status == ImportJob.Status.DONE
        assert Customer.objects.filter(name=name).count() == 1


def test_a_manager_sees_only_their_own_jobs_and_an_admin_sees_and_undoes_every_one(acme):
    owner = _importer(acme)
    name = f"Adm {uuid.uuid4().hex[:6]}"
    job = _job(acme, owner, name, bad=False)
    manager_job = _job(acme, acme.manager, f"Mgr {name}", checked=False)
    with schema_context(acme.schema):
        manager = User.objects.get(pk=acme.manager.pk)
        admin = User.objects.get(pk=acme.admin.pk)
        assert set(import_jobs(manager).values_list("pk", flat=True)) >= {manager_job.pk}
        assert job.pk not in set(import_jobs(manager).values_list("pk", flat=True))
        assert {job.pk, manager_job.pk} <= set(import_jobs(admin).values_list("pk", flat=True))
    assert (
        client_for(acme, "manager")
        .get(reverse("transfer:import_detail", kwargs={"pk": job.pk}))
        .status_code
        == 404
    )
    admin_client = client_for(acme, "admin")
    assert (
        admin_client.get(reverse("transfer:import_detail", kwargs={"pk": job.pk})).status_code
        == 200
    )
    admin_client.post(reverse("transfer:import_commit", kwargs={"pk": job.pk}))
    admin_client.post(reverse("transfer:import_undo", kwargs={"pk": job.pk}))
    with schema_context(acme.schema):
        assert ImportJob.objects.get(pk=job.pk).status == ImportJob.Status.UNDONE
        assert not Customer.objects.filter(name=name).exists()


def test_a_job_whose_uploader_is_gone_is_refused_not_run_unscoped(acme):
    owner = _importer(acme)
    job = _job(acme, owner, f"Gone {uuid.uuid4().hex[:6]}", checked=False)
    with schema_context(acme.schema):
        assert not job.by_operator
        ImportJob.objects.filter(pk=job.pk).update(created_by=None)
        job = ImportJob.objects.get(pk=job.pk)
        job = services.import_configure(
            actor=None,
            job=job,
            mapping=job.mapping,
            match_by="phone",
            update_existing=True,
            valid_only=True,
        )
        job = services.import_check_request(actor=None, job=job, inline=True)
        assert job.status == ImportJob.Status.FAILED
        assert "no longer here" in job.message

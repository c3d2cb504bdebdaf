"""The audit actor contract (crm.lib.audit_actor): every service that writes takes the acting
user as a keyword-only `actor: User | None` and names that actor in the log itself, whoever
calls it; system work is named ("system: <task name>", "command line"), never blank."""

import importlib
import inspect
import pkgutil
import types
from collections.abc import Callable

import pytest
from django.apps import apps
from django_tenants.utils import schema_context

from crm.accounts.models import AuditEntry, User
from crm.lib.audit_actor import WRITING_SERVICES, audit_actor, system_actor
from customers.models import Customer
from customers.services import CustomerInput, customer_create, customer_stage_set

# Modules that hold writes besides the apps' services.py / *_services.py.
EXTRA_SERVICE_MODULES = ["customers.merge", "customers.privacy", "crm.transfer.exporting"]

# Public functions of service modules that are not writing services, and why.
NOT_WRITING_SERVICES = {
    # Reads, or pure helpers that change nothing.
    "crm.accounts.services.staff_seat_limit": "read",
    "crm.accounts.services.staff_seats_used": "read",
    "crm.accounts.services.invitation_for_token": "read",
    "crm.tenants.services.tenant_host": "pure",
    "crm.tenants.services.tenant_build": "an unsaved tenant, for tenant_create and archives",
    "crm.tenants.services.platform_prepare": "setup of the public schema, before any user",
    "customers.services.tenant_phone_region": "read",
    "customers.services.clean_contacts": "validation",
    "customers.merge.merge_relation_register": "start-up registration",
    "customers.merge.merge_relations": "read",
    "customers.merge.merge_handler_register": "start-up registration",
    "customers.merge.default_choices": "pure",
    "customers.merge.merge_field_names": "pure",
    "customers.merge.register_defaults": "start-up registration",
    "crm.transfer.services.import_dir": "path",
    "crm.transfer.services.job_path": "path",
    "crm.transfer.services.rejected_paths": "path",
    "crm.transfer.services.rejected_shown_cells": "pure",
    "crm.transfer.services.proposed_mapping": "pure",
    "crm.transfer.exporting.export_kind_register": "start-up registration",
    "crm.transfer.exporting.export_kinds": "read",
    "crm.transfer.exporting.export_kind": "read",
    "crm.transfer.exporting.csv_chunks": "pure",
    "crm.transfer.exporting.write_csv": "writes a file, no rows",
    "crm.transfer.exporting.write_xlsx": "writes a file, no rows",
    "crm.transfer.exporting.export_dir": "path",
    "crm.transfer.exporting.export_path": "path",
    "crm.transfer.exporting.export_audit": "an audit event with its actor given",
    # The person acting has no account until it exists; the rows are the system's.
    "crm.accounts.services.invitation_accept": "acts before its user exists",
    # Runners of work a writing service asked for (with its actor) or that a task starts;
    # inside a task they are named "system: <task name>" by the task hooks.
    "crm.transfer.services.import_check_run": "runner of import_check_request",
    "crm.transfer.services.import_commit_run": "runner of import_commit_request",
    "crm.transfer.services.import_undo_run": "runner of import_undo_request",
    "crm.transfer.services.imports_settle": "task upkeep",
    "crm.transfer.services.imports_expire": "task upkeep",
    "crm.transfer.exporting.export_run": "runner of export_job_request",
    "crm.transfer.exporting.exports_settle": "task upkeep",
    "crm.transfer.exporting.exports_expire": "task upkeep",
    "customers.privacy.customers_erase_again": "runner of a restore, names its own actor",
}


def _service_modules() -> list[types.ModuleType]:
    names = set(EXTRA_SERVICE_MODULES)
    for config in apps.get_app_configs():
        if not config.name.startswith(("crm.", "customers")):
            continue
        for info in pkgutil.iter_modules([config.path]):
            if info.name == "services" or info.name.endswith("_services"):
                names.add(f"{config.name}.{info.name}")
    return [importlib.import_module(name) for name in sorted(names)]


def _public_functions() -> dict[str, Callable[..., object]]:
    found: dict[str, Callable[..., object]] = {}
    for module in _service_modules():
        for name, value in vars(module).items():
            if name.startswith("_") or not inspect.isfunction(value):
                continue
            if inspect.unwrap(value).__module__ != module.__name__:
                continue  # imported, not defined here
            found[f"{module.__name__}.{name}"] = value
    return found


def test_every_public_function_of_a_service_module_is_a_writing_service_or_said_not_to_be():
    functions = _public_functions()
    unregistered = sorted(
        name
        for name, func in functions.items()
        if name not in NOT_WRITING_SERVICES and WRITING_SERVICES.get(name) is not func
    )
    assert unregistered == [], "mark with @writes (crm.lib.audit_actor) or say why not"
    stale = sorted(set(NOT_WRITING_SERVICES) - set(functions))
    assert stale == [], "exemptions for functions that are gone"
    assert len(WRITING_SERVICES) >= 50


@pytest.mark.parametrize("name", sorted(WRITING_SERVICES))
def test_a_writing_service_takes_a_keyword_only_actor_typed_user_or_none(name):
    func = inspect.unwrap(WRITING_SERVICES[name])
    parameter = inspect.signature(func).parameters["actor"]
    assert parameter.kind is inspect.Parameter.KEYWORD_ONLY
    assert parameter.default is inspect.Parameter.empty, "callers must say who acts"
    annotation = parameter.annotation
    assert annotation in ("User | None", User | None), annotation


@pytest.mark.django_db
def test_a_service_names_its_actor_without_a_request_and_gives_the_outer_one_back(acme):
    with schema_context(acme.schema):
        manager = User.objects.get(pk=acme.manager.pk)
        # No middleware and no audit_actor around: the service alone tells the triggers.
        customer = customer_create(actor=manager, data=CustomerInput(name="Actor walk"))
        created = AuditEntry.objects.get(
            table_name="customers_customer", action="insert", record_id=str(customer.pk)
        )
        assert (created.actor_id, created.actor_label) == (manager.pk, manager.email)

        with system_actor("nightly check"):
            customer_stage_set(actor=None, customer=customer, stage="loyal")
            # Back to the outer actor once the service returns.
            Customer.objects.filter(pk=customer.pk).update(notes="after the service")
        entries = list(
            AuditEntry.objects.filter(
                table_name="customers_customer", action="update", record_id=str(customer.pk)
            ).order_by("pk")
        )
        assert [(e.actor_id, e.actor_label) for e in entries] == [
            (None, "system: nightly check"),
            (None, "system: nightly check"),
        ]
        assert entries[0].after["stage"] == "loyal"
        assert entries[1].after["notes"] == "after the service"

        with audit_actor(manager):
            customer_stage_set(actor=None, customer=customer, stage="new")
            Customer.objects.filter(pk=customer.pk).update(notes="the manager again")
        last_two = list(
            AuditEntry.objects.filter(
                table_name="customers_customer", action="update", record_id=str(customer.pk)
            ).order_by("-pk")[:2]
        )
        # The system acted inside the manager's block (plain "system", not the manager), and
        # the manager's block resumed afterwards.
        assert [(e.actor_id, e.actor_label) for e in reversed(last_two)] == [
            (None, "system"),
            (manager.pk, manager.email),
        ]

        # Outside every block nothing is left told on the connection.
        Customer.objects.filter(pk=customer.pk).update(notes="nobody")
        last = AuditEntry.objects.filter(table_name="customers_customer").latest("pk")
        assert (last.actor_id, last.actor_label) == (None, "system")


def test_a_service_without_a_keyword_only_actor_is_refused_at_import():
    from crm.lib.audit_actor import writes

    def positional(actor: User | None) -> None:
        pass

    def missing(*, user: User | None) -> None:
        pass

    for func in (positional, missing):
        with pytest.raises(TypeError, match="keyword-only actor"):
            writes(func)
    assert not any(name.endswith((".positional", ".missing")) for name in WRITING_SERVICES)


@pytest.mark.django_db
def test_a_task_that_writes_without_a_user_is_named_in_the_log(acme):
    """Run here through Celery's own tracer (task_prerun/postrun fire as in the worker; the
    worker itself: tests/customers/test_stages.py)."""
    from customers.tasks import stages_derive_task

    with schema_context(acme.schema):
        customer = customer_create(actor=None, data=CustomerInput(name="Task walk"))
        Customer.objects.filter(pk=customer.pk).update(stage="loyal")
        assert stages_derive_task.apply().successful()
        entry = AuditEntry.objects.filter(
            table_name="customers_customer",
            action="update",
            record_id=str(customer.pk),
            after__stage="lead",
        ).get()
        assert (entry.actor_id, entry.actor_label) == (
            None,
            "system: customers.tasks.stages_derive",
        )
        # The task's name is gone from the connection once it ends.
        Customer.objects.filter(pk=customer.pk).update(notes="after the task")
        last = AuditEntry.objects.filter(table_name="customers_customer").latest("pk")
        assert last.actor_label == "system"

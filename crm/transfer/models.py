"""Imports and exports, with what an import changed so it can be undone."""

from typing import Any

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.accounts.models import User


class ImportJob(models.Model):
    """One uploaded file on its way in: mapped, checked (dry run), committed, perhaps undone."""

    class Status(models.TextChoices):
        UPLOADED = "uploaded", _("Uploaded")  # file kept, headers read, mapping proposed
        CHECKING = "checking", _("Checking")  # dry run running
        CHECKED = "checked", _("Checked")  # dry run done: counts and rejected rows known
        RUNNING = "running", _("Importing")  # commit running
        DONE = "done", _("Imported")
        FAILED = "failed", _("Not imported")  # refused or crashed: nothing was written
        UNDOING = "undoing", _("Undoing")
        UNDONE = "undone", _("Undone")

    kind = models.CharField(_("kind"), max_length=30)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.UPLOADED
    )
    original_name = models.CharField(_("file"), max_length=255)
    # Relative to the tenant's file root, reached through crm.tenants.files.tenant_file_path;
    # never served directly.
    file_path = models.CharField(max_length=500)
    size_bytes = models.BigIntegerField(default=0)
    file_format = models.CharField(max_length=10)  # "csv" or "xlsx"
    encoding = models.CharField(max_length=20, blank=True)
    delimiter = models.CharField(max_length=2, blank=True)
    headers = ArrayField(models.CharField(max_length=200), default=list, blank=True)
    # {header as in the file: field key, or "" to skip the column}
    mapping = models.JSONField(default=dict, blank=True)
    # The kind's options as chosen ({ImportOption.key: value}, every declared key; see
    # crm.transfer.registry.ImportOption). "Valid rows only" is the engine's, for every kind.
    options = models.JSONField(default=dict, blank=True)
    valid_only = models.BooleanField(_("import valid rows only"), default=False)
    rows_total = models.PositiveIntegerField(null=True, blank=True)
    rows_done = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    unchanged_count = models.PositiveIntegerField(default=0)
    rejected_count = models.PositiveIntegerField(default=0)
    # The rejected rows as a CSV of the original rows plus an error column (relative to the
    # tenant's file root, like file_path).
    rejected_path = models.CharField(max_length=500, blank=True)
    message = models.TextField(blank=True)
    task_id = models.CharField(max_length=50, blank=True)
    # The importer: the job is theirs (administrators see every job) and its rows match and
    # update only the customers they may see (crm.transfer.selectors.import_importer).
    created_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    # Started by the platform operator (the import_records command, code with no user): no
    # importer, and matching sees every record of the tenant.
    by_operator = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    checked_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    # Liveness of a busy job (crm.lib.liveness): when it was handed to a runner, and when a
    # runner took it (holding the job's advisory lock from then on).
    queued_at = models.DateTimeField(null=True, blank=True)
    taken_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["kind", "status"], name="import_kind_status")]

    def __str__(self) -> str:
        return f"{self.kind}: {self.original_name}"

    def option(self, key: str) -> Any:
        """The chosen value of the kind's option `key` (None when the job has none)."""
        return (self.options or {}).get(key)


class ImportChange(models.Model):
    """A record an import created or updated, with its before-image for undo."""

    class Action(models.TextChoices):
        CREATED = "created", _("Created")
        UPDATED = "updated", _("Updated")

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="changes")
    model = models.CharField(max_length=100)  # "app_label.modelname"
    object_id = models.BigIntegerField()
    action = models.CharField(max_length=10, choices=Action.choices)
    # The row (and its contacts) as it was before the import; null for created records.
    before = models.JSONField(null=True, blank=True)

    class Meta:
        # The unique constraint's index also serves undo's "this job's changes" reads.
        constraints = [
            models.UniqueConstraint(
                fields=["job", "model", "object_id"], name="import_change_once_per_job"
            )
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.model} #{self.object_id}"


class MappingTemplate(models.Model):
    """A saved column mapping to reuse for the next file of the same shape."""

    kind = models.CharField(max_length=30)
    name = models.CharField(_("name"), max_length=100)
    mapping = models.JSONField(default=dict)
    created_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["kind", "name"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "name"], name="mapping_template_name_per_kind")
        ]

    def __str__(self) -> str:
        return self.name


class ExportJob(models.Model):
    """A large export written by a worker, downloadable from the exports page."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Ready")
        FAILED = "failed", _("Failed")

    kind = models.CharField(max_length=30)
    # The list's filter as a query string, re-applied with the user's own scope and masking.
    query = models.CharField(max_length=2000, blank=True)
    file_format = models.CharField(max_length=10)  # "csv" or "xlsx"
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    rows_total = models.PositiveIntegerField(null=True, blank=True)
    rows_done = models.PositiveIntegerField(default=0)
    # Relative to the tenant's file root (crm.tenants.files), like ImportJob.file_path.
    file_path = models.CharField(max_length=500, blank=True)
    message = models.TextField(blank=True)
    # Whether the file holds personal data unmasked (its writer could see it then). Such a file
    # is handed only to whoever may see personal data when they ask for it. True by default, so
    # a file of unknown content counts as unmasked.
    unmasked = models.BooleanField(default=True)
    created_by = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    # When a worker took the job (crm.lib.liveness; it was queued at created_at).
    taken_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.file_format}"

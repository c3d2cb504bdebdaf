from django.apps import AppConfig


class TransferConfig(AppConfig):
    """Import and export of records as CSV and Excel. Apps register the kinds they offer
    (customers, orders; later tickets, points) with crm.transfer.registry."""

    name = "crm.transfer"
    label = "transfer"
    verbose_name = "Import and export"

    def ready(self) -> None:
        from django.utils.translation import gettext_lazy as _

        from crm.accounts.audit_labels import ACTIONS, register_table
        from crm.transfer import (
            erasure,
            tasks_exports,  # noqa: F401  (registers the export tasks)
            tasks_imports,  # noqa: F401  (registers the import tasks)
        )

        erasure.register()
        ACTIONS.setdefault("import upload", _("Uploaded a file to import"))
        ACTIONS.setdefault("import undo", _("Undid an import"))
        register_table("transfer_mappingtemplate", _("Saved import mapping"))

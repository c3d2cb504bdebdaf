"""The options the customers and orders imports offer besides the mapping (declared here once,
stored by the engine in ImportJob.options, shown by the wizard and import_records)."""

from django.utils.translation import gettext_lazy as _

from crm.transfer.registry import ImportOption

MATCH_LABELS = {
    "external_id": _("External id"),
    "phone": _("Phone"),
    "email": _("Email"),
}


def match_option(fields: dict[str, str]) -> ImportOption:
    """How rows find the customer (or the order's customer) they are about: one of `fields`'
    keys, in order, the first the default; each needs its field ({option: field key}) mapped."""
    return ImportOption(
        key="match_by",
        label=_("Match existing records by"),
        default=next(iter(fields)),
        choices=tuple((option, MATCH_LABELS[option]) for option in fields),
        requires=tuple(fields.items()),
        flag="--match",
    )


UPDATE_EXISTING = ImportOption(
    key="update_existing",
    label=_("Update existing records"),
    help=_("Otherwise rows matching an existing record are left unchanged."),
    default=True,
    flag="--update",
)

CREATE_MISSING_CUSTOMERS = ImportOption(
    key="create_missing_customers",
    label=_("Create customers missing from the orders"),
    help=_("Otherwise orders of unknown customers are rejected."),
    default=False,
    # The job then writes customers too: it may not run beside a customers import or undo.
    touches=("customers",),
)

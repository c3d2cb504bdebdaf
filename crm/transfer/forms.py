"""Forms of the import wizard: upload, then map the file's columns onto a kind's fields."""

from typing import Any, cast

from django import forms
from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _

from crm.transfer.models import ImportJob
from crm.transfer.registry import ImportKind

SKIP = ""


class ImportUploadForm(forms.Form):
    kind = forms.ChoiceField(label=_("What to import"))
    file = forms.FileField(
        label=_("File"),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.txt,.xlsx"}),
    )

    def __init__(self, *args: Any, kinds: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["kind"]).choices = [
            (kind.key, kind.label) for kind in kinds
        ]
        self.fields["file"].help_text = _(
            "CSV (UTF-8 or GB18030/GBK as saved by Excel; comma, semicolon or tab) "
            "or Excel .xlsx, up to %(size)s."
        ) % {"size": filesizeformat(settings.CRM_IMPORT_MAX_BYTES)}


class ImportMappingForm(forms.Form):
    """One select per column of the file (field "col_<n>"), then the kind's options (a field
    named by each ImportOption's key, in the order the kind declares them) and the engine's."""

    valid_only = forms.BooleanField(
        label=_("Import valid rows only"),
        required=False,
        help_text=_("Otherwise nothing is imported while any row is rejected (all or nothing)."),
    )
    save_as = forms.CharField(
        label=_("Save this mapping as"),
        max_length=100,
        required=False,
        help_text=_("Optional: a name to reuse this mapping for the next file of the same shape."),
    )

    def __init__(self, *args: Any, job: ImportJob, kind: ImportKind, **kwargs: Any) -> None:
        self.job = job
        self.kind = kind
        initial: dict[str, Any] = {"valid_only": job.valid_only}
        for option in kind.options:
            value = job.option(option.key)
            initial[option.key] = option.default if value is None else value
        for index, header in enumerate(job.headers):
            initial[self.column_name(index)] = (job.mapping or {}).get(header, SKIP) or SKIP
        kwargs.setdefault("initial", initial)
        super().__init__(*args, **kwargs)
        choices = [(SKIP, _("Skip this column"))] + [
            (field.key, f"{field.label} *" if field.required else field.label)
            for field in kind.fields
        ]
        for index, header in enumerate(job.headers):
            self.fields[self.column_name(index)] = forms.ChoiceField(
                label=header or _("Column %(n)s") % {"n": index + 1},
                choices=choices,
                required=False,
            )
        for option in kind.options:
            self.fields[option.key] = (
                forms.ChoiceField(
                    label=option.label, choices=list(option.choices), help_text=option.help
                )
                if option.is_choice
                else forms.BooleanField(label=option.label, required=False, help_text=option.help)
            )

    @staticmethod
    def column_name(index: int) -> str:
        return f"col_{index}"

    def option_fields(self) -> list[forms.BoundField]:
        """The kind's options, as the kind declares them."""
        return [self[option.key] for option in self.kind.options]

    def options(self) -> dict[str, Any]:
        return {option.key: self.cleaned_data.get(option.key) for option in self.kind.options}

    def column_fields(self) -> list[tuple[int, str, forms.BoundField]]:
        return [
            (index, header, self[self.column_name(index)])
            for index, header in enumerate(self.job.headers)
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        columns: dict[str, list[str]] = {}
        for index, header in enumerate(self.job.headers):
            key = data.get(self.column_name(index)) or SKIP
            if key:
                columns.setdefault(key, []).append(header)
        labels = {field.key: field.label for field in self.kind.fields}
        for key, headers in columns.items():
            if len(headers) > 1:
                self.add_error(
                    None,
                    _("“%(field)s” is chosen for several columns (%(columns)s): keep only one.")
                    % {"field": labels.get(key, key), "columns": ", ".join(headers)},
                )
        for field in self.kind.fields:
            if field.required and field.key not in columns:
                self.add_error(
                    None,
                    _("“%(field)s” is required: choose the column that holds it.")
                    % {"field": field.label},
                )
        return data

    def mapping(self) -> dict[str, str]:
        return {
            header: self.cleaned_data.get(self.column_name(index)) or SKIP
            for index, header in enumerate(self.job.headers)
        }

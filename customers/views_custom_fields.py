"""Settings pages where administrators define the tenant's custom customer fields: list, add,
edit, archive and restore, delete (only unused ones) and reorder. The rules are in
customers.custom_field_services; these views parse, check ADMINISTER, and show its answers."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm.accounts.permissions import acting_user, admin_required
from customers import custom_field_services as services
from customers.custom_fields import field_definitions, has_values, value_counts
from customers.forms_custom_fields import CustomFieldForm
from customers.models import CustomField

# The pages live under /customers/ but belong to the admin console: highlight "Admin" in the menu.
ADMIN_SECTION = "admin_console"


def _form_errors(form: CustomFieldForm, exc: ValidationError) -> None:
    """A service's refusal on the form: on the input it names, else above the form."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            for error in errors:
                form.add_error(field if field in form.fields else None, error)
    else:
        for error in exc.messages:
            form.add_error(None, error)


@admin_required
def custom_field_list(request: HttpRequest) -> HttpResponse:
    definitions = field_definitions()
    counts = value_counts() if definitions else {}
    rows = [
        {
            "field": d,
            "count": counts.get(d.key, 0),
            "first": i == 0,
            "last": i == len(definitions) - 1,
        }
        for i, d in enumerate(definitions)
    ]
    return render(
        request, "customers/custom_field_list.html", {"rows": rows, "nav_section": ADMIN_SECTION}
    )


@admin_required
def custom_field_new(request: HttpRequest) -> HttpResponse:
    form = CustomFieldForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            created = services.custom_field_create(
                actor=acting_user(request), key=form.cleaned_data["key"], data=form.to_input()
            )
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, _("Field “%(label)s” added.") % {"label": created.label})
            return redirect("customers:custom_fields")
    return render(
        request,
        "customers/custom_field_form.html",
        {"form": form, "custom_field": None, "nav_section": ADMIN_SECTION},
    )


@admin_required
def custom_field_edit(request: HttpRequest, pk: int) -> HttpResponse:
    custom_field = get_object_or_404(CustomField, pk=pk)
    form = CustomFieldForm(request.POST or None, custom_field=custom_field)
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.custom_field_update(
                actor=acting_user(request), custom_field=custom_field, data=form.to_input()
            )
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, _("Field “%(label)s” saved.") % {"label": saved.label})
            return redirect("customers:custom_fields")
    return render(
        request,
        "customers/custom_field_form.html",
        {
            "form": form,
            "custom_field": custom_field,
            "count": has_values(custom_field.key),
            "nav_section": ADMIN_SECTION,
        },
    )


@admin_required
@require_POST
def custom_field_archive(request: HttpRequest, pk: int) -> HttpResponse:
    custom_field = get_object_or_404(CustomField, pk=pk)
    services.custom_field_archive(actor=acting_user(request), custom_field=custom_field)
    messages.success(
        request,
        _("“%(label)s” is archived: hidden from forms and pages, its values kept.")
        % {"label": custom_field.label},
    )
    return redirect("customers:custom_fields")


@admin_required
@require_POST
def custom_field_restore(request: HttpRequest, pk: int) -> HttpResponse:
    custom_field = get_object_or_404(CustomField, pk=pk)
    services.custom_field_restore(actor=acting_user(request), custom_field=custom_field)
    messages.success(request, _("“%(label)s” is back in use.") % {"label": custom_field.label})
    return redirect("customers:custom_fields")


@admin_required
@require_POST
def custom_field_delete(request: HttpRequest, pk: int) -> HttpResponse:
    custom_field = get_object_or_404(CustomField, pk=pk)
    try:
        services.custom_field_delete(actor=acting_user(request), custom_field=custom_field)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("customers:custom_field_edit", pk=custom_field.pk)
    messages.success(request, _("Field “%(label)s” deleted.") % {"label": custom_field.label})
    return redirect("customers:custom_fields")


@admin_required
@require_POST
def custom_field_move(request: HttpRequest, pk: int) -> HttpResponse:
    custom_field = get_object_or_404(CustomField, pk=pk)
    services.custom_field_move(
        actor=acting_user(request),
        custom_field=custom_field,
        up=request.POST.get("direction") != "down",
    )
    # Back to the row that moved, so keyboard users keep their place.
    return redirect(f"{reverse('customers:custom_fields')}#field-{custom_field.pk}")

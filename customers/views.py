"""Customer pages: the list, the customer 360, create and edit, timeline entries and consent."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, QueryDict, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm.accounts import capabilities as cap
from crm.accounts.audit import audit_record, client_ip
from crm.accounts.permissions import acting_user, can, capability_required
from crm.transfer.exporting import csv_chunks
from customers import list_cache, privacy, selectors, services
from customers.custom_fields import field_definitions, profile_values
from customers.customer_tabs import tabs_shown
from customers.forms import (
    BulkBar,
    BulkForm,
    ConsentForm,
    CustomerForm,
    CustomerSearchForm,
    InteractionForm,
    SavedViewForm,
    StageForm,
)
from customers.list_columns import columns_key, list_columns
from customers.models import Customer, SavedView
from customers.transfer_exports import customer_headers, selection_rows


def _customer_or_404(request: HttpRequest, pk: int) -> Customer:
    try:
        return selectors.customer_for(request.user, pk)
    except Customer.DoesNotExist:
        raise Http404 from None


def _form_errors(form: CustomerForm | ConsentForm | InteractionForm, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            for error in errors:
                form.add_error(field if field in form.fields else None, error)
    else:
        form.add_error(None, exc)


@capability_required(cap.VIEW)
def customer_list(request: HttpRequest) -> HttpResponse:
    user = acting_user(request)
    context = selectors.list_context(user)
    form = CustomerSearchForm(request.GET or None, user=user, context=context)
    can_change, can_export = can(user, cap.CHANGE), can(user, cap.EXPORT)
    columns = list_columns(user)
    # A filter that cannot be read shows its error and no rows: never the list unfiltered.
    filter_errors = form.invalid_filters() if form.is_bound and not form.is_valid() else []
    if filter_errors:
        rows = list_cache.ListRows(mark_safe(""), 0, None)
    else:
        rows = list_cache.list_rows(
            user,
            form.to_query() if form.is_bound else selectors.CustomerQuery(),
            after=request.GET.get("after", ""),
            context=context,
            selectable=can_change or can_export,
            columns=columns,
        )
    next_query = ""
    if rows.next_cursor:
        params = request.GET.copy()
        params["after"] = rows.next_cursor
        next_query = params.urlencode()
    filtered = any(v for k, v in request.GET.items() if k not in ("after", "order"))
    return render(
        request,
        "customers/customer_list.html",
        {
            "form": form,
            "filter_errors": filter_errors,
            "rows": rows,
            "columns": columns,
            "columns_key": columns_key(columns),
            "next_query": next_query,
            "filtered": filtered,
            "can_create": can(user, cap.CREATE),
            "can_change": can_change,
            "can_export": can_export,
            "bulk_bar": BulkBar.build(
                context.owner_choices(active_only=True),
                can_change=can_change,
                can_export=can_export,
            ),
            "saved_views": context.saved_views,
            "current_query": request.GET.copy().urlencode() if filtered else "",
        },
    )


def _duplicates(
    request: HttpRequest, form: CustomerForm, data: services.CustomerInput, exclude_pk: int | None
) -> list[selectors.DuplicateCandidate]:
    """Likely duplicates of what the form describes, unless the user confirmed it is someone
    else. Invalid contacts are left for the service to explain."""
    if form.cleaned_data.get("not_a_duplicate"):
        return []
    try:
        phones, emails = services.clean_contacts(data)
    except ValidationError:
        return []
    return selectors.likely_duplicates(
        request.user,
        e164s=[e164 for _raw, e164 in phones],
        emails=emails,
        name=data.name,
        birthday=data.birthday,
        city=data.city,
        exclude_pk=exclude_pk,
    )


@capability_required(cap.CREATE)
def customer_new(request: HttpRequest) -> HttpResponse:
    form = CustomerForm(
        request.POST or None,
        initial={"owner": request.user.pk},
        custom_fields=field_definitions(request),
        user=request.user,
    )
    duplicates: list[selectors.DuplicateCandidate] = []
    if request.method == "POST" and form.is_valid():
        data = form.to_input()
        # A new customer without an owner belongs to whoever adds it, so it stays in their scope.
        data.owner = data.owner or acting_user(request)
        duplicates = _duplicates(request, form, data, exclude_pk=None)
        if not duplicates:
            try:
                customer = services.customer_create(
                    actor=acting_user(request), data=data, extras=form.extras()
                )
            except ValidationError as exc:
                _form_errors(form, exc)
            else:
                messages.success(request, _("%(name)s added.") % {"name": customer.name})
                return redirect("customers:detail", pk=customer.pk)
    form.offer_not_a_duplicate(bool(duplicates))
    return render(
        request,
        "customers/customer_form.html",
        {"form": form, "customer": None, "duplicates": duplicates},
    )


@capability_required(cap.CHANGE)
def customer_edit(request: HttpRequest, pk: int) -> HttpResponse:
    customer = _customer_or_404(request, pk)
    form = CustomerForm(
        request.POST or None,
        initial=CustomerForm.initial_for(customer),
        custom_fields=field_definitions(request),
        user=request.user,
        stored=customer.custom,
        customer=customer,
    )
    duplicates: list[selectors.DuplicateCandidate] = []
    if request.method == "POST" and form.is_valid():
        data = form.to_input()
        duplicates = _duplicates(request, form, data, exclude_pk=customer.pk)
        if not duplicates:
            try:
                services.customer_update(actor=acting_user(request), customer=customer, data=data)
            except ValidationError as exc:
                _form_errors(form, exc)
            else:
                messages.success(request, _("Saved."))
                return redirect("customers:detail", pk=customer.pk)
    form.offer_not_a_duplicate(bool(duplicates))
    return render(
        request,
        "customers/customer_form.html",
        {
            "form": form,
            "customer": customer,
            "duplicates": duplicates,
            # Each visible candidate links to the merge page (issue #4).
            "can_merge": can(request.user, cap.PERSONAL_DATA),
        },
    )


@capability_required(cap.VIEW)
def customer_detail(request: HttpRequest, pk: int) -> HttpResponse:
    customer = _customer_or_404(request, pk)
    return render(
        request,
        "customers/customer_detail.html",
        {
            "customer": customer,
            "phones": list(customer.phones.all()),
            "emails": list(customer.emails.all()),
            # Timeline, orders, and whatever other apps register (customers.customer_tabs).
            "tabs": tabs_shown(request.user, customer),
            "consent": selectors.consent_current(customer),
            "custom_values": profile_values(request.user, customer, field_definitions(request)),
            "consent_form": ConsentForm(),
            "stage_form": StageForm(initial={"stage": customer.stage}),
            "can_change": can(request.user, cap.CHANGE) and customer.erased_at is None,
            "can_export": _may_export_personal_data(request.user),
            "can_erase": can(request.user, cap.DELETE) and customer.erased_at is None,
        },
    )


@capability_required(cap.CHANGE)
@require_POST
def interaction_add(request: HttpRequest, pk: int) -> HttpResponse:
    customer = _customer_or_404(request, pk)
    form = InteractionForm(request.POST)
    if form.is_valid():
        services.timeline_add(customer=customer, actor=acting_user(request), **form.cleaned_data)
        messages.success(request, _("Added to the timeline."))
    else:
        messages.error(request, _("Say in a few words what happened."))
    return redirect("customers:detail", pk=customer.pk)


@capability_required(cap.CHANGE)
@require_POST
def consent_change(request: HttpRequest, pk: int) -> HttpResponse:
    customer = _customer_or_404(request, pk)
    form = ConsentForm(request.POST)
    if form.is_valid():
        services.consent_set(actor=acting_user(request), customer=customer, **form.cleaned_data)
        messages.success(request, _("Consent recorded."))
    else:
        messages.error(request, _("Choose a channel and say where the consent came from."))
    return redirect("customers:detail", pk=customer.pk)


def _may_export_personal_data(user: object) -> bool:
    return can(user, cap.EXPORT) and can(user, cap.PERSONAL_DATA)


@capability_required(cap.EXPORT)
@require_POST
def customer_export(request: HttpRequest, pk: int) -> HttpResponse:
    """A data subject request: everything held about the customer, as a ZIP download."""
    if not _may_export_personal_data(request.user):
        raise PermissionDenied
    customer = _customer_or_404(request, pk)
    data = privacy.customer_data_export(
        actor=acting_user(request),
        customer=customer,
        ip=client_ip(request),
    )
    response = HttpResponse(data, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="customer-{customer.pk}.zip"'
    return response


@capability_required(cap.DELETE)
@require_POST
def customer_erase(request: HttpRequest, pk: int) -> HttpResponse:
    customer = _customer_or_404(request, pk)
    if request.POST.get("confirm") != "erase":
        messages.error(request, _("Tick the box to confirm: erasing cannot be undone."))
        return redirect("customers:detail", pk=customer.pk)
    try:
        privacy.customer_erase(actor=acting_user(request), customer=customer, ip=client_ip(request))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("The customer's personal data is erased; orders are kept."))
    return redirect("customers:detail", pk=customer.pk)


@capability_required(cap.CHANGE)
@require_POST
def customer_stage(request: HttpRequest, pk: int) -> HttpResponse:
    """Staff set the lifecycle stage by hand; the nightly derivation leaves it alone after."""
    customer = _customer_or_404(request, pk)
    form = StageForm(request.POST)
    if form.is_valid():
        services.customer_stage_set(
            actor=acting_user(request),
            customer=customer,
            stage=form.cleaned_data["stage"],
        )
        messages.success(request, _("Stage set by hand; the nightly update will leave it."))
    return redirect("customers:detail", pk=customer.pk)


@capability_required(cap.VIEW)
@require_POST
def customers_bulk(request: HttpRequest) -> HttpResponseBase:
    """Tag, untag, reassign or export the ticked customers (only those the user may see)."""
    form = BulkForm(request.POST)
    back = redirect(f"{reverse('customers:home')}?{request.POST.get('return_query', '')}")
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, str(error))
        return back
    action = form.cleaned_data["action"]
    needed = cap.EXPORT if action == "export" else cap.CHANGE
    if not can(request.user, needed):
        raise PermissionDenied
    visible = selectors.visible_customers(request.user).filter(pk__in=form.cleaned_data["ids"])
    ids = list(visible.values_list("pk", flat=True))
    actor = acting_user(request)
    if action == "export":
        audit_record(
            action="export",
            actor=actor,
            table_name="customers_customer",
            ip=client_ip(request),
            detail={"customers": len(ids), "selection": True},
        )
        response = StreamingHttpResponse(
            csv_chunks(customer_headers(request.user), selection_rows(request.user, visible)),
            content_type="text/csv; charset=utf-8",
        )
        response["Content-Disposition"] = 'attachment; filename="customers.csv"'
        return response
    if action == "tag":
        changed = services.customers_tag(
            actor=actor, customer_ids=ids, tag=form.cleaned_data["tag"]
        )
    elif action == "untag":
        changed = services.customers_untag(
            actor=actor, customer_ids=ids, tag=form.cleaned_data["tag"]
        )
    else:
        changed = services.customers_assign(
            actor=actor, customer_ids=ids, owner=form.cleaned_data["owner"]
        )
    messages.success(request, _("%(count)d customers changed.") % {"count": changed})
    return back


@capability_required(cap.VIEW)
@require_POST
def saved_view_save(request: HttpRequest) -> HttpResponse:
    form = SavedViewForm(request.POST)
    user = acting_user(request)
    if not form.is_valid():
        if "name" in form.errors:
            messages.error(request, _("Give the view a name."))
        for error in form.errors.get("query", []):
            messages.error(request, str(error))
        return redirect("customers:home")
    query = form.cleaned_data["query"]
    # A view is saved only if the list can read it: one it cannot would show nothing.
    search = CustomerSearchForm(QueryDict(query), user=user)
    if search.is_bound and not search.is_valid():
        messages.error(request, " ".join(search.invalid_filters()))
    else:
        services.saved_view_save(actor=user, name=form.cleaned_data["name"], query=query)
        messages.success(request, _("View saved."))
    return redirect(f"{reverse('customers:home')}?{query}")


@capability_required(cap.VIEW)
@require_POST
def saved_view_delete(request: HttpRequest, view_id: int) -> HttpResponse:
    deleted, _rows = SavedView.objects.filter(pk=view_id, user=acting_user(request)).delete()
    if not deleted:
        raise Http404
    messages.success(request, _("View removed."))
    return redirect("customers:home")

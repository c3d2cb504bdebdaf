"""The tenant admin console: staff, invitations, roles, teams, access explanations, audit log."""

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.forms import PasswordResetForm
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm.accounts import audit_labels, selectors, services
from crm.accounts.capabilities import CAPABILITIES
from crm.accounts.forms import AuditFilterForm, InvitationForm, RoleForm, StaffForm, TeamForm
from crm.accounts.models import Invitation, Team, User
from crm.accounts.permissions import acting_user, admin_required

AUDIT_PAGE_SIZE = 50


def _form_errors(form: forms.Form, exc: ValidationError) -> None:
    """Show a service's refusal on the form: on its field when it names one."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            for error in errors:
                form.add_error(field if field in form.fields else None, error)
    else:
        for error in exc.messages:
            form.add_error(None, error)


# --- staff --------------------------------------------------------------------------------


@admin_required
def staff_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "accounts/admin/staff_list.html",
        {
            "staff": selectors.staff_list(),
            "invitations": selectors.open_invitations().select_related("role", "invited_by"),
            "seats_used": services.staff_seats_used(),
            "seat_limit": services.staff_seat_limit(),
        },
    )


@admin_required
def staff_invite(request: HttpRequest) -> HttpResponse:
    form = InvitationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            invitation, _token = services.invitation_create(
                actor=acting_user(request),
                email=form.cleaned_data["email"],
                full_name=form.cleaned_data["full_name"],
                role=form.cleaned_data["role"],
                teams=form.cleaned_data["teams"],
            )
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(
                request, _("Invitation sent to %(email)s.") % {"email": invitation.email}
            )
            return redirect("admin_console:staff_list")
    return render(request, "accounts/admin/staff_invite.html", {"form": form})


@admin_required
def staff_edit(request: HttpRequest, user_id: int) -> HttpResponse:
    member = get_object_or_404(User, pk=user_id)
    initial = {
        "full_name": member.full_name,
        "role": member.groups.first(),
        "teams": list(member.teams.all()),
    }
    form = StaffForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.staff_update(
                actor=acting_user(request),
                user=member,
                full_name=form.cleaned_data["full_name"],
                role=form.cleaned_data["role"],
                teams=form.cleaned_data["teams"],
            )
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, _("Saved."))
            return redirect("admin_console:staff_edit", user_id=member.pk)
    return render(request, "accounts/admin/staff_edit.html", {"member": member, "form": form})


def _staff_action(request: HttpRequest, user_id: int, action: str) -> HttpResponse:
    member = get_object_or_404(User, pk=user_id)
    actor = acting_user(request)
    try:
        if action == "deactivate":
            services.staff_deactivate(actor=actor, user=member)
            messages.success(
                request, _("%(name)s is deactivated and signed out.") % {"name": member}
            )
        elif action == "reactivate":
            services.staff_reactivate(actor=actor, user=member)
            messages.success(request, _("%(name)s can sign in again.") % {"name": member})
        elif action == "reset_password":
            form = PasswordResetForm({"email": member.email})
            form.is_valid()
            form.save(
                request=request,
                use_https=request.is_secure(),
                email_template_name="accounts/email/password_reset_body.txt",
                subject_template_name="accounts/email/password_reset_subject.txt",
            )
            messages.success(
                request,
                _("A link to choose a new password went to %(email)s.") % {"email": member.email},
            )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("admin_console:staff_edit", user_id=member.pk)


@admin_required
@require_POST
def staff_deactivate(request: HttpRequest, user_id: int) -> HttpResponse:
    return _staff_action(request, user_id, "deactivate")


@admin_required
@require_POST
def staff_reactivate(request: HttpRequest, user_id: int) -> HttpResponse:
    return _staff_action(request, user_id, "reactivate")


@admin_required
@require_POST
def staff_password_reset(request: HttpRequest, user_id: int) -> HttpResponse:
    return _staff_action(request, user_id, "reset_password")


@admin_required
def staff_access(request: HttpRequest, user_id: int) -> HttpResponse:
    member = get_object_or_404(User, pk=user_id)
    return render(
        request,
        "accounts/admin/staff_access.html",
        {"report": selectors.user_access(member), "member": member},
    )


@admin_required
@require_POST
def invitation_revoke(request: HttpRequest, invitation_id: int) -> HttpResponse:
    invitation = get_object_or_404(Invitation, pk=invitation_id)
    try:
        services.invitation_revoke(actor=acting_user(request), invitation=invitation)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request, _("Invitation to %(email)s revoked.") % {"email": invitation.email}
        )
    return redirect("admin_console:staff_list")


# --- roles --------------------------------------------------------------------------------


@admin_required
def role_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "accounts/admin/role_list.html",
        {"roles": selectors.roles_with_capabilities(), "capabilities": CAPABILITIES},
    )


def _role_form_view(request: HttpRequest, group: Group | None) -> HttpResponse:
    initial: dict[str, Any] = {}
    if group is not None:
        initial = {
            "name": group.name,
            "description": group.profile.description,
            "scope": group.profile.scope,
            "capabilities": list(group.permissions.values_list("codename", flat=True)),
        }
    form = RoleForm(request.POST or None, initial=initial)
    if group is not None:
        form.fields["name"].disabled = True
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            if group is None:
                group = services.role_create(
                    actor=acting_user(request),
                    name=data["name"],
                    description=data["description"],
                    scope=data["scope"],
                    codenames=data["capabilities"],
                )
            else:
                services.role_update(
                    actor=acting_user(request),
                    group=group,
                    description=data["description"],
                    scope=data["scope"],
                    codenames=data["capabilities"],
                )
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, _("Role %(name)s saved.") % {"name": group.name})
            return redirect("admin_console:role_list")
    return render(request, "accounts/admin/role_form.html", {"form": form, "group": group})


@admin_required
def role_new(request: HttpRequest) -> HttpResponse:
    return _role_form_view(request, None)


@admin_required
def role_edit(request: HttpRequest, role_id: int) -> HttpResponse:
    group = get_object_or_404(Group.objects.select_related("profile"), pk=role_id)
    if group.profile.is_preset:
        messages.info(request, _("Preset roles cannot be changed; create a custom role instead."))
        return redirect("admin_console:role_list")
    return _role_form_view(request, group)


@admin_required
@require_POST
def role_delete(request: HttpRequest, role_id: int) -> HttpResponse:
    group = get_object_or_404(Group, pk=role_id)
    try:
        services.role_delete(actor=acting_user(request), group=group)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Role %(name)s deleted.") % {"name": group.name})
    return redirect("admin_console:role_list")


# --- teams --------------------------------------------------------------------------------


def _team_form(request: HttpRequest, team: Team | None) -> tuple[TeamForm, HttpResponse | None]:
    """The team form, bound and saved on POST; returns the redirect when saved."""
    initial = {"name": team.name, "members": list(team.members.all())} if team else {}
    form = TeamForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.team_save(
                actor=acting_user(request),
                team=team,
                name=form.cleaned_data["name"],
                members=form.cleaned_data["members"],
            )
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, _("Team saved."))
            return form, redirect("admin_console:team_list")
    return form, None


@admin_required
def team_list(request: HttpRequest) -> HttpResponse:
    form, saved = _team_form(request, None)
    return saved or render(
        request,
        "accounts/admin/team_list.html",
        {"teams": selectors.teams_with_members(), "form": form},
    )


@admin_required
def team_edit(request: HttpRequest, team_id: int) -> HttpResponse:
    team = get_object_or_404(Team, pk=team_id)
    form, saved = _team_form(request, team)
    return saved or render(request, "accounts/admin/team_edit.html", {"team": team, "form": form})


@admin_required
@require_POST
def team_delete(request: HttpRequest, team_id: int) -> HttpResponse:
    team = get_object_or_404(Team, pk=team_id)
    services.team_delete(actor=acting_user(request), team=team)
    messages.success(request, _("Team %(name)s deleted.") % {"name": team.name})
    return redirect("admin_console:team_list")


# --- audit log ----------------------------------------------------------------------------


@admin_required
def audit_log(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(
        request.GET or None,
        actors=selectors.audit_actors(),
        tables=audit_labels.TABLES,
        actions=audit_labels.ACTIONS,
    )
    filters = selectors.AuditFilters()
    if form.is_valid():
        data = form.cleaned_data
        filters = selectors.AuditFilters(
            actor_id=data["actor"],
            table_name=data["table"],
            action=data["action"],
            date_from=data["date_from"],
            date_to=data["date_to"],
        )
    try:
        before_id = int(request.GET["before"]) if request.GET.get("before") else None
    except ValueError:
        before_id = None
    # One extra row tells whether there is an older page, without counting.
    entries = selectors.audit_entries(filters, before_id=before_id, limit=AUDIT_PAGE_SIZE + 1)
    has_more = len(entries) > AUDIT_PAGE_SIZE
    entries = entries[:AUDIT_PAGE_SIZE]
    rows = [
        {
            "entry": entry,
            "action": audit_labels.ACTIONS.get(entry.action, entry.action),
            "record_type": audit_labels.TABLES.get(entry.table_name, entry.table_name),
            "detail": audit_labels.detail_shown(entry.detail, reader=request.user),
            "changes": audit_labels.changed_fields(
                entry.before, entry.after, table=entry.table_name, reader=request.user
            ),
        }
        for entry in entries
    ]
    query = request.GET.copy()
    query.pop("before", None)
    if has_more:
        query["before"] = str(entries[-1].pk)
    return render(
        request,
        "accounts/admin/audit_log.html",
        {
            "form": form,
            "rows": rows,
            "next_query": query.urlencode() if has_more else "",
            "is_first_page": before_id is None,
        },
    )

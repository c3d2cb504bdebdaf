"""The tenant admin console, under /admin-console/ on a tenant's site."""

from django.urls import path

from crm.accounts import views_admin as views

app_name = "admin_console"

urlpatterns = [
    path("staff/", views.staff_list, name="staff_list"),
    path("staff/invite/", views.staff_invite, name="staff_invite"),
    path("staff/<int:user_id>/", views.staff_edit, name="staff_edit"),
    path("staff/<int:user_id>/access/", views.staff_access, name="staff_access"),
    path("staff/<int:user_id>/deactivate/", views.staff_deactivate, name="staff_deactivate"),
    path("staff/<int:user_id>/reactivate/", views.staff_reactivate, name="staff_reactivate"),
    path(
        "staff/<int:user_id>/reset-password/",
        views.staff_password_reset,
        name="staff_password_reset",
    ),
    path(
        "invitations/<int:invitation_id>/revoke/",
        views.invitation_revoke,
        name="invitation_revoke",
    ),
    path("roles/", views.role_list, name="role_list"),
    path("roles/new/", views.role_new, name="role_new"),
    path("roles/<int:role_id>/", views.role_edit, name="role_edit"),
    path("roles/<int:role_id>/delete/", views.role_delete, name="role_delete"),
    path("teams/", views.team_list, name="team_list"),
    path("teams/<int:team_id>/", views.team_edit, name="team_edit"),
    path("teams/<int:team_id>/delete/", views.team_delete, name="team_delete"),
    path("audit/", views.audit_log, name="audit_log"),
]

"""Sign-in, password and language URLs; included by both the tenant and the platform URLconfs."""

from django.urls import path

from crm.accounts import views, views_security

app_name = "accounts"

urlpatterns = [
    path("login/", views.login, name="login"),
    path("logout/", views.logout, name="logout"),
    path("password-reset/", views.password_reset, name="password_reset"),
    path("password-reset/sent/", views.password_reset_done, name="password_reset_done"),
    path(
        "password-reset/<uidb64>/<token>/",
        views.password_reset_confirm,
        name="password_reset_confirm",
    ),
    path("password-reset/done/", views.password_reset_complete, name="password_reset_complete"),
    path("language/", views.language_set, name="language_set"),
    path("two-factor/", views_security.two_factor_setup, name="two_factor_setup"),
    path("two-factor/verify/", views_security.two_factor_verify, name="two_factor_verify"),
    path(
        "two-factor/recovery-codes/",
        views_security.two_factor_recovery_codes,
        name="two_factor_recovery_codes",
    ),
    # Lockouts and two-factor status of this site's users: a tenant's staff, or the operators.
    path("admin-console/security/", views_security.security_overview, name="security"),
    path("admin-console/security/policy/", views_security.security_policy, name="security_policy"),
    path(
        # path, not str: an address may contain "/" (it is valid in the local part).
        "admin-console/security/lockouts/<path:email>/unlock/",
        views_security.security_unlock,
        name="security_unlock",
    ),
    path(
        "admin-console/security/staff/<int:user_id>/reset-two-factor/",
        views_security.security_two_factor_reset,
        name="security_two_factor_reset",
    ),
]

from django.urls import include, path

from support import (
    views,
    views_complaints,
    views_mail,
    views_saved_views,
    views_settings,
    views_slarep,
    views_web_form,
)

app_name = "support"

urlpatterns = [
    path("", views.queue, name="home"),
    path("bulk/", views.bulk, name="bulk"),
    path("views/", views_saved_views.saved_view_save, name="view_save"),
    path("views/<int:pk>/rename/", views_saved_views.saved_view_rename, name="view_rename"),
    path("views/<int:pk>/delete/", views_saved_views.saved_view_delete, name="view_delete"),
    path("new/", views.ticket_new, name="new"),
    path("<int:pk>/", views.ticket_detail, name="detail"),
    path("<int:pk>/reply/", views.ticket_reply, name="reply"),
    path("<int:pk>/note/", views.ticket_note, name="note"),
    path("<int:pk>/status/", views.ticket_status, name="status"),
    path("<int:pk>/assign/", views.ticket_assign, name="assign"),
    path("<int:pk>/details/", views.ticket_details, name="details"),
    path("<int:pk>/watch/", views.ticket_watch, name="watch"),
    path("<int:pk>/merge/", views.ticket_merge, name="merge"),
    path("<int:pk>/customer/", views_slarep.ticket_customer_link, name="customer_link"),
    path("<int:pk>/escalate/", views_complaints.ticket_escalate, name="escalate"),
    path("<int:pk>/actions/<str:key>/", views_complaints.ticket_action_run, name="action"),
    path("settings/", views_settings.sla_settings, name="settings"),
    path(
        "settings/overrides/<int:pk>/delete/",
        views_settings.override_delete,
        name="override_delete",
    ),
    path("settings/web-form/", views_web_form.web_form_settings_page, name="web_form_settings"),
    path("settings/sla-overrides/", views_slarep.sla_overrides_page, name="sla_overrides"),
    path(
        "settings/sla-overrides/<int:pk>/",
        views_slarep.sla_override_edit,
        name="sla_override_edit",
    ),
    path(
        "settings/sla-overrides/<int:pk>/delete/",
        views_slarep.sla_override_delete,
        name="sla_override_delete",
    ),
    path("reports/", views_slarep.attainment_page, name="reports"),
    path("reports/attainment.csv", views_slarep.attainment_csv, name="reports_csv"),
    path("canned/", views_settings.canned_list, name="canned"),
    path("canned/<int:pk>/", views_settings.canned_edit, name="canned_edit"),
    path("canned/<int:pk>/delete/", views_settings.canned_delete, name="canned_delete"),
    path("feedback/", include("support.feedback_urls")),
    # Email and attachments (support.views_mail).
    path("attachments/<int:pk>/", views_mail.attachment_download, name="attachment"),
    path("messages/<int:pk>/send-again/", views_mail.reply_send_again, name="reply_send_again"),
    path("settings/email/", views_mail.mail_settings_save, name="mail_settings"),
    path("settings/email/rotate/", views_mail.inbound_secret_rotate, name="inbound_rotate"),
]

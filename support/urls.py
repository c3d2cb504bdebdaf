from django.urls import path

from support import views, views_settings, views_slarep

app_name = "support"

urlpatterns = [
    path("", views.queue, name="home"),
    path("bulk/", views.bulk, name="bulk"),
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
    path("settings/", views_settings.sla_settings, name="settings"),
    path(
        "settings/overrides/<int:pk>/delete/",
        views_settings.override_delete,
        name="override_delete",
    ),
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
]

from django.urls import path

from customers import views, views_custom_fields, views_merge

app_name = "customers"

urlpatterns = [
    path("", views.customer_list, name="home"),
    path("new/", views.customer_new, name="new"),
    path("bulk/", views.customers_bulk, name="bulk"),
    path("views/", views.saved_view_save, name="view_save"),
    path("views/<int:view_id>/delete/", views.saved_view_delete, name="view_delete"),
    # Duplicates and merges.
    path("duplicates/", views_merge.duplicates_queue, name="duplicates"),
    path("duplicates/refresh/", views_merge.duplicates_refresh, name="duplicates_refresh"),
    path("duplicates/<int:pk>/dismiss/", views_merge.duplicate_dismiss, name="duplicate_dismiss"),
    path("merge/<int:a>/<int:b>/", views_merge.customer_merge_page, name="merge"),
    path("merges/", views_merge.merges_history, name="merges"),
    path("merges/<int:pk>/revert/", views_merge.merge_revert, name="merge_revert"),
    # Custom field definitions (administrators).
    path("fields/", views_custom_fields.custom_field_list, name="custom_fields"),
    path("fields/new/", views_custom_fields.custom_field_new, name="custom_field_new"),
    path("fields/<int:pk>/", views_custom_fields.custom_field_edit, name="custom_field_edit"),
    path(
        "fields/<int:pk>/archive/",
        views_custom_fields.custom_field_archive,
        name="custom_field_archive",
    ),
    path(
        "fields/<int:pk>/restore/",
        views_custom_fields.custom_field_restore,
        name="custom_field_restore",
    ),
    path(
        "fields/<int:pk>/delete/",
        views_custom_fields.custom_field_delete,
        name="custom_field_delete",
    ),
    path("fields/<int:pk>/move/", views_custom_fields.custom_field_move, name="custom_field_move"),
    path("<int:pk>/", views.customer_detail, name="detail"),
    path("<int:pk>/edit/", views.customer_edit, name="edit"),
    path("<int:pk>/timeline/", views.interaction_add, name="interaction_add"),
    path("<int:pk>/consent/", views.consent_change, name="consent_change"),
    path("<int:pk>/export/", views.customer_export, name="export"),
    path("<int:pk>/erase/", views.customer_erase, name="erase"),
    path("<int:pk>/stage/", views.customer_stage, name="stage"),
]

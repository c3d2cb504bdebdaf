from django.urls import path

from customers import views

app_name = "customers"

urlpatterns = [
    path("", views.customer_list, name="home"),
    path("new/", views.customer_new, name="new"),
    path("bulk/", views.customers_bulk, name="bulk"),
    path("views/", views.saved_view_save, name="view_save"),
    path("views/<int:view_id>/delete/", views.saved_view_delete, name="view_delete"),
    path("<int:pk>/", views.customer_detail, name="detail"),
    path("<int:pk>/edit/", views.customer_edit, name="edit"),
    path("<int:pk>/timeline/", views.interaction_add, name="interaction_add"),
    path("<int:pk>/consent/", views.consent_change, name="consent_change"),
    path("<int:pk>/export/", views.customer_export, name="export"),
    path("<int:pk>/erase/", views.customer_erase, name="erase"),
    path("<int:pk>/stage/", views.customer_stage, name="stage"),
]

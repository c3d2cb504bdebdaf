from django.urls import path

from crm.transfer import views_exports

app_name = "transfer"

urlpatterns = [
    # Exports (helper "exporter")
    path("exports/", views_exports.export_list, name="exports"),
    path("exports/rows/", views_exports.export_rows, name="export_rows"),
    path("exports/<int:pk>/download/", views_exports.export_download, name="export_download"),
    path("exports/new/<slug:kind>/", views_exports.export_start, name="export_start"),
]

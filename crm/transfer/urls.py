from django.urls import path

from crm.transfer import views_exports, views_imports

app_name = "transfer"

urlpatterns = [
    # Exports (helper "exporter")
    path("exports/", views_exports.export_list, name="exports"),
    path("exports/rows/", views_exports.export_rows, name="export_rows"),
    path("exports/<int:pk>/download/", views_exports.export_download, name="export_download"),
    path("exports/new/<slug:kind>/", views_exports.export_start, name="export_start"),
    # Imports (helper "engine")
    path("imports/", views_imports.import_list, name="imports"),
    path("imports/new/", views_imports.import_new, name="import_new"),
    path("imports/<int:pk>/", views_imports.import_detail, name="import_detail"),
    path("imports/<int:pk>/map/", views_imports.import_map, name="import_map"),
    path("imports/<int:pk>/progress/", views_imports.import_progress, name="import_progress"),
    path(
        "imports/<int:pk>/rejected.csv",
        views_imports.import_rejected_csv,
        name="import_rejected_csv",
    ),
    path("imports/<int:pk>/commit/", views_imports.import_commit, name="import_commit"),
    path("imports/<int:pk>/undo/", views_imports.import_undo, name="import_undo"),
]

from django.urls import path

from analytics import views

app_name = "analytics"

urlpatterns = [
    path("", views.analytics_home, name="home"),
]

# The churn model's pages (helper "churn").
from analytics import churn_urls  # noqa: E402

urlpatterns += churn_urls.urlpatterns

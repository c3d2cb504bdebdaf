from django.urls import path

from loyalty import views, views_counter, views_settings

app_name = "loyalty"

urlpatterns = [
    path("", views.loyalty_home, name="home"),
    # The counter, from a customer's Points tab.
    path("customers/<int:pk>/redeem/", views_counter.redeem, name="redeem"),
    path("customers/<int:pk>/adjust/", views_counter.adjust, name="adjust"),
    path("customers/<int:pk>/history/", views_counter.history, name="history"),
    path("customers/<int:pk>/statement/", views.statement, name="statement"),
    path("redemptions/<int:pk>/", views_counter.receipt, name="receipt"),
    path("redemptions/<int:pk>/cancel/", views_counter.redemption_cancel, name="redemption_cancel"),
    path("approvals/", views_counter.approvals, name="approvals"),
    path("approvals/<int:pk>/", views_counter.adjustment_decide, name="adjustment_decide"),
    # Programme settings.
    path("settings/", views_settings.settings_page, name="settings"),
    path("settings/tiers/new/", views_settings.tier_edit, name="tier_new"),
    path("settings/tiers/<int:pk>/", views_settings.tier_edit, name="tier_edit"),
    path("settings/tiers/<int:pk>/delete/", views_settings.tier_delete, name="tier_delete"),
    path("settings/rules/new/", views_settings.rule_edit, name="rule_new"),
    path("settings/rules/<int:pk>/", views_settings.rule_edit, name="rule_edit"),
    path("settings/rewards/new/", views_settings.reward_edit, name="reward_new"),
    path("settings/rewards/<int:pk>/", views_settings.reward_edit, name="reward_edit"),
    path("settings/rewards/<int:pk>/active/", views_settings.reward_active, name="reward_active"),
]

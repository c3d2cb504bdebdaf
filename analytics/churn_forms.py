"""Input of the churn model page: its settings."""

from django import forms

from analytics.models_churn import ChurnSettings


class ChurnSettingsForm(forms.ModelForm):
    class Meta:
        model = ChurnSettings
        fields = [
            "p_alive_threshold",
            "gap_multiple",
            "gap_min_gaps",
            "points_expiry_days",
            "min_customers",
            "min_repeaters",
            "holdout_days",
        ]

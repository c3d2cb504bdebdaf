from analytics.models_churn import *  # noqa: F403

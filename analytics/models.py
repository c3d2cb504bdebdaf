from analytics.models_segments import *  # noqa: F403

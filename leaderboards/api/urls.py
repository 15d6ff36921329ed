from django.urls import path

from leaderboards.api import views

urlpatterns = [
    path("runs/<int:run_id>/leaderboard/", views.RunLeaderboardView.as_view(), name="run-leaderboard"),
    path("runs/<int:run_id>/pairwise/", views.RunPairwiseView.as_view(), name="run-pairwise"),
    path("runs/<int:run_id>/compare/", views.RunCompareView.as_view(), name="run-compare"),
    path("runs/<int:run_id>/export/", views.RunExportView.as_view(), name="run-export"),
    path("experiments/<int:experiment_id>/leaderboard/", views.ExperimentLeaderboardView.as_view(),
         name="experiment-leaderboard"),
    path("experiments/<int:experiment_id>/trends/", views.ExperimentTrendsView.as_view(), name="experiment-trends"),
    path("datasets/<int:dataset_id>/leaderboard/", views.DatasetLeaderboardView.as_view(), name="dataset-leaderboard"),
    path("datasets/<int:dataset_id>/trends/", views.DatasetTrendsView.as_view(), name="dataset-trends"),
]

# Planner and recommendation (issue 17).
urlpatterns += [
    path("planner/", views.PlannerView.as_view(), name="planner"),
    path("runs/<int:run_id>/planner/", views.RunPlannerView.as_view(), name="run-planner"),
    path("runs/<int:run_id>/recommendation/", views.RecommendationView.as_view(), name="run-recommendation"),
    path("experiments/<int:experiment_id>/recommendation/", views.RecommendationView.as_view(),
         name="experiment-recommendation"),
    path("datasets/<int:dataset_id>/recommendation/", views.RecommendationView.as_view(),
         name="dataset-recommendation"),
]

# --- seed 002's data-cleaning metrics over the org's runs (leaderboards/api/cleaning_views.py) ---
from leaderboards.api import cleaning_views  # noqa: E402

urlpatterns += [
    path("metrics/overview/", cleaning_views.MetricsOverviewView.as_view(), name="metrics-overview"),
    path("metrics/dimension/<str:name>/", cleaning_views.MetricsDimensionView.as_view(), name="metrics-dimension"),
    # `model` is an arm name such as "local:meta/llama-3": `path` lets it hold "/" (also when sent as %2F).
    path("metrics/<str:metric>/<path:model>/", cleaning_views.MetricsArmView.as_view(), name="metrics-arm"),
]

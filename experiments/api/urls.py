from django.urls import path

from experiments.api import views

urlpatterns = [
    path("datasets/", views.DatasetListCreateView.as_view(), name="datasets"),
    path("datasets/<int:dataset_id>/", views.DatasetDetailView.as_view(), name="dataset-detail"),
    path("experiments/", views.ExperimentListCreateView.as_view(), name="experiments"),
    path("experiments/<int:experiment_id>/", views.ExperimentDetailView.as_view(), name="experiment-detail"),
    path("experiments/<int:experiment_id>/runs/", views.ExperimentRunCreateView.as_view(), name="experiment-runs"),
    path("runs/", views.RunListView.as_view(), name="runs"),
    path("runs/<int:run_id>/", views.RunDetailView.as_view(), name="run-detail"),
    path("runs/<int:run_id>/cancel/", views.RunCancelView.as_view(), name="run-cancel"),
    path("runs/<int:run_id>/retry-failed/", views.RunRetryFailedView.as_view(), name="run-retry-failed"),
    path("runs/<int:run_id>/attempts/", views.RunAttemptListView.as_view(), name="run-attempts"),
    path("attempts/<int:attempt_id>/", views.AttemptDetailView.as_view(), name="attempt-detail"),
]

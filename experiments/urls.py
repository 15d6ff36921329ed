from django.urls import path

from experiments import views, views_attempts, views_datasets, views_experiments, views_runs

app_name = "experiments"

urlpatterns = [
    path("datasets/", views.dataset_list, name="datasets"),
    path("datasets/<int:dataset_id>/", views_datasets.dataset_detail, name="dataset-detail"),
    path("experiments/", views_experiments.experiment_list, name="experiments"),
    path("experiments/new/", views_experiments.experiment_new, name="experiment-new"),
    path("experiments/<int:experiment_id>/", views_experiments.experiment_detail, name="experiment-detail"),
    path("experiments/<int:experiment_id>/runs/", views_experiments.experiment_run_start, name="experiment-run-start"),
    path("runs/", views_runs.run_list, name="runs"),
    path("runs/<int:run_id>/", views_runs.run_detail, name="run-detail"),
    path("runs/<int:run_id>/arms/", views_runs.run_arms, name="run-arms"),
    path("runs/<int:run_id>/attempts/", views_runs.run_attempts, name="run-attempts"),
    path("runs/<int:run_id>/cancel/", views_runs.run_cancel, name="run-cancel"),
    path("runs/<int:run_id>/retry-failed/", views_runs.run_retry_failed, name="run-retry-failed"),
    path("attempts/<int:attempt_id>/", views_attempts.attempt_detail, name="attempt-detail"),
]

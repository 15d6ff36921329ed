from django.urls import path

from experiments import views

app_name = "experiments"

urlpatterns = [
    path("datasets/", views.dataset_list, name="datasets"),
    path("runs/", views.run_list, name="runs"),
    path("runs/<int:run_id>/", views.run_detail, name="run-detail"),
    path("runs/<int:run_id>/cancel/", views.run_cancel, name="run-cancel"),
]

from django.urls import path

from evaluation.api import views

urlpatterns = [
    path("evaluate/", views.EvaluateView.as_view(), name="evaluate"),
]

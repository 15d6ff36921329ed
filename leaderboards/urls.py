from django.urls import path

from leaderboards import views

urlpatterns = [
    path("runs/<int:run_id>/leaderboard/", views.run_leaderboard_page, name="run-leaderboard-page"),
    path("vendor/plotly.min.js", views.plotly_js, name="plotly-js"),
]

from django.urls import path

from leaderboards import views, views_compare

urlpatterns = [
    path("runs/<int:run_id>/leaderboard/", views.run_leaderboard_page, name="run-leaderboard-page"),
    path("runs/<int:run_id>/compare/", views_compare.run_compare_page, name="run-compare-page"),
    path("vendor/plotly.min.js", views.plotly_js, name="plotly-js"),
]

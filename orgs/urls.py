from django.contrib.auth import views as auth_views
from django.urls import path

from orgs import views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("org/switch/", views.org_switch, name="org-switch"),
    path("invitations/<int:invitation_id>/", views.invitation_answer, name="invitation-answer"),
]

from django.urls import path

from orgs.api import views

urlpatterns = [
    path("me/", views.MeView.as_view(), name="me"),
    path("auth/token/", views.TokenView.as_view(), name="auth-token"),
    path("api-keys/", views.ApiKeyListCreateView.as_view(), name="api-keys"),
    path("api-keys/<int:key_id>/revoke/", views.ApiKeyRevokeView.as_view(), name="api-key-revoke"),
    path("members/", views.MemberListCreateView.as_view(), name="members"),
    path("members/<int:member_id>/", views.MemberDetailView.as_view(), name="member-detail"),
    path("invitations/", views.MyInvitationListView.as_view(), name="my-invitations"),
    path("invitations/<int:invitation_id>/accept/", views.MyInvitationAnswerView.as_view(), {"answer": "accept"},
         name="my-invitation-accept"),
    path("invitations/<int:invitation_id>/decline/", views.MyInvitationAnswerView.as_view(), {"answer": "decline"},
         name="my-invitation-decline"),
]

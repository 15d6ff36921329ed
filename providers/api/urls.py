from django.urls import path

from providers.api import views

urlpatterns = [
    path("credentials/", views.CredentialListCreateView.as_view(), name="credentials"),
    path("credentials/<int:credential_id>/", views.CredentialDetailView.as_view(), name="credential-detail"),
    path("policy/", views.PolicyView.as_view(), name="policy"),
    path("chat/", views.ChatView.as_view(), name="chat"),
    path("embeddings/", views.EmbeddingsView.as_view(), name="embeddings"),
]

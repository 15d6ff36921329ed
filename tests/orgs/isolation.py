"""For each API detail route, a URL naming an object of org B (called with org A's owner key).

When an app adds a detail route, it adds its case here; the isolation test fails until it does.
"""

from __future__ import annotations

from orgs.models import ApiKey, Membership, Role
from orgs.services import member_invite


def other_org_object_urls(world) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    b_key = ApiKey.objects.filter(org=world.b.org).first()
    b_member = Membership.objects.filter(org=world.b.org, role=Role.MEMBER).first()
    # Org A's owner invited into org B: still not org A's key's to answer (an API key is no person).
    b_invitation = member_invite(
        org=world.b.org, email=world.a.users["owner"].email, role=Role.VIEWER, actor_role=None, invited_by=None
    )
    return [
        ("api-keys/<int:key_id>/revoke/", "post", f"/api/v1/api-keys/{b_key.pk}/revoke/"),
        ("members/<int:member_id>/", "patch", f"/api/v1/members/{b_member.pk}/"),
        ("members/<int:member_id>/", "delete", f"/api/v1/members/{b_member.pk}/"),
        ("invitations/<int:invitation_id>/accept/", "post", f"/api/v1/invitations/{b_invitation.pk}/accept/"),
        ("invitations/<int:invitation_id>/decline/", "post", f"/api/v1/invitations/{b_invitation.pk}/decline/"),
        *_leaderboard_cases(world),
        *_provider_cases(world),
        *_experiments_cases(world),
    ]


def _experiments_cases(world) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    from tests.experiments.factories import make_unstarted_run

    run = make_unstarted_run(world.b.org)
    attempt = run.attempts.first()
    dataset, experiment = run.experiment.dataset_id, run.experiment_id
    return [
        ("datasets/<int:dataset_id>/", "get", f"/api/v1/datasets/{dataset}/"),
        ("experiments/<int:experiment_id>/", "get", f"/api/v1/experiments/{experiment}/"),
        ("experiments/<int:experiment_id>/runs/", "post", f"/api/v1/experiments/{experiment}/runs/"),
        ("runs/<int:run_id>/", "get", f"/api/v1/runs/{run.pk}/"),
        ("runs/<int:run_id>/cancel/", "post", f"/api/v1/runs/{run.pk}/cancel/"),
        ("runs/<int:run_id>/retry-failed/", "post", f"/api/v1/runs/{run.pk}/retry-failed/"),
        ("runs/<int:run_id>/attempts/", "get", f"/api/v1/runs/{run.pk}/attempts/"),
        ("attempts/<int:attempt_id>/", "get", f"/api/v1/attempts/{attempt.pk}/"),
    ]


def _provider_cases(world) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    from providers.services import credential_set

    b_credential = credential_set(org=world.b.org, provider="openai", api_key="sk-org-b-secret-0000")
    url = f"/api/v1/credentials/{b_credential.pk}/"
    return [
        ("credentials/<int:credential_id>/", "get", url),
        ("credentials/<int:credential_id>/", "delete", url),
    ]


def _leaderboard_cases(world) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    from tests.leaderboards.factories import make_isolation_objects

    b = make_isolation_objects(world.b.org)
    run, experiment, dataset = b.run.pk, b.experiment.pk, b.dataset.pk
    return [
        ("runs/<int:run_id>/leaderboard/", "get", f"/api/v1/runs/{run}/leaderboard/"),
        ("runs/<int:run_id>/pairwise/", "get", f"/api/v1/runs/{run}/pairwise/"),
        ("runs/<int:run_id>/compare/", "get", f"/api/v1/runs/{run}/compare/?a=mock:a&b=mock:b"),
        ("runs/<int:run_id>/export/", "get", f"/api/v1/runs/{run}/export/?format=csv"),
        ("experiments/<int:experiment_id>/leaderboard/", "get", f"/api/v1/experiments/{experiment}/leaderboard/"),
        ("experiments/<int:experiment_id>/trends/", "get", f"/api/v1/experiments/{experiment}/trends/"),
        ("datasets/<int:dataset_id>/leaderboard/", "get", f"/api/v1/datasets/{dataset}/leaderboard/"),
        ("datasets/<int:dataset_id>/trends/", "get", f"/api/v1/datasets/{dataset}/trends/"),
        ("runs/<int:run_id>/planner/", "get", f"/api/v1/runs/{run}/planner/"),
        ("runs/<int:run_id>/recommendation/", "get", f"/api/v1/runs/{run}/recommendation/"),
        ("experiments/<int:experiment_id>/recommendation/", "get",
         f"/api/v1/experiments/{experiment}/recommendation/"),
        ("datasets/<int:dataset_id>/recommendation/", "get", f"/api/v1/datasets/{dataset}/recommendation/"),
    ]

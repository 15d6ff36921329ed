"""Writes for orgs, members and API keys."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import jwt
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from orgs.models import ApiKey, Invitation, Membership, Organization, Role, User, role_at_least
from orgs.selectors import is_active_person

# A key is "<prefix>_<public id>_<secret>": the public id finds the row, the secret proves it.
_KEY_PUBLIC_BYTES = 6
_KEY_SECRET_BYTES = 32
# Writing last_used_at on every request would turn each read into a write; a minute is precise enough.
_LAST_USED_RESOLUTION = timedelta(seconds=60)


def _hash_secret(secret: str) -> str:
    # Keys carry 256 random bits, so a fast hash is safe here (no dictionary to attack).
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def org_get_or_create(*, slug: str, name: str | None = None) -> tuple[Organization, bool]:
    org, created = Organization.objects.get_or_create(slug=slug, defaults={"name": name or slug})
    if not created and name and org.name != name:
        org.name = name
        org.save(update_fields=["name", "updated_at"])
    return org, created


class AccessDenied(Exception):
    """An org action the actor's role does not allow (shown to the person as it is)."""


ROLE_TOO_HIGH = "You cannot grant or change a role above your own."
LAST_OWNER = "The last owner of an organisation cannot be removed or demoted."


def role_grant_check(*, actor_role: str | None, role: str, current_role: str | None = None) -> None:
    """Nobody grants a role above their own, nor changes the role of someone ranked above them.

    `actor_role` None is the platform (operators, superusers), bound by no org role.
    """
    if actor_role is None:
        return
    if not role_at_least(actor_role, role) or (current_role is not None and not role_at_least(actor_role, current_role)):
        raise AccessDenied(ROLE_TOO_HIGH)


def member_change_check(*, membership: Membership, role: str | None, actor_role: str | None, lock: bool = False) -> None:
    """May `actor_role` give `membership` the role `role` (None: remove it)? Raises AccessDenied if not.

    Forms call it to show the reason; the services call it again under a lock before writing."""
    role_grant_check(actor_role=actor_role, role=role or membership.role, current_role=membership.role)
    if membership.role != Role.OWNER or role == Role.OWNER:
        return
    owners = Membership.objects.filter(org_id=membership.org_id, role=Role.OWNER)
    if lock:
        # Lock the org's owner rows so that two concurrent demotions cannot both see "another owner".
        owners = owners.select_for_update()
    if list(owners.values_list("pk", flat=True)) == [membership.pk]:
        raise AccessDenied(LAST_OWNER)


@transaction.atomic
def member_add(
    *, org: Organization, email: str, role: str = Role.MEMBER, password: str | None = None
) -> Membership:
    """Platform-level add (create_org, demo, operators): creates the user on first sight.

    Never touches platform flags, and never lowers a role the person already holds.
    """
    email = email.strip().lower()
    user = User.objects.filter(email=email).first()
    if user is None:
        user = User.objects.create_user(email=email, password=password)
    elif password:
        user.set_password(password)
        user.save(update_fields=["password"])
    membership = Membership.objects.filter(org=org, user=user).first()
    if membership is None:
        return Membership.objects.create(org=org, user=user, role=role)
    if not role_at_least(membership.role, role):
        membership.role = role
        membership.save(update_fields=["role", "updated_at"])
    return membership


@transaction.atomic
def member_invite(*, org: Organization, email: str, role: str, actor_role: str | None,
                  invited_by: User | None) -> Membership | Invitation:
    """An org admin adds a person: a new address becomes an account and a membership; an existing
    person gets an invitation they accept themselves (nobody is pulled into an org)."""
    role_grant_check(actor_role=actor_role, role=role)
    email = email.strip().lower()
    user = User.objects.filter(email=email).first()
    if user is None:
        # No usable password yet: the person gets one from an operator (or create_org) before logging in.
        user = User.objects.create_user(email=email)
        return Membership.objects.create(org=org, user=user, role=role)
    membership = Membership.objects.filter(org=org, user=user).first()
    if membership is not None:
        return member_set_role(membership=membership, role=role, actor_role=actor_role)
    invitation, _ = Invitation.objects.update_or_create(
        org=org, user=user, accepted_at=None, declined_at=None, defaults={"role": role, "invited_by": invited_by}
    )
    return invitation


def _invitation_lock_open(*, invitation: Invitation, user: User) -> Invitation:
    """The invitation, locked so one answer wins, if it is still open and addressed to `user`."""
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.user_id != user.pk or not invitation.is_pending:
        raise AccessDenied("This invitation is not open for you.")
    return invitation


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user: User) -> Membership:
    """The invited person joins. Their current org stays what they chose; no platform flag changes."""
    invitation = _invitation_lock_open(invitation=invitation, user=user)
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["accepted_at", "updated_at"])
    membership, _ = Membership.objects.get_or_create(org=invitation.org, user=user, defaults={"role": invitation.role})
    return membership


@transaction.atomic
def invitation_decline(*, invitation: Invitation, user: User) -> Invitation:
    invitation = _invitation_lock_open(invitation=invitation, user=user)
    invitation.declined_at = timezone.now()
    invitation.save(update_fields=["declined_at", "updated_at"])
    return invitation


@transaction.atomic
def member_set_role(*, membership: Membership, role: str, actor_role: str | None) -> Membership:
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    member_change_check(membership=membership, role=role, actor_role=actor_role, lock=True)
    if membership.role != role:
        membership.role = role
        membership.save(update_fields=["role", "updated_at"])
    return membership


@transaction.atomic
def member_remove(*, membership: Membership, actor_role: str | None) -> None:
    """Removes a person from an org: their keys there are revoked and every JWT they hold dies."""
    membership = Membership.objects.select_for_update().select_related("user").get(pk=membership.pk)
    member_change_check(membership=membership, role=None, actor_role=actor_role, lock=True)
    user = membership.user
    membership.delete()
    ApiKey.objects.filter(org_id=membership.org_id, created_by=user, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    User.objects.filter(pk=user.pk).update(token_version=F("token_version") + 1)
    if user.current_org_id == membership.org_id:
        User.objects.filter(pk=user.pk).update(current_org=None)


def user_deactivated(*, user: User) -> None:
    """Called when a person's account is switched off: every key they created is revoked."""
    ApiKey.objects.filter(created_by=user, revoked_at__isnull=True).update(revoked_at=timezone.now())
    User.objects.filter(pk=user.pk).update(token_version=F("token_version") + 1)


def user_set_current_org(*, user: User, org: Organization) -> None:
    """Remembers the org the person chose (dashboard switcher) across sessions."""
    if user.current_org_id != org.pk:
        user.current_org = org
        user.save(update_fields=["current_org"])


def api_key_create(
    *, org: Organization, name: str, role: str = Role.MEMBER, created_by: User | None = None,
    actor_role: str | None = None,
) -> tuple[ApiKey, str]:
    """Returns the stored key and its plaintext, which is never available again."""
    role_grant_check(actor_role=actor_role, role=role)
    public_id = secrets.token_hex(_KEY_PUBLIC_BYTES)
    secret = secrets.token_urlsafe(_KEY_SECRET_BYTES)
    prefix = f"{settings.BENCHHUB_API_KEY_PREFIX}_{public_id}"
    key = ApiKey.objects.create(
        org=org, name=name, role=role, prefix=prefix, hashed_secret=_hash_secret(secret), created_by=created_by
    )
    return key, f"{prefix}_{secret}"


def api_key_role(*, key: ApiKey) -> str | None:
    """The role a key acts with now: never above its creator's current role in the org, and none
    at all once the creator left the org or was deactivated. Keys no person created (create_org
    --api-key, operators) keep their own role until revoked."""
    if key.created_by_id is None:
        return key.role
    creator = key.created_by
    if not is_active_person(creator):
        return None
    membership = Membership.objects.filter(org_id=key.org_id, user_id=creator.pk).only("role").first()
    if membership is None:
        return None
    return key.role if role_at_least(membership.role, key.role) else membership.role


def api_key_authenticate(*, raw_key: str) -> tuple[ApiKey, str] | None:
    """The active key matching `raw_key` and the role it acts with, or None.

    Touches last_used_at at most once a minute."""
    try:
        head, public_id, secret = raw_key.split("_", 2)
    except ValueError:
        return None
    if head != settings.BENCHHUB_API_KEY_PREFIX:
        return None
    key = ApiKey.objects.select_related("org", "created_by").filter(prefix=f"{head}_{public_id}").first()
    if key is None or not secrets.compare_digest(key.hashed_secret, _hash_secret(secret)):
        return None
    if key.revoked_at is not None:
        return None
    role = api_key_role(key=key)
    if role is None:
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > _LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key, role


def api_key_revoke(*, key: ApiKey) -> ApiKey:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at", "updated_at"])
    return key


def jwt_issue(*, user: User, org: Organization) -> tuple[str, int]:
    """A short-lived bearer token for a person in one org. The role is read again on every use."""
    ttl = settings.BENCHHUB_JWT_TTL_SECONDS
    now = timezone.now()
    payload = {
        "sub": str(user.pk), "org": org.pk, "ver": user.token_version, "aud": settings.BENCHHUB_JWT_AUDIENCE,
        "iat": int(now.timestamp()), "exp": int(now.timestamp()) + ttl,
    }
    return jwt.encode(payload, settings.BENCHHUB_JWT_SIGNING_KEY, algorithm="HS256"), ttl


def jwt_decode(token: str) -> dict | None:
    """The claims of a token signed with our own JWT key for our audience, or None."""
    try:
        return jwt.decode(
            token, settings.BENCHHUB_JWT_SIGNING_KEY, algorithms=["HS256"], audience=settings.BENCHHUB_JWT_AUDIENCE,
            options={"require": ["exp", "sub", "aud", "ver"]},
        )
    except jwt.PyJWTError:
        return None

"""Writes for orgs, members and API keys."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import jwt
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from orgs.models import ApiKey, Membership, Organization, Role, User

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


@transaction.atomic
def member_add(
    *, org: Organization, email: str, role: str = Role.MEMBER, password: str | None = None
) -> Membership:
    """Adds (or updates) a person's membership; creates the user on first sight."""
    email = email.strip().lower()
    user = User.objects.filter(email=email).first()
    if user is None:
        user = User.objects.create_user(email=email, password=password)
    elif password:
        user.set_password(password)
        user.save(update_fields=["password"])
    if role in (Role.OWNER, Role.ADMIN) and not user.is_staff:
        # Org admins manage their org in Django admin, which requires is_staff; ModelAdmins limit the view.
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    membership, _ = Membership.objects.update_or_create(org=org, user=user, defaults={"role": role})
    return membership


def api_key_create(
    *, org: Organization, name: str, role: str = Role.MEMBER, created_by: User | None = None
) -> tuple[ApiKey, str]:
    """Returns the stored key and its plaintext, which is never available again."""
    public_id = secrets.token_hex(_KEY_PUBLIC_BYTES)
    secret = secrets.token_urlsafe(_KEY_SECRET_BYTES)
    prefix = f"{settings.BENCHHUB_API_KEY_PREFIX}_{public_id}"
    key = ApiKey.objects.create(
        org=org, name=name, role=role, prefix=prefix, hashed_secret=_hash_secret(secret), created_by=created_by
    )
    return key, f"{prefix}_{secret}"


def api_key_authenticate(*, raw_key: str) -> ApiKey | None:
    """The active key matching `raw_key`, or None. Touches last_used_at at most once a minute."""
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
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > _LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key


def api_key_revoke(*, key: ApiKey) -> ApiKey:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at", "updated_at"])
    return key


def jwt_issue(*, user: User, org: Organization) -> tuple[str, int]:
    """A short-lived bearer token for a person in one org. The role is read again on every use."""
    ttl = settings.BENCHHUB_JWT_TTL_SECONDS
    now = timezone.now()
    payload = {"sub": str(user.pk), "org": org.pk, "iat": int(now.timestamp()), "exp": int(now.timestamp()) + ttl}
    return jwt.encode(payload, settings.SECRET_KEY, algorithm="HS256"), ttl


def jwt_decode(token: str) -> dict | None:
    try:
        return jwt.decode(token, settings.SECRET_KEY, algorithms=["HS256"], options={"require": ["exp", "sub"]})
    except jwt.PyJWTError:
        return None

"""Tenants, people, their roles, and the API keys programs use."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models

from benchhub.models import TimestampedModel


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra: object) -> User:
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: object) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: object) -> User:
        extra["is_staff"] = True
        extra["is_superuser"] = True
        return self._create_user(email, password, **extra)


class User(AbstractUser):
    """A person; logs in with an e-mail address. Platform staff have `is_staff` and no org limits.

    Org roles never touch the platform flags (`is_staff`, `is_superuser`): an org admin reaches
    Django admin through their role (see `orgs.selectors.admin_orgs_for`).
    """

    username = None  # type: ignore[assignment]
    email = models.EmailField("e-mail address", unique=True)
    # Every JWT carries the version it was issued under; bumping it (password change, removal from
    # an org) revokes every token the person holds.
    token_version = models.PositiveIntegerField(default=0)
    # The org the person last chose; a new membership never changes it (no silent switch).
    current_org = models.ForeignKey(
        "Organization", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = UserManager()  # type: ignore[misc]

    def __str__(self) -> str:
        return self.email

    def set_password(self, raw_password: str | None) -> None:
        # Every path that changes a password (admin form, reset, services) comes through here.
        super().set_password(raw_password)
        self.token_version += 1

    def save(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        # A partial save of the password must carry the bumped token version with it.
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "password" in update_fields and "token_version" not in update_fields:
            kwargs["update_fields"] = [*update_fields, "token_version"]
        super().save(*args, **kwargs)


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"
    VIEWER = "viewer", "Viewer"


# Higher ranks include every right of the lower ones.
ROLE_RANK: dict[str, int] = {Role.VIEWER: 0, Role.MEMBER: 1, Role.ADMIN: 2, Role.OWNER: 3}


def role_at_least(role: str, minimum: str) -> bool:
    return ROLE_RANK[role] >= ROLE_RANK[minimum]


class Organization(TimestampedModel):
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    # Org-wide knobs that are not worth a column each (e.g. retry policy, low-sample threshold).
    settings = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class Membership(TimestampedModel):
    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)

    ORG_LOOKUP = "org"

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "user"], name="membership_unique_org_user")]
        ordering = ["org", "user"]

    def __str__(self) -> str:
        return f"{self.user} in {self.org} ({self.role})"


class ApiKey(TimestampedModel):
    """A program's credential. Only a SHA-256 of the secret is stored; the key is shown once."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    prefix = models.CharField(max_length=16, unique=True, help_text="The visible start of the key.")
    hashed_secret = models.CharField(max_length=64)
    created_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    ORG_LOOKUP = "org"

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None



class Invitation(TimestampedModel):
    """An existing person asked to join an org; they join only when they accept it themselves."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="invitations")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="invitations")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    invited_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    accepted_at = models.DateTimeField(null=True, blank=True)
    declined_at = models.DateTimeField(null=True, blank=True)

    ORG_LOOKUP = "org"

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["org", "user"],
                condition=models.Q(accepted_at__isnull=True, declined_at__isnull=True),
                name="invitation_one_pending_per_org_user",
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} invited to {self.org} ({self.role})"

    @property
    def is_pending(self) -> bool:
        return self.accepted_at is None and self.declined_at is None

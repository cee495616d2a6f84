"""Organisations (the tenant), people, departments, roles, data scopes, field security, API keys, sessions."""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.db import models

from siyu.kernel.actor import Actor, DataScope, FieldAccess
from siyu.kernel.tenancy import TenantModel, TenantQuerySet


class Organization(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=60, unique=True)
    require_admin_2fa = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra):
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user


class User(AbstractBaseUser):
    """A person. Global: one person may belong to several organisations through memberships."""

    email = models.EmailField(unique=True)
    name = models.CharField(max_length=120, blank=True)
    is_active = models.BooleanField(default=True)
    locale = models.CharField(max_length=10, blank=True)
    # Encrypted TOTP secret (kernel.crypto envelope); empty when the second factor is off.
    totp_secret = models.TextField(blank=True, default="")
    totp_confirmed_at = models.DateTimeField(null=True, blank=True)
    # Last TOTP time step accepted, so a code cannot be replayed within its validity window.
    totp_last_step = models.BigIntegerField(null=True, blank=True)
    date_joined = models.DateTimeField(auto_now_add=True)

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = UserManager()

    def __str__(self) -> str:
        return self.name or self.email

    @property
    def has_totp(self) -> bool:
        return bool(self.totp_secret and self.totp_confirmed_at)


class DepartmentQuerySet(TenantQuerySet):
    def visible_to(self, actor: Actor) -> DepartmentQuerySet:
        """Departments are scoped by themselves: "own" and "department" mean the actor's department(s),
        "department and below" its subtree, "organisation" all of them."""
        scope = actor.scope_for(self.model.scope_key)
        qs = self.in_org(actor)
        if scope is None:
            return qs.none()
        if scope == DataScope.ORGANIZATION:
            return qs
        ids = actor.department_tree_ids if scope == DataScope.DEPARTMENT_TREE else actor.department_ids
        return qs.filter(pk__in=sorted(ids))


class Department(TenantModel):
    name = models.CharField(max_length=120)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    # Materialised path of ids ("/3/7/12/") so "department and below" is one indexed prefix query.
    path = models.CharField(max_length=500, db_index=True, default="/")
    manager = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    scope_key = "iam.department"

    objects = models.Manager.from_queryset(DepartmentQuerySet)()

    class Meta:
        indexes = [models.Index(fields=["org", "path"], name="iam_dept_org_path")]

    def __str__(self) -> str:
        return self.name


class Role(TenantModel):
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    permissions = models.JSONField(default=list)  # operation names or wildcards ("cdp.*")
    default_scope = models.CharField(
        max_length=20, choices=[(s.value, s.value) for s in DataScope], default=DataScope.OWN.value
    )
    is_admin = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "name"], name="iam_role_unique_name")]

    def __str__(self) -> str:
        return self.name


class RoleScope(models.Model):
    """The data scope a role gives on one object (overrides the role's default scope)."""

    role = models.ForeignKey(Role, on_delete=models.CASCADE, related_name="scopes")
    object_key = models.CharField(max_length=80)
    scope = models.CharField(max_length=20, choices=[(s.value, s.value) for s in DataScope])

    class Meta:
        constraints = [models.UniqueConstraint(fields=["role", "object_key"], name="iam_rolescope_unique")]


class FieldSecurity(models.Model):
    role = models.ForeignKey(Role, on_delete=models.CASCADE, related_name="field_rules")
    object_key = models.CharField(max_length=80)
    field_name = models.CharField(max_length=80)
    access = models.CharField(max_length=20, choices=[(a.value, a.value) for a in FieldAccess])

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["role", "object_key", "field_name"], name="iam_fieldsec_unique")
        ]


class Membership(TenantModel):
    """A person in one organisation: the "user" that business rows own and that roles apply to."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    department = models.ForeignKey(Department, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    roles = models.ManyToManyField(Role, blank=True, related_name="memberships")
    title = models.CharField(max_length=120, blank=True)
    is_active = models.BooleanField(default=True)
    # Personal data at rest: kernel.crypto envelope plus HMAC blind index for exact lookup by phone.
    mobile = models.TextField(blank=True, default="")
    mobile_index = models.CharField(max_length=64, blank=True, default="", db_index=True)
    # Custom field values, validated against platform field definitions on every write.
    custom = models.JSONField(default=dict, blank=True)

    scope_key = "iam.user"
    scope_owner_field = "user"
    scope_department_field = "department"

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "user"], name="iam_membership_unique")]
        indexes = [models.Index(fields=["org", "department"], name="iam_member_org_dept")]


class ApiKey(TenantModel):
    name = models.CharField(max_length=120)
    prefix = models.CharField(max_length=16, unique=True)  # shown in lists, used to find the row
    key_hash = models.CharField(max_length=64)  # sha256 hex of the whole key; keys are 256-bit random
    scopes = models.JSONField(default=list)  # operation names or wildcards
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    rate_per_minute = models.PositiveIntegerField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class UserSession(models.Model):
    """Server-side record of a console session so logout, disable and timeouts end it for real."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="sessions")
    # The organisation membership the session is acting in (switching organisation moves it), so disabling a
    # member ends exactly the sessions that act in that organisation.
    membership = models.ForeignKey(
        "Membership", null=True, blank=True, on_delete=models.SET_NULL, related_name="sessions"
    )
    session_key = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_reason = models.CharField(max_length=30, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)

"""Console forms: they only parse input; the services validate and decide. Field names match the services'
field names so a service's ``ValidationFailed.fields`` lands on the right input."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from siyu.kernel.actor import DataScope, FieldAccess
from siyu.kernel.errors import DomainError

SCOPE_CHOICES = [
    (DataScope.OWN.value, _("Own records")),
    (DataScope.DEPARTMENT.value, _("Own department")),
    (DataScope.DEPARTMENT_TREE.value, _("Department and below")),
    (DataScope.ORGANIZATION.value, _("Whole organisation")),
]
ACCESS_CHOICES = [
    ("", _("Editable")),
    (FieldAccess.READ_ONLY.value, _("Read-only")),
    (FieldAccess.HIDDEN.value, _("Hidden")),
]


class BootstrapForm(forms.Form):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            widget = field.widget
            if isinstance(widget, forms.CheckboxInput | forms.CheckboxSelectMultiple):
                css = "form-check-input"
            elif isinstance(widget, forms.Select):
                css = "form-select"
            else:
                css = "form-control"
            widget.attrs.setdefault("class", css)

    def add_domain_error(self, exc: DomainError) -> None:
        """Put a service's field errors on the matching inputs, the rest above the form."""
        if not exc.fields:
            self.add_error(None, exc.message)
        for name, messages in exc.fields.items():
            for message in messages:
                self.add_error(name if name in self.fields else None, message)


class LoginForm(BootstrapForm):
    email = forms.EmailField(label=_("Email"), max_length=254)
    password = forms.CharField(label=_("Password"), widget=forms.PasswordInput, max_length=200, strip=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["email"].widget.attrs.update(autocomplete="username", autofocus=True)
        self.fields["password"].widget.attrs.update(autocomplete="current-password")


class CodeForm(BootstrapForm):
    code = forms.CharField(label=_("Six-digit code"), max_length=10)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["code"].widget.attrs.update(autocomplete="one-time-code", inputmode="numeric", autofocus=True)


class MemberForm(BootstrapForm):
    """Invite (with email and password) or edit (without them) a member."""

    email = forms.EmailField(label=_("Email"), max_length=254)
    password = forms.CharField(
        label=_("Initial password"), widget=forms.PasswordInput(render_value=False), max_length=200, strip=False,
        required=False, help_text=_("For a person new to Siyu. Leave empty when the person already has an account."),
    )
    name = forms.CharField(label=_("Name"), max_length=120, required=False)
    title = forms.CharField(label=_("Title"), max_length=120, required=False)
    department_id = forms.TypedChoiceField(label=_("Department"), coerce=int, empty_value=None, required=False)
    role_ids = forms.TypedMultipleChoiceField(label=_("Roles"), coerce=int, required=False,
                                              widget=forms.CheckboxSelectMultiple)
    mobile = forms.CharField(label=_("Mobile"), max_length=40, required=False,
                             help_text=_("Stored encrypted. Leave empty to keep the current number."))

    def __init__(self, *args, departments=(), roles=(), editing=False, hidden=(), read_only=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["department_id"].choices = [("", "—")] + [(d.pk, "\u2003" * depth + d.name) for d, depth in departments]
        self.fields["role_ids"].choices = [(r.pk, r.name) for r in roles]
        if editing:
            del self.fields["email"]
            del self.fields["password"]
        else:
            self.fields["mobile"].help_text = _("Stored encrypted.")
        for name in hidden:
            self.fields.pop(name, None)
        for name in read_only:
            if name in self.fields:
                self.fields[name].disabled = True


class DepartmentForm(BootstrapForm):
    name = forms.CharField(label=_("Name"), max_length=120)
    parent_id = forms.TypedChoiceField(label=_("Parent department"), coerce=int, empty_value=None, required=False)
    manager_id = forms.TypedChoiceField(label=_("Manager"), coerce=int, empty_value=None, required=False)

    def __init__(self, *args, departments=(), managers=(), exclude_subtree_of=None, **kwargs):
        super().__init__(*args, **kwargs)
        prefix = f"{exclude_subtree_of.path}{exclude_subtree_of.pk}/" if exclude_subtree_of else None
        self.fields["parent_id"].choices = [("", _("(top level)"))] + [
            (d.pk, "\u2003" * depth + d.name)
            for d, depth in departments
            if not (exclude_subtree_of and (d.pk == exclude_subtree_of.pk or d.path.startswith(prefix)))
        ]
        self.fields["manager_id"].choices = [("", "—")] + [(m.user_id, str(m.user)) for m in managers]


class MoveForm(BootstrapForm):
    parent_id = forms.TypedChoiceField(label=_("Move under"), coerce=int, empty_value=None, required=False)


class RoleForm(BootstrapForm):
    name = forms.CharField(label=_("Name"), max_length=120)
    description = forms.CharField(label=_("Description"), required=False, max_length=2000,
                                  widget=forms.Textarea(attrs={"rows": 2}))
    default_scope = forms.ChoiceField(label=_("Default data scope"), choices=SCOPE_CHOICES)
    is_admin = forms.BooleanField(label=_("Administrator role (sees everything, ignores field security)"),
                                  required=False)
    extra_permissions = forms.CharField(
        label=_("Other grants"), required=False, max_length=2000,
        help_text=_("Comma-separated operation names or wildcards such as cdp.profile.*"),
    )


class ApiKeyForm(BootstrapForm):
    name = forms.CharField(label=_("Name"), max_length=120)
    extra_permissions = forms.CharField(
        label=_("Other scopes"), required=False, max_length=2000,
        help_text=_("Comma-separated operation names or wildcards such as cdp.profile.*"),
    )


class OrganizationForm(BootstrapForm):
    name = forms.CharField(label=_("Name"), max_length=200)
    require_admin_2fa = forms.BooleanField(
        label=_("Administrators must use a second factor (TOTP)"), required=False
    )

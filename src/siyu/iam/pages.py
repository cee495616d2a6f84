"""Console pages of iam: sign-in (with the TOTP step), logout, second-factor enrolment, organisation switch,
and the management pages for users, departments, roles, data scopes, field security, API keys and the
organisation. Like the API: parse, authorise, call one service or selector, render.

Missing permission renders the 403 page (and is audited as ``denied``); a record outside the actor's
organisation or data scope is a 404.
"""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.db.models import Count
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from siyu.kernel import auditing
from siyu.kernel.auditing import AuditEntry
from siyu.kernel.errors import DomainError, NotFound
from siyu.kernel.pagination import paginate

from . import authn, fieldsec, presenters, selectors, services
from .forms import (
    ACCESS_CHOICES,
    SCOPE_CHOICES,
    ApiKeyForm,
    CodeForm,
    DepartmentForm,
    LoginForm,
    MemberForm,
    MoveForm,
    OrganizationForm,
    RoleForm,
)
from .models import ApiKey, Department, Membership, Organization, Role
from .sessions import client_ip

# --- plumbing -----------------------------------------------------------------------------------------------


def _current_actor(request):
    actor = getattr(request, "actor", None)
    return actor if actor else None  # a lazy object that may wrap None


def console_page(permission: str | None = None):
    """Signed in, acting in an organisation, and holding ``permission``; the actor is passed to the view."""

    def decorate(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            actor = _current_actor(request)
            if actor is None:
                return render(request, "console/no_organization.html", status=403)
            if permission and not actor.can(permission):
                return _forbidden(request, actor, permission)
            try:
                return view(request, actor, *args, **kwargs)
            except NotFound as exc:
                raise Http404(exc.message) from exc

        return wrapper

    return decorate


def _forbidden(request, actor, operation: str):
    """The 403 page, with a ``denied`` audit entry (rendered, not raised, so the entry commits)."""
    auditing.record(AuditEntry(
        org_id=actor.org_id, action="denied", actor_user_id=actor.user_id, actor_label=actor.label,
        ip=client_ip(request), meta={"operation": operation, "path": request.path},
    ))
    return render(request, "403.html", status=403)


def _safe_next(request, default: str = "/") -> str:
    nxt = request.POST.get("next") or request.GET.get("next") or ""
    if nxt and url_has_allowed_host_and_scheme(nxt, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return nxt
    return default


def _grants_from(request, field: str = "permissions", extra: str = "") -> list[str]:
    grants = set(request.POST.getlist(field))
    grants |= {g.strip() for g in extra.split(",") if g.strip()}
    return sorted(grants)


def _run_and_flash(request, call, success: str) -> bool:
    """Run a service for a POST-and-redirect action; its refusal becomes an error message (a 404 stays a 404)."""
    try:
        call()
    except NotFound:
        raise
    except DomainError as exc:
        messages.error(request, "; ".join(m for ms in exc.fields.values() for m in ms) or exc.message)
        return False
    messages.success(request, success)
    return True


def _matrix(selected: list[str]) -> dict:
    """The permission matrix: declared operations by context, with what is ticked and what is left over."""
    groups = selectors.permission_groups()
    selected_set = set(selected)
    shown = {"*"} | {f"{ctx}.*" for ctx, _ops in groups} | {op.name for _ctx, ops in groups for op in ops}
    return {
        "groups": groups,
        "selected": selected_set,
        "extra": ", ".join(sorted(selected_set - shown)),
    }


# --- sign in, second factor, sign out, switch -------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def login_view(request):
    form = LoginForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            user = authn.check_password(email=form.cleaned_data["email"], password=form.cleaned_data["password"],
                                        ip=client_ip(request))
        except DomainError as exc:
            form.add_error(None, _("Too many failed attempts. Try again later.") if isinstance(exc, authn.LoginLocked)
                           else _("The email or password is not correct."))
            status = 429 if isinstance(exc, authn.LoginLocked) else 200
        else:
            if user.has_totp:
                authn.begin_second_factor(request, user)
                nxt = _safe_next(request, "")
                return redirect(reverse("login_verify") + (f"?next={nxt}" if nxt else ""))
            authn.complete_login(request, user)
            return HttpResponseRedirect(_safe_next(request))
    expired = request.GET.get("expired")
    return render(request, "iam/login.html", {"form": form, "step": "password", "expired": expired,
                                              "next": _safe_next(request, "")}, status=status)


@require_http_methods(["GET", "POST"])
def login_verify(request):
    if authn.pending_user(request) is None:
        messages.info(request, _("Sign in again."))
        return redirect("login")
    form = CodeForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            user = authn.check_second_factor(request, code=form.cleaned_data["code"])
        except DomainError as exc:
            form.add_error(None, _("Too many failed attempts. Try again later.") if isinstance(exc, authn.LoginLocked)
                           else _("The code is not correct."))
            status = 429 if isinstance(exc, authn.LoginLocked) else 200
        else:
            authn.complete_login(request, user)
            return HttpResponseRedirect(_safe_next(request))
    return render(request, "iam/login.html", {"form": form, "step": "code", "next": _safe_next(request, "")},
                  status=status)


@require_http_methods(["GET", "POST"])
def logout_view(request):
    if request.method == "POST":
        authn.logout(request)
        messages.success(request, _("You have logged out."))
        return redirect("login")
    if not request.user.is_authenticated:
        return redirect("login")
    return render(request, "iam/logout.html")


@require_http_methods(["GET", "POST"])
@console_page()
def account_security(request, actor):
    user = request.user
    form = CodeForm(request.POST or None)
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "start":
            try:
                authn.begin_totp_enrolment(user=user)
            except DomainError:
                pass
            return redirect("account_security")
        if form.is_valid():
            try:
                if action == "disable":
                    authn.disable_totp(actor=actor, user=user, code=form.cleaned_data["code"])
                    messages.success(request, _("The second factor is off."))
                else:
                    authn.confirm_totp_enrolment(actor=actor, user=user, code=form.cleaned_data["code"])
                    messages.success(request, _("The second factor is on."))
                return redirect("account_security")
            except DomainError as exc:
                form.add_error("code" if exc.fields.get("code") else None, _("The code is not correct.")
                               if exc.fields.get("code") else exc.message)
    secret = authn.pending_totp_secret(user)
    ctx = {
        "form": form,
        "has_totp": user.has_totp,
        "secret": secret,
        "qr_svg": authn.totp_qr_svg(user, secret) if secret else "",
        "required": authn.needs_second_factor(user, request.membership if request.membership else None),
    }
    return render(request, "iam/account_security.html", ctx)


@require_http_methods(["GET", "POST"])
@console_page()
def switch_org(request, actor):
    if request.method == "POST":
        raw = request.POST.get("org") or request.POST.get("org_id") or ""
        if not raw.isdigit():
            raise Http404
        try:
            authn.switch_organization(request, org_id=int(raw))
        except NotFound as exc:
            raise Http404 from exc
        return HttpResponseRedirect(_safe_next(request))
    return render(request, "iam/switch_org.html", {"memberships": selectors.memberships_of(request.user),
                                                   "current_org_id": actor.org_id})


# --- users --------------------------------------------------------------------------------------------------


def _user_filters(request) -> dict:
    g = request.GET
    active = {"1": True, "0": False}.get(g.get("active", ""))
    dept = g.get("department", "")
    return {"q": g.get("q", "").replace("\x00", "").strip()[:200] or None, "is_active": active,
            "department_id": int(dept) if dept.isdigit() else None}


@require_http_methods(["GET"])
@console_page("iam.user.read")
def users(request, actor):
    filters = _user_filters(request)
    try:
        page = paginate(selectors.members_for(actor, **filters), order=[], cursor=request.GET.get("cursor"), limit=25)
    except (DomainError, ValueError, TypeError):  # a stale or forged cursor: start again from the top
        page = paginate(selectors.members_for(actor, **filters), limit=25)
    tree = selectors.department_tree(actor)
    names = {d.pk: d.name for d, _depth in tree}
    rows = []
    for m in page.items:
        data = presenters.user_data(actor, m)
        rows.append((m, data, names.get(data.get("department_id"), "")))
    ctx = {
        "rows": rows, "next_cursor": page.next_cursor, "filters": request.GET,
        "dept_choices": [(d.pk, "\u2003" * depth + d.name) for d, depth in tree],
        "hidden": actor.hidden_fields("iam.user"), "can_create": actor.can("iam.user.create"),
    }
    if request.htmx and request.GET.get("cursor"):
        return render(request, "iam/users.html#rows", ctx)
    if request.htmx:
        return render(request, "iam/users.html#table", ctx)
    return render(request, "iam/users.html", ctx)


def _member_form(request, actor, *, editing: bool, initial=None):
    return MemberForm(
        request.POST or None, initial=initial,
        departments=selectors.department_tree(actor), roles=list(selectors.roles_for(actor)),
        editing=editing, hidden=actor.hidden_fields("iam.user"),
        read_only=actor.read_only_fields("iam.user") - actor.hidden_fields("iam.user"),
    )


@require_http_methods(["GET", "POST"])
@console_page("iam.user.create")
def user_invite(request, actor):
    form = _member_form(request, actor, editing=False)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            m = services.add_member(
                actor=actor, email=d["email"], password=d.get("password") or None, name=d.get("name", ""),
                title=d.get("title", ""), department=d.get("department_id"), roles=d.get("role_ids") or [],
                mobile=d.get("mobile", ""),
            )
        except DomainError as exc:
            form.add_domain_error(exc)
        else:
            messages.success(request, _("%(email)s is now a member.") % {"email": m.user.email})
            return redirect("iam_user_detail", pk=m.pk)
    return render(request, "iam/user_form.html", {"form": form, "editing": False})


def _visible_member(actor, pk):
    m = (selectors.members_for(actor).filter(pk=pk).select_related("department").first())
    if m is None:
        raise NotFound("user not found")
    return m


@require_http_methods(["GET"])
@console_page("iam.user.read")
def user_detail(request, actor, pk: int):
    m = _visible_member(actor, pk)
    data = presenters.user_data(actor, m)
    return render(request, "iam/user_detail.html", {
        "m": m, "data": data, "roles": list(m.roles.all()),
        "can_edit": actor.can("iam.user.update"), "can_disable": actor.can("iam.user.disable"),
        "is_self": m.user_id == actor.user_id,
    })


@require_http_methods(["GET", "POST"])
@console_page("iam.user.update")
def user_edit(request, actor, pk: int):
    m = _visible_member(actor, pk)
    initial = {"name": m.user.name, "title": m.title, "department_id": m.department_id,
               "role_ids": [r.pk for r in m.roles.all()]}
    form = _member_form(request, actor, editing=True, initial=initial)
    if request.method == "POST" and form.is_valid():
        changes = {k: v for k, v in form.cleaned_data.items() if k in form.changed_data and not form.fields[k].disabled}
        if not form.cleaned_data.get("mobile"):
            changes.pop("mobile", None)  # empty means keep the stored number
        if "role_ids" in changes:
            changes["role_ids"] = changes["role_ids"] or []
        try:
            services.update_member(actor=actor, membership_id=m.pk, changes=changes)
        except DomainError as exc:
            form.add_domain_error(exc)
        else:
            messages.success(request, _("Saved."))
            return redirect("iam_user_detail", pk=m.pk)
    return render(request, "iam/user_form.html", {"form": form, "editing": True, "m": m})


@require_POST
@console_page("iam.user.disable")
def user_set_active(request, actor, pk: int, active: bool):
    _run_and_flash(request, lambda: services.set_member_active(actor=actor, membership_id=pk, active=active),
                   _("The user is enabled.") if active else _("The user is disabled and signed out."))
    return redirect("iam_user_detail", pk=pk)


# --- departments --------------------------------------------------------------------------------------------


def _department_ctx(actor, form=None):
    tree = selectors.department_tree(actor)
    managers = list(Membership.objects.in_org(actor).filter(is_active=True).select_related("user"))
    return {
        "tree": tree,
        "form": form or DepartmentForm(departments=tree, managers=managers),
        "can_manage": actor.can("iam.department.manage"),
        "move_choices": [("", _("(top level)"))] + [(d.pk, "\u2003" * depth + d.name) for d, depth in tree],
    }


def _render_departments(request, ctx, status=200):
    if request.htmx:
        return render(request, "iam/departments.html#tree", ctx, status=status)
    return render(request, "iam/departments.html", ctx, status=status)


@require_http_methods(["GET", "POST"])
@console_page("iam.department.read")
def departments(request, actor):
    if request.method == "POST":
        if not actor.can("iam.department.manage"):
            return _forbidden(request, actor, "iam.department.manage")
        tree = selectors.department_tree(actor)
        managers = list(Membership.objects.in_org(actor).filter(is_active=True).select_related("user"))
        form = DepartmentForm(request.POST, departments=tree, managers=managers)
        if form.is_valid():
            try:
                services.add_department(actor=actor, name=form.cleaned_data["name"],
                                        parent=form.cleaned_data["parent_id"], manager=form.cleaned_data["manager_id"])
            except DomainError as exc:
                form.add_domain_error(exc)
            else:
                messages.success(request, _("Department added."))
                if not request.htmx:
                    return redirect("iam_departments")
                form = None
        return _render_departments(request, _department_ctx(actor, form), status=200 if form is None or form.is_valid() else 422)
    return _render_departments(request, _department_ctx(actor))


@require_http_methods(["GET", "POST"])
@console_page("iam.department.manage")
def department_edit(request, actor, pk: int):
    dept = Department.objects.visible_to(actor).filter(pk=pk).first()
    if dept is None:
        raise Http404
    tree = selectors.department_tree(actor)
    managers = list(Membership.objects.in_org(actor).filter(is_active=True).select_related("user"))
    initial = {"name": dept.name, "parent_id": dept.parent_id, "manager_id": dept.manager_id}
    form = DepartmentForm(request.POST or None, initial=initial, departments=tree, managers=managers,
                          exclude_subtree_of=dept)
    if request.method == "POST" and form.is_valid():
        changes = {k: form.cleaned_data[k] for k in form.changed_data}
        try:
            services.update_department(actor=actor, department_id=dept.pk, changes=changes)
        except DomainError as exc:
            form.add_domain_error(exc)
        else:
            messages.success(request, _("Saved."))
            return redirect("iam_departments")
    return render(request, "iam/department_form.html", {"form": form, "dept": dept})


@require_POST
@console_page("iam.department.manage")
def department_move(request, actor, pk: int):
    form = MoveForm(request.POST)
    form.fields["parent_id"].choices = [("", "")] + [(d.pk, d.name) for d, _depth in selectors.department_tree(actor)]
    if not form.is_valid():
        messages.error(request, _("Choose a department to move under."))
    else:
        _run_and_flash(request, lambda: services.move_department(
            actor=actor, department_id=pk, new_parent=form.cleaned_data["parent_id"]), _("Department moved."))
    if request.htmx:
        return _render_departments(request, _department_ctx(actor))
    return redirect("iam_departments")


@require_POST
@console_page("iam.department.manage")
def department_delete(request, actor, pk: int):
    _run_and_flash(request, lambda: services.delete_department(actor=actor, department_id=pk), _("Department deleted."))
    if request.htmx:
        return _render_departments(request, _department_ctx(actor))
    return redirect("iam_departments")


# --- roles, data scopes, field security ---------------------------------------------------------------------


@require_http_methods(["GET"])
@console_page("iam.role.read")
def roles(request, actor):
    rows = list(selectors.roles_for(actor).annotate(member_count=Count("memberships")).order_by("name"))
    return render(request, "iam/roles.html", {"roles": rows, "can_manage": actor.can("iam.role.manage")})


def _role_or_404(actor, pk) -> Role:
    role = selectors.roles_for(actor).filter(pk=pk).first()
    if role is None:
        raise NotFound("role not found")
    return role


@require_http_methods(["GET", "POST"])
@console_page("iam.role.manage")
def role_edit(request, actor, pk: int | None = None):
    role = _role_or_404(actor, pk) if pk else None
    initial = ({"name": role.name, "description": role.description, "default_scope": role.default_scope,
                "is_admin": role.is_admin} if role else {"default_scope": "own"})
    form = RoleForm(request.POST or None, initial=initial)
    selected = list(role.permissions) if role else []
    if request.method == "POST":
        selected = _grants_from(request, extra=request.POST.get("extra_permissions", ""))
        if form.is_valid():
            data = {k: form.cleaned_data[k] for k in ("name", "description", "default_scope", "is_admin")}
            data["permissions"] = selected
            try:
                if role:
                    services.update_role(actor=actor, role_id=role.pk, changes=data)
                else:
                    role = services.create_role(actor=actor, data=data)
            except DomainError as exc:
                form.add_domain_error(exc)
                if "permissions" in exc.fields:
                    form.add_error("extra_permissions", "; ".join(exc.fields["permissions"]))
            else:
                messages.success(request, _("Role saved."))
                return redirect("iam_role_edit", pk=role.pk)
    matrix = _matrix(selected)
    if request.method == "GET":
        form.initial["extra_permissions"] = matrix["extra"]
    return render(request, "iam/role_form.html", {"form": form, "role": role, "matrix": matrix})


@require_POST
@console_page("iam.role.manage")
def role_delete(request, actor, pk: int):
    if _run_and_flash(request, lambda: services.delete_role(actor=actor, role_id=pk), _("Role deleted.")):
        return redirect("iam_roles")
    return redirect("iam_role_edit", pk=pk)


def _chosen_role(request, actor, roles_list):
    raw = request.POST.get("role") or request.GET.get("role") or ""
    if not raw:
        return roles_list[0] if roles_list else None
    role = next((r for r in roles_list if str(r.pk) == raw), None)
    if role is None:
        raise NotFound("role not found")
    return role


@require_http_methods(["GET", "POST"])
@console_page("iam.role.read")
def data_scopes(request, actor):
    roles_list = list(selectors.roles_for(actor).order_by("name"))
    role = _chosen_role(request, actor, roles_list)
    objects = selectors.object_keys()
    errors: dict = {}
    if request.method == "POST" and role is not None:
        if not actor.can("iam.role.manage"):
            return _forbidden(request, actor, "iam.role.manage")
        scopes = {key: request.POST[f"scope:{key}"] for key in objects if request.POST.get(f"scope:{key}")}
        try:
            services.update_role(actor=actor, role_id=role.pk,
                                 changes={"scopes": scopes, "default_scope": request.POST.get("default_scope", "")})
        except DomainError as exc:
            errors = exc.fields or {"__all__": [exc.message]}
        else:
            messages.success(request, _("Data scopes saved."))
            return redirect(f"{reverse('iam_data_scopes')}?role={role.pk}")
    current = {s.object_key: s.scope for s in role.scopes.all()} if role else {}
    return render(request, "iam/data_scopes.html", {
        "roles": roles_list, "role": role, "objects": [(k, current.get(k, "")) for k in objects],
        "scope_choices": SCOPE_CHOICES, "errors": errors, "can_manage": actor.can("iam.role.manage"),
    })


@require_http_methods(["GET", "POST"])
@console_page("iam.role.read")
def field_security(request, actor):
    roles_list = list(selectors.roles_for(actor).order_by("name"))
    role = _chosen_role(request, actor, roles_list)
    objects = sorted(set(fieldsec.FIELDS) | set(selectors.object_keys()))
    object_key = request.POST.get("object") or request.GET.get("object") or "iam.user"
    if object_key not in objects:
        object_key = "iam.user"
    rules = list(role.field_rules.all()) if role else []
    current = {r.field_name: r.access for r in rules if r.object_key == object_key}
    fields = list(fieldsec.FIELDS.get(object_key, ())) + sorted(set(current) - set(fieldsec.FIELDS.get(object_key, ())))
    errors: dict = {}
    if request.method == "POST" and role is not None:
        if not actor.can("iam.role.manage"):
            return _forbidden(request, actor, "iam.role.manage")
        new_field = request.POST.get("new_field", "").strip()
        wanted = {f: request.POST.get(f"access:{f}", "") for f in fields}
        if new_field:
            wanted[new_field] = request.POST.get("new_access", "")
        others = [{"object_key": r.object_key, "field_name": r.field_name, "access": r.access}
                  for r in rules if r.object_key != object_key]
        mine = [{"object_key": object_key, "field_name": f, "access": a} for f, a in wanted.items() if a]
        try:
            services.update_role(actor=actor, role_id=role.pk, changes={"field_rules": others + mine})
        except DomainError as exc:
            errors = exc.fields or {"__all__": [exc.message]}
        else:
            messages.success(request, _("Field security saved."))
            return redirect(f"{reverse('iam_field_security')}?role={role.pk}&object={object_key}")
    return render(request, "iam/field_security.html", {
        "roles": roles_list, "role": role, "objects": objects, "object_key": object_key,
        "fields": [(f, current.get(f, "")) for f in fields], "access_choices": ACCESS_CHOICES,
        "free_fields": object_key not in fieldsec.FIELDS, "errors": errors,
        "can_manage": actor.can("iam.role.manage"),
    })


# --- API keys -----------------------------------------------------------------------------------------------


def _api_keys_ctx(actor, form, new_key=None, selected=()):
    keys = list(ApiKey.objects.in_org(actor).select_related("created_by").order_by("-created_at", "-pk")[:200])
    return {"keys": keys, "form": form, "new_key": new_key, "matrix": _matrix(list(selected))}


@require_http_methods(["GET", "POST"])
@console_page("iam.apikey.manage")
def api_keys(request, actor):
    form = ApiKeyForm(request.POST or None)
    new_key = None
    selected: list[str] = []
    status = 200
    if request.method == "POST":
        selected = _grants_from(request, extra=request.POST.get("extra_permissions", ""))
        if form.is_valid():
            try:
                key, raw = services.issue_api_key(actor=actor, name=form.cleaned_data["name"], scopes=selected)
            except DomainError as exc:
                form.add_domain_error(exc)
                if "scopes" in exc.fields:
                    form.add_error("extra_permissions", "; ".join(exc.fields["scopes"]))
                status = 422
            else:
                new_key = {"raw": raw, "name": key.name}
                form = ApiKeyForm()
                selected = []
        else:
            status = 422
    response = render(request, "iam/api_keys.html", _api_keys_ctx(actor, form, new_key, selected), status=status)
    if new_key:
        response["Cache-Control"] = "no-store"  # the secret must not linger in any cache
    return response


@require_POST
@console_page("iam.apikey.manage")
def api_key_revoke(request, actor, pk: int):
    services.revoke_api_key(actor=actor, key=pk)
    messages.success(request, _("The key is revoked."))
    if request.htmx:
        return render(request, "iam/api_keys.html#keys", _api_keys_ctx(actor, ApiKeyForm()))
    return redirect("iam_api_keys")


# --- organisation -------------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@console_page("iam.organization.manage")
def organization(request, actor):
    org = Organization.objects.get(pk=actor.org_id)
    form = OrganizationForm(request.POST or None, initial={"name": org.name, "require_admin_2fa": org.require_admin_2fa})
    if request.method == "POST" and form.is_valid():
        try:
            services.update_organization(actor=actor, changes=form.cleaned_data)
        except DomainError as exc:
            form.add_domain_error(exc)
        else:
            messages.success(request, _("Saved."))
            return redirect("iam_organization")
    return render(request, "iam/organization.html", {"form": form, "org": org})

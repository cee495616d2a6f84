"""iam's console URLs, mounted at the site root by the console (``include("siyu.iam.urls")``)."""

from django.urls import path

from . import pages

urlpatterns = [
    path("login/", pages.login_view, name="login"),
    path("login/verify/", pages.login_verify, name="login_verify"),
    path("logout/", pages.logout_view, name="logout"),
    path("account/security/", pages.account_security, name="account_security"),
    path("switch-org/", pages.switch_org, name="switch_org"),
    path("iam/users/", pages.users, name="iam_users"),
    path("iam/users/invite/", pages.user_invite, name="iam_user_invite"),
    path("iam/users/<int:pk>/", pages.user_detail, name="iam_user_detail"),
    path("iam/users/<int:pk>/edit/", pages.user_edit, name="iam_user_edit"),
    path("iam/users/<int:pk>/disable/", pages.user_set_active, {"active": False}, name="iam_user_disable"),
    path("iam/users/<int:pk>/enable/", pages.user_set_active, {"active": True}, name="iam_user_enable"),
    path("iam/departments/", pages.departments, name="iam_departments"),
    path("iam/departments/<int:pk>/edit/", pages.department_edit, name="iam_department_edit"),
    path("iam/departments/<int:pk>/move/", pages.department_move, name="iam_department_move"),
    path("iam/departments/<int:pk>/delete/", pages.department_delete, name="iam_department_delete"),
    path("iam/roles/", pages.roles, name="iam_roles"),
    path("iam/roles/new/", pages.role_edit, name="iam_role_create"),
    path("iam/roles/<int:pk>/", pages.role_edit, name="iam_role_edit"),
    path("iam/roles/<int:pk>/delete/", pages.role_delete, name="iam_role_delete"),
    path("iam/data-scopes/", pages.data_scopes, name="iam_data_scopes"),
    path("iam/field-security/", pages.field_security, name="iam_field_security"),
    path("iam/api-keys/", pages.api_keys, name="iam_api_keys"),
    path("iam/api-keys/<int:pk>/revoke/", pages.api_key_revoke, name="iam_api_key_revoke"),
    path("iam/organization/", pages.organization, name="iam_organization"),
]

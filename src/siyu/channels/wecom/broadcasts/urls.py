"""Console URLs of WeCom broadcasts, mounted at ``channels/wecom/broadcasts/`` by the wecom URLconf."""

from django.urls import path

from . import pages

urlpatterns = [
    path("", pages.broadcast_list, name="wecom_broadcasts"),
    path("new/", pages.broadcast_new, name="wecom_broadcast_new"),
    path("policy/", pages.broadcast_policy, name="wecom_broadcast_policy"),
    path("<int:broadcast_id>/", pages.broadcast_detail, name="wecom_broadcast"),
    path("<int:broadcast_id>/employees.json", pages.broadcast_employees_json, name="wecom_broadcast_employees_json"),
    path("<int:broadcast_id>/cancel/", pages.broadcast_cancel, name="wecom_broadcast_cancel"),
    path("<int:broadcast_id>/collect/", pages.broadcast_collect, name="wecom_broadcast_collect"),
]

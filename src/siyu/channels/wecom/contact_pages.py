"""Console page of one WeCom external contact: who it is (name, avatar, type, corp, gender, the unionid masked),
the CDP profile it is linked to, and its follow relations with the corp's employees (remark, description, add time
and way, state, corp tags).

Same rules as ``pages.py``. Visibility is the API's: ``selectors.external_contact_of`` (the actor's organisation
and data scope on customers, ``ExternalContact.scope_condition``), so a contact outside the scope is a 404 exactly
like another organisation's."""

from __future__ import annotations

from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from siyu.kernel import encrypted

from . import selectors
from .pages import wecom_page

CONTACT_TYPES = {1: _("WeChat"), 2: _("WeCom")}
GENDERS = {0: _("Unknown"), 1: _("Male"), 2: _("Female")}
# follow_user.add_way (shared/docs/wecom-protocol.md §2.2).
ADD_WAYS = {
    0: _("Unknown"), 1: _("Scanned a QR code"), 2: _("Searched the phone number"), 3: _("Shared business card"),
    4: _("Group chat"), 5: _("Phone contacts"), 6: _("WeChat contacts"), 7: _("WeChat friend request"),
    8: _("Third-party service member"), 9: _("Searched the e-mail address"), 10: _("WeChat Channels"),
    11: _("Schedule participant"), 12: _("Meeting participant"), 13: _("WeChat friend's WeCom"),
    14: _("Smart hardware service"), 15: _("On-site service"), 16: _("Customer acquisition link"),
    17: _("Custom development"), 18: _("Demand reply"), 21: _("Third-party pre-sales"),
    22: _("Possible business partner"), 24: _("Accepted a WeChat friend request"), 201: _("Shared by a colleague"),
    202: _("Assigned by an administrator"),
}


def add_way_label(value: int | None) -> str:
    if value is None:
        return "—"
    label = ADD_WAYS.get(value)
    return f"{label} ({value})" if label is not None else str(value)


def _safe_url(url: str) -> str:
    """WeCom's avatar URL, only when it is plain http(s): it is shown as a link, never as markup of its own."""
    return url if url.lower().startswith(("https://", "http://")) else ""


@require_GET
@wecom_page("channels.wecom.read")
def contact_detail(request, actor, contact_id: int):
    contact = selectors.external_contact_of(actor, contact_id)  # 404 outside the member's customer scope
    follows = selectors.follows_of(actor, [contact])[contact.pk]
    names = selectors.corp_tag_names(actor, contact.corp, {t for f in follows for t in f.tag_ids})
    rows = [(f, add_way_label(f.add_way), [names.get(t, t) for t in f.tag_ids]) for f in follows]
    return render(request, "wecom/contact_detail.html", {
        "contact": contact, "rows": rows, "avatar": _safe_url(contact.avatar),
        "type_label": CONTACT_TYPES.get(contact.type, str(contact.type)),
        "gender_label": GENDERS.get(contact.gender, str(contact.gender)),
        # Masked as every page shows an envelope (kernel.encrypted.display); unmasking is never a page's side effect.
        "unionid": encrypted.display(contact, "unionid", actor) if contact.unionid else "",
        "can_profiles": actor.can("cdp.profile.read")})

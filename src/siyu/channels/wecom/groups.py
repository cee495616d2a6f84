"""Customer groups (客户群): the full sync (``groupchat/list`` + ``groupchat/get`` with cursors), the
``change_external_chat`` callbacks (``create``, ``update`` with add_member / del_member / change_owner /
change_name / change_notice, ``dismiss``), external members resolved to CDP profiles, and statistics.

One rule serves both paths: a group's state is whatever ``groupchat/get`` says now. A callback only says *which*
group changed, so it re-reads the group and applies the difference; callbacks retried, repeated or arriving out
of order therefore converge on WeCom's state, and a sync after missed callbacks repairs the rest. Every join and
quit is kept as a ``GroupMemberEvent`` (unique per member, kind and time) so the statistics are counted from
facts, never incremented.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from siyu.cdp.timeline import add_entry
from siyu.channels.errors import ChannelError
from siyu.kernel import clock, encrypted, jobs

from . import contacts, timeline_kinds
from .callbacks import event_time
from .contacts import at_from, system_actor
from .corps import client_for
from .models import Corp, Employee, ExternalContact, GroupChat, GroupMember, GroupMemberEvent

INVALID_CHAT = 40050  # groupchat/get of an unknown or dismissed group
OWNER_FILTER_REQUIRED = 81017  # groupchat/list without owner_filter when more than 1000 users are visible
OWNERS_PER_CALL = 100


# --- full sync --------------------------------------------------------------------------------------------------


def _list_chat_ids(corp: Corp) -> list[str]:
    """Every group's ``chat_id`` (all statuses), following ``next_cursor``; in owner blocks of 100 when WeCom
    asks for an ``owner_filter`` (81017)."""
    client = client_for(corp)

    def pages(owners: list[str]) -> list[str]:
        found, cursor = [], ""
        while True:
            page = client.groupchat_list(owner_userids=owners, cursor=cursor, limit=1000)
            found.extend(str(g.get("chat_id")) for g in page.get("group_chat_list") or () if g.get("chat_id"))
            cursor = page.get("next_cursor") or ""
            if not cursor:
                return found

    try:
        return pages([])
    except ChannelError as exc:
        if exc.channel_code != OWNER_FILTER_REQUIRED:
            raise
    userids = sorted(Employee.objects.in_org(system_actor(corp)).filter(corp=corp).values_list("userid", flat=True))
    chats: list[str] = []
    for n in range(0, len(userids), OWNERS_PER_CALL):
        chats.extend(c for c in pages(userids[n : n + OWNERS_PER_CALL]) if c not in chats)
    return chats


def sync_groups(corp: Corp) -> dict[str, int]:
    """Mirror every customer group; groups Siyu holds that WeCom no longer lists are marked dismissed."""
    counts = {"groups": 0, "added": 0, "updated": 0, "dismissed": 0}
    listed = _list_chat_ids(corp)
    for chat_id in listed:
        group, created = refresh_group(corp, chat_id, at=clock.now())
        if group is not None:
            counts["groups"] += 1
            counts["added" if created else "updated"] += 1
    gone = GroupChat.objects.in_org(system_actor(corp)).filter(corp=corp, dismissed_at__isnull=True).exclude(
        chat_id__in=listed)
    for group in gone:
        dismiss(group, at=clock.now())
        counts["dismissed"] += 1
    return counts


# --- applying WeCom's view of one group -------------------------------------------------------------------------


def refresh_group(corp: Corp, chat_id: str, *, at: dt.datetime | None = None,
                  quit_scenes: Mapping[str, int] | None = None) -> tuple[GroupChat | None, bool]:
    """Read the group (``groupchat/get``) and apply it: joins at their ``join_time``, quits at ``at`` (the
    callback's time, or now). A group WeCom no longer knows is dismissed. Returns the group and whether it is new."""
    try:
        data = client_for(corp).groupchat_get(chat_id=chat_id, need_name=True).get("group_chat") or {}
    except ChannelError as exc:
        if exc.channel_code != INVALID_CHAT:
            raise
        group = _group_qs(corp).filter(chat_id=chat_id).first()
        if group is not None:
            dismiss(group, at=at or clock.now())
        return group, False
    with_lock = _group_qs(corp).select_for_update()
    group, created = with_lock.get_or_create(corp=corp, chat_id=chat_id[:64], defaults={"org_id": corp.org_id})
    if group.dismissed_at is not None:
        return group, False  # a dismissal is final; a late update cannot revive the group
    apply_detail(corp, group, data, at=at or clock.now(), quit_scenes=quit_scenes or {})
    return group, created


def _group_qs(corp: Corp):
    return GroupChat.objects.in_org(system_actor(corp)).filter(corp=corp)


def apply_detail(corp: Corp, group: GroupChat, data: Mapping[str, Any], *, at: dt.datetime,
                 quit_scenes: Mapping[str, int]) -> None:
    actor = system_actor(corp)
    group.name = str(data.get("name") or "")[:120]
    group.notice = str(data.get("notice") or "")
    owner = str(data.get("owner") or "")
    group.owner = contacts.employee_for(corp, owner) if owner else None
    group.created_at_wecom = at_from(data.get("create_time")) or group.created_at_wecom
    group.member_version = str(data.get("member_version") or "")[:64]
    present = {str(m.get("userid")): m for m in data.get("member_list") or () if isinstance(m, Mapping)
               and m.get("userid")}
    rows = {m.userid: m for m in GroupMember.objects.in_org(actor).filter(group=group)}
    for userid, item in present.items():
        _apply_member(corp, group, rows.get(userid), userid, item)
    for userid, row in rows.items():
        if userid not in present and row.left_at is None:
            row.left_at, row.quit_scene = at, quit_scenes.get(userid)
            row.save(update_fields=["left_at", "quit_scene", "updated_at"])
            _event(group, row, GroupMemberEvent.Kind.QUIT, at)
            _tell_cdp(corp, group, row, timeline_kinds.GROUP_LEFT, at)
    _recount(group)
    group.synced_at = clock.now()
    group.save()


def _apply_member(corp: Corp, group: GroupChat, row: GroupMember | None, userid: str,
                  item: Mapping[str, Any]) -> None:
    joined = at_from(item.get("join_time")) or clock.now()
    kind = int(item.get("type") or 2)
    rejoined = row is not None and row.left_at is not None
    if row is None:
        row = GroupMember(org_id=corp.org_id, group=group, userid=userid[:64], type=kind)
    elif not rejoined:  # a present member stays present: no new join, whatever the entry's join_time says
        if item.get("name") and row.name != str(item["name"])[:120]:
            row.name = str(item["name"])[:120]
            row.save(update_fields=["name", "updated_at"])
        return
    row.type, row.joined_at, row.left_at, row.quit_scene = kind, joined, None, None
    row.name = str(item.get("name") or item.get("group_nickname") or row.name or "")[:120]
    row.join_scene = int(item.get("join_scene") or 0)
    row.invitor = str((item.get("invitor") or {}).get("userid") or "")[:64]
    row.state = str(item.get("state") or "")[:30]
    if kind == 1:
        row.employee = contacts.employee_for(corp, userid)
    else:
        row.external_contact = _contact_for(corp, userid, item)
    row.save()
    _event(group, row, GroupMemberEvent.Kind.JOIN, joined)
    _tell_cdp(corp, group, row, timeline_kinds.GROUP_JOINED, joined)


def _contact_for(corp: Corp, external_userid: str, item: Mapping[str, Any]) -> ExternalContact:
    """The member's external contact, created from the member entry when no follow relation brought it in yet
    (its richer details come from ``externalcontact/get`` when someone adds it)."""
    contact = ExternalContact.objects.in_org(system_actor(corp)).filter(corp=corp,
                                                                         external_userid=external_userid).first()
    if contact is None:
        contact = contacts.upsert_contact(corp, {"external_userid": external_userid, "name": item.get("name") or "",
                                                 "unionid": item.get("unionid") or ""})
    elif not encrypted.reveal(contact, "unionid") and item.get("unionid"):
        encrypted.set_encrypted(contact, "unionid", str(item["unionid"]))
        contact.save()
    return contact


def _event(group: GroupChat, row: GroupMember, kind: str, at: dt.datetime) -> None:
    GroupMemberEvent.objects.get_or_create(group=group, userid=row.userid, kind=kind, at=at,
                                           defaults={"org_id": group.org_id, "type": row.type,
                                                     "state": row.state})


def _tell_cdp(corp: Corp, group: GroupChat, row: GroupMember, kind: str, at: dt.datetime) -> None:
    """External members get a profile (the same resolution as follow relations) and the join or quit on its
    timeline."""
    if row.type != 2 or row.external_contact is None:
        return
    profile = contacts.current_profile(row.external_contact) or contacts.resolve_profile(corp, row.external_contact)
    add_entry(profile=profile, kind=kind, at=at, ref_type="wecom.group_member", ref_id=f"{row.pk}:{int(at.timestamp())}",
              data={"corp": corp.corp_id, "group": group.name or group.chat_id, "chat_id": group.chat_id})


def _recount(group: GroupChat) -> None:
    present = GroupMember.objects.in_org(system_actor(group.corp)).filter(group=group, left_at__isnull=True)
    counts = present.aggregate(all=Count("pk"), external=Count("pk", filter=Q(type=2)))
    group.member_count, group.external_count = counts["all"], counts["external"]


def dismiss(group: GroupChat, *, at: dt.datetime) -> None:
    """The group was dismissed: every present member leaves at ``at``."""
    if group.dismissed_at is not None:
        return
    for row in GroupMember.objects.in_org(system_actor(group.corp)).filter(group=group, left_at__isnull=True):
        row.left_at = at
        row.save(update_fields=["left_at", "updated_at"])
        _event(group, row, GroupMemberEvent.Kind.QUIT, at)
    group.dismissed_at, group.member_count, group.external_count = at, 0, 0
    group.save()


# --- callbacks ---------------------------------------------------------------------------------------------------


def member_change_list(message: Mapping[str, Any]) -> list[str]:
    """``MemChangeList`` in either wire form: ``<Item>`` children (a list) or one comma-joined string (§3.3)."""
    raw = message.get("MemChangeList")
    if isinstance(raw, list):
        return [str(x) for x in raw if x]
    return [x.strip() for x in str(raw or "").split(",") if x.strip()]


def on_chat_event(corp: Corp, message: Mapping[str, Any]) -> None:
    """``change_external_chat``: ``dismiss`` ends the group; ``create`` and ``update`` re-read it."""
    chat_id = str(message.get("ChatId") or "")
    if not chat_id:
        return
    at = event_time(message) or clock.now()
    if message.get("ChangeType") == "dismiss":
        group, _ = _group_qs(corp).get_or_create(corp=corp, chat_id=chat_id[:64], defaults={"org_id": corp.org_id})
        dismiss(group, at=at)
        _after_change(group)
        return
    scenes: dict[str, int] = {}
    if message.get("UpdateDetail") == "del_member":
        try:
            scene = int(message.get("QuitScene") or 0)
        except (TypeError, ValueError):
            scene = 0
        scenes = dict.fromkeys(member_change_list(message), scene)
    group, _ = refresh_group(corp, chat_id, at=at, quit_scenes=scenes)
    if group is None:
        return
    if message.get("UpdateDetail") == "add_member" and group.dismissed_at is None:
        _joined_and_gone(corp, group, member_change_list(message), at)
    _after_change(group)


def _joined_and_gone(corp: Corp, group: GroupChat, userids: list[str], at: dt.datetime) -> None:
    """Members an ``add_member`` names who are already gone when the group is read (their quit was processed
    first, or they left at once): the join happened, at the event's time, and so did a quit, by now."""
    known = set(GroupMember.objects.in_org(system_actor(corp)).filter(group=group, userid__in=userids)
                .values_list("userid", flat=True))
    for userid in userids:
        if userid in known:
            continue
        row = GroupMember.objects.create(org_id=corp.org_id, group=group, userid=userid[:64], type=2, joined_at=at,
                                         left_at=max(at, clock.now()), join_scene=0,
                                         external_contact=_contact_for(corp, userid, {}))
        _event(group, row, GroupMemberEvent.Kind.JOIN, at)
        _event(group, row, GroupMemberEvent.Kind.QUIT, row.left_at)


def _after_change(group: GroupChat) -> None:
    """Group live codes listing this group are re-routed once the change commits (a full group leaves them)."""
    from . import tasks  # tasks import services; services only enqueue them

    jobs.enqueue_on_commit(tasks.route_group_codes, group.org_id, group.pk)


# --- reads and statistics ------------------------------------------------------------------------------------------


def groups_for(actor, corp: Corp | None = None):
    qs = GroupChat.objects.in_org(actor).select_related("owner", "corp")
    return qs.filter(corp=corp) if corp is not None else qs


def group_of(actor, group_pk: Any) -> GroupChat:
    from siyu.kernel.errors import NotFound

    try:
        pk = int(group_pk)
    except (TypeError, ValueError):
        raise NotFound("not found") from None
    group = GroupChat.objects.in_org(actor).filter(pk=pk).select_related("owner", "corp").first()
    if group is None:
        raise NotFound("not found")
    return group


def _local_days(days: int) -> list[dt.date]:
    today = timezone.localdate(clock.now())
    return [today - dt.timedelta(days=days - 1 - n) for n in range(days)]


def stats_series(group: GroupChat, *, days: int = 30) -> dict[str, list]:
    """Joins and quits per local day and the member count at the end of each day (counted back from today's
    members through the events after that day)."""
    day_list = _local_days(days)
    start = dt.datetime.combine(day_list[0], dt.time.min, tzinfo=timezone.get_current_timezone())
    events = GroupMemberEvent.objects.in_org(system_actor(group.corp)).filter(group=group)
    per_day: dict[tuple[dt.date, str], int] = {}
    rows = (events.filter(at__gte=start).annotate(day=TruncDate("at", tzinfo=timezone.get_current_timezone()))
            .values("day", "kind").annotate(n=Count("pk")))
    for row in rows:
        per_day[(row["day"], row["kind"])] = row["n"]
    series: dict[str, list] = {"days": [d.isoformat() for d in day_list], "joins": [], "quits": [], "members": []}
    for day in day_list:
        series["joins"].append(per_day.get((day, GroupMemberEvent.Kind.JOIN), 0))
        series["quits"].append(per_day.get((day, GroupMemberEvent.Kind.QUIT), 0))
    members = group.member_count
    backwards: list[int] = []
    for n in range(len(day_list) - 1, -1, -1):
        backwards.append(members)
        members -= series["joins"][n] - series["quits"][n]
    series["members"] = list(reversed(backwards))
    return series


def joins_by_state(corp: Corp, states: Iterable[str]) -> dict[str, int]:
    """Joins through each group live code (the member entries carry the join way's ``state``)."""
    rows = (GroupMemberEvent.objects.in_org(system_actor(corp)).filter(group__corp=corp, kind="join",
                                                                       state__in=list(states))
            .values("state").annotate(n=Count("pk")))
    return {r["state"]: r["n"] for r in rows}

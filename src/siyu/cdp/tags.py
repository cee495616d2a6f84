"""Tags on profiles: manual, rule-based, imported and channel-reserved groups (WeCom corp tags), with history on
the timeline."""

from __future__ import annotations

from siyu.kernel.actor import Actor
from siyu.kernel.auditing import record_write
from siyu.kernel.errors import ValidationFailed

from .changes import profiles_changed
from .models import Profile, ProfileTag, Tag, TagGroup, TagGroupKind
from .timeline import add_entry


def get_or_create_tag(*, actor: Actor, group: str, name: str, kind: str = TagGroupKind.MANUAL, channel: str = "") -> Tag:
    group, name = group.strip(), name.strip()
    if not group or not name or len(name) > 80 or len(group) > 80:
        raise ValidationFailed("bad tag", fields={"tag": ["group and name are 1-80 characters"]})
    g, _ = TagGroup.objects.get_or_create(org_id=actor.org_id, name=group, defaults={"kind": kind, "channel": channel})
    t, _ = Tag.objects.get_or_create(org_id=actor.org_id, group=g, name=name)
    return t


def add_tags(*, actor: Actor, profile: Profile, tags: list[Tag], source: str = "manual") -> list[Tag]:
    """Add tags (idempotent); returns the ones that were new. Channel-reserved groups only take their channel."""
    have = set(ProfileTag.objects.filter(profile=profile).values_list("tag_id", flat=True))
    new = [t for t in tags if t.pk not in have]
    for t in new:
        if t.group.kind == TagGroupKind.CHANNEL and source not in (t.group.channel, "system"):
            raise ValidationFailed("reserved tag group", fields={"tags": [f"{t.group.name} is managed by {t.group.channel}"]})
    ProfileTag.objects.bulk_create(
        [ProfileTag(org_id=profile.org_id, profile=profile, tag=t, source=source, added_by_id=actor.user_id) for t in new],
        ignore_conflicts=True,
    )
    for t in new:
        add_entry(profile=profile, kind="tag.added", ref_type="cdp.tag", ref_id=str(t.pk),
                  data={"tag": f"{t.group.name}/{t.name}", "source": source})
    if new:
        record_write(actor, "update", "cdp.profile", profile.pk,
                     {"tags": [None, sorted(f"{t.group.name}/{t.name}" for t in new)]}, source=source)
        profiles_changed(profile.org_id, [profile.pk], reason="tags")
    return new


def remove_tags(*, actor: Actor, profile: Profile, tags: list[Tag], source: str = "manual") -> int:
    links = ProfileTag.objects.filter(profile=profile, tag__in=tags).select_related("tag__group")
    removed = [lk.tag for lk in links]
    links.delete()
    for t in removed:
        add_entry(profile=profile, kind="tag.removed", ref_type="cdp.tag", ref_id=str(t.pk),
                  data={"tag": f"{t.group.name}/{t.name}", "source": source})
    if removed:
        record_write(actor, "update", "cdp.profile", profile.pk,
                     {"tags": [sorted(f"{t.group.name}/{t.name}" for t in removed), None]}, source=source)
        profiles_changed(profile.org_id, [profile.pk], reason="tags")
    return len(removed)

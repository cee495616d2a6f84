"""CDP tables: profiles, identities, lifecycle, tags, consent, sources and events, rollups, timeline, segments,
personas, merges and imports.

Personal identifiers are stored as kernel.crypto envelopes with an HMAC blind index for exact lookup; nothing
personal is stored in clear except the display name (needed for fuzzy search) and non-identifying traits.
"""

from __future__ import annotations

from django.db import models

from siyu.kernel.tenancy import TenantModel


class ProfileKind(models.TextChoices):
    PERSON = "person", "Person"
    COMPANY = "company", "Company"


class ProfileStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    MERGED = "merged", "Merged into another profile"
    DELETED = "deleted", "Deleted"


class Profile(TenantModel):
    """One customer (person) or account (company). B2B contacts point at their company through ``account``."""

    kind = models.CharField(max_length=10, choices=ProfileKind.choices, default=ProfileKind.PERSON)
    status = models.CharField(max_length=10, choices=ProfileStatus.choices, default=ProfileStatus.ACTIVE)
    merged_into = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    account = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="contacts")
    name = models.CharField(max_length=200, blank=True)
    gender = models.CharField(max_length=10, blank=True)  # male / female / unknown
    birthday = models.DateField(null=True, blank=True)
    province = models.CharField(max_length=40, blank=True)
    city = models.CharField(max_length=40, blank=True)
    source = models.CharField(max_length=60, blank=True)  # wecom_live_code, web_form, import, api, …
    channel = models.CharField(max_length=120, blank=True)  # e.g. the live code's name or UTM source
    lifecycle_stage = models.CharField(max_length=40, blank=True)
    lifecycle_changed_at = models.DateTimeField(null=True, blank=True)
    owner = models.ForeignKey("iam.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    department = models.ForeignKey("iam.Department", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    traits = models.JSONField(default=dict, blank=True)  # identify() traits not mapped to a column
    custom = models.JSONField(default=dict, blank=True)  # platform custom fields
    first_seen_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    identity_count = models.PositiveIntegerField(default=0)

    scope_key = "cdp.profile"
    scope_owner_field = "owner"
    scope_department_field = "department"

    class Meta:
        indexes = [
            models.Index(fields=["org", "status", "-id"], name="cdp_profile_org_status"),
            models.Index(fields=["org", "owner"], name="cdp_profile_org_owner"),
            models.Index(fields=["org", "department"], name="cdp_profile_org_dept"),
            models.Index(fields=["org", "lifecycle_stage"], name="cdp_profile_org_stage"),
            models.Index(fields=["org", "name"], name="cdp_profile_org_name"),
        ]


class IdentityType(models.TextChoices):
    PHONE = "phone", "Mobile phone"
    EMAIL = "email", "Email"
    WECOM_EXTERNAL_USERID = "wecom_external_userid", "WeCom external_userid"
    UNIONID = "unionid", "WeChat unionid"
    OPENID = "openid", "WeChat openid"
    ERP_ID = "erp_id", "ERP customer id"
    USER_ID = "user_id", "Segment userId"
    ANONYMOUS_ID = "anonymous_id", "Segment anonymousId"
    DEVICE_ID = "device_id", "Device id"
    GROUP_ID = "group_id", "Segment groupId"  # held by company accounts: what /v1/group links people to


class Identity(TenantModel):
    """An identifier of a profile. ``namespace`` qualifies ids that are per corp (external_userid) or per app
    (openid); unique per organisation, type, namespace and value (through the blind index)."""

    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="identities")
    type = models.CharField(max_length=30, choices=IdentityType.choices)
    namespace = models.CharField(max_length=80, blank=True, default="")
    value = models.TextField()  # kernel.crypto envelope, context "cdp.identity.<type>"
    value_index = models.CharField(max_length=64)  # kernel.crypto.blind_index of the normalised value
    source = models.CharField(max_length=60, blank=True)
    is_primary = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["org", "type", "namespace", "value_index"], name="cdp_identity_unique"),
        ]
        indexes = [
            models.Index(fields=["profile", "type"], name="cdp_identity_profile"),
            models.Index(fields=["org", "value_index"], name="cdp_identity_lookup"),
        ]


class IdentityBlocklist(TenantModel):
    """Identifiers that must never drive an automatic merge (13800000000, shared device ids, …)."""

    type = models.CharField(max_length=30, choices=IdentityType.choices)
    value_index = models.CharField(max_length=64)
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "type", "value_index"], name="cdp_blocklist_unique")]


class MergeLog(TenantModel):
    """What a merge moved, so that an unmerge can restore both profiles."""

    survivor = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="+")
    merged = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(max_length=200, blank=True)
    moved = models.JSONField(default=dict)  # {"identities": [ids], "events": [range or ids], "tags": [...], …}
    merged_snapshot = models.JSONField(default=dict)  # the merged profile's columns before the merge
    actor_user_id = models.BigIntegerField(null=True, blank=True)
    undone_at = models.DateTimeField(null=True, blank=True)


class MergeReview(TenantModel):
    """A merge the guard refused to do automatically (too many identities, blocklisted identifier)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    profiles = models.JSONField(default=list)  # profile ids that would have merged
    trigger = models.JSONField(default=dict)  # the identity (type, masked value) and source event
    reason = models.CharField(max_length=60)  # too_many_identities / blocklisted
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    decided_by_id = models.BigIntegerField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)


class LifecycleStageDefinition(TenantModel):
    key = models.CharField(max_length=40)
    label = models.CharField(max_length=80)
    order = models.PositiveSmallIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "key"], name="cdp_stage_unique")]


class LifecycleTransition(TenantModel):
    """Entry and exit of a profile in a stage: the raw material of break-point analysis."""

    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="stage_history")
    stage = models.CharField(max_length=40)
    entered_at = models.DateTimeField()
    exited_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["profile", "-entered_at"], name="cdp_stage_hist_profile"),
            models.Index(fields=["org", "stage", "entered_at"], name="cdp_stage_hist_org"),
        ]


class TagGroupKind(models.TextChoices):
    MANUAL = "manual", "Manual"
    RULE = "rule", "Rule-based"
    IMPORTED = "imported", "Imported"
    CHANNEL = "channel", "Reserved for a channel"


class TagGroup(TenantModel):
    name = models.CharField(max_length=80)
    kind = models.CharField(max_length=10, choices=TagGroupKind.choices, default=TagGroupKind.MANUAL)
    channel = models.CharField(max_length=40, blank=True)  # "wecom" for corp tag groups
    external_id = models.CharField(max_length=80, blank=True)  # WeCom group_id
    order = models.IntegerField(default=0)
    rule = models.JSONField(default=dict, blank=True)  # for rule-based groups: segment-style conditions per tag

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "name"], name="cdp_taggroup_unique")]


class Tag(TenantModel):
    group = models.ForeignKey(TagGroup, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(max_length=80)
    external_id = models.CharField(max_length=80, blank=True)  # WeCom tag_id
    rule = models.JSONField(default=dict, blank=True)
    order = models.IntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["group", "name"], name="cdp_tag_unique")]


class ProfileTag(TenantModel):
    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="tag_links")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="profile_links")
    source = models.CharField(max_length=20, default="manual")  # manual / rule / import / wecom / api
    added_by_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["profile", "tag"], name="cdp_profiletag_unique")]
        indexes = [models.Index(fields=["org", "tag"], name="cdp_profiletag_tag")]


class ConsentPurpose(TenantModel):
    """What a profile may agree to: marketing per channel, profiling, conversation archiving, sensitive data."""

    key = models.CharField(max_length=60)  # "marketing", "profiling", "conversation_archive", "sensitive"
    label = models.CharField(max_length=120)
    channels = models.JSONField(default=list, blank=True)  # [] = any channel; else ["wecom", "sms", …]
    is_sensitive = models.BooleanField(default=False)  # PIPL art. 28-29: separate consent
    notice_version = models.CharField(max_length=40, default="1")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "key"], name="cdp_purpose_unique")]


class ConsentRecord(TenantModel):
    """Append-only ledger: every grant and withdrawal with its evidence."""

    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="consent_records")
    purpose = models.ForeignKey(ConsentPurpose, on_delete=models.PROTECT, related_name="+")
    channel = models.CharField(max_length=40, blank=True)  # "" = all channels of the purpose
    granted = models.BooleanField()
    at = models.DateTimeField()
    source = models.CharField(max_length=60)  # web_form, wecom_keyword, import, console, api
    notice_version = models.CharField(max_length=40, blank=True)
    actor_user_id = models.BigIntegerField(null=True, blank=True)
    evidence = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [models.Index(fields=["profile", "purpose", "channel", "-at"], name="cdp_consent_lookup")]


class Source(TenantModel):
    """An event source with its write key (Segment-compatible ingestion)."""

    name = models.CharField(max_length=120)
    key_prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    is_active = models.BooleanField(default=True)


class EventBatch(models.Model):
    """Raw accepted payloads, committed before the 2xx and processed off the request path."""

    org_id = models.BigIntegerField()
    source_id = models.BigIntegerField()
    received_at = models.DateTimeField()
    payload = models.JSONField()  # the validated events of the request
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    locked_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["received_at"], name="cdp_batch_pending",
                                condition=models.Q(processed_at__isnull=True))]


class EventDedup(models.Model):
    """``messageId`` seen per source in the last 7 days (kept apart from the partitioned event table, whose
    unique keys would have to include the partition key)."""

    source_id = models.BigIntegerField()
    message_id = models.CharField(max_length=200)
    received_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["source_id", "message_id"], name="cdp_dedup_unique")]
        indexes = [models.Index(fields=["received_at"], name="cdp_dedup_age")]


class Event(models.Model):
    """One behavioural event. On PostgreSQL the table is partitioned by month of ``timestamp`` with a BRIN
    index on it (see the migration); rows are addressed by (timestamp, id)."""

    id = models.BigAutoField(primary_key=True)
    org_id = models.BigIntegerField()
    profile_id = models.BigIntegerField(null=True)
    source_id = models.BigIntegerField(null=True)
    type = models.CharField(max_length=10)  # track, page, screen, identify, group, alias
    name = models.CharField(max_length=200, blank=True)
    message_id = models.CharField(max_length=200)
    anonymous_id = models.CharField(max_length=200, blank=True)
    user_id = models.CharField(max_length=200, blank=True)
    properties = models.JSONField(default=dict)
    context = models.JSONField(default=dict)
    timestamp = models.DateTimeField()
    received_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["org_id", "profile_id", "-timestamp"], name="cdp_event_profile")]


class EventRollup(models.Model):
    """Per-profile, per-event-name counts and first/last times, kept incrementally: segments and dashboards read
    this, never raw events."""

    org_id = models.BigIntegerField()
    profile_id = models.BigIntegerField()
    name = models.CharField(max_length=200)
    count = models.PositiveIntegerField(default=0)
    first_at = models.DateTimeField()
    last_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["profile_id", "name"], name="cdp_rollup_unique")]
        indexes = [models.Index(fields=["org_id", "name", "last_at"], name="cdp_rollup_name")]


class EventDailyRollup(models.Model):
    """Per-profile, per-event-name, per-day counts: windows ("at least N times in 7 days") without raw scans."""

    org_id = models.BigIntegerField()
    profile_id = models.BigIntegerField()
    name = models.CharField(max_length=200)
    day = models.DateField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["profile_id", "name", "day"], name="cdp_daily_unique")]
        indexes = [models.Index(fields=["org_id", "name", "day"], name="cdp_daily_name_day")]


class TimelineEntry(TenantModel):
    """The 360° timeline: every context writes its items here through ``cdp.services.timeline`` with a kind
    registered in the timeline registry (which knows how to render it)."""

    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="timeline")
    kind = models.CharField(max_length=60)  # "event", "tag.added", "consent.granted", "wecom.contact_added", …
    at = models.DateTimeField()
    ref_type = models.CharField(max_length=60, blank=True)
    ref_id = models.CharField(max_length=80, blank=True)
    data = models.JSONField(default=dict)

    class Meta:
        indexes = [models.Index(fields=["profile", "-at", "-id"], name="cdp_timeline_profile")]


class Segment(TenantModel):
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    rules = models.JSONField(default=dict)  # nested {"op": "and|or|not", "rules": [...]} / conditions
    is_active = models.BooleanField(default=True)
    member_count = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField(null=True, blank=True)
    owner = models.ForeignKey("iam.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "name"], name="cdp_segment_unique")]


class SegmentMembership(models.Model):
    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="memberships")
    profile_id = models.BigIntegerField()
    entered_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["segment", "profile_id"], name="cdp_segmember_unique")]


class SegmentSnapshot(TenantModel):
    """A frozen member list (for a broadcast), never changed after it is taken."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="snapshots")
    member_count = models.PositiveIntegerField(default=0)
    purpose = models.CharField(max_length=120, blank=True)


class SegmentSnapshotMember(models.Model):
    snapshot = models.ForeignKey(SegmentSnapshot, on_delete=models.CASCADE, related_name="members")
    profile_id = models.BigIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["snapshot", "profile_id"], name="cdp_snapmember_unique")]


class Persona(TenantModel):
    """A described target group (用户画像) linked to the segment that realises it."""

    name = models.CharField(max_length=120)
    summary = models.TextField(blank=True)
    demographics = models.TextField(blank=True)
    consumption_habits = models.TextField(blank=True)
    interests = models.TextField(blank=True)
    decision_path = models.TextField(blank=True)
    channels = models.TextField(blank=True)
    pain_points = models.TextField(blank=True)
    segment = models.ForeignKey(Segment, null=True, blank=True, on_delete=models.SET_NULL, related_name="personas")


class ImportJob(TenantModel):
    class Status(models.TextChoices):
        UPLOADED = "uploaded", "Uploaded"
        MAPPED = "mapped", "Mapped"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    file_name = models.CharField(max_length=255)
    file_path = models.CharField(max_length=500)
    encoding = models.CharField(max_length=20, blank=True)
    mapping = models.JSONField(default=dict)
    dry_run = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.UPLOADED)
    total_rows = models.PositiveIntegerField(default=0)
    done_rows = models.PositiveIntegerField(default=0)  # the resume point: rows before it are committed
    created_count = models.PositiveIntegerField(default=0)
    merged_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    error_file_path = models.CharField(max_length=500, blank=True)
    created_by_id = models.BigIntegerField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

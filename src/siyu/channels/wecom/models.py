"""WeCom tables: connected corps, their departments, employees (follow users), external contacts and follow
relations, the callback inbox, channel live codes with their members and daily statistics, the corp tag mirror,
sync runs and the send ledger of the channel adapter.

Secrets (customer-contact secret, app secret, callback token, EncodingAESKey) and the contact's unionid are
``kernel.crypto`` envelopes registered for key rotation in ``apps.py``. Every row carries ``org`` and is read
through the tenancy manager (``in_org`` / ``visible_to``); the callback view finds its corp by the random
``callback_key`` through the named ``unscoped_all_orgs`` path (it has no actor yet).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from siyu.kernel.actor import Actor, DataScope
from siyu.kernel.tenancy import TenantModel

DEFAULT_API_BASE = "https://qyapi.weixin.qq.com/cgi-bin/"


class Corp(TenantModel):
    """One WeCom corp an organisation connected (an organisation may connect several)."""

    corp_id = models.CharField(max_length=64)
    name = models.CharField(max_length=80, blank=True)
    secret = models.TextField()  # envelope: customer-contact secret (externalcontact/*)
    agent_id = models.PositiveIntegerField(null=True, blank=True)
    agent_secret = models.TextField(blank=True, default="")  # envelope: the self-built app's secret (message/send)
    callback_token = models.TextField()  # envelope
    encoding_aes_key = models.TextField()  # envelope
    api_base = models.CharField(max_length=300, default=DEFAULT_API_BASE)  # the simulator in development
    callback_key = models.CharField(max_length=64, unique=True)  # random, the last part of the callback URL
    is_active = models.BooleanField(default=True)
    last_callback_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "corp_id"], name="wecom_corp_unique")]

    def __str__(self) -> str:
        return self.name or self.corp_id


class Department(TenantModel):
    """A WeCom department (``department/list``)."""

    corp = models.ForeignKey(Corp, on_delete=models.CASCADE, related_name="departments")
    dept_id = models.BigIntegerField()
    name = models.CharField(max_length=120, blank=True)
    parent_dept_id = models.BigIntegerField(null=True, blank=True)
    order = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["corp", "dept_id"], name="wecom_dept_unique")]


class Employee(TenantModel):
    """A corp member; ``is_follow_user`` when the customer-contact feature is on for them."""

    corp = models.ForeignKey(Corp, on_delete=models.CASCADE, related_name="employees")
    userid = models.CharField(max_length=64)
    name = models.CharField(max_length=120, blank=True)
    department_ids = models.JSONField(default=list, blank=True)
    is_follow_user = models.BooleanField(default=False)
    status = models.PositiveSmallIntegerField(default=1)  # WeCom: 1 active, 2 disabled, 4 not activated, 5 left
    membership = models.ForeignKey("iam.Membership", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    synced_at = models.DateTimeField(null=True, blank=True)
    left_at = models.DateTimeField(null=True, blank=True)  # no longer listed by user/list

    class Meta:
        constraints = [models.UniqueConstraint(fields=["corp", "userid"], name="wecom_employee_unique")]

    def __str__(self) -> str:
        return self.name or self.userid


class ExternalContact(TenantModel):
    """A WeChat (type 1) or WeCom (type 2) user who added an employee; linked to one CDP profile."""

    corp = models.ForeignKey(Corp, on_delete=models.CASCADE, related_name="external_contacts")
    external_userid = models.CharField(max_length=64)
    name = models.CharField(max_length=120, blank=True)
    type = models.PositiveSmallIntegerField(default=1)
    gender = models.PositiveSmallIntegerField(default=0)
    unionid = models.TextField(blank=True, default="")  # envelope
    avatar = models.CharField(max_length=500, blank=True)
    corp_name = models.CharField(max_length=120, blank=True)
    position = models.CharField(max_length=120, blank=True)
    profile = models.ForeignKey("cdp.Profile", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    detail_synced_at = models.DateTimeField(null=True, blank=True)

    # A contact is a customer: a member sees the contacts their roles' scope on the CDP's profiles gives them (no
    # setting of its own, so "own customers" means the same thing in the CDP and in the channel).
    scope_key = "cdp.profile"

    class Meta:
        constraints = [models.UniqueConstraint(fields=["corp", "external_userid"], name="wecom_contact_unique")]
        indexes = [models.Index(fields=["org", "-id"], name="wecom_contact_org")]

    def __str__(self) -> str:
        return self.name or self.external_userid

    @classmethod
    def scope_condition(cls, actor: Actor, scope: DataScope) -> Q:
        """The contacts a scope narrower than the organisation leaves (``TenantQuerySet.visible_to``'s hook): a
        live follow relation with an employee mapped to a member in scope (the actor; for "department" and
        "department and below" also the members of those departments), or a CDP profile the actor may see (or
        one merged into a profile the actor may see, since the link is refreshed only on the next add).

        Each branch is an uncorrelated ``IN`` subquery on indexed columns (membership → employee → the relation's
        unique (employee, contact) index; the profile's owner / department indexes): under the ``OR`` PostgreSQL
        runs each once as a hashed subplan rather than once per listed row."""
        from siyu.cdp.selectors import visible_profile_pks  # the CDP's scope rule, through its public module

        members = Q(employee__membership__user_id=actor.user_id) if actor.user_id else Q(pk__in=[])
        if scope == DataScope.DEPARTMENT:
            members |= Q(employee__membership__department_id__in=sorted(actor.department_ids))
        elif scope == DataScope.DEPARTMENT_TREE:
            members |= Q(employee__membership__department_id__in=sorted(actor.department_tree_ids))
        followed = FollowRelation.objects.in_org(actor).filter(members, deleted=False).values("external_contact_id")
        return Q(pk__in=followed) | Q(profile__in=visible_profile_pks(actor))


class DeletedBy(models.TextChoices):
    CUSTOMER = "customer", "Customer"  # del_follow_user
    EMPLOYEE = "employee", "Employee"  # del_external_contact
    TRANSFER = "transfer", "Transfer"  # del_external_contact with Source=DELETE_BY_TRANSFER
    RECONCILE = "reconcile", "Reconcile"  # gone from WeCom's lists without a callback


class WelcomeStatus(models.TextChoices):
    NONE = "", "No welcome message"
    SENT = "sent", "Sent"
    ALREADY = "already", "Already delivered or chat started"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"


class FollowRelation(TenantModel):
    """An external contact's relation with one employee (WeCom ``follow_user``).

    ``event_at`` is the time of the newest add or delete applied (the callback's ``CreateTime``), so events that
    arrive out of order cannot undo a newer one: a deletion older than the add it meets is ignored, an add older
    than the deletion it meets leaves the relation deleted.
    """

    corp = models.ForeignKey(Corp, on_delete=models.CASCADE, related_name="+")
    employee = models.ForeignKey(Employee, on_delete=models.CASCADE, related_name="follow_relations")
    external_contact = models.ForeignKey(ExternalContact, on_delete=models.CASCADE, related_name="follows")
    remark = models.CharField(max_length=120, blank=True)
    description = models.CharField(max_length=300, blank=True)
    added_at = models.DateTimeField(null=True, blank=True)
    add_way = models.IntegerField(null=True, blank=True)
    state = models.CharField(max_length=30, blank=True)
    oper_userid = models.CharField(max_length=64, blank=True)
    tag_ids = models.JSONField(default=list, blank=True)  # WeCom corp tag ids on this relation
    live_code = models.ForeignKey("LiveCode", null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="relations")
    half = models.BooleanField(default=False)  # add_half_external_contact: the employee has not added back
    deleted = models.BooleanField(default=False)
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.CharField(max_length=12, choices=DeletedBy.choices, blank=True)
    event_at = models.DateTimeField(null=True, blank=True)
    welcome_status = models.CharField(max_length=10, choices=WelcomeStatus.choices, blank=True)
    announced = models.BooleanField(default=False)  # the CDP was told (profile, tags, timeline)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["employee", "external_contact"], name="wecom_follow_unique")]
        indexes = [
            models.Index(fields=["live_code", "added_at"], name="wecom_follow_code_added"),
            models.Index(fields=["live_code", "deleted_at"], name="wecom_follow_code_deleted"),
        ]


class CallbackLog(TenantModel):
    """One POST callback as received (the encrypted body), stored before the 200 and processed by a job.

    ``dedup_key`` is unique per corp: WeCom's retries (same body) and re-sent events are stored once.
    """

    corp = models.ForeignKey(Corp, on_delete=models.CASCADE, related_name="callback_logs")
    body = models.TextField()  # the raw POST body (the Encrypt envelope)
    msg_signature = models.CharField(max_length=64)
    timestamp = models.CharField(max_length=20)
    nonce = models.CharField(max_length=64)
    json_body = models.BooleanField(default=False)
    dedup_key = models.CharField(max_length=64)
    event = models.CharField(max_length=40, blank=True)
    change_type = models.CharField(max_length=40, blank=True)
    event_time = models.DateTimeField(null=True, blank=True)  # CreateTime
    received_at = models.DateTimeField()
    duplicates = models.PositiveIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    processed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["corp", "dedup_key"], name="wecom_callback_dedup")]
        indexes = [models.Index(fields=["org", "-received_at"], name="wecom_callback_org_recv")]


class LiveCode(TenantModel):
    """A channel live code (渠道活码): a WeCom contact way with a unique ``state``, routed to employees by weight
    within working hours, with tags and a welcome message applied on every add."""

    corp = models.ForeignKey(Corp, on_delete=models.CASCADE, related_name="live_codes")
    name = models.CharField(max_length=80)
    state = models.CharField(max_length=30)
    config_id = models.CharField(max_length=64, blank=True)
    qr_code = models.CharField(max_length=500, blank=True)
    skip_verify = models.BooleanField(default=True)
    schedule = models.JSONField(default=dict, blank=True)  # {"weekdays": [1..7], "start": "09:00", "end": "18:00"}
    daily_cap = models.PositiveIntegerField(null=True, blank=True)  # adds per employee per day; None = no cap
    tag_ids = models.JSONField(default=list, blank=True)  # WeCom corp tag ids applied on add
    welcome = models.JSONField(default=dict, blank=True)  # {"text": "...", "attachments": [{"kind": ...}, ...]}
    channel_label = models.CharField(max_length=120, blank=True)  # written to the profile's ``channel``
    source_label = models.CharField(max_length=60, blank=True)  # written to the profile's ``source``
    current_users = models.JSONField(default=list, blank=True)  # the user list the contact way has now
    is_active = models.BooleanField(default=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["corp", "state"], name="wecom_livecode_state_unique")]

    def __str__(self) -> str:
        return self.name


class LiveCodeMember(TenantModel):
    live_code = models.ForeignKey(LiveCode, on_delete=models.CASCADE, related_name="members")
    employee = models.ForeignKey(Employee, on_delete=models.CASCADE, related_name="+")
    weight = models.PositiveSmallIntegerField(default=1)
    is_backup = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["live_code", "employee"], name="wecom_livecode_member_unique")]


class LiveCodeDailyStat(TenantModel):
    """Per live code and local day: adds, deletions, net, and how many of that day's adds are still friends."""

    live_code = models.ForeignKey(LiveCode, on_delete=models.CASCADE, related_name="daily_stats")
    day = models.DateField()
    adds = models.PositiveIntegerField(default=0)
    deletions = models.PositiveIntegerField(default=0)
    net = models.IntegerField(default=0)
    retained = models.PositiveIntegerField(default=0)  # of ``adds``, not deleted (yet)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["live_code", "day"], name="wecom_livecode_day_unique")]

    @property
    def retention(self) -> float | None:
        return round(self.retained / self.adds, 4) if self.adds else None


class CorpTag(TenantModel):
    """A WeCom corp tag mirrored locally and mapped to its tag in a CDP channel-reserved tag group."""

    corp = models.ForeignKey(Corp, on_delete=models.CASCADE, related_name="corp_tags")
    tag_id = models.CharField(max_length=64)
    name = models.CharField(max_length=60)
    group_id = models.CharField(max_length=64)
    group_name = models.CharField(max_length=60)
    order = models.BigIntegerField(default=0)
    group_order = models.BigIntegerField(default=0)
    cdp_tag_id = models.BigIntegerField(null=True, blank=True)
    deleted = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["corp", "tag_id"], name="wecom_corptag_unique")]


class SyncRun(TenantModel):
    """A sync job and its progress (departments and employees, full contact sync, reconcile, corp tags)."""

    class Kind(models.TextChoices):
        EMPLOYEES = "employees", "Departments and employees"
        CONTACTS = "contacts", "External contacts (full sync)"
        RECONCILE = "reconcile", "Reconcile"
        TAGS = "tags", "Corp tags"
        GROUPS = "groups", "Customer groups"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    corp = models.ForeignKey(Corp, on_delete=models.CASCADE, related_name="sync_runs")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(default=0)  # follow users to go through (contacts, reconcile)
    done = models.PositiveIntegerField(default=0)
    added = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    deleted = models.PositiveIntegerField(default=0)
    cursor = models.JSONField(default=dict, blank=True)  # where to resume: {"chunk": i, "cursor": "..."}
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    requested_by_id = models.BigIntegerField(null=True, blank=True)


class SendRecord(TenantModel):
    """The adapter's idempotency ledger: one row per idempotency key, with the request's hash and the result."""

    corp = models.ForeignKey(Corp, on_delete=models.CASCADE, related_name="+")
    idempotency_key = models.CharField(max_length=200)
    method = models.CharField(max_length=20)
    request_hash = models.CharField(max_length=64)
    result = models.JSONField(default=dict)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["corp", "idempotency_key"], name="wecom_send_key_unique")]


# --- customer groups (客户群) -------------------------------------------------------------------------------------


class GroupChat(TenantModel):
    """A customer group (``groupchat/get``), kept by the full sync and by ``change_external_chat`` callbacks."""

    class Status(models.IntegerChoices):  # groupchat/list ``status``
        NORMAL = 0, "Normal"
        RESIGNED = 1, "Owner resigned, awaiting inheritance"
        INHERITING = 2, "Being inherited"
        INHERITED = 3, "Inherited"

    corp = models.ForeignKey(Corp, on_delete=models.CASCADE, related_name="group_chats")
    chat_id = models.CharField(max_length=64)
    name = models.CharField(max_length=120, blank=True)
    owner = models.ForeignKey(Employee, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    notice = models.TextField(blank=True)
    status = models.PositiveSmallIntegerField(choices=Status.choices, default=Status.NORMAL)
    created_at_wecom = models.DateTimeField(null=True, blank=True)  # ``create_time``
    member_version = models.CharField(max_length=64, blank=True)
    member_count = models.PositiveIntegerField(default=0)  # present members
    external_count = models.PositiveIntegerField(default=0)  # of which external contacts
    dismissed_at = models.DateTimeField(null=True, blank=True)
    synced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["corp", "chat_id"], name="wecom_group_unique")]
        indexes = [models.Index(fields=["org", "-id"], name="wecom_group_org")]

    def __str__(self) -> str:
        return self.name or self.chat_id


class GroupMember(TenantModel):
    """A member of a customer group, present (``left_at`` empty) or gone; type 1 = corp member, 2 = external."""

    group = models.ForeignKey(GroupChat, on_delete=models.CASCADE, related_name="members")
    userid = models.CharField(max_length=64)  # userid (type 1) or external_userid (type 2)
    type = models.PositiveSmallIntegerField(default=2)
    name = models.CharField(max_length=120, blank=True)
    employee = models.ForeignKey(Employee, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    external_contact = models.ForeignKey(ExternalContact, null=True, blank=True, on_delete=models.SET_NULL,
                                         related_name="group_memberships")
    joined_at = models.DateTimeField(null=True, blank=True)
    join_scene = models.PositiveSmallIntegerField(default=0)  # groupchat/get: 1 direct, 2 link, 3 QR
    invitor = models.CharField(max_length=64, blank=True)
    state = models.CharField(max_length=30, blank=True)  # the join way's ``state`` (group live code)
    left_at = models.DateTimeField(null=True, blank=True)
    quit_scene = models.SmallIntegerField(null=True, blank=True)  # callback: 0 left, 1 removed

    class Meta:
        constraints = [models.UniqueConstraint(fields=["group", "userid"], name="wecom_group_member_unique")]


class GroupMemberEvent(TenantModel):
    """A join or a quit, the source of the group statistics (joins and quits per day, members over time)."""

    class Kind(models.TextChoices):
        JOIN = "join", "Joined"
        QUIT = "quit", "Left"

    group = models.ForeignKey(GroupChat, on_delete=models.CASCADE, related_name="member_events")
    userid = models.CharField(max_length=64)
    type = models.PositiveSmallIntegerField(default=2)
    kind = models.CharField(max_length=4, choices=Kind.choices)
    at = models.DateTimeField()
    state = models.CharField(max_length=30, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["group", "userid", "kind", "at"],
                                               name="wecom_group_event_unique")]
        indexes = [models.Index(fields=["group", "at"], name="wecom_group_event_at")]


class GroupLiveCode(TenantModel):
    """A group live code: a WeCom join way (``groupchat/add_join_way``, QR scene) over up to 5 groups; Siyu keeps
    only groups with room on it so a scanner lands in one, and WeCom may open a new group when all are full."""

    corp = models.ForeignKey(Corp, on_delete=models.CASCADE, related_name="group_live_codes")
    name = models.CharField(max_length=80)
    state = models.CharField(max_length=30)
    config_id = models.CharField(max_length=64, blank=True)
    qr_code = models.CharField(max_length=500, blank=True)
    chat_ids = models.JSONField(default=list, blank=True)  # the groups chosen, in order (≤ 5)
    current_chat_ids = models.JSONField(default=list, blank=True)  # the list WeCom has now
    capacity = models.PositiveIntegerField(default=200)  # members before a group counts as full
    auto_create_room = models.BooleanField(default=False)
    room_base_name = models.CharField(max_length=40, blank=True)
    room_base_id = models.PositiveIntegerField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["corp", "state"], name="wecom_grouplivecode_state_unique")]

    def __str__(self) -> str:
        return self.name


# --- transfers (在职继承 / 离职继承) ----------------------------------------------------------------------------------


class Transfer(TenantModel):
    """One customer handed from one employee to another (on-job or resigned), and what WeCom reported."""

    class Kind(models.TextChoices):
        ON_JOB = "onjob", "On-job transfer"
        RESIGNED = "resigned", "Resigned inheritance"

    class Status(models.TextChoices):  # transfer_result status 1..5, plus Siyu's own refusals
        WAITING = "waiting", "Waiting for takeover"
        DONE = "done", "Taken over"
        REFUSED = "refused", "Refused by the customer"
        LIMIT = "limit", "Takeover employee at the customer limit"
        NONE = "none", "No transfer record"
        FAILED = "failed", "Refused by WeCom"

    corp = models.ForeignKey(Corp, on_delete=models.CASCADE, related_name="transfers")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    handover = models.ForeignKey(Employee, on_delete=models.CASCADE, related_name="+")
    takeover = models.ForeignKey(Employee, on_delete=models.CASCADE, related_name="+")
    external_contact = models.ForeignKey(ExternalContact, on_delete=models.CASCADE, related_name="transfers")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.WAITING)
    errcode = models.IntegerField(default=0)  # WeCom's per-customer code when it refused the start
    reason = models.CharField(max_length=200, blank=True)
    message = models.CharField(max_length=200, blank=True)  # transfer_success_msg (on-job)
    started_at = models.DateTimeField()
    takeover_at = models.DateTimeField(null=True, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    requested_by_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["org", "-started_at"], name="wecom_transfer_org_started"),
                   models.Index(fields=["external_contact", "started_at"], name="wecom_transfer_contact")]

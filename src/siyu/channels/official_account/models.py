"""Official-account tables: connected accounts, followers (linked to CDP profiles), the callback inbox, parametric
QR codes with their scans, and the send ledger of the channel adapter.

The AppSecret, the callback Token and the EncodingAESKey are ``kernel.crypto`` envelopes registered for key
rotation in ``apps.py``; so is a follower's unionid. Every row carries ``org`` and is read through the tenancy
manager; the callback view finds its account by the random ``callback_key`` through the named
``unscoped_all_orgs`` path (it has no actor yet).
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from siyu.kernel.tenancy import TenantModel

DEFAULT_API_BASE = "https://api.weixin.qq.com/cgi-bin/"


class Account(TenantModel):
    """One WeChat official account an organisation connected (an organisation may connect several)."""

    appid = models.CharField(max_length=64)
    name = models.CharField(max_length=80, blank=True)
    original_id = models.CharField(max_length=64, blank=True)  # gh_…, learnt from the first callback's ToUserName
    secret = models.TextField()  # envelope: AppSecret
    callback_token = models.TextField()  # envelope
    encoding_aes_key = models.TextField(blank=True, default="")  # envelope; empty = plaintext mode only
    api_base = models.CharField(max_length=300, default=DEFAULT_API_BASE)  # the simulator in development
    callback_key = models.CharField(max_length=64, unique=True)  # random, the last part of the callback URL
    template_id = models.CharField(max_length=64, blank=True)  # the template the channel port sends text with
    template_field = models.CharField(max_length=32, blank=True, default="content")  # its data key for the text
    is_active = models.BooleanField(default=True)
    last_callback_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "appid"], name="oa_account_unique")]

    def __str__(self) -> str:
        return self.name or self.appid


class QrCode(TenantModel):
    """A parametric QR code (``qrcode/create``): temporary (≤ 30 days) or permanent, with a string scene."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="qr_codes")
    name = models.CharField(max_length=80)
    scene = models.CharField(max_length=64)  # scene_str; the EventKey of scans (qrscene_<scene> on subscribe)
    permanent = models.BooleanField(default=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    ticket = models.CharField(max_length=200, blank=True)
    url = models.CharField(max_length=500, blank=True)  # what the QR image encodes
    source_label = models.CharField(max_length=60, blank=True)  # written to the profile's ``source``
    channel_label = models.CharField(max_length=120, blank=True)  # written to the profile's ``channel``

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "scene"], name="oa_qrcode_scene_unique")]

    def __str__(self) -> str:
        return self.name


class Follower(TenantModel):
    """A WeChat user's relation with one account: ``openid`` per account, ``unionid`` across the open platform.

    ``event_at`` is the ``CreateTime`` of the newest subscribe/unsubscribe applied, so events arriving out of
    order cannot undo a newer one.
    """

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="followers")
    openid = models.CharField(max_length=64)
    unionid = models.TextField(blank=True, default="")  # envelope
    subscribed = models.BooleanField(default=False)
    subscribed_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    event_at = models.DateTimeField(null=True, blank=True)
    first_qr_code = models.ForeignKey(QrCode, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    profile = models.ForeignKey("cdp.Profile", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "openid"], name="oa_follower_unique")]
        indexes = [models.Index(fields=["org", "-id"], name="oa_follower_org")]

    def __str__(self) -> str:
        return self.openid


class Scan(TenantModel):
    """One scan of a parametric QR code: a subscribe through it (``subscribe``) or a scan by a follower (``scan``).
    One row per callback, so the scene statistics count each event once however often it was delivered."""

    class Kind(models.TextChoices):
        SUBSCRIBE = "subscribe", _("Followed")
        SCAN = "scan", _("Scanned while following")

    qr_code = models.ForeignKey(QrCode, on_delete=models.CASCADE, related_name="scans")
    follower = models.ForeignKey(Follower, on_delete=models.CASCADE, related_name="scans")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    at = models.DateTimeField()
    callback = models.OneToOneField("CallbackLog", on_delete=models.CASCADE, related_name="+")

    class Meta:
        indexes = [models.Index(fields=["qr_code", "at"], name="oa_scan_code_at")]


class CallbackLog(TenantModel):
    """One POST callback as received (the raw body and its query), stored before the answer, processed by a job.

    ``mode`` is how it came: ``plain``, ``compat`` (plaintext fields beside ``Encrypt``) or ``safe``; compat and
    safe bodies are processed from the ciphertext only. ``dedup_key`` is unique per account.
    """

    class Mode(models.TextChoices):
        PLAIN = "plain", _("Plaintext")
        COMPAT = "compat", _("Compatible")
        SAFE = "safe", _("Safe")

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="callback_logs")
    mode = models.CharField(max_length=6, choices=Mode.choices)
    body = models.TextField()
    signature = models.CharField(max_length=64)  # the three-value signature (plaintext mode)
    msg_signature = models.CharField(max_length=64, blank=True)  # compat and safe modes
    timestamp = models.CharField(max_length=20)
    nonce = models.CharField(max_length=64)
    dedup_key = models.CharField(max_length=64)
    msg_type = models.CharField(max_length=20, blank=True)
    event = models.CharField(max_length=40, blank=True)
    openid = models.CharField(max_length=64, blank=True)
    event_time = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField()
    duplicates = models.PositiveIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    processed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "dedup_key"], name="oa_callback_dedup")]
        indexes = [models.Index(fields=["org", "-received_at"], name="oa_callback_org_recv")]


class TemplateSend(TenantModel):
    """A template message the adapter sent: its ``msgid`` and the delivery status that ``TEMPLATESENDJOBFINISH``
    reports later (``success``, ``failed:user block``, ``failed: system failed`` …)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    openid = models.CharField(max_length=64)
    msgid = models.CharField(max_length=32)
    idempotency_key = models.CharField(max_length=200)
    status = models.CharField(max_length=40, blank=True)  # empty until the delivery report arrives
    reported_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["account", "msgid"], name="oa_template_msgid")]


class SendRecord(TenantModel):
    """The adapter's idempotency ledger: one row per idempotency key, with the request's hash and the result."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    idempotency_key = models.CharField(max_length=200)
    method = models.CharField(max_length=20)
    request_hash = models.CharField(max_length=64)
    result = models.JSONField(default=dict)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "idempotency_key"], name="oa_send_key_unique")]

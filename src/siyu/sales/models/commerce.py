"""Lead to cash, second half: products, price books, quotes, contracts (frozen on approval), orders, payment
plans and receipts, sales targets and forecast snapshots. Money is ``Decimal`` (2 places)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from siyu.kernel.tenancy import TenantModel

MONEY = {"max_digits": 18, "decimal_places": 2, "default": 0}


def _custom():
    """The JSON column of custom field values (these are standard objects of the platform)."""
    return models.JSONField(default=dict, blank=True)


class Product(TenantModel):
    custom = _custom()
    code = models.CharField(max_length=60)
    name = models.CharField(max_length=200)
    unit = models.CharField(max_length=20, blank=True)
    list_price = models.DecimalField(**MONEY)
    is_active = models.BooleanField(default=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "code"], name="sales_product_code")]


class PriceBook(TenantModel):
    custom = _custom()
    name = models.CharField(max_length=120)
    currency = models.CharField(max_length=3, default="CNY")
    is_default = models.BooleanField(default=False)
    max_discount_percent = models.DecimalField(max_digits=5, decimal_places=2, default=0)  # beyond: approval
    is_active = models.BooleanField(default=True)


class PriceBookEntry(TenantModel):
    price_book = models.ForeignKey(PriceBook, on_delete=models.CASCADE, related_name="entries")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    unit_price = models.DecimalField(**MONEY)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["price_book", "product"], name="sales_pbentry_unique")]


class DocStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PENDING = "pending", "Pending approval"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    SUPERSEDED = "superseded", "Superseded"


class Quote(TenantModel):
    """A numbered quote; a revision is a new row with the same ``number`` and ``version + 1``."""

    custom = _custom()
    number = models.CharField(max_length=40)
    version = models.PositiveIntegerField(default=1)
    title = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=DocStatus.choices, default=DocStatus.DRAFT)
    opportunity = models.ForeignKey("sales.Opportunity", null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    account = models.ForeignKey("cdp.Profile", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    customer_name = models.CharField(max_length=200, blank=True)
    price_book = models.ForeignKey(PriceBook, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    currency = models.CharField(max_length=3, default="CNY")
    subtotal = models.DecimalField(**MONEY)
    discount_amount = models.DecimalField(**MONEY)
    total = models.DecimalField(**MONEY)
    max_line_discount = models.DecimalField(max_digits=5, decimal_places=2, default=0)
    valid_until = models.DateField(null=True, blank=True)
    note = models.TextField(blank=True)
    owner = models.ForeignKey("iam.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    department = models.ForeignKey("iam.Department", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    scope_key = "sales.quote"
    scope_owner_field = "owner"
    scope_department_field = "department"

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "number", "version"], name="sales_quote_version")]
        indexes = [models.Index(fields=["org", "-id"], name="sales_quote_org_id")]


class QuoteLine(TenantModel):
    quote = models.ForeignKey(Quote, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    name = models.CharField(max_length=200)
    quantity = models.DecimalField(max_digits=14, decimal_places=3, default=1)
    unit_price = models.DecimalField(**MONEY)
    discount_percent = models.DecimalField(max_digits=5, decimal_places=2, default=0)
    amount = models.DecimalField(**MONEY)
    order = models.PositiveIntegerField(default=0)


class Contract(TenantModel):
    """A contract version; an amendment is a new row (same ``number``, ``version + 1``). Approved rows are
    frozen: ``snapshot`` + ``snapshot_hash`` are the approved content and nothing edits the row afterwards."""

    custom = _custom()
    number = models.CharField(max_length=40)
    version = models.PositiveIntegerField(default=1)
    title = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=DocStatus.choices, default=DocStatus.DRAFT)
    quote = models.ForeignKey(Quote, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    opportunity = models.ForeignKey("sales.Opportunity", null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    account = models.ForeignKey("cdp.Profile", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    customer_name = models.CharField(max_length=200, blank=True)
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3, default="CNY")
    starts_on = models.DateField(null=True, blank=True)
    ends_on = models.DateField(null=True, blank=True)
    terms = models.TextField(blank=True)
    signed_on = models.DateField(null=True, blank=True)
    snapshot = models.JSONField(null=True, blank=True)
    snapshot_hash = models.CharField(max_length=64, blank=True)
    owner = models.ForeignKey("iam.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    department = models.ForeignKey("iam.Department", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    scope_key = "sales.contract"
    scope_owner_field = "owner"
    scope_department_field = "department"

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "number", "version"],
                                               name="sales_contract_version")]
        indexes = [models.Index(fields=["org", "-id"], name="sales_contract_org_id")]


class Order(TenantModel):
    custom = _custom()
    number = models.CharField(max_length=40)
    contract = models.ForeignKey(Contract, null=True, blank=True, on_delete=models.PROTECT, related_name="orders")
    external_id = models.CharField(max_length=120, null=True, blank=True)
    source = models.CharField(max_length=40, default="contract")  # contract, api
    account = models.ForeignKey("cdp.Profile", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    customer_name = models.CharField(max_length=200, blank=True)
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3, default="CNY")
    ordered_on = models.DateField()
    status = models.CharField(max_length=12, default="confirmed")  # confirmed, cancelled
    owner = models.ForeignKey("iam.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    department = models.ForeignKey("iam.Department", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    scope_key = "sales.order"
    scope_owner_field = "owner"
    scope_department_field = "department"

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["org", "number"], name="sales_order_number"),
            models.UniqueConstraint(fields=["org", "external_id"], condition=Q(external_id__isnull=False),
                                    name="sales_order_external_id"),
        ]


class PaymentPlan(TenantModel):
    """One instalment due: against a contract or an order."""

    custom = _custom()
    contract = models.ForeignKey(Contract, null=True, blank=True, on_delete=models.CASCADE, related_name="plans")
    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.CASCADE, related_name="plans")
    due_on = models.DateField()
    amount = models.DecimalField(**MONEY)
    received = models.DecimalField(**MONEY)
    account = models.ForeignKey("cdp.Profile", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    customer_name = models.CharField(max_length=200, blank=True)
    owner = models.ForeignKey("iam.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    department = models.ForeignKey("iam.Department", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    scope_key = "sales.payment"
    scope_owner_field = "owner"
    scope_department_field = "department"

    class Meta:
        indexes = [models.Index(fields=["org", "due_on"], name="sales_plan_due")]


class Receipt(TenantModel):
    """Money received (回款), applied to one plan."""

    custom = _custom()
    plan = models.ForeignKey(PaymentPlan, on_delete=models.PROTECT, related_name="receipts")
    amount = models.DecimalField(**MONEY)
    received_on = models.DateField()
    method = models.CharField(max_length=30, blank=True)
    reference = models.CharField(max_length=120, blank=True)
    owner = models.ForeignKey("iam.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    department = models.ForeignKey("iam.Department", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    scope_key = "sales.payment"
    scope_owner_field = "owner"
    scope_department_field = "department"


class SalesTarget(TenantModel):
    """A target for one salesperson (``user``) or one team (``department``) in a period (``2026-11``, ``2026-Q4``
    or ``2026``)."""

    custom = _custom()
    period = models.CharField(max_length=7)
    user = models.ForeignKey("iam.User", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    department = models.ForeignKey("iam.Department", null=True, blank=True, on_delete=models.CASCADE,
                                   related_name="+")
    amount = models.DecimalField(**MONEY)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["org", "period", "user"], condition=Q(user__isnull=False),
                                    name="sales_target_user"),
            models.UniqueConstraint(fields=["org", "period", "department"], condition=Q(user__isnull=True),
                                    name="sales_target_dept"),
        ]


class ForecastSnapshot(TenantModel):
    """The weighted forecast of a period for one owner as it stood on ``taken_on``."""

    period = models.CharField(max_length=7)
    taken_on = models.DateField()
    owner = models.ForeignKey("iam.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    department = models.ForeignKey("iam.Department", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    pipeline_amount = models.DecimalField(**MONEY)
    weighted_amount = models.DecimalField(**MONEY)
    won_amount = models.DecimalField(**MONEY)
    open_count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "period", "taken_on", "owner"],
                                               name="sales_fcsnap_unique")]

"""Rule tree → one ORM condition on ``Profile``: every condition is a column predicate, an ``EXISTS`` or an
``IN`` over a rollup or a small table, so a whole segment is one SQL statement and the database does the work
(never a Python loop over profiles).

Which table answers what (see the README for the measurements):

* attributes (standard and custom fields) — the platform's filter SQL (``build_condition``), the same as lists;
* tags, identities — ``EXISTS`` over ``cdp_profiletag`` / ``cdp_identity`` correlated on the profile;
* consent — ``EXISTS`` a grant covering the channel with ``NOT EXISTS`` a later record: the latest record is a
  grant, exactly :func:`cdp.consent.may_contact`'s rule (latest by time, then id);
* events without property filters — the rollups, never raw events: "at least N ever" is ``cdp_eventrollup.count``,
  "at least once in W days" is ``cdp_eventrollup.last_at`` (the index (org, name, last_at) answers it), "at least
  N times in W days" sums ``cdp_eventdailyrollup`` (``IN (… GROUP BY profile HAVING SUM(count) >= N)``);
* events with property filters — raw events of the window only (bounded to 90 days; monthly partitions and the
  BRIN index on time prune the scan on PostgreSQL).

Windows are whole local days (``settings.TIME_ZONE``) ending today: ``within_days = 7`` means today and the 6
days before, the days of the daily rollup. ``restrict_to`` (profile ids) pushes the candidate list into every
subquery so an incremental refresh of a few profiles reads a few index entries, not whole rollups.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Sequence
from decimal import Decimal
from functools import reduce
from operator import and_, or_

from django.conf import settings
from django.db import connection
from django.db.models import (
    BooleanField,
    Case,
    Count,
    Exists,
    F,
    Func,
    OuterRef,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.lookups import (
    Exact,
    GreaterThan,
    GreaterThanOrEqual,
    In,
    IsNull,
    LessThan,
    LessThanOrEqual,
)

from siyu.kernel.actor import Actor
from siyu.kernel.tenancy import TenantModel, TenantQuerySet
from siyu.platform.field_types.base import JsonText, safe_number
from siyu.platform.filtering import Filter, build_condition
from siyu.platform.selectors import object_meta

from ..models import (
    ConsentRecord,
    Event,
    EventDailyRollup,
    EventRollup,
    Identity,
    Profile,
    ProfileStatus,
    ProfileTag,
)
from .rules import (
    Attribute,
    ConsentCondition,
    EventCondition,
    Group,
    IdentityCondition,
    LifecycleCondition,
    Node,
    Not,
    PropertyFilter,
    TagCondition,
)

NOTHING = Q(pk__in=[])


def org_rows(model, actor: Actor) -> QuerySet:
    """Rows of an org-keyed table that is not a ``TenantModel`` (rollups, events): the tenancy layer's own
    ``in_org`` applied to it, so the organisation predicate is still written only in ``kernel/tenancy.py``."""
    return TenantQuerySet(model=model).in_org(actor)


def tune_session() -> None:
    """Settings for segment evaluation inside the current transaction (PostgreSQL; no-op elsewhere): JIT off —
    its compile time (~0.3 s measured) dwarfs these queries; enough ``work_mem`` for the hashed subplans and
    hash aggregates of a million-profile organisation to stay in memory; and no parallel workers — on the two
    shared cores of the target machine each worker rebuilt the same rollup aggregate (measured at M: "viewed
    ≥ 3 times in 30 days and not ordered" 1.1 s parallel, 0.75 s serial). ``SET LOCAL`` ends with the
    transaction, so nothing leaks to other work on the connection."""
    if connection.vendor == "postgresql" and connection.in_atomic_block:
        with connection.cursor() as cur:
            cur.execute("SET LOCAL jit = off")
            cur.execute("SET LOCAL work_mem = '64MB'")
            cur.execute("SET LOCAL max_parallel_workers_per_gather = 0")


def window_start(within_days: int, now: dt.datetime) -> tuple[dt.date, dt.datetime]:
    """First local day of a ``within_days`` window ending today, and its local midnight as an aware datetime."""
    zone = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    day = now.astimezone(zone).date() - dt.timedelta(days=within_days - 1)
    return day, dt.datetime.combine(day, dt.time(0), tzinfo=zone)


class Compiler:
    """Compiles rule trees for one actor at one instant. ``restrict_to``: see the module docstring."""

    def __init__(self, actor: Actor, *, now: dt.datetime, restrict_to: Sequence[int] | None = None):
        self.actor = actor
        self.now = now
        self.restrict_to = list(restrict_to) if restrict_to is not None else None
        self._meta = None

    # the public entry points ----------------------------------------------------------------------------
    def condition(self, node: Node) -> Q:
        if isinstance(node, Group):
            parts = [self.condition(c) for c in node.rules]
            if not parts:
                return Q() if node.op == "and" else NOTHING
            return reduce(and_ if node.op == "and" else or_, parts)
        if isinstance(node, Not):
            inner = self.condition(node.rule)
            if self._nullable(node.rule):
                # A custom field's JSON expression is NULL when the key is absent, and NOT NULL is NULL: made
                # two-valued first so that NOT is the complement. (Only here: it would hide EXISTS from the
                # planner's anti-join, so rollup conditions are negated directly — they are never NULL.)
                return Q(Exact(Case(When(inner, then=Value(False)), default=Value(True),
                                    output_field=BooleanField()), True))
            return ~inner
        handler = getattr(self, f"_{type(node).__name__}")
        return handler(node)

    def profiles(self, node: Node, base: QuerySet | None = None) -> QuerySet:
        """Active profiles matching ``node`` (``base`` defaults to the actor's organisation, unscoped by owner:
        segments belong to the organisation; pass ``Profile.objects.visible_to(actor)`` for a person's view)."""
        qs = base if base is not None else Profile.objects.in_org(self.actor)
        qs = qs.filter(status=ProfileStatus.ACTIVE)
        if self.restrict_to is not None:
            qs = qs.filter(pk__in=self.restrict_to)
        return qs.filter(self.condition(node))

    # helpers --------------------------------------------------------------------------------------------
    def _nullable(self, node: Node) -> bool:
        """Whether the node's SQL can be NULL: attributes on custom fields (JSON expressions); standard
        columns are negated null-safely by the ORM, EXISTS / IN over non-null ids are never NULL."""
        if isinstance(node, Group):
            return any(self._nullable(c) for c in node.rules)
        if isinstance(node, Attribute):
            return self._profile_meta().custom_field(node.field) is not None
        return False

    def _profile_meta(self):
        if self._meta is None:
            self._meta = object_meta(self.actor, "cdp.profile")
        return self._meta

    def _rows(self, model, *, column: str = "profile_id") -> QuerySet:
        qs = model.objects.in_org(self.actor) if issubclass(model, TenantModel) else org_rows(model, self.actor)
        if self.restrict_to is not None:
            qs = qs.filter(**{f"{column}__in": self.restrict_to})
        return qs

    # conditions -----------------------------------------------------------------------------------------
    def _Attribute(self, node: Attribute) -> Q:  # noqa: N802 - dispatched by class name
        value = list(node.value) if isinstance(node.value, tuple) else node.value
        return build_condition(self.actor, self._profile_meta(), Filter(node.field, node.op, value))

    def _TagCondition(self, node: TagCondition) -> Q:  # noqa: N802
        tags = self._rows(ProfileTag)
        if node.match == "any":
            return Q(Exists(tags.filter(profile_id=OuterRef("pk"), tag_id__in=node.tag_ids)))
        return reduce(and_, [Q(Exists(tags.filter(profile_id=OuterRef("pk"), tag_id=t))) for t in node.tag_ids])

    def _IdentityCondition(self, node: IdentityCondition) -> Q:  # noqa: N802
        ids = self._rows(Identity).filter(profile_id=OuterRef("pk"), type=node.identity_type)
        if node.namespace is not None:
            ids = ids.filter(namespace=node.namespace)
        return Q(Exists(ids))

    def _LifecycleCondition(self, node: LifecycleCondition) -> Q:  # noqa: N802
        return Q(lifecycle_stage__in=node.stages)

    def _ConsentCondition(self, node: ConsentCondition) -> Q:  # noqa: N802
        channels = [node.channel, ""] if node.channel else [""]
        records = self._rows(ConsentRecord).filter(purpose_id=node.purpose_id, channel__in=channels, at__lte=self.now)
        later = records.filter(profile_id=OuterRef("profile_id")).filter(
            Q(at__gt=OuterRef("at")) | Q(at=OuterRef("at"), pk__gt=OuterRef("pk")))
        grant = records.filter(profile_id=OuterRef("pk"), granted=True).filter(~Exists(later))
        return Q(Exists(grant))

    def _EventCondition(self, node: EventCondition) -> Q:  # noqa: N802
        cond = self._properties_event(node) if node.properties else self._rollup_event(node)
        return cond if node.did else ~cond

    def _rollup_event(self, node: EventCondition) -> Q:
        if node.within_days is None:
            rows = self._rows(EventRollup).filter(profile_id=OuterRef("pk"), name=node.name)
            if node.min_count > 1:
                rows = rows.filter(count__gte=node.min_count)
            return Q(Exists(rows))
        day, start = window_start(node.within_days, self.now)
        if node.min_count == 1:
            # last_at is the latest event of the name: at least once since the window's first midnight.
            return Q(Exists(self._rows(EventRollup).filter(profile_id=OuterRef("pk"), name=node.name,
                                                           last_at__gte=start)))
        counted = (self._rows(EventDailyRollup).filter(name=node.name, day__gte=day)
                   .values("profile_id").annotate(n=Sum("count")).filter(n__gte=node.min_count).values("profile_id"))
        return Q(pk__in=counted)

    def _properties_event(self, node: EventCondition) -> Q:
        assert node.within_days is not None  # rules.py requires a bounded window for property filters
        _, start = window_start(node.within_days, self.now)
        events = self._rows(Event).filter(name=node.name, timestamp__gte=start)
        for p in node.properties:
            events = events.filter(_property(p))
        if node.min_count == 1:
            return Q(Exists(events.filter(profile_id=OuterRef("pk"))))
        counted = events.values("profile_id").annotate(n=Count("id")).filter(n__gte=node.min_count)
        return Q(pk__in=counted.values("profile_id"))


def _property(p: PropertyFilter) -> Q:
    text = PropertyText("properties", p.key)
    if p.op == "exists":
        present = ~Q(IsNull(text, True))
        return present if p.value else ~present
    if p.op == "eq":
        return Q(Exact(text, p.value))
    if p.op == "ne":
        return ~Q(Exact(text, p.value)) | Q(IsNull(text, True))
    if p.op == "in":
        return Q(In(text, list(p.value)))
    lookups = {"lt": LessThan, "gt": GreaterThan, "lte": LessThanOrEqual, "gte": GreaterThanOrEqual}
    return Q(lookups[p.op](safe_number(text), Decimal(p.value)))


class PropertyText(JsonText):
    """The text of an event property: the platform's JSON text expression (``->>`` / ``json_extract``), with
    event property names (camelCase allowed, validated by ``rules.PROPERTY_KEY``) instead of field keys."""

    def __init__(self, column: str, key: str):
        Func.__init__(self, F(column))  # JsonText's own check allows field keys only
        self.path = (key,)


def compile_rule(node: Node, *, actor: Actor, now: dt.datetime, restrict_to: Sequence[int] | None = None) -> Q:
    return Compiler(actor, now=now, restrict_to=restrict_to).condition(node)

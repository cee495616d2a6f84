"""Leads: create from every source (deduplicated through CDP identities), update, status, conversion.

A lead always belongs to a CDP profile: identifiers (phone, email, WeCom id, …) go through the CDP's identity
resolution (``cdp.profiles.create_profile``), so the same person arriving from a web form and a WeCom live code
is one profile. While that profile has an open lead, a new lead for it is *merged into* the open one (blank
fields filled, the new source and attribution kept in the lead's history) instead of creating a second one; the
partial unique constraint ``sales_lead_one_open_per_profile`` makes that hold under concurrency too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction

from siyu.cdp import consent as cdp_consent
from siyu.cdp import lifecycle, timeline
from siyu.cdp import profiles as cdp_profiles
from siyu.cdp.resolution import live
from siyu.kernel import auditing, clock, events
from siyu.kernel.actor import Actor
from siyu.kernel.errors import Conflict, NotFound, ValidationFailed
from siyu.platform.selectors import object_meta
from siyu.platform.services import audit_view, clean_values, merge_values

from ..events import LeadConverted, LeadCreated
from ..models.leads import OPEN_STATUSES, Lead, LeadStatus
from ..models.pools import Pool, PoolKind
from . import assignment
from .common import as_int, cdp_actor, history, require, text

OBJECT = "sales.lead"
AUDITED = ["name", "company", "title", "status", "source", "campaign", "region", "industry", "score", "note",
           "owner_id", "department_id", "pool_id", "profile_id", "status_reason"]
TEXT_LIMITS = {"name": 200, "company": 200, "title": 120, "campaign": 120, "region": 60, "industry": 60,
               "note": 5000}
SOURCES = {"manual", "api", "import", "web_form", "wecom_live_code", "official_account", "mini_program", "event",
           "referral", "other"}
UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "referrer", "landing_url")
IDENTIFIER_FIELDS = {"phone": "phone", "email": "email"}


@dataclass
class LeadWritten:
    lead: Lead
    created: bool  # False: merged into the profile's open lead


def clean_attribution(raw: Any) -> dict[str, str]:
    if raw in (None, ""):
        return {}
    if not isinstance(raw, Mapping):
        raise ValidationFailed("bad attribution", fields={"attribution": ["an object of utm_* keys"]})
    out = {}
    for key, value in raw.items():
        if key not in UTM_KEYS:
            raise ValidationFailed("bad attribution", fields={f"attribution.{key}": [f"one of {', '.join(UTM_KEYS)}"]})
        limit = 500 if key in ("referrer", "landing_url") else 200
        cleaned = text(value, f"attribution.{key}", limit)
        if cleaned:
            out[key] = cleaned
    return out


def clean_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for name, value in data.items():
        try:
            if name in TEXT_LIMITS:
                out[name] = text(value, name, TEXT_LIMITS[name])
            elif name == "score":
                out[name] = as_int(value or 0, missing=ValidationFailed, field="score")
                if not -10**6 <= out[name] <= 10**6:
                    raise ValidationFailed("bad score", fields={"score": ["between -10^6 and 10^6"]})
            else:
                raise ValidationFailed("unknown field", fields={name: ["unknown field"]})
        except ValidationFailed as exc:
            errors.update(exc.fields)
    if errors:
        raise ValidationFailed("some fields are not valid", fields=errors)
    return out


def _identifiers(phone: Any, email: Any, identifiers: list[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    out = [dict(i) for i in (identifiers or [])]
    if phone not in (None, ""):
        out.append({"type": "phone", "value": phone})
    if email not in (None, ""):
        out.append({"type": "email", "value": email})
    return out


def _profile(actor: Actor, *, profile_id: Any, name: str, identifiers: list[dict[str, Any]], source: str):
    cdp = cdp_actor(actor)
    if profile_id is not None:
        try:
            return live(cdp_profiles.visible_profile(cdp, profile_id, active=False))
        except NotFound:
            raise ValidationFailed("no such customer", fields={"profile_id": ["no such customer"]}) from None
    written = cdp_profiles.create_profile(actor=cdp, data={"name": name or None, "kind": "person"},
                                          identifiers=identifiers, source=source)
    return written.profile


def create_lead(
    *, actor: Actor, name: str = "", phone: Any = None, email: Any = None,
    identifiers: list[Mapping[str, Any]] | None = None, profile_id: Any = None, source: str = "manual",
    attribution: Mapping[str, Any] | None = None, fields: Mapping[str, Any] | None = None,
    custom: Mapping[str, Any] | None = None, owner_id: Any = None, pool_id: Any = None, auto_assign: bool = True,
) -> LeadWritten:
    """A lead from any source. The person is found or created through CDP identity resolution; an open lead of
    the same person absorbs this one (``created`` False). Without ``owner_id`` or ``pool_id`` a lead typed in
    by a member is theirs, and any other goes through the assignment rules (``auto_assign``)."""
    require(actor, "sales.lead.create")
    if source not in SOURCES:
        raise ValidationFailed("bad source", fields={"source": [f"one of {', '.join(sorted(SOURCES))}"]})
    values = clean_fields({**(fields or {}), **({"name": name} if name else {})})
    meta = object_meta(actor, OBJECT)
    cleaned_custom = clean_values(actor, meta, dict(custom or {}), partial=False)
    utm = clean_attribution(attribution)
    if utm.get("utm_campaign") and not values.get("campaign"):
        values["campaign"] = utm["utm_campaign"][:120]
    owner = assignment.manual_decision(actor, owner_id) if owner_id not in (None, "") else None
    if owner is not None and owner.owner_id != actor.user_id:
        require(actor, "sales.lead.assign")
    pool = _pool(actor, pool_id) if pool_id not in (None, "") else None
    profile = _profile(actor, profile_id=profile_id, name=values.get("name", ""),
                       identifiers=_identifiers(phone, email, identifiers), source=source)
    existing = _open_lead(actor, profile.pk)
    if existing is not None:
        return LeadWritten(_absorb(actor, existing, values, cleaned_custom, utm, source), False)
    lead = Lead(org_id=actor.org_id, profile=profile, source=source, attribution=utm,
                custom=merge_values({}, cleaned_custom), **values)
    if not lead.name:
        lead.name = profile.name
    try:
        with transaction.atomic():
            lead.save()
    except IntegrityError:  # a concurrent create for the same person won: merge into it
        existing = _open_lead(actor, profile.pk)
        if existing is None:
            raise
        return LeadWritten(_absorb(actor, existing, values, cleaned_custom, utm, source), False)
    history(actor, lead, "created", source=source, attribution=utm)
    auditing.record_write(actor, "create", OBJECT, lead.pk, _diff(actor, {}, {}, lead), source=source)
    timeline.add_entry(profile=profile, kind="sales.lead.created", ref_type=OBJECT, ref_id=str(lead.pk),
                       data={"source": source, "campaign": lead.campaign})
    events.emit(LeadCreated(org_id=actor.org_id, lead_id=lead.pk, profile_id=profile.pk, source=source))
    if owner is not None:
        assignment.apply(actor, lead, owner, how="manual")
    elif pool is not None:
        assignment.apply(actor, lead, assignment.Decision(None, pool_id=pool.pk,
                                                          explanation=f"Put in pool {pool.name} on creation."),
                         how="pool")
    elif actor.user_id is not None and source == "manual":
        assignment.apply(actor, lead, assignment.manual_decision(actor, actor.user_id), how="self")
    elif auto_assign:
        assignment.assign_by_rules(actor, lead)
    lead.refresh_from_db()
    return LeadWritten(lead, True)


def create_lead_from(
    *, actor: Actor, profile_id: int, source: str, attribution: Mapping[str, Any] | None = None, campaign: str = "",
    name: str = "", fields: Mapping[str, Any] | None = None, custom: Mapping[str, Any] | None = None,
) -> LeadWritten:
    """The seam other contexts call when a known profile becomes a lead (a WeCom live-code add, an official
    account follow): deduplicated like every lead, assigned through the rules."""
    return create_lead(actor=actor, profile_id=profile_id, source=source, attribution=attribution, name=name,
                       fields={**(fields or {}), **({"campaign": campaign} if campaign else {})}, custom=custom)


def import_leads(*, actor: Actor, rows: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The import hook: each row as for ``create_lead`` (``name``, ``phone``, ``email``, ``fields``, ``custom``,
    ``attribution``, ``owner_id``, ``pool_id``), each in its own savepoint, so one bad row is reported and the
    others are kept. Returns one outcome per row."""
    require(actor, "sales.lead.create")
    out = []
    for n, row in enumerate(rows):
        try:
            with transaction.atomic():
                written = create_lead(
                    actor=actor, name=row.get("name") or "", phone=row.get("phone"), email=row.get("email"),
                    source="import", attribution=row.get("attribution"), fields=row.get("fields"),
                    custom=row.get("custom"), owner_id=row.get("owner_id"), pool_id=row.get("pool_id"),
                )
            out.append({"row": n, "lead_id": written.lead.pk, "created": written.created, "errors": {}})
        except (ValidationFailed, Conflict) as exc:
            out.append({"row": n, "lead_id": None, "created": False, "errors": exc.fields or {"__all__": [exc.message]}})
    return out


def _pool(actor: Actor, pool_id: Any) -> Pool:
    pool = Pool.objects.in_org(actor).filter(pk=as_int(pool_id, missing=ValidationFailed, field="pool_id"),
                                             kind=PoolKind.LEAD, is_active=True).first()
    if pool is None:
        raise ValidationFailed("no such pool", fields={"pool_id": ["no such lead pool"]})
    return pool


def _open_lead(actor: Actor, profile_id: int) -> Lead | None:
    return (Lead.objects.in_org(actor).select_for_update()
            .filter(profile_id=profile_id, status__in=OPEN_STATUSES, merged_into__isnull=True).first())


def _absorb(actor: Actor, lead: Lead, values: dict[str, Any], custom: dict[str, Any], utm: dict[str, str],
            source: str) -> Lead:
    """A second enquiry of the same person: fill what the open lead lacks, keep the new source in history. A
    member who cannot see the open lead is told it is taken (and nothing changes)."""
    if not actor.is_system and not Lead.objects.visible_to(actor).filter(pk=lead.pk).exists():
        raise Conflict("this person already has an open lead that someone else works on", code="lead_taken")
    before, before_custom = auditing.snapshot(lead, AUDITED), dict(lead.custom)
    for name, value in values.items():
        if name == "score":
            lead.score = max(lead.score, value)
        elif value and not getattr(lead, name):
            setattr(lead, name, value)
    lead.custom = {**{k: v for k, v in custom.items() if v is not None}, **lead.custom}
    if utm and not lead.attribution:
        lead.attribution = utm
    lead.save()
    history(actor, lead, "duplicate", source=source, attribution=utm, fields=sorted(values))
    auditing.record_write(actor, "update", OBJECT, lead.pk, _diff(actor, before, before_custom, lead),
                          via="duplicate", source=source)
    timeline.add_entry(profile=lead.profile, kind="sales.lead.duplicate", ref_type=OBJECT, ref_id=str(lead.pk),
                       data={"source": source, "campaign": utm.get("utm_campaign", "")})
    return lead


def _diff(actor: Actor, before: dict, before_custom: dict, lead: Lead) -> dict[str, list[Any]]:
    changes = auditing.diff(before, auditing.snapshot(lead, AUDITED))
    meta = object_meta(actor, OBJECT)
    b, personal = audit_view(meta, before_custom)
    a, _ = audit_view(meta, lead.custom)
    changes.update({f"custom.{k}": v for k, v in auditing.diff(b, a, personal=personal).items()})
    return changes


def update_lead(*, actor: Actor, lead_id: Any, changes: Mapping[str, Any],
                custom: Mapping[str, Any] | None = None) -> Lead:
    """Partial update of a lead's own fields and custom fields (owner, pool and status have their own
    operations). A hidden or read-only field, an unknown one or a bad value is a 422 and nothing changes."""
    require(actor, "sales.lead.update")
    lead = assignment.visible_lead(actor, lead_id, for_update=True)
    _writable(actor, [*changes, *(custom or {})])
    values = clean_fields(changes)
    cleaned = clean_values(actor, object_meta(actor, OBJECT), dict(custom or {}), partial=True) if custom else {}
    before, before_custom = auditing.snapshot(lead, AUDITED), dict(lead.custom)
    for name, value in values.items():
        setattr(lead, name, value)
    lead.custom = merge_values(lead.custom, cleaned)
    lead.save()
    diff = _diff(actor, before, before_custom, lead)
    if diff:
        auditing.record_write(actor, "update", OBJECT, lead.pk, diff)
    return lead


def _writable(actor: Actor, names: list[str]) -> None:
    blocked = actor.read_only_fields(OBJECT) & set(names)
    if blocked:
        raise ValidationFailed("field security forbids this change",
                               fields={f: ["this field is read-only for you"] for f in sorted(blocked)})


def set_status(*, actor: Actor, lead_id: Any, status: str, reason: str = "") -> Lead:
    """Move an open lead between new, working, nurturing, qualified and unqualified (with a reason);
    ``converted`` only comes from :func:`convert_lead`, and a closed lead stays closed."""
    require(actor, "sales.lead.update")
    lead = assignment.visible_lead(actor, lead_id, for_update=True)
    allowed = [s for s in LeadStatus.values if s != LeadStatus.CONVERTED]
    if status not in allowed:
        raise ValidationFailed("bad status", fields={"status": [f"one of {', '.join(allowed)}"]})
    reason = text(reason, "reason", 200)
    if status == LeadStatus.UNQUALIFIED and not reason:
        raise ValidationFailed("reason required", fields={"reason": ["say why the lead is unqualified"]})
    if lead.status not in OPEN_STATUSES:
        raise Conflict("the lead is closed", code="lead_closed")
    if status == lead.status:
        return lead
    before = auditing.snapshot(lead, AUDITED)
    lead.status, lead.status_reason = status, reason
    if status == LeadStatus.UNQUALIFIED:
        lead.sla_state = ""
    lead.save()
    history(actor, lead, "status", to=status, before=before["status"], reason=reason)
    auditing.record_write(actor, "update", OBJECT, lead.pk, auditing.diff(before, auditing.snapshot(lead, AUDITED)))
    return lead


def convert_lead(
    *, actor: Actor, lead_id: Any, account_id: Any = None, account_name: str = "",
    create_opportunity: bool = True, opportunity: Mapping[str, Any] | None = None,
) -> Lead:
    """Convert an open lead: its person profile becomes the contact, linked to a company account (an existing
    one, or a new one named ``account_name`` or the lead's company), and optionally an opportunity is created
    (in the default pipeline unless ``opportunity["pipeline_id"]`` says otherwise). The lead keeps its history
    and points at all three; the contact moves to the lifecycle stage "opportunity"."""
    require(actor, "sales.lead.convert")
    from . import opportunities  # opportunities import lead helpers too

    lead = assignment.visible_lead(actor, lead_id, for_update=True)
    if lead.status not in OPEN_STATUSES:
        raise Conflict("the lead is closed", code="lead_closed")
    if create_opportunity:
        require(actor, "sales.opportunity.create")
    cdp = cdp_actor(actor)
    contact = live(lead.profile)
    account = None
    company = text(account_name, "account_name", 200) or lead.company
    if account_id not in (None, ""):
        try:
            account = cdp_profiles.visible_profile(cdp, account_id)
        except NotFound:
            raise ValidationFailed("no such account", fields={"account_id": ["no such company account"]}) from None
        if account.kind != "company":
            raise ValidationFailed("not an account", fields={"account_id": ["must be a company profile"]})
    elif company:
        account = cdp_profiles.create_profile(actor=cdp, data={"name": company, "kind": "company"},
                                              source="sales_conversion", owner_id=lead.owner_id).profile
    if contact.kind != "company":
        if account is not None and contact.account_id != account.pk:
            cdp_profiles.update_profile(actor=cdp, profile_id=contact.pk, changes={"account_id": account.pk})
        if lead.owner_id and contact.owner_id is None:
            cdp_profiles.assign_owner(actor=cdp, profile_id=contact.pk, owner_id=lead.owner_id)
    opp = None
    if create_opportunity:
        spec = dict(opportunity or {})
        opp = opportunities.create_opportunity(
            actor=actor, data={"name": spec.pop("name", None) or f"{company or lead.name or contact.name}",
                               "account_id": account.pk if account else None, "contact_id": contact.pk,
                               "owner_id": lead.owner_id or actor.user_id, **spec},
            lead=lead,
        )
    before = auditing.snapshot(lead, AUDITED)
    now = clock.now()
    lead.status, lead.converted_at = LeadStatus.CONVERTED, now
    lead.converted_contact, lead.converted_account, lead.converted_opportunity = contact, account, opp
    lead.sla_state = "" if lead.sla_state in ("pending", "reminded") else lead.sla_state
    lead.save()
    lifecycle.ensure_default_stages(actor=cdp)
    lifecycle.set_stage(actor=cdp, profile=contact, stage="opportunity")
    history(actor, lead, "converted", account_id=account.pk if account else None, contact_id=contact.pk,
            opportunity_id=opp.pk if opp else None)
    auditing.record_write(actor, "convert", OBJECT, lead.pk, auditing.diff(before, auditing.snapshot(lead, AUDITED)),
                          account_id=account.pk if account else None, contact_id=contact.pk,
                          opportunity_id=opp.pk if opp else None)
    timeline.add_entry(profile=contact, kind="sales.lead.converted", ref_type=OBJECT, ref_id=str(lead.pk),
                       data={"opportunity": opp.name if opp else "", "account": account.name if account else ""})
    events.emit(LeadConverted(org_id=actor.org_id, lead_id=lead.pk, account_id=account.pk if account else None,
                              contact_id=contact.pk, opportunity_id=opp.pk if opp else None))
    return lead


def record_web_consent(*, actor: Actor, lead: Lead, purpose: str, granted: bool, evidence: dict[str, Any]) -> None:
    """The web form's consent checkbox, bound to the CDP consent ledger."""
    cdp = cdp_actor(actor)
    cdp_consent.ensure_default_purposes(actor=cdp)
    cdp_consent.record_consent(actor=cdp, profile=live(lead.profile), purpose=purpose, granted=granted,
                               source="web_form", evidence=evidence)

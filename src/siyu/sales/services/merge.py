"""Leads follow a CDP profile merge. Only one open lead per profile may exist, so when both profiles have an
open lead, the merged profile's open lead is folded into the survivor's (``merged_into``, kept with its history)
instead of making two; an unmerge moves exactly those rows back and unfolds them."""

from __future__ import annotations

from siyu.cdp.merging import Mover
from siyu.kernel import clock

from ..models.leads import OPEN_STATUSES, Lead, LeadHistory


def _move(survivor, merged) -> list:
    ids = list(Lead.objects.filter(profile_id=merged.pk).values_list("pk", flat=True))
    keep = (Lead.objects.filter(profile_id=survivor.pk, status__in=OPEN_STATUSES, merged_into__isnull=True)
            .values_list("pk", flat=True).first())
    folded = []
    if keep is not None:
        folded = list(Lead.objects.filter(pk__in=ids, status__in=OPEN_STATUSES, merged_into__isnull=True)
                      .values_list("pk", flat=True))
        Lead.objects.filter(pk__in=folded).update(merged_into_id=keep)
        now = clock.now()
        LeadHistory.objects.bulk_create([
            LeadHistory(org_id=survivor.org_id, lead_id=pk, kind="folded", at=now, data={"into": keep})
            for pk in folded
        ])
    Lead.objects.filter(pk__in=ids).update(profile_id=survivor.pk)
    return [{"moved": ids, "folded": folded}]


def _restore(survivor, merged, data: list) -> None:
    if not data:
        return
    Lead.objects.filter(pk__in=data[0]["folded"]).update(merged_into_id=None)
    Lead.objects.filter(pk__in=data[0]["moved"], profile_id=survivor.pk).update(profile_id=merged.pk)


def lead_mover() -> Mover:
    return Mover("sales.leads", _move, _restore)

"""Reads the console shell shows: small counts for the dashboard, already scoped to what the actor may see."""

from __future__ import annotations

from django.db.models import Count
from django.utils.translation import gettext as _

from siyu.iam.models import Membership
from siyu.kernel.actor import Actor


def members_per_department(actor: Actor) -> list[dict]:
    """Active members the actor may see, counted per department (largest first)."""
    rows = (
        Membership.objects.visible_to(actor)
        .filter(is_active=True)
        .values("department__name")
        .annotate(count=Count("pk"))
        .order_by("-count", "department__name")
    )
    return [{"name": r["department__name"] or _("No department"), "count": r["count"]} for r in rows]

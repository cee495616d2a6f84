"""Deterministic identity-resolution rules per identifier type.

* ``merges``: two profiles sharing this identifier are the same customer and are merged.
* ``max_per_profile``: more than this many of the type on one profile means two people, so a merge that would
  exceed it is refused and queued for review (e.g. two different unionids never merge automatically).
Anonymous and device ids only link: they attach to the resolved profile, and an anonymous-only profile that
owned them is folded in (Segment's anonymous → known), but they never merge two known customers.
"""

from __future__ import annotations

from dataclasses import dataclass

from .models import IdentityType


@dataclass(frozen=True)
class Rule:
    merges: bool
    max_per_profile: int


RULES: dict[str, Rule] = {
    IdentityType.PHONE: Rule(merges=True, max_per_profile=5),
    IdentityType.EMAIL: Rule(merges=True, max_per_profile=5),
    IdentityType.WECOM_EXTERNAL_USERID: Rule(merges=True, max_per_profile=3),
    IdentityType.UNIONID: Rule(merges=True, max_per_profile=1),
    IdentityType.OPENID: Rule(merges=True, max_per_profile=10),
    IdentityType.ERP_ID: Rule(merges=True, max_per_profile=3),
    IdentityType.USER_ID: Rule(merges=True, max_per_profile=1),
    IdentityType.ANONYMOUS_ID: Rule(merges=False, max_per_profile=1000),
    IdentityType.DEVICE_ID: Rule(merges=False, max_per_profile=50),
    IdentityType.GROUP_ID: Rule(merges=True, max_per_profile=1),  # one account per groupId, and vice versa
}

# The mega-merge guard (P11): no automatic merge that would leave a profile with more identities than this.
MAX_IDENTITIES_PER_MERGE = 50

# Identifiers that are known to be shared or fake; organisations add their own (IdentityBlocklist).
BUILTIN_BLOCKLIST: set[tuple[str, str]] = {
    (IdentityType.PHONE, "+8613800000000"),
    (IdentityType.PHONE, "+8613800138000"),
    (IdentityType.PHONE, "+8613888888888"),
    (IdentityType.PHONE, "+8611111111111"),
    (IdentityType.EMAIL, "test@test.com"),
    (IdentityType.DEVICE_ID, "00000000-0000-0000-0000-000000000000"),
}


def rule_for(type_: str) -> Rule:
    return RULES[type_]

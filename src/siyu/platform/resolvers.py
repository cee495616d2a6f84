"""Existence checks that field types need but platform cannot do itself, registered by whoever owns the data.

platform imports only kernel, so it cannot ask iam whether membership 12 exists. The composition root
(``siyu/wiring.py``) registers a user resolver; lookups resolve through a resolver per object key, with built-in
fallbacks for custom objects and for standard objects registered with a model (see ``apps.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from siyu.kernel.actor import Actor

from .field_types.base import FieldError

UserResolver = Callable[[int, list[int]], set[int]]  # (org id, membership ids) -> the ids active in that org
LookupResolver = Callable[[Actor, str, list[int]], set[int]]  # (actor, object key, ids) -> ids the actor may see
ObjectChecker = Callable[[Actor, str], bool]  # does the object key exist for the actor's organisation?

_user_resolver: UserResolver | None = None
_lookup_resolvers: dict[str, LookupResolver] = {}
_default_lookup: LookupResolver | None = None
_object_checker: ObjectChecker | None = None


def register_user_resolver(fn: UserResolver) -> None:
    global _user_resolver
    _user_resolver = fn


def register_lookup_resolver(object_key: str, fn: LookupResolver) -> None:
    _lookup_resolvers[object_key] = fn


def register_default_lookup_resolver(fn: LookupResolver) -> None:
    global _default_lookup
    _default_lookup = fn


def register_object_checker(fn: ObjectChecker) -> None:
    global _object_checker
    _object_checker = fn


def existing_users(org_id: int, ids: Iterable[int]) -> set[int]:
    if _user_resolver is None:
        raise FieldError("user fields are not available: no user resolver is registered")
    return _user_resolver(org_id, sorted(set(ids)))


def existing_records(actor: Actor, object_key: str, ids: Iterable[int]) -> set[int]:
    fn = _lookup_resolvers.get(object_key, _default_lookup)
    if fn is None:
        raise FieldError(f"records of {object_key} cannot be looked up")
    return fn(actor, object_key, sorted(set(ids)))


def object_exists(actor: Actor, object_key: str) -> bool:
    return _object_checker is not None and _object_checker(actor, object_key)

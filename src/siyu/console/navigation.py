"""The console's navigation: a registry of sections and entries, filtered per actor.

A context adds its pages without touching the templates or this module: it writes a ``nav.py`` beside its
``apps.py`` holding ``NAV = [{"key": "sales.opportunities", "section": "sales", "label": _("Opportunities"),
"url_name": "sales_opportunities", "permission": "sales.opportunity.read", "icon": "briefcase"}, …]`` with
plain dictionaries (so it needs no import of the console, which the rules of direction forbid for iam, audit and
platform). :func:`autodiscover` reads every installed app's ``nav.NAV`` when the console app is ready; an entry
with the key of one below replaces it.

Entries whose ``url_name`` does not resolve (the page is not built yet) link to the console's honest empty-state
page for that key, which says what the page will do. An entry is shown only when the actor holds the operation it
names in ``permission``.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from django.urls import NoReverseMatch, reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from siyu.kernel.actor import Actor


@dataclass(frozen=True)
class Section:
    key: str
    label: Promise | str
    icon: str  # a bootstrap-icons name without the "bi-" prefix
    order: int


@dataclass(frozen=True)
class Entry:
    key: str  # stable, dotted: "<section>.<page>"
    section: str
    label: Promise | str
    permission: str  # the operation the actor needs to see the entry ("" = every member of the organisation)
    url_name: str | None = None  # None or unresolvable: the empty-state page is shown instead
    icon: str = "circle"
    order: int = 100
    summary: Promise | str = ""  # what the page does (the empty state shows it while it is not built)
    planned: tuple[Promise | str, ...] = field(default_factory=tuple)  # bullet points for the empty state


@dataclass(frozen=True)
class NavLink:
    """An entry as one actor sees it in one request."""

    entry: Entry
    url: str
    built: bool
    active: bool


@dataclass(frozen=True)
class NavSection:
    section: Section
    links: list[NavLink]

    @property
    def active(self) -> bool:
        return any(link.active for link in self.links)


_sections: dict[str, Section] = {}
_entries: dict[str, Entry] = {}


def register_section(section: Section) -> None:
    _sections[section.key] = section


def register(*entries: Entry | dict) -> None:
    """Add entries (or replace those with the same key). Dictionaries are ``Entry`` keyword arguments."""
    for e in entries:
        entry = e if isinstance(e, Entry) else Entry(**e)
        if entry.section not in _sections:
            raise ValueError(f"navigation entry {entry.key!r} names an unknown section {entry.section!r}")
        _entries[entry.key] = replace(entry, planned=tuple(entry.planned))


def entry(key: str) -> Entry | None:
    return _entries.get(key)


def all_entries() -> list[Entry]:
    return sorted(_entries.values(), key=lambda e: (_sections[e.section].order, e.order, e.key))


def resolve(entry: Entry) -> tuple[str, bool]:
    """The entry's URL and whether its page is built (otherwise the URL is its empty-state page)."""
    if entry.url_name:
        try:
            return reverse(entry.url_name), True
        except NoReverseMatch:
            pass
    return reverse("console_planned", kwargs={"key": entry.key}), False


def visible(actor: Actor | None, entries: Iterable[Entry]) -> list[Entry]:
    if actor is None:
        return []
    return [e for e in entries if not e.permission or actor.can(e.permission)]


def _is_active(url: str, path: str) -> bool:
    return path == url if url == "/" else path.startswith(url)


def menu(actor: Actor | None, path: str) -> list[NavSection]:
    """The sections and links one actor may see, in order, marking the one that holds ``path``."""
    by_section: dict[str, list[NavLink]] = {}
    for e in visible(actor, all_entries()):
        url, built = resolve(e)
        by_section.setdefault(e.section, []).append(NavLink(e, url, built, _is_active(url, path)))
    # Only the longest matching link is active ("/settings/" must not light up for "/settings/fields/").
    active = [link for links in by_section.values() for link in links if link.active]
    longest = max(active, key=lambda link: len(link.url)) if active else None
    out = []
    for key, links in by_section.items():
        marked = [replace(link, active=link is longest) for link in links]
        out.append(NavSection(_sections[key], marked))
    return sorted(out, key=lambda s: s.section.order)


def autodiscover() -> None:
    """Read ``NAV`` from every installed app's ``nav`` module (see the module docstring)."""
    from django.apps import apps

    # The console's own defaults first, so that a context's entry with the same key replaces them.
    configs = sorted(apps.get_app_configs(), key=lambda c: c.name != "siyu.console")
    for config in configs:
        try:
            module = importlib.import_module(f"{config.name}.nav")
        except ModuleNotFoundError as exc:
            if exc.name != f"{config.name}.nav":
                raise
            continue
        register(*getattr(module, "NAV", []))


# --- the sections: one per context of the architecture -------------------------------------------------------
for _section in [
    Section("home", _("Overview"), "speedometer2", 0),
    Section("cdp", _("Customers"), "people", 10),
    Section("channels", _("WeCom & channels"), "chat-dots", 20),
    Section("marketing", _("Marketing"), "megaphone", 30),
    Section("sales", _("Sales"), "briefcase", 40),
    Section("servicedesk", _("Service desk"), "headset", 50),
    Section("platform", _("Platform"), "grid-3x3-gap", 60),
    Section("analytics", _("Analytics"), "bar-chart-line", 70),
    Section("intelligence", _("Intelligence"), "stars", 80),
    Section("compliance", _("Compliance"), "shield-check", 90),
    Section("integrations", _("Integrations"), "plug", 100),
    Section("settings", _("Settings"), "gear", 110),
]:
    register_section(_section)

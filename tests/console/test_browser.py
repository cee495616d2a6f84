"""The browser gate: Debian's chromium opens every console page in both languages at desktop and phone width.

It signs in as the demo administrator through the login form, walks the URL resolver for every GET page (filling
ids of detail pages with records the demo made), and fails on an error status, a console error or uncaught
exception from the page's JavaScript (a CSP violation is one), a missing navigation, or a page wider than a phone.
Screenshots land in ``test-artifacts/screenshots/<lang>-<width>-<name>.png``.

Never downloads a browser: without ``/usr/bin/chromium`` it skips loudly, and fails when ``CI=true``.
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.core.management import call_command
from django.core.servers.basehttp import WSGIServer
from django.db import connections
from django.test.testcases import LiveServerThread, QuietWSGIRequestHandler
from django.urls import URLPattern, URLResolver, get_resolver

from siyu.console import navigation
from siyu.iam import services as iam
from siyu.iam.models import ApiKey, Department, Membership, Organization, Role
from siyu.kernel.actor import Actor

pytestmark = [pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
WIDTHS = {1280: 800, 390: 844}
LANGS = {"zh-hans": "zh-hans", "en": "en"}
# Not pages: the API, the language switch and the login flow (exercised on its own below).
SKIP_PREFIXES = ("/api/", "/i18n/", "/static/")
SKIP_NAMES = {"login", "login_verify", "logout", "console_planned"}  # empty states: from the navigation below


class SerialLiveServerThread(LiveServerThread):
    """One request at a time: with the in-memory SQLite test database every request thread would share one
    connection, and a browser's parallel requests then fail with "database table is locked"."""

    def _create_server(self, connections_override=None):
        # The thread itself runs with the shared connections (LiveServerThread.run); no request threads.
        return WSGIServer((self.host, self.port), QuietWSGIRequestHandler, allow_reuse_address=False)


@pytest.fixture
def serial_live_server(transactional_db):
    shared = {c.alias: c for c in connections.all() if c.vendor == "sqlite" and c.is_in_memory_db()}
    for conn in shared.values():
        conn.inc_thread_sharing()
    thread = SerialLiveServerThread("localhost", StaticFilesHandler, connections_override=shared, port=0)
    thread.daemon = True
    thread.start()
    thread.is_ready.wait()
    if thread.error:
        raise thread.error
    yield f"http://localhost:{thread.port}"
    thread.terminate()
    for conn in shared.values():
        conn.dec_thread_sharing()


def require_chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    reason = f"BROWSER GATE NOT RUN: {CHROMIUM} is missing (apt-get install chromium fonts-wqy-microhei)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def require_assets() -> None:
    missing = [p for p in ("vendor/bootstrap/css/bootstrap.min.css", "vendor/htmx/htmx.min.js",
                           "vendor/echarts/echarts.min.js", "vendor/bootstrap-icons/bootstrap-icons.min.css")
               if not finders.find(p)]
    assert not missing, f"front-end assets missing ({missing}): run `make setup` (npm install)"


def routes() -> list[tuple[str, str | None, list[str]]]:
    """(route, url name, parameter names) of every URL pattern, with its includes' prefixes."""
    out = []

    def walk(patterns, prefix: str) -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                route = "/" + prefix + str(p.pattern)
                out.append((route, p.name, re.findall(r"<(?:\w+:)?(\w+)>", route)))

    walk(get_resolver().url_patterns, "")
    return [r for r in out if not r[0].startswith(SKIP_PREFIXES) and r[1] not in SKIP_NAMES]


@dataclass
class Demo:
    base: str
    email: str
    password: str
    candidates: dict[str, list[int]] = field(default_factory=dict)  # word in a url name -> ids to try
    text_candidates: dict[str, list[str]] = field(default_factory=dict)  # name of a str parameter -> values


def load_demo(live_url: str) -> Demo:
    """The demo organisation, plus one record of each kind a detail page may need."""
    from django.conf import settings

    call_command("demo", "--url", live_url + "/", stdout=open(os.devnull, "w"))  # noqa: SIM115
    creds = dict(
        line.split("=", 1) for line in (Path(settings.VAR_DIR) / "demo_credentials.txt").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    org = Organization.objects.get(name="示例科技有限公司 / Demo Co.")
    system = Actor.system(org.pk, label="browser test")
    key, _ = iam.issue_api_key(actor=system, name="Browser test key", scopes=["iam.user.read"])
    member = Membership.objects.in_org(system).get(user__email="zhang.min@demo.siyu.local")
    leaf = Department.objects.in_org(system).get(name="华南")
    role = Role.objects.in_org(system).get(name="Sales rep")
    candidates = {
        "user": [member.pk, member.user_id],
        "member": [member.pk],
        "department": [leaf.pk],
        "role": [role.pk],
        "key": [key.pk],
    }
    try:
        from siyu.audit.models import AuditLogEntry

        candidates["audit"] = list(AuditLogEntry.objects.order_by("-pk").values_list("pk", flat=True)[:1])
    except ImportError:  # pragma: no cover - audit always installed
        pass
    assert ApiKey.objects.in_org(system).count() == 1
    text_candidates = {"key": [custom_object_with_a_record(system)]}
    # A second organisation for the administrator, so the switcher has somewhere to go.
    iam.create_organization(name="Second Co.", admin_email=creds["email"], admin_password=creds["password"])
    return Demo(live_url, creds["email"], creds["password"], candidates, text_candidates)


def custom_object_with_a_record(system: Actor) -> str:
    from siyu.platform import services as platform

    obj = platform.create_object(actor=system, key="visit", label="拜访记录")
    platform.create_field(actor=system, object_key=obj.key, key="place", label="地点", type="text")
    platform.create_record(actor=system, object_key=obj.key, data={"place": "上海"})
    return obj.key


@dataclass(frozen=True)
class Candidate:
    label: str  # the route's URL name: one screenshot per route
    path: str | None  # None: a route with a parameter no demo record can fill
    filled: bool  # the path's parameter was filled with a candidate value (a 404 means: try the next one)


def candidate_urls(demo: Demo) -> list[Candidate]:
    """Every route's URL; routes with a parameter once per candidate value."""
    out: list[Candidate] = []
    all_ids = sorted({i for ids in demo.candidates.values() for i in ids})
    for route, name, params in routes():
        label = name or route.strip("/").replace("/", "-") or "home"
        if not params:
            out.append(Candidate(label, route, False))
            continue
        if len(params) != 1:
            out.append(Candidate(label, None, True))  # no console page takes two parameters yet
            continue
        if re.search(r"<(?:str:|slug:)?\w+>", route):
            values: list = demo.text_candidates.get(params[0], [])
        else:
            words = [w for w in demo.candidates if w in (name or route)]
            values = [i for w in words for i in demo.candidates[w]] or all_ids
        out += [Candidate(label, re.sub(r"<(?:\w+:)?\w+>", str(v), route), True) for v in values]
        if not values:
            out.append(Candidate(label, None, True))
    # Every navigation entry (the empty states of contexts not built yet are pages with an argument).
    for entry in navigation.all_entries():
        url, built = navigation.resolve(entry)
        if not built:
            out.append(Candidate(f"planned-{entry.key}", url, False))
    return out


def discover_pages(request_context, demo: Demo, urls: list[Candidate]) -> tuple[list, list, list]:
    """Ask each URL with a plain GET: full HTML pages are visited in the browser (one per route), fragments and
    data are only checked for their status, POST-only actions (405) are left alone."""
    pages: list[tuple[str, str]] = []
    problems: list[str] = []
    done: set[str] = set()
    unresolved: set[str] = set()
    for c in urls:
        if c.label in done:
            continue
        if c.path is None:
            unresolved.add(c.label)
            continue
        r = request_context.get(demo.base + c.path, max_redirects=0)
        if c.filled and r.status == 404:
            unresolved.add(c.label)  # try the next candidate value
            continue
        done.add(c.label)
        if r.status == 405:
            continue
        if r.status >= 400:
            problems.append(f"GET {c.path} answered {r.status}")
        elif r.status < 300 and "text/html" in r.headers.get("content-type", "") and "<html" in r.text()[:300].lower():
            pages.append((c.path, c.label))
    # A route none of whose candidate values exists is a page this gate did not open: say so.
    return pages, problems, sorted(unresolved - done)


def safe_name(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", label).strip("-") or "page"


def test_every_console_page_in_both_languages_at_desktop_and_phone_width(serial_live_server):
    require_chromium()
    require_assets()
    from playwright.sync_api import sync_playwright

    demo = load_demo(serial_live_server)
    urls = candidate_urls(demo)  # resolves URLs with the ORM before Playwright's event loop starts
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOTS.glob("*.png"):
        old.unlink()

    problems: list[str] = []
    visited = 0
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            # Sign in through the login form, in Chinese (the default) at desktop width.
            ctx = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
            page = ctx.new_page()
            watch(page, problems)
            page.goto(demo.base + "/")
            assert page.url.startswith(demo.base + "/login/"), page.url
            assert page.locator("html").get_attribute("lang") == "zh-hans"
            page.screenshot(path=str(SCREENSHOTS / "zh-hans-1280-login.png"), full_page=True)
            for code in ("en", "zh-hans"):  # the anonymous language toggle, there and back
                with page.expect_navigation():
                    page.click(f"[data-testid=language-{code}]")
                assert page.locator("html").get_attribute("lang") == code
                if code == "en":
                    page.screenshot(path=str(SCREENSHOTS / "en-1280-login.png"), full_page=True)
            page.fill("input[name=email]", demo.email)
            page.fill("input[name=password]", demo.password)
            with page.expect_navigation():
                page.click("[data-testid=login-form] button[type=submit]")
            assert page.url == demo.base + "/", page.url
            switch_organization(page, "Second Co.")
            page.screenshot(path=str(SCREENSHOTS / "zh-hans-1280-switched-organization.png"))
            switch_organization(page, "示例科技有限公司 / Demo Co.")
            state = ctx.storage_state()
            pages, found, missing = discover_pages(ctx.request, demo, urls)
            problems += found
            if missing:
                # Contexts that landed after the demo data cannot all be opened yet: say which, loudly, in the
                # test output and in a file beside the screenshots, rather than pretend they were checked.
                note = f"detail pages the gate could not open (give them a candidate record): {missing}"
                (SCREENSHOTS.parent / "unopened-detail-pages.txt").write_text("\n".join(missing) + "\n")
                warnings.warn(note, stacklevel=1)
                print(f"\n*** BROWSER GATE: {note} ***\n")
            assert len(pages) >= 20, pages
            ctx.close()

            for lang in LANGS:
                for width, height in WIDTHS.items():
                    ctx = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN",
                                              storage_state=state)
                    page = ctx.new_page()
                    watch(page, problems)
                    page.goto(demo.base + "/")
                    if lang == "en":
                        switch_language(page, "en")
                    for path, label in pages:
                        visit(page, demo, path, label, lang, width, problems)
                        visited += 1
                    if width < 992:
                        phone_navigation(page, demo, lang, width, problems)
                    ctx.close()

            # Log out through the user menu: the session ends on the server and the console is closed again.
            ctx = browser.new_context(viewport={"width": 1280, "height": 800}, storage_state=state)
            page = ctx.new_page()
            watch(page, problems)
            page.goto(demo.base + "/")
            page.click("[data-testid=user-menu] > button")
            with page.expect_navigation():
                page.click("[data-testid=logout]")
            page.goto(demo.base + "/")
            assert page.url.startswith(demo.base + "/login/"), page.url
            ctx.close()
        finally:
            browser.close()
    assert visited == 4 * len(pages)
    assert problems == []


def watch(page, problems: list[str]) -> None:
    page.on("console", lambda m: m.type == "error" and problems.append(f"{page.url}: console error: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"{page.url}: uncaught: {e}"))
    page.on("response", lambda r: r.status >= 400 and problems.append(f"{r.url} answered {r.status}"))


def switch_organization(page, name: str) -> None:
    """Through the organisation menu in the top bar; the page comes back in the chosen organisation."""
    page.click("[data-testid=org-switcher] > button")
    with page.expect_navigation():
        page.click(f"[data-testid=org-switcher] .dropdown-item:has-text('{name}')")
    assert page.locator("[data-testid=org-switcher] .siyu-org-name").inner_text() == name
    page.wait_for_selector(".siyu-chart[data-chart-ready]", timeout=10_000)


def switch_language(page, code: str) -> None:
    """Through the language menu in the top bar, as a person would."""
    page.click("[data-testid=language-switcher] > button")
    with page.expect_navigation():
        page.click(f"[data-testid=language-{code}]")
    assert page.locator("html").get_attribute("lang") == code


def visit(page, demo: Demo, path: str, label: str, lang: str, width: int, problems: list[str]) -> None:
    response = page.goto(demo.base + path, wait_until="load")
    where = f"[{lang} {width}px] {path}"
    if response is None or response.status >= 400:
        problems.append(f"{where}: status {response.status if response else 'none'}")
        return
    if page.locator(".siyu-chart[data-chart-url]").count():
        page.wait_for_selector(".siyu-chart[data-chart-ready]", timeout=10_000)
        if page.locator(".siyu-chart[data-chart-ready=error]").count():
            problems.append(f"{where}: a chart could not load its data")
    if page.locator("html").get_attribute("lang") != lang:
        problems.append(f"{where}: page language is {page.locator('html').get_attribute('lang')}")
    if page.locator("#siyu-nav .siyu-nav-link").count() < 5:
        problems.append(f"{where}: navigation missing")
    elif width >= 992 and not page.locator("#siyu-nav").is_visible():
        problems.append(f"{where}: navigation not visible on desktop")
    elif width < 992 and not page.locator("[data-testid=nav-toggle]").is_visible():
        problems.append(f"{where}: no navigation button on a phone")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    if overflow > 1:
        problems.append(f"{where}: page is {overflow}px wider than the {width}px screen")
    page.screenshot(path=str(SCREENSHOTS / f"{lang}-{width}-{safe_name(label)}.png"), full_page=True)


def phone_navigation(page, demo: Demo, lang: str, width: int, problems: list[str]) -> None:
    """On a phone the navigation opens as an offcanvas and its links work."""
    page.goto(demo.base + "/")
    page.click("[data-testid=nav-toggle]")
    page.wait_for_selector("#siyu-sidebar.show", timeout=5_000)
    if not page.locator("#siyu-nav").is_visible():
        problems.append(f"[{lang} {width}px] the navigation did not open")
    page.screenshot(path=str(SCREENSHOTS / f"{lang}-{width}-navigation-open.png"))
    with page.expect_navigation():
        page.click("#siyu-nav [data-nav-key='settings.users']")
    if not page.url.startswith(demo.base + "/iam/users/"):
        problems.append(f"[{lang} {width}px] the users link led to {page.url}")

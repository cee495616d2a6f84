"""The browser gate: Debian's chromium opens every console page in both languages at desktop and phone width.

It signs in as the demo administrator through the login form and walks the URL resolver: every route's path
arguments are filled with real records made through the contexts' services (``detail_records`` in conftest.py),
each route is asked with a GET, and every full HTML page is opened in the browser. It fails on a route no record
opens, on a route that is not a page unless ``NOT_PAGES`` lists it with its reason (and it answers as listed), on
an error status, a console error or uncaught exception from the page's JavaScript (a CSP violation is one), a
missing navigation, or a page wider than a phone. Screenshots land in
``test-artifacts/screenshots/<lang>-<width>-<name>.png``; routes no record could open are also listed in
``test-artifacts/unopened-detail-pages.txt`` (empty when all were opened).

Never downloads a browser: without ``/usr/bin/chromium`` it skips loudly, and fails when ``CI=true``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.core.management import call_command
from django.core.servers.basehttp import WSGIServer
from django.db import connections
from django.test.testcases import LiveServerThread, QuietWSGIRequestHandler
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from siyu.console import navigation
from siyu.iam import services as iam
from siyu.iam.models import ApiKey, Department, Membership, Organization, Role
from siyu.iam.selectors import actor_for_membership
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
# Not console pages: the APIs (/api/v1 and the Segment-compatible event ingestion at /v1), the language switch,
# static files, and the login flow (exercised on its own below).
SKIP_PREFIXES = ("/api/", "/v1/", "/i18n/", "/static/")
SKIP_NAMES = {"login", "login_verify", "logout", "console_planned"}  # empty states: from the navigation below

# Every console route that is not a page a person opens, and why. The gate asks each with a GET and checks it
# answers as its kind says (so this list cannot go stale quietly); every other route must be a full HTML page,
# and is opened in the browser. A route that is neither fails the gate.
POST = "post"  # an action a form or a button posts: GET answers 405
FRAGMENT = "fragment"  # a piece of HTML that htmx swaps into a page
DATA = "data"  # JSON for a chart, or a file to download (not HTML)
CALLBACK = "callback"  # called by a server, not a browser: an unsigned GET is refused with a 4xx
NOT_PAGES: dict[str, tuple[str, str]] = {
    # console, audit, platform
    "console_members_by_department": (DATA, "the dashboard chart's JSON"),
    "audit_verify": (POST, "the verify-the-chain button of the audit log"),
    "platform_field_options": (FRAGMENT, "the options editor the field form swaps in for a choice type"),
    "platform_field_archive": (POST, "the archive button of a custom field"),
    # iam
    "iam_user_disable": (POST, "the disable button on a member's page"),
    "iam_user_enable": (POST, "the enable button on a member's page"),
    "iam_department_move": (POST, "the move form of the department tree"),
    "iam_department_delete": (POST, "the delete button of the department tree"),
    "iam_role_delete": (POST, "the delete button on a role's page"),
    "iam_api_key_revoke": (POST, "the revoke button in the API key list"),
    # customers (cdp)
    "cdp_segment_builder": (POST, "the rule builder re-rendered as rules are edited"),
    "cdp_segment_preview": (POST, "the live count and sample of the rules being edited"),
    "cdp_export": (DATA, "the customer export: a CSV/XLSX download"),
    "cdp_import_mapping": (POST, "the mapping form on an import's page"),
    "cdp_import_dry_run": (POST, "the dry-run button on an import's page"),
    "cdp_import_run": (POST, "the run button on an import's page"),
    "cdp_import_progress": (FRAGMENT, "the progress bar an import's page polls"),
    "cdp_import_errors": (DATA, "an import's error report: a CSV download"),
    "cdp_profile_timeline": (FRAGMENT, "the timeline a customer's page loads and pages through"),
    "cdp_profile_tag_add": (POST, "the add-tag form on a customer's page"),
    "cdp_profile_tag_remove": (POST, "a tag's remove button on a customer's page"),
    "cdp_identity_reveal": (POST, "the audited reveal of a masked identifier"),
    "cdp_profile_consent": (FRAGMENT, "the consent panel of a customer's page (its form posts here)"),
    "cdp_profile_lifecycle": (POST, "the lifecycle stage form on a customer's page"),
    "cdp_profile_lifecycle_chart": (DATA, "the lifecycle chart's JSON"),
    "cdp_profile_owner": (POST, "the owner form on a customer's page"),
    "cdp_review_approve": (POST, "the approve button of a merge review"),
    "cdp_review_reject": (POST, "the reject button of a merge review"),
    "cdp_merge_undo": (POST, "the unmerge button in the merge log"),
    "cdp_source_disable": (POST, "the disable button of an event source"),
    "cdp_source_enable": (POST, "the enable button of an event source"),
    "cdp_source_rotate": (POST, "the rotate-key button of an event source"),
    "cdp_segment_snapshot": (POST, "the snapshot button on a segment's page"),
    "cdp_segment_recompute": (POST, "the recompute button on a segment's page"),
    "cdp_segment_delete": (POST, "the delete button on a segment's page"),
    "cdp_persona_delete": (POST, "the delete button on a persona's page"),
    "cdp_persona_trait": (DATA, "a persona trait chart's JSON"),
    # sales
    "sales_lead_status": (POST, "the status form on a lead's page"),
    "sales_lead_assign": (POST, "the assign form on a lead's page"),
    "sales_lead_release": (POST, "the release-to-pool button on a lead's page"),
    "sales_lead_claim": (POST, "the claim button in a pool"),
    "sales_lead_convert": (POST, "the convert form on a lead's page"),
    "sales_lead_activity": (POST, "the follow-up form on a lead's page"),
    "sales_stage": (POST, "a stage's form on its pipeline's page"),
    "sales_stage_cards": (FRAGMENT, "the next cards of a board column, loaded as it scrolls"),
    "sales_opportunity_move": (POST, "dropping a card on another stage of the board"),
    "sales_opportunity_action": (POST, "the won/lost/reopen buttons on an opportunity's page"),
    "sales_activity_photo": (DATA, "a visit's check-in photo (an image); its upload posts here"),
    "sales_funnel_json": (DATA, "the lead funnel chart's JSON"),
    "sales_stages_json": (DATA, "the pipeline-by-stage chart's JSON"),
    "sales_saved_filter_save": (POST, "the save-filter form of a list"),
    "sales_saved_filter_delete": (POST, "a saved filter's delete button"),
    "sales_activity_complete": (POST, "the done button of an activity"),
    "sales_quote_pdf": (DATA, "a quote's PDF download"),
    "sales_forecast_json": (DATA, "the forecast chart's JSON"),
    "sales_approval_process_toggle": (POST, "the enable/disable button of an approval process"),
    "sales_approval_decide": (POST, "the approve/reject/recall buttons in the approval inbox"),
    "sales_bulk_start": (POST, "the bulk bar of the lead list"),
    "sales_bulk_progress": (FRAGMENT, "the progress a bulk job's page polls while the job runs"),
    # WeCom
    "wecom_corp_sync": (POST, "the sync buttons on a corp's page"),
    "wecom_live_code_delete": (POST, "the delete button on a live code's page"),
    "wecom_live_code_stats_json": (DATA, "a live code's statistics chart's JSON"),
    "wecom_live_code_qr_png": (DATA, "a live code's QR image (PNG download)"),
    "wecom_live_code_qr_svg": (DATA, "a live code's QR image (SVG download)"),
    "wecom_group_stats_json": (DATA, "a customer group's joins/quits chart's JSON"),
    "wecom_group_code_qr": (DATA, "a group live code's QR image (PNG or SVG)"),
    "wecom_group_code_delete": (POST, "the delete button of a group live code"),
    "wecom_broadcast_employees_json": (DATA, "a broadcast's per-employee results chart's JSON"),
    "wecom_broadcast_cancel": (POST, "the cancel button on a broadcast's page"),
    "wecom_broadcast_collect": (POST, "the collect-results button on a broadcast's page"),
    "wecom_archive_fetch": (POST, "the fetch-now button of the conversation archive"),
    "wecom_archive_word_add": (POST, "the add form of the sensitive words"),
    "wecom_archive_word_delete": (POST, "a sensitive word's delete button"),
    "wecom_callback": (CALLBACK, "WeCom's servers post signed, encrypted callbacks here"),
    "official_account_callback": (CALLBACK, "the official account platform posts signed callbacks here"),
}
# Pages outside the console: checked like every page, but they have no console navigation.
PUBLIC_PAGES = {"sales_public_form"}  # the embeddable web form at /f/<key>/


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
    candidates: dict[str, list[int]] = field(default_factory=dict)  # word of a url parameter -> ids to try
    text_candidates: dict[str, list[str]] = field(default_factory=dict)  # name of a str parameter -> values


def load_demo(live_url: str, seed_records) -> Demo:
    """The demo organisation, plus one real record of each kind a detail page may need."""
    from django.conf import settings

    call_command("demo", "--url", live_url + "/", stdout=open(os.devnull, "w"))  # noqa: SIM115
    creds = dict(
        line.split("=", 1) for line in (Path(settings.VAR_DIR) / "demo_credentials.txt").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    org = Organization.objects.get(name="示例科技有限公司 / Demo Co.")
    system = Actor.system(org.pk, label="browser test")
    key, _ = iam.issue_api_key(actor=system, name="Browser test key", scopes=["iam.user.read"])
    admin = Membership.objects.in_org(system).get(user__email=creds["email"])
    member = Membership.objects.in_org(system).get(user__email="zhang.min@demo.siyu.local")
    leaf = Department.objects.in_org(system).get(name="华南")
    role = Role.objects.in_org(system).get(name="Sales rep")
    records = seed_records(system, actor_for_membership(admin))
    candidates = {
        "user": [member.pk, member.user_id],
        "department": [leaf.pk],
        "role": [role.pk],
        "key": [key.pk],
        **records.ids,
    }
    from siyu.audit.models import AuditLogEntry

    candidates["entry"] = list(AuditLogEntry.objects.order_by("-pk").values_list("pk", flat=True)[:1])
    assert ApiKey.objects.in_org(system).count() == 1
    text_candidates = {"key": [custom_object_with_a_record(system)], **records.texts}
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
    name: str  # the route's URL name
    label: str  # one screenshot each: the URL name, with the value of a ``<slug:…>`` (one page per kind)
    path: str | None  # None: a route with a parameter no demo record can fill
    filled: bool  # the path's parameters were filled with candidate values (a 404 means: try the next one)


def parameter_values(demo: Demo, name: str, param: str, slug: str | None) -> list:
    """The candidate values of one path parameter: ids by the word before ``_id`` (``lead_id`` -> ``lead``), or
    for a bare ``pk`` by the route's slug (the kind of a generic object page) or else by the words of its URL
    name; any other parameter is text, by its name."""
    if param.endswith("_id"):
        return demo.candidates.get(param.removesuffix("_id"), [])
    if param != "pk":
        return demo.text_candidates.get(param, [])
    if slug is not None:
        return demo.candidates.get(slug, [])
    words = [w for w in demo.candidates if w in name.split("_")]
    return [i for w in words for i in demo.candidates[w]]


def candidate_urls(demo: Demo) -> list[Candidate]:
    """Every route's URL; routes with parameters once per combination of candidate values, and once per value
    of a ``<slug:…>`` under its own label."""
    out: list[Candidate] = []
    for route, url_name, params in routes():
        name = url_name or route.strip("/").replace("/", "-") or "home"
        if not params:
            out.append(Candidate(name, name, route, False))
            continue
        # label, path (None: a parameter without values), slug, the values chosen so far
        variants: list[tuple[str, str | None, str | None, dict]] = [(name, route, None, {})]
        for param in params:
            is_slug = f"<slug:{param}>" in route
            grown: list[tuple[str, str | None, str | None, dict]] = []
            for label, path, slug, chosen in variants:
                values = [] if path is None else parameter_values(demo, name, param, slug)
                grown += [(f"{label}-{v}" if is_slug else label, re.sub(rf"<(?:\w+:)?{param}>", str(v), path),
                           str(v) if is_slug else slug, {**chosen, param: v}) for v in values]
                if not values:
                    grown.append((label, None, slug, chosen))  # reported as a route no record opens
            variants = grown
        # A regular-expression route (re_path) is built by the resolver itself.
        out += [Candidate(name, label, reverse(url_name, kwargs=chosen) if path and "(?P<" in route else path, True)
                for label, path, _, chosen in variants]
    # Every navigation entry (the empty states of contexts not built yet are pages with an argument).
    for entry in navigation.all_entries():
        url, built = navigation.resolve(entry)
        if not built:
            out.append(Candidate(f"planned-{entry.key}", f"planned-{entry.key}", url, False))
    return out


def kind_of(response) -> str:
    """What a GET answered: a full page, an htmx fragment, data, a POST-only action, or an error."""
    if response.status == 405:
        return POST
    if response.status >= 400:
        return f"error {response.status}"
    if response.status >= 300:
        return f"redirect {response.status} to {response.headers.get('location')}"
    if "text/html" not in response.headers.get("content-type", ""):
        return DATA
    return "page" if "<html" in response.text()[:300].lower() else FRAGMENT


def discover_pages(request_context, demo: Demo, urls: list[Candidate]) -> tuple[list, list, list]:
    """Ask each URL with a plain GET: full HTML pages are visited in the browser (one per route), the routes in
    ``NOT_PAGES`` must answer as their kind says, anything else is a problem. Returns the pages, the problems
    and the routes no candidate value could open (each one a problem too)."""
    pages: list[tuple[str, str]] = []
    problems: list[str] = []
    done: set[str] = set()
    unresolved: set[str] = set()
    asked: set[str] = set()
    for c in urls:
        if c.label in done:
            continue
        if c.path is None:
            unresolved.add(c.label)
            continue
        if c.path in asked:  # the same URL under another route (a generic one a named route shadows)
            done.add(c.label)
            continue
        asked.add(c.path)
        r = request_context.get(demo.base + c.path, max_redirects=0)
        if c.filled and r.status == 404:
            unresolved.add(c.label)  # try the next candidate value
            continue
        done.add(c.label)
        kind = kind_of(r)
        if c.name in NOT_PAGES:
            expected = NOT_PAGES[c.name][0]
            refused = expected == CALLBACK and 400 <= r.status < 500
            if kind != expected and not refused:
                problems.append(f"GET {c.path}: listed in NOT_PAGES as {expected}, but it answered {kind}")
        elif kind == "page":
            pages.append((c.path, c.label))
        else:
            problems.append(f"GET {c.path} ({c.name}) answered {kind}: not a page; fix it, or list it in "
                            f"NOT_PAGES with the reason it is not one")
    missing = sorted(unresolved - done)
    problems += [f"no demo record opens {label}: give it a candidate record" for label in missing]
    known = {name for _, name, _ in routes()}
    if set(NOT_PAGES) - known:  # harmless, but worth tidying (routes move while contexts are built)
        print(f"\nNOT_PAGES lists routes that do not exist: {sorted(set(NOT_PAGES) - known)}")
    return pages, problems, missing


def safe_name(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", label).strip("-") or "page"


def test_every_console_page_in_both_languages_at_desktop_and_phone_width(serial_live_server, detail_records):
    require_chromium()
    require_assets()
    from playwright.sync_api import sync_playwright

    demo = load_demo(serial_live_server, detail_records)
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
            # Beside the screenshots, for whoever reads the artifacts: empty when every route was opened.
            (SCREENSHOTS.parent / "unopened-detail-pages.txt").write_text("".join(f"{m}\n" for m in missing))
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
    assert not problems, "\n".join(problems)


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
    if label in PUBLIC_PAGES:
        pass  # no console navigation outside the console
    elif page.locator("#siyu-nav .siyu-nav-link").count() < 5:
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

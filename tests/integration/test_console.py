"""The approver's console in a real browser: headless Chromium (Debian's) driven by
Playwright against a real `serve` process, started from an empty directory so that
it serves the installed package's files.

Every test fails on any console error or uncaught exception of the page. Set
CONSOLE_SCREENSHOTS=docs/screenshots to write the screenshots the docs show."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest

from tests.api import ADMIN_TOKEN
from tests.conftest import TEMPLATE, with_database
from tests.console_support import PENDING_APPROVAL, Credential, Rest, history, northwind
from tests.process import free_port, service_env, wait_for_status

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
Axe = pytest.importorskip("axe_playwright_python.sync_playwright").Axe

# CHROMIUM names another build of Chromium to drive, if need be.
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
WIDE = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
LIVE = 15_000  # ms: execution runs on a 0.2 s poll here; an approval completes within a second or two


def _admin_sql(server_dsn: str, statement: str) -> None:
    """Run one statement. In a thread: Playwright's sync API keeps an event loop running here."""

    async def run() -> None:
        conn = await asyncpg.connect(server_dsn)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result()


@pytest.fixture(scope="module")
def service(server_dsn, template_dsn, tmp_path_factory):
    """A serve process on its own database, run from an empty directory."""
    name = f"console_{uuid.uuid4().hex[:12]}"
    _admin_sql(server_dsn, f"CREATE DATABASE {name} TEMPLATE {TEMPLATE} STRATEGY file_copy")
    port = free_port()
    env = service_env(
        DATABASE_URL=with_database(server_dsn, name),
        ADMIN_TOKEN=ADMIN_TOKEN,
        HOST="127.0.0.1",
        PORT=str(port),
        LOG_LEVEL="WARNING",
        SHUTDOWN_DRAIN_SECONDS="0",
        POLL_INTERVAL_SECONDS="0.2",
    )
    log = tmp_path_factory.mktemp("console") / "service.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "service", "serve"], env=env, stdout=sink, stderr=sink,
            cwd=log.parent,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_for_status(f"{base_url}/health/ready", 200, within=30, process=process)
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=30)
        _admin_sql(server_dsn, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        errors = [line for line in log.read_text().splitlines() if '"level": "error"' in line]
        assert not errors, errors[-5:]


@pytest.fixture(scope="module")
def north(service):
    reseller = northwind(Rest(service))
    history(reseller)
    return reseller


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        reason = f"Chromium is not installed (looked for {CHROMIUM}): apt-get install chromium"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must run the browser tests", pytrace=False)
        pytest.skip(reason)
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Console:
    """One browser tab on the console, failing the test on any error it logs."""

    def __init__(self, browser, base_url: str, viewport: dict) -> None:
        self.context = browser.new_context(viewport=viewport, base_url=base_url)
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.requests: list[str] = []
        # Chromium's own line for an answer >= 400, which some tests cause on purpose.
        self.refusals_expected = False
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.problems.append(f"uncaught: {exc}"))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto("/console")

    def _console(self, message) -> None:
        if message.type not in ("error", "warning"):
            return
        if self.refusals_expected and message.text.startswith("Failed to load resource"):
            return
        self.problems.append(message.text)

    def sign_in(self, credential, *, live: bool = True) -> None:
        page = self.page
        page.get_by_label("Client ID").fill(credential.client_id)
        page.get_by_label("Client secret").fill(credential.secret)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Orders")).to_be_visible()
        if live:
            expect(page.locator("#live")).to_have_text("Live")

    def tab(self, name: str) -> None:
        self.page.get_by_role("tab", name=name, exact=True).click()

    def open(self, order_id: int) -> None:
        self.page.get_by_role("link", name=f"Order #{order_id}", exact=True).click()
        expect(self.page.get_by_role("heading", name=f"Order #{order_id}")).to_be_visible()

    @property
    def status(self):
        return self.page.get_by_role("status", name="Order status")

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def console(browser, service):
    opened: list[Console] = []

    def open_console(viewport: dict = WIDE) -> Console:
        tab = Console(browser, service, viewport)
        opened.append(tab)
        return tab

    yield open_console
    problems = [problem for tab in opened for problem in tab.problems]
    for tab in opened:
        tab.close()
    assert not problems, problems


def shoot(page, name: str) -> None:
    target = os.environ.get("CONSOLE_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(target) / f"{name}.png"), full_page=bool(os.environ.get("CONSOLE_FULL_PAGE")))


def test_screenshots_of_the_queue_and_an_order_at_both_widths(console, north):
    order = north.order(
        "Contoso Ltd",
        [("M365-BS", 25, "Annually", {"domain": "contoso.example"}), ("EXCH-P2", 25, "Monthly", {"region": "EU"})],
        notes="Renewal for 25 seats; finance approved the budget in March",
        po="PO-2291",
    )
    for width, viewport in (("1280", WIDE), ("390", PHONE)):
        tab = console(viewport)
        tab.sign_in(north.approver)
        expect(tab.page.get_by_role("link", name=f"Order #{order['id']}")).to_be_visible()
        shoot(tab.page, f"queue-{width}")
        tab.open(order["id"])
        expect(tab.status).to_have_text(PENDING_APPROVAL)
        expect(tab.page.get_by_role("region", name="Timeline")).to_contain_text("Approval requested")
        shoot(tab.page, f"order-{width}")


def test_a_read_only_credential_sees_the_queue_but_cannot_decide(console, north):
    order = north.pending()
    tab = console()
    tab.sign_in(north.viewer)
    tab.tab("Pending approval")
    tab.open(order["id"])
    expect(tab.status).to_have_text(PENDING_APPROVAL)
    expect(tab.page.get_by_text("may only read")).to_be_visible()
    expect(tab.page.get_by_role("button", name="Approve")).to_be_hidden()
    expect(tab.page.get_by_role("button", name="Cancel order")).to_be_hidden()


def test_a_pending_order_appears_live_is_approved_and_completes_without_a_reload(console, north):
    tab = console()
    tab.sign_in(north.approver)
    tab.tab("Pending approval")
    tab.page.evaluate("window.notReloaded = true")
    order = north.pending()  # checked out by the clerk after the page loaded
    link = tab.page.get_by_role("link", name=f"Order #{order['id']}", exact=True)
    expect(link).to_be_visible(timeout=LIVE)
    tab.open(order["id"])
    expect(tab.status).to_have_text(PENDING_APPROVAL)
    tab.page.get_by_role("button", name="Approve").click()
    expect(tab.status).to_have_text("Completed", timeout=LIVE)
    timeline = tab.page.get_by_role("region", name="Timeline")
    expect(timeline).to_contain_text("Approved")
    expect(timeline).to_contain_text("Status In Progress → Completed")
    expect(tab.page.get_by_role("progressbar", name="Items finished")).to_have_attribute("aria-valuenow", "1")
    assert tab.page.evaluate("window.notReloaded") is True
    # It left the queue by itself.
    expect(link).to_be_hidden(timeout=LIVE)


def test_cancel_with_a_reason_shows_cancelled_by_reseller(console, north):
    order = north.pending()
    tab = console()
    tab.sign_in(north.approver)
    tab.open(order["id"])
    tab.page.get_by_label("Reason").fill("Duplicate of an order placed by phone")
    tab.page.get_by_role("button", name="Cancel order").click()
    expect(tab.status).to_have_text("Cancelled by Reseller")
    expect(tab.page.get_by_role("region", name="Timeline")).to_contain_text(
        "Reason: Duplicate of an order placed by phone"
    )
    assert north.call(north.approver, "GET", f"/api/orders/{order['id']}")["cancellationReason"] == (
        "Duplicate of an order placed by phone"
    )


def test_a_note_containing_html_shows_literally_and_runs_nothing(console, north):
    note = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script><b>bold</b>'
    order = north.pending(notes=note)
    tab = console()
    tab.sign_in(north.approver)
    tab.open(order["id"])
    expect(tab.page.locator("dd.notes")).to_have_text(note)
    assert tab.page.evaluate("window.pwned") is None
    assert tab.page.locator("main img, main script, main b").count() == 0


def test_the_submitter_is_told_why_it_cannot_approve_its_own_order(console, north):
    order = north.pending(by=north.everything)
    tab = console()
    tab.refusals_expected = True
    tab.sign_in(north.everything)
    tab.open(order["id"])
    expect(tab.page.get_by_text("You checked this order out")).to_be_visible()
    tab.page.get_by_role("button", name="Approve").click()
    expect(tab.page.locator("#decision-message")).to_contain_text("four eyes")
    expect(tab.status).to_have_text(PENDING_APPROVAL)


def test_an_order_decided_elsewhere_meanwhile_answers_409_and_the_view_catches_up(console, north):
    order = north.pending()
    tab = console()
    tab.refusals_expected = True
    # No live update: the page still shows the order waiting when the approver clicks.
    tab.page.route("**/api/events/stream", lambda route: route.abort())
    tab.sign_in(north.approver, live=False)
    tab.open(order["id"])
    north.call(north.everything, "POST", f"/api/orders/{order['id']}/cancel", {"reason": "by phone"}, 200)
    tab.page.get_by_role("button", name="Approve").click()
    expect(tab.page.locator("#decision-message")).to_contain_text("no longer waiting for approval")
    expect(tab.status).to_have_text("Cancelled by Reseller")


def test_a_429_says_how_long_to_wait(console, north):
    order = north.pending()
    tab = console()
    tab.refusals_expected = True
    tab.sign_in(north.approver)
    tab.open(order["id"])
    problem = ('{"type": "/problems/rate_limited", "title": "Too many requests", "status": 429, '
               '"detail": "Slow down", "code": "rate_limited", "errors": [], "requestId": "r1"}')
    tab.page.route("**/approve", lambda route: route.fulfill(
        status=429, body=problem, headers={"Content-Type": "application/problem+json", "Retry-After": "7"}))
    tab.page.get_by_role("button", name="Approve").click()
    expect(tab.page.locator("#decision-message")).to_contain_text("Try again in 7 s")
    expect(tab.page.get_by_role("button", name="Approve")).to_be_disabled()


def test_a_revoked_credential_is_sent_back_to_sign_in(console, north):
    rest, rid = north.rest, north.reseller_id
    spare = rest.admin("POST", f"/admin/resellers/{rid}/credentials", {"scopes": ["orders:read"]}, 201)
    tab = console()
    tab.refusals_expected = True
    tab.sign_in(Credential(spare["clientId"], spare["clientSecret"], ""))
    rest.admin("DELETE", f"/admin/resellers/{rid}/credentials/{spare['clientId']}", expect=204)
    # The stream ends within seconds; reconnecting answers 401; the page asks to sign in again.
    expect(tab.page.get_by_role("button", name="Sign in")).to_be_visible(timeout=LIVE)
    expect(tab.page.locator("#sign-in-message")).to_contain_text("Sign in again")


def serious_violations(page) -> list[str]:
    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def _subscriptions_of(north, account: str) -> list[dict]:
    query = f"/api/subscriptions?accountId={north.accounts[account]}&pageSize=200"
    return north.call(north.viewer, "GET", query, None, 200)["items"]


def test_an_order_shows_each_items_action_and_subscription(console, north):
    (exchange,) = [s for s in _subscriptions_of(north, "Fabrikam Inc") if s["sku"] == "EXCH-P2"]
    order = north.call(north.clerk, "POST", "/api/orders", {"accountId": north.accounts["Fabrikam Inc"]}, 201)
    path = f"/api/orders/{order['id']}/items"
    north.call(north.clerk, "POST", path,
               {"subscriptionId": exchange["id"], "action": "changeQuantity", "quantity": 55}, 201)
    north.call(north.clerk, "POST", path, {"productId": north.products["BACKUP-500"]["id"], "quantity": 2,
                                           "billingCycle": "Monthly"}, 201)
    north.call(north.clerk, "PUT", f"/api/orders/{order['id']}/customfields",
               [{"name": "po_number", "value": "PO-2301"}], 200)
    north.call(north.clerk, "POST", f"/api/orders/{order['id']}/checkout", None, 202)
    tab = console()
    tab.sign_in(north.approver)
    tab.open(order["id"])
    items = tab.page.locator("#items tbody tr")
    expect(items).to_have_count(2)
    change = items.filter(has_text="Hosted Exchange Plan 2")
    expect(change.locator(".cell-action")).to_contain_text("Change quantity")
    expect(change.locator(".cell-action")).to_contain_text(f"Subscription #{exchange['id']}")
    expect(change.locator("td").nth(1)).to_have_text("55")
    expect(items.filter(has_text="Cloud Backup 500 GB").locator(".cell-action")).to_have_text("Purchase")
    tab.page.get_by_role("button", name="Approve").click()
    expect(tab.status).to_have_text("Completed", timeout=LIVE)
    timeline = tab.page.get_by_role("region", name="Timeline")
    expect(timeline).to_contain_text(f"Subscription #{exchange['id']}: quantity 40 → 55")
    (bought,) = [s for s in _subscriptions_of(north, "Fabrikam Inc") if s["orderId"] == order["id"]]
    expect(timeline).to_contain_text(f"Subscription #{bought['id']} created")
    # Once Completed, the purchase names the subscription it became.
    expect(items.filter(has_text="Cloud Backup 500 GB").locator(".cell-action")).to_contain_text(
        f"Subscription #{bought['id']}"
    )


def test_an_account_shows_its_approval_setting_and_its_subscriptions(console, north):
    owned = _subscriptions_of(north, "Woodgrove Bank")
    assert owned
    north.call(north.approver, "PUT", f"/api/accounts/{north.accounts['Woodgrove Bank']}/settings",
               {"approvalRequired": False}, 200)
    (order,) = [o for o in north.call(north.viewer, "GET", "/api/orders?stage=Confirmed&pageSize=200")["items"]
                if o["accountName"] == "Woodgrove Bank"]
    tab = console()
    tab.sign_in(north.viewer)
    tab.tab("Confirmed")
    tab.open(order["id"])
    tab.page.get_by_role("link", name="Woodgrove Bank").click()
    expect(tab.page.get_by_role("heading", name="Woodgrove Bank")).to_be_visible()
    facts = tab.page.locator("#account-facts")
    expect(facts).to_contain_text("Not required: this account's own setting")
    region = tab.page.get_by_role("region", name="Subscriptions")
    rows = region.locator("tbody tr")
    expect(rows).to_have_count(len(owned))
    expect(rows.first).to_contain_text(f"#{owned[0]['id']}")
    expect(rows.first).to_contain_text(owned[0]["productName"])
    expect(rows.first.locator(".badge")).to_have_text("Active")
    assert serious_violations(tab.page) == []
    # An account that says nothing follows the reseller, which requires approval here.
    tab.page.evaluate(f"location.hash = '#confirmed/account/{north.accounts['Tailspin Toys']}'")
    expect(tab.page.get_by_role("heading", name="Tailspin Toys")).to_be_visible()
    expect(tab.page.locator("#account-facts")).to_contain_text("As the reseller's setting says: required")
    # A cancellation shows as it completes, without a reload.
    (target,) = _subscriptions_of(north, "Tailspin Toys")[:1]
    change = north.call(north.clerk, "POST", "/api/orders", {"accountId": north.accounts["Tailspin Toys"]}, 201)
    north.call(north.clerk, "POST", f"/api/orders/{change['id']}/items",
               {"subscriptionId": target["id"], "action": "cancel"}, 201)
    north.call(north.clerk, "PUT", f"/api/orders/{change['id']}/customfields",
               [{"name": "po_number", "value": "PO-2302"}], 200)
    north.call(north.clerk, "POST", f"/api/orders/{change['id']}/checkout", None, 202)
    north.call(north.approver, "POST", f"/api/orders/{change['id']}/approve", None, 202)
    row = tab.page.get_by_role("region", name="Subscriptions").locator("tbody tr").filter(has_text=f"#{target['id']}")
    expect(row.locator(".badge")).to_have_text("Cancelled", timeout=LIVE)


@pytest.mark.parametrize("viewport", [WIDE, PHONE], ids=["1280", "390"])
def test_axe_finds_no_serious_or_critical_violations(console, north, viewport):
    order = north.pending(notes="Check the seat count with the customer")
    tab = console(viewport)
    assert serious_violations(tab.page) == []  # the sign-in form
    tab.sign_in(north.approver)
    assert serious_violations(tab.page) == []  # the queue
    tab.open(order["id"])
    expect(tab.status).to_have_text(PENDING_APPROVAL)
    assert serious_violations(tab.page) == []  # the order with its decision panel
    tab.page.get_by_role("button", name="Approve").click()
    expect(tab.status).not_to_have_text(PENDING_APPROVAL)
    expect(tab.page.get_by_role("button", name="Approve")).to_be_hidden()
    # The order view after the decision: nothing in it to focus but the view itself.
    assert serious_violations(tab.page) == []
    view = tab.page.locator("#order-view")
    assert view.get_attribute("tabindex") == "0"
    view.focus()
    assert tab.page.evaluate("document.activeElement.id") == "order-view"
    tab.tab("Confirmed") if viewport is WIDE else None
    assert serious_violations(tab.page) == []
    # An account with its subscriptions (the items table's column for actions was in the order).
    tab.page.evaluate(f"location.hash = '#confirmed/account/{north.accounts['Fabrikam Inc']}'")
    expect(tab.page.get_by_role("heading", name="Fabrikam Inc")).to_be_visible()
    expect(tab.page.get_by_role("region", name="Subscriptions").locator("tbody tr").first).to_be_visible()
    assert serious_violations(tab.page) == []
    assert tab.page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]


def test_the_token_is_never_stored_nor_put_in_a_url_and_the_page_is_locked_down(console, north, service):
    tab = console()
    tab.sign_in(north.approver)
    tab.tab("All")
    token_seen = tab.page.evaluate(
        "() => [localStorage.length, sessionStorage.length, document.cookie, location.href]"
    )
    assert token_seen[:3] == [0, 0, ""]
    # The token the page got is not ours to read, but it is a signed string: no request URL
    # carries anything that long, nor a secret.
    assert all(len(url) < 300 and north.approver.secret not in url for url in tab.requests), tab.requests
    assert north.approver.secret not in token_seen[3]
    databases = tab.page.evaluate("indexedDB.databases().then(list => list.length)")
    assert databases == 0
    response = tab.page.request.get(f"{service}/console")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy
    assert "require-trusted-types-for 'script'" in policy and "frame-ancestors 'none'" in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    html = response.text()
    assert "<script>" not in html and "style=" not in html and "<style" not in html
    # And the browser enforces it: an inline script added to the page does not run.
    ran = tab.page.evaluate(
        """() => { try { document.body.innerHTML += '<img src=x onerror="window.ran=1">'; return 'assigned'; }
                   catch (e) { return e.name; } }"""
    )
    assert ran == "TypeError" and tab.page.evaluate("window.ran") is None
    tab.problems[:] = [p for p in tab.problems if "TrustedHTML" not in p]


def test_stages_filters_and_cursor_paging(console, north):
    for _ in range(27):
        north.order("Tailspin Toys", [("BACKUP-500", 1, "Monthly", {})], checkout=False)
    tab = console()
    tab.sign_in(north.viewer)
    rows = tab.page.locator("#order-rows tr")
    tab.tab("Draft")
    expect(rows).to_have_count(25)
    expect(tab.page.locator("#order-rows")).not_to_contain_text("Reseller Pending Approval")
    tab.page.get_by_role("button", name="Next page").click()
    expect(tab.page.get_by_text("Page 2")).to_be_visible()
    expect(rows).not_to_have_count(0)
    expect(tab.page.get_by_role("button", name="Next page")).to_be_disabled()
    tab.page.get_by_role("button", name="First page").click()
    expect(tab.page.get_by_text("Page 1")).to_be_visible()
    tab.tab("Confirmed")
    expect(tab.page.locator("#order-rows")).to_contain_text("Completed")
    expect(tab.page.locator("#order-rows")).not_to_contain_text("Draft")
    tab.page.get_by_label("Account").select_option(label="Woodgrove Bank")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("Woodgrove Bank")
    tab.page.get_by_label("Status", exact=True).select_option("Failed")
    expect(tab.page.get_by_text("No orders match.")).to_be_visible()
    tab.page.get_by_role("button", name="Clear").click()
    tab.tab("All")
    expect(rows).to_have_count(25)
    tab.page.get_by_role("tab", name="Pending approval").focus()
    tab.page.keyboard.press("ArrowRight")
    expect(tab.page.get_by_role("tab", name="Confirmed")).to_have_attribute("aria-selected", "true")


def test_a_phone_can_approve_without_scrolling_sideways(console, north):
    order = north.pending()
    tab = console(PHONE)
    tab.sign_in(north.approver)
    tab.open(order["id"])
    expect(tab.page.get_by_role("heading", name="Orders")).to_be_hidden()  # the order replaces the list
    width = tab.page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], width
    tab.page.get_by_role("button", name="Approve").click()
    expect(tab.status).to_have_text("Completed", timeout=LIVE)
    tab.page.get_by_role("button", name="← Orders").click()
    expect(tab.page.get_by_role("heading", name="Orders")).to_be_visible()
    assert tab.page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

"""The operator console (/console) in Chromium against the local stack, acted as a user acts: by
labels, roles and visible text, never by CSS paths. Each test checks what the API says afterwards.

Every test also fails on a script error, a Content-Security-Policy violation, a console error or a
request that tried to leave the machine (the `console` fixture).
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from infra.cli import read_local_emails, recipients
from tests.browser.chromium import local_browser
from tests.stack import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    Http,
    Stack,
    new_account,
    start_stack,
    stop_stack,
)

PASSWORD = "password123"
CODE_LINE = re.compile(r"^Code: ([0-9A-Z]{8,})$", re.MULTILINE)
DESK = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
# Where the screenshots go: docs/console/ when asked for (`make screenshots`), else a temp dir.
SHOTS = os.environ.get("CONSOLE_SCREENSHOTS")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6].upper()}"


class Shop:
    """The API side of a test: what it sets up and what it checks, as the admin."""

    def __init__(self, stack: Stack) -> None:
        self.http: Http = stack.http
        self.token = stack.admin_token()

    def call(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        reply = self.http.call(method, path, body, self.token)
        assert reply.status == status, (method, path, reply.status, reply.body)
        return reply.json

    def product(self, sku: str, name: str, stock: int, threshold: int = 5, price: str = "9.99"):
        body = {"sku": sku, "name": name, "price": price, "stock": stock}
        return self.call("POST", "/products", {**body, "low_stock_threshold": threshold}, 201)

    def stock(self, sku: str) -> dict:
        return self.call("GET", f"/products/{sku}")

    def customer(self) -> tuple[str, str]:
        return new_account(self.http, self.token, "customer")

    def order(self, customer_id: str, lines: dict[str, int]) -> dict:
        items = [{"sku": sku, "quantity": q} for sku, q in lines.items()]
        return self.call("POST", "/sales-orders", {"items": items, "customer_id": customer_id}, 201)


@pytest.fixture(scope="module")
def shop(browser_stack: Stack) -> Shop:
    return Shop(browser_stack)


class Console:
    """A page of the console, and what a user does on it."""

    def __init__(self, page: Page, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        # Every answer of 400 or more the page got, and those the test brought about on purpose.
        self.refused: list[tuple[int, str]] = []
        self.expected: set[int] = set()
        page.on(
            "response",
            lambda r: r.status >= 400 and self.refused.append((r.status, r.url)),
        )

    def expect_refusals(self, *statuses: int) -> None:
        self.expected.update(statuses)

    def open(self) -> None:
        response = self.page.goto(f"{self.base_url}/console")
        assert response is not None and response.status == 200

    def sign_in(self, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD) -> None:
        self.open()
        self.page.get_by_label("Email").fill(email)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Sign in").click()

    def signed_in(self, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD) -> None:
        self.sign_in(email, password)
        expect(self.nav.get_by_role("link", name="Products")).to_be_visible()

    @property
    def nav(self):
        return self.page.get_by_role("navigation", name="Screens")

    def go(self, screen: str) -> None:
        self.nav.get_by_role("link", name=re.compile(f"^{screen}")).click()
        heading = self.page.get_by_role("heading", level=2, name=screen, exact=True)
        expect(heading).to_be_visible()
        expect(self.page).to_have_title(f"AutoMart console: {screen}")

    def product(self, sku: str) -> None:
        self.go("Products")
        self.page.get_by_label("Search by sku or name").fill(sku)
        self.page.get_by_role("link", name=sku, exact=True).click()
        expect(self.page.get_by_role("heading", level=2, name=re.compile(sku))).to_be_visible()

    def says(self, text: str | re.Pattern) -> None:
        expect(self.page.get_by_role("status").filter(has_text=text)).to_be_visible()

    def alerts(self, text: str | re.Pattern) -> None:
        expect(self.page.get_by_role("alert").filter(has_text=text)).to_be_visible()

    def row(self, table: str, text: str):
        return self.region(table).get_by_role("row").filter(has_text=text)

    def region(self, name: str):
        return self.page.get_by_role("region", name=name, exact=True)

    def new_product_form(self, sku: str, name: str):
        self.page.get_by_role("button", name="New product").click()
        form = self.region("New product")
        form.get_by_label("SKU").fill(sku)
        form.get_by_label("Name").fill(name)
        return form


@pytest.fixture()
def console(tmp_path: Path, browser_stack: Stack) -> Iterator[Console]:
    with local_browser(tmp_path / "profile", viewport=DESK) as (context, outside):
        page = context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
        page.on(
            "console",
            lambda message: message.type == "error" and problems.append(message.text),
        )
        console = Console(page, browser_stack.base_url)
        yield console
        # Chromium logs every 4xx as a failed load: those are checked one by one instead.
        problems = [p for p in problems if "Failed to load resource" not in p]
        assert not problems, problems
        unexpected = [(s, url) for s, url in console.refused if s not in console.expected]
        assert not unexpected, f"answers the test did not ask for: {unexpected}"
        assert not outside, f"the console reached outside the machine: {outside}"


# ---- signing in and out -----------------------------------------------------------------------


def test_sign_in_by_keyboard_and_sign_out_revokes_the_session(console: Console, shop: Shop):
    page = console.page
    console.open()
    with page.expect_response("**/auth/login") as login:
        page.keyboard.press("Tab")  # the first control of the page is the email field
        page.keyboard.type(ADMIN_EMAIL)
        page.keyboard.press("Tab")
        page.keyboard.type(ADMIN_PASSWORD)
        page.keyboard.press("Enter")
    refresh_token = login.value.json()["refresh_token"]
    expect(console.nav.get_by_role("link", name="Users")).to_be_visible()
    expect(page.get_by_text("Admin (admin)")).to_be_visible()

    with page.expect_response("**/auth/logout") as logout:
        page.get_by_role("button", name="Sign out").click()
    assert logout.value.status == 204
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    console.says("You are signed out.")
    again = shop.http.call("POST", "/auth/refresh", {"refresh_token": refresh_token})
    assert again.status == 401


def test_a_customer_is_told_the_console_is_for_staff(console: Console, shop: Shop):
    _, email = shop.customer()
    with console.page.expect_response("**/auth/login") as login:
        console.sign_in(email, PASSWORD)
    console.alerts("This console is for the shop's staff")
    expect(console.nav).to_have_count(0)
    refresh_token = login.value.json()["refresh_token"]
    assert shop.http.call("POST", "/auth/refresh", {"refresh_token": refresh_token}).status == 401


def test_wrong_password_shows_the_api_message(console: Console, shop: Shop):
    console.expect_refusals(401)
    console.sign_in(ADMIN_EMAIL, "not-the-password")
    console.alerts("Wrong email or password")


def test_forgot_password_resets_it_and_signs_in(console: Console, shop: Shop, browser_stack):
    _, email = new_account(shop.http, shop.token, "staff")
    page = console.page
    console.open()
    page.get_by_role("button", name="Forgot password?").click()
    page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Send reset code").click()
    console.says("a reset code is on its way")
    mail = [
        m
        for m in read_local_emails(browser_stack.emulator_url)
        if email in recipients(m) and "Password reset" in m["subject"]
    ]
    code = CODE_LINE.findall(mail[-1]["body"])[0]
    page.get_by_label("Reset code").fill(code)
    page.get_by_label("New password").fill("a-new-password")
    page.get_by_role("button", name="Set password and sign in").click()
    expect(console.nav.get_by_role("link", name="Purchases")).to_be_visible()
    old = shop.http.call("POST", "/auth/login", {"email": email, "password": PASSWORD})
    assert old.status == 401
    assert shop.http.login(email, "a-new-password")["token_type"] == "Bearer"


# ---- products ---------------------------------------------------------------------------------


def test_search_sort_filter_and_page_the_catalog(console: Console, shop: Shop):
    family = unique("SRCH")
    for n in range(23):  # more than a page of 20
        shop.product(f"{family}-{n:02d}", f"Zeta {family} {22 - n:02d}", stock=n, threshold=3)
    console.signed_in()
    page = console.page
    searched = f"q={family.lower()}"
    with page.expect_response(lambda response: searched in response.url):  # typed, then asked
        page.get_by_label("Search by sku or name").fill(family.lower())  # case-insensitive
    table = console.region("Products")
    expect(table.get_by_role("row")).to_have_count(21)  # the header and 20
    expect(table.get_by_role("link").first).to_have_text(f"{family}-00")
    page.get_by_role("button", name="Next page").click()
    expect(table.get_by_role("row")).to_have_count(4)
    expect(table.get_by_role("link").first).to_have_text(f"{family}-20")
    page.get_by_role("button", name="Previous page").click()
    expect(table.get_by_role("link").first).to_have_text(f"{family}-00")

    page.get_by_label("Sort by").select_option("name")  # names run the other way
    expect(table.get_by_role("link").first).to_have_text(f"{family}-22")
    page.get_by_label("Stock").select_option("low")  # available below 3: stock 0, 1, 2
    expect(table.get_by_role("row")).to_have_count(4)
    page.get_by_label("Stock").select_option("out")
    expect(table.get_by_role("row")).to_have_count(2)
    expect(table.get_by_role("link")).to_have_text(f"{family}-00")


def test_create_edit_and_delete_a_product(console: Console, shop: Shop):
    sku = unique("NEW")
    console.signed_in()
    page = console.page
    form = console.new_product_form(sku, "Brass hinge")
    form.get_by_label("Initial stock").fill("12")
    form.get_by_label("Price").fill("4.505")  # refused: the form keeps what was typed
    console.expect_refusals(400)
    page.get_by_role("button", name="Create product").click()
    console.alerts(re.compile("price"))
    expect(form.get_by_label("Initial stock")).to_have_value("12")
    form.get_by_label("Price").fill("4.50")
    page.get_by_role("button", name="Create product").click()
    expect(page.get_by_role("heading", level=2, name=f"Brass hinge ({sku})")).to_be_visible()
    assert shop.stock(sku)["stock"] == 12 and shop.stock(sku)["price"] == "4.50"

    shop.call("PATCH", f"/products/{sku}", {"name": "Brass hinge, large"})  # another admin
    edit = console.region("Edit product")
    edit.get_by_label("Price").fill("5.25")
    page.get_by_role("button", name="Save changes").click()
    console.says(f"Saved {sku}.")
    saved = shop.stock(sku)
    assert saved["price"] == "5.25" and saved["name"] == "Brass hinge, large"  # only the price
    expect(edit.get_by_label("Name")).to_have_value("Brass hinge, large")  # the form as saved

    page.get_by_role("button", name="Delete product").click()
    page.get_by_role("button", name="No, keep it").click()
    expect(page.get_by_role("button", name="Delete product")).to_be_focused()  # back where it was
    page.get_by_role("button", name="Delete product").click()
    expect(page.get_by_role("button", name="Yes, delete it")).to_be_focused()
    page.get_by_role("button", name="Yes, delete it").click()
    expect(page.get_by_role("heading", level=2, name="Products")).to_be_visible()
    shop.call("GET", f"/products/{sku}", status=404)


def test_an_api_error_is_shown_with_its_message(console: Console, shop: Shop):
    sku = unique("DUP")
    shop.product(sku, "Already here", stock=1)
    console.signed_in()
    page = console.page
    form = console.new_product_form(sku, "Again")
    console.expect_refusals(400, 409)
    form.get_by_label("Price").fill("1.999")  # the price is refused first: three decimals
    page.get_by_role("button", name="Create product").click()
    console.alerts(re.compile("price"))
    form.get_by_label("Price").fill("1.99")
    page.get_by_role("button", name="Create product").click()
    console.alerts("A product with this sku exists")
    assert shop.stock(sku)["name"] == "Already here"


def test_adjust_stock_and_see_the_movement(console: Console, shop: Shop):
    sku = unique("ADJ")
    shop.product(sku, "Steel bracket", stock=10)
    console.signed_in()
    console.product(sku)
    page = console.page
    page.get_by_label("Change (units, + or -)").fill("-2")
    page.get_by_label("Reason").select_option("damaged")
    page.get_by_label("Note").fill("dropped in the yard")
    page.get_by_role("button", name="Adjust stock").click()
    console.says(f"Stock adjusted: {sku} now has 8 in stock.")
    movement = console.row("Movements", "dropped in the yard")
    expect(movement).to_contain_text("adjustment")
    expect(movement).to_contain_text("-2")
    expect(movement).to_contain_text("damaged")
    expect(movement).to_contain_text(f"you ({ADMIN_EMAIL})")
    assert shop.stock(sku)["stock"] == 8
    stock_shown = page.get_by_role("definition").filter(has_text=re.compile("^8$"))
    expect(stock_shown).to_have_count(2)  # stock and available, as the adjustment left them

    page.get_by_label("Adjust by").select_option("set_to")  # a count
    page.get_by_label("Counted stock").fill("7")
    page.get_by_label("Reason").select_option("count")
    page.get_by_role("button", name="Adjust stock").click()
    console.says(f"Stock adjusted: {sku} now has 7 in stock.")
    expect(console.row("Movements", "count")).to_contain_text("-1")
    assert shop.stock(sku)["stock"] == 7


def test_the_movement_history_pages(console: Console, shop: Shop):
    sku = unique("LEDGER")
    shop.product(sku, "Rope", stock=100)
    for n in range(22):  # with the initial stock: 23 movements, newest first
        body = {"change": -1, "reason": "lost", "note": f"count {n:02d}"}
        shop.call("POST", f"/products/{sku}/adjustments", body, 201)
    console.signed_in()
    console.product(sku)
    movements = console.region("Movements")
    expect(movements.get_by_role("row")).to_have_count(21)
    expect(movements.get_by_role("row").nth(1)).to_contain_text("count 21")
    console.page.get_by_role("button", name="Next page").click()
    expect(movements.get_by_role("row")).to_have_count(4)
    expect(movements.get_by_role("row").nth(3)).to_contain_text("initial")


def test_a_stale_adjustment_is_refused_and_shows_the_new_stock(console: Console, shop: Shop):
    sku = unique("STALE")
    shop.product(sku, "Copper pipe", stock=10)
    console.signed_in()
    console.product(sku)
    page = console.page
    expect(page.get_by_role("definition").filter(has_text=re.compile("^10$"))).to_have_count(2)
    console.expect_refusals(409)
    # Someone else counts the shelf meanwhile.
    shop.call("POST", f"/products/{sku}/adjustments", {"change": 5, "reason": "found"}, 201)
    page.get_by_label("Change (units, + or -)").fill("-1")
    page.get_by_role("button", name="Adjust stock").click()
    console.alerts("The stock changed meanwhile: it is now 15, not the 10 you saw.")
    assert shop.stock(sku)["stock"] == 15  # nothing was overwritten
    expect(page.get_by_role("definition").filter(has_text=re.compile("^15$"))).to_have_count(2)


# ---- low stock and purchases ------------------------------------------------------------------


def open_notification(shop: Shop, sku: str) -> dict:
    found = shop.call("GET", "/notifications?status=open&limit=100")["items"]
    return next(n for n in found if n["sku"] == sku)


def test_handle_a_low_stock_notification(console: Console, shop: Shop):
    sku = unique("LOW")
    shop.product(sku, "Rubber seal", stock=2, threshold=5)
    console.signed_in()
    console.go("Low stock")
    console.page.get_by_role("button", name="Run the check now").click()
    console.says(re.compile(r"Check done: \d+ low"))
    notification = open_notification(shop, sku)
    row = console.row("Open notifications", sku)
    expect(row).to_contain_text("Rubber seal")
    count = console.nav.get_by_role("link", name=re.compile("^Low stock"))
    before = len(shop.call("GET", "/notifications?status=open&limit=100")["items"])
    expect(count).to_have_text(f"Low stock{before} need attention")  # the check's included
    row.get_by_role("button", name=f"Mark handled {sku}").click()
    console.says(f"Marked {sku} handled.")
    expect(row).to_have_count(0)
    expect(count).to_have_text(f"Low stock{before - 1} need attention")
    shop.call("GET", f"/notifications/{notification['id']}", status=404)


def test_record_a_purchase_from_a_notification(console: Console, shop: Shop):
    sku = unique("BUY")
    shop.product(sku, "Gasket", stock=1, threshold=5)
    shop.call("POST", "/notifications/check")
    notification = open_notification(shop, sku)
    console.signed_in()
    console.go("Low stock")
    console.row("Open notifications", sku).get_by_role(
        "link", name=f"Record a purchase of {sku}"
    ).click()
    page = console.page
    expect(page.get_by_label("Product SKU")).to_have_value(sku)
    page.get_by_label("Quantity").fill("20")
    page.get_by_label("Supplier").fill("Acme Seals")
    page.get_by_label("Unit cost").fill("0.80")
    page.get_by_role("button", name="Record purchase").click()
    console.says(f"Purchase recorded: 20 of {sku} from Acme Seals; stock is now 21.")
    expect(console.row("Purchases", sku)).to_contain_text("Acme Seals")
    assert shop.stock(sku)["stock"] == 21
    after = shop.call("GET", f"/notifications/{notification['id']}")
    assert after["status"] == "resolved"


def test_reverse_a_purchase(console: Console, shop: Shop):
    sku = unique("REV")
    shop.product(sku, "Washer", stock=0)
    shop.call("POST", "/purchase-orders", {"sku": sku, "quantity": 7, "supplier_name": "Nuts"}, 201)
    console.signed_in()
    console.go("Purchases")
    console.page.get_by_role("button", name=f"Reverse the purchase of 7 {sku}").click()
    console.page.get_by_role("button", name="Yes, reverse it").click()
    console.says(f"Purchase of 7 {sku} reversed.")
    assert shop.stock(sku)["stock"] == 0


# ---- orders, returns, holds -------------------------------------------------------------------


def test_cancel_an_order(console: Console, shop: Shop):
    sku = unique("CXL")
    shop.product(sku, "Lamp", stock=5)
    customer_id, _ = shop.customer()
    order = shop.order(customer_id, {sku: 3})
    console.signed_in()
    console.go("Orders")
    console.page.get_by_role("link", name=order["id"]).click()
    page = console.page
    expect(page.get_by_role("heading", level=2, name=f"Order {order['id']}")).to_be_visible()
    page.get_by_role("button", name="Cancel order").click()
    page.get_by_role("button", name="Yes, cancel the order").click()
    expect(page.get_by_role("heading", level=2, name="Orders")).to_be_visible()
    expect(page.get_by_text("Loading…")).to_have_count(0)  # the list has loaded
    expect(page.get_by_role("link", name=order["id"])).to_have_count(0)
    shop.call("GET", f"/sales-orders/{order['id']}", status=404)
    assert shop.stock(sku)["stock"] == 5


def test_the_admin_filters_orders_by_customer(console: Console, shop: Shop):
    sku = unique("FLT")
    shop.product(sku, "Shade", stock=5)
    first, _ = shop.customer()
    second, second_email = shop.customer()
    mine = shop.order(second, {sku: 1})
    other = shop.order(first, {sku: 1})
    console.signed_in()
    console.go("Orders")
    console.page.get_by_label("Customer").select_option(label=f"A customer ({second_email})")
    expect(console.page.get_by_role("link", name=mine["id"])).to_be_visible()
    expect(console.page.get_by_role("link", name=other["id"])).to_have_count(0)


def test_record_a_return_per_line(console: Console, shop: Shop):
    kept, lost = unique("RETA"), unique("RETB")
    shop.product(kept, "Chair", stock=10)
    shop.product(lost, "Table", stock=10)
    customer_id, _ = shop.customer()
    order = shop.order(customer_id, {kept: 3, lost: 2})
    console.signed_in()
    console.go("Orders")
    console.page.get_by_role("link", name=order["id"]).click()
    page = console.page
    page.get_by_label(f"Units returned of {kept}").fill("2")
    page.get_by_label(f"What happens to the units of {kept}").select_option("restock")
    page.get_by_label(f"Units returned of {lost}").fill("1")
    page.get_by_label(f"What happens to the units of {lost}").select_option("write-off")
    page.get_by_label("Return note").fill("wrong colour")
    page.get_by_role("button", name="Record return").click()
    console.says("Return recorded: the order is now partially returned.")
    cells = console.row("Order lines", kept).get_by_role("cell")
    expect(cells).to_have_text([kept, "Chair", "3", "2", "9.99", "29.97"])
    after = shop.call("GET", f"/sales-orders/{order['id']}")
    assert [(i["sku"], i["returned"]) for i in after["items"]] == [(kept, 2), (lost, 1)]
    assert shop.stock(kept)["stock"] == 9 and shop.stock(lost)["stock"] == 8
    kinds = [m["kind"] for m in shop.call("GET", f"/products/{lost}/movements")["items"]]
    assert kinds[0] == "return_written_off"


def test_release_a_hold(console: Console, shop: Shop):
    sku = unique("HOLD")
    shop.product(sku, "Ticket", stock=4, threshold=0)
    customer_id, _ = shop.customer()
    items = [{"sku": sku, "quantity": 3}]
    hold = shop.call("POST", "/holds", {"items": items, "customer_id": customer_id}, 201)
    assert shop.stock(sku)["available"] == 1
    console.signed_in()
    console.go("Holds")
    row = console.row("Active holds", hold["id"])
    expect(row).to_contain_text(f"3 × {sku}")
    row.get_by_role("button", name=f"Release hold {hold['id']}").click()
    console.says(f"Hold {hold['id']} released: its units are available again.")
    expect(console.row("Active holds", hold["id"])).to_have_count(0)
    assert shop.stock(sku)["held"] == 0 and shop.stock(sku)["available"] == 4
    assert shop.call("GET", f"/holds/{hold['id']}")["status"] == "released"


# ---- users and the staff view -----------------------------------------------------------------


def test_create_a_staff_user_who_then_sees_the_staff_view(console: Console, shop: Shop):
    email = f"{unique('staff').lower()}@example.com"
    sku = unique("AAA-STAFF")  # first in sku order: on the first page of the low products
    shop.product(sku, "Crate", stock=1, threshold=5)
    shop.call("POST", "/purchase-orders", {"sku": sku, "quantity": 1, "supplier_name": "Box"}, 201)
    console.signed_in()
    console.go("Users")
    page = console.page
    form = console.region("New staff member or admin")
    form.get_by_label("Email").fill(email)
    form.get_by_label("Name").fill("Sam Stock")
    form.get_by_label("Password").fill("staff-password")
    form.get_by_label("Role").select_option("staff")
    page.get_by_role("button", name="Create user").click()
    console.says(f"Created staff {email}.")
    page.get_by_role("button", name="Sign out").click()
    console.says("You are signed out.")

    console.signed_in(email, "staff-password")
    expect(page.get_by_text("Sam Stock (staff)")).to_be_visible()
    links = console.nav.get_by_role("link")
    expect(links).to_have_text([re.compile("^Products"), re.compile("^Low stock"), "Orders",
                                "Purchases", "Holds"])  # fmt: skip
    expect(page.get_by_role("button", name="New product")).to_have_count(0)
    console.product(sku)
    expect(page.get_by_role("button", name="Adjust stock")).to_be_visible()
    expect(console.region("Edit product")).to_have_count(0)
    expect(page.get_by_role("button", name="Delete product")).to_have_count(0)
    console.go("Low stock")  # staff may not read notifications: the low products instead
    expect(console.row("Low products", sku)).to_be_visible()
    expect(page.get_by_role("button", name="Run the check now")).to_have_count(0)
    console.go("Purchases")
    expect(console.row("Purchases", sku)).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("^Reverse"))).to_have_count(0)
    page.goto(f"{console.base_url}/console#/users")  # typed by hand: not a staff screen
    expect(page.get_by_role("heading", level=2, name="Products")).to_be_visible()


def test_change_a_role_deactivate_and_send_a_reset(console: Console, shop: Shop, browser_stack):
    user_id, email = new_account(shop.http, shop.token, "customer")
    console.signed_in()
    console.go("Users")
    page = console.page
    page.get_by_label("Show role").select_option("customer")
    page.get_by_label(f"Role of {email}").select_option("staff")
    console.says(f"{email} is now staff.")
    assert shop.call("GET", f"/users/{user_id}")["role"] == "staff"
    page.get_by_label("Show role").select_option("staff")
    page.get_by_role("button", name=f"Send password reset to {email}").click()
    console.says(f"A reset code is on its way to {email}.")
    assert any(email in recipients(m) for m in read_local_emails(browser_stack.emulator_url))
    page.get_by_role("button", name=f"Deactivate {email}").click()
    console.says(f"{email} is deactivated.")
    assert shop.call("GET", f"/users/{user_id}")["active"] is False
    login = {"email": email, "password": PASSWORD}
    assert shop.http.call("POST", "/auth/login", login).status == 401


# ---- the transport: busy, refresh -------------------------------------------------------------


def test_a_busy_answer_is_retried_after_retry_after(console: Console, shop: Shop):
    page = console.page
    console.signed_in()
    seen: list[float] = []

    def busy_once(route, request) -> None:  # type: ignore[no-untyped-def]
        seen.append(time.monotonic())
        if len(seen) == 1:  # what the app answers when DynamoDB is overloaded
            body = '{"code": "busy", "message": "The database is busy, try again"}'
            route.fulfill(status=503, headers={"Retry-After": "3"}, body=body)
        else:
            route.fallback()

    page.route(lambda url: "/purchase-orders?" in url, busy_once)
    console.expect_refusals(503)
    console.nav.get_by_role("link", name="Purchases").click()
    expect(page.get_by_text("The database is busy: trying again in 3 s.")).to_be_visible()
    expect(page.get_by_text("Loading…")).to_have_count(0)
    expect(page.get_by_text("The database is busy")).to_have_count(0)
    assert len(seen) == 2 and seen[1] - seen[0] >= 3.0, seen


@pytest.fixture(scope="module")
def short_tokens_stack() -> Iterator[Stack]:
    stack = start_stack("moto", ACCESS_TOKEN_TTL="4")
    yield stack
    assert stop_stack(stack) == 0


def test_tokens_are_refreshed_before_they_expire(tmp_path: Path, short_tokens_stack: Stack):
    with local_browser(tmp_path / "profile", viewport=DESK) as (context, _):
        page = context.new_page()
        console = Console(page, short_tokens_stack.base_url)
        statuses: list[int] = []
        page.on("response", lambda response: statuses.append(response.status))
        console.signed_in()
        # Two refreshes: by the second, the first access token (4 s) has long expired.
        for _ in range(2):
            with page.expect_response("**/auth/refresh", timeout=15_000) as refreshed:
                pass
            assert refreshed.value.status == 200
        console.go("Orders")
        expect(page.get_by_role("heading", level=2, name="Orders")).to_be_visible()
        console.go("Holds")
        expect(page.get_by_role("heading", level=3, name="Active")).to_be_visible()
        assert 401 not in statuses


def test_a_submission_keeps_its_key_until_answered(console: Console, shop: Shop):
    """Idempotency-Key per submission: the same while its outcome is unknown (a busy answer, a
    connection lost), a new one after an answer; a double click sends once."""
    sku = unique("KEY")
    shop.product(sku, "Pallet", stock=0, threshold=0)
    page = console.page
    console.signed_in()
    console.go("Purchases")
    sent: list[str] = []
    faults = ["busy", None, "lost"]  # per POST: a 503 then through; then no answer

    def purchases(route, request) -> None:  # type: ignore[no-untyped-def]
        if request.method != "POST":
            return route.fallback()
        sent.append(request.headers["idempotency-key"])
        fault = faults.pop(0) if faults else None
        if fault == "busy":
            body = '{"code": "busy", "message": "The database is busy, try again"}'
            route.fulfill(status=503, headers={"Retry-After": "1"}, body=body)
        elif fault == "lost":  # the server records it, the answer never arrives
            route.fetch()
            route.abort("connectionreset")
        else:
            route.fallback()

    page.route(lambda url: url.endswith("/purchase-orders"), purchases)
    console.expect_refusals(503)

    def fill(quantity: str) -> None:
        page.get_by_label("Product SKU").fill(sku)
        page.get_by_label("Quantity").fill(quantity)
        page.get_by_label("Supplier").fill("Crates Ltd")

    fill("5")
    page.get_by_role("button", name="Record purchase").click()
    console.says(f"Purchase recorded: 5 of {sku} from Crates Ltd; stock is now 5.")
    assert len(sent) == 2 and sent[0] == sent[1]  # retried after Retry-After with its key

    fill("3")
    page.get_by_role("button", name="Record purchase").click()
    console.alerts(re.compile(r"\S"))  # no answer: the outcome is unknown (it was recorded)
    assert shop.stock(sku)["stock"] == 8
    page.get_by_role("button", name="Record purchase").dblclick()  # sent again, twice at once
    console.says(f"Purchase recorded: 3 of {sku} from Crates Ltd; stock is now 8.")
    assert len(sent) == 4 and sent[2] == sent[3] != sent[0], sent  # the double click sent once
    assert shop.stock(sku)["stock"] == 8
    mine = [p for p in shop.call("GET", "/purchase-orders?limit=100")["items"] if p["sku"] == sku]
    assert sorted(p["quantity"] for p in mine) == [3, 5]


def test_sign_out_with_an_expired_access_token_still_revokes(
    tmp_path: Path, short_tokens_stack: Stack
):
    """The refresh timer fails (no answer): the session is kept, not ended. Signing out once
    the access token has expired refreshes first, then revokes the refresh token it got."""
    with local_browser(tmp_path / "profile", viewport=DESK) as (context, _):
        page = context.new_page()
        console = Console(page, short_tokens_stack.base_url)
        console.signed_in()
        failed: list[str] = []
        page.route("**/auth/refresh", lambda route: route.abort("connectionreset"))
        page.on("requestfailed", lambda request: failed.append(request.url))
        for _ in range(2):  # the timer at 3.2 s, then again 5 s later: the token (4 s) is gone
            with page.expect_event("requestfailed", timeout=15_000):
                pass
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()  # still signed in
        page.unroute("**/auth/refresh")
        revoked = lambda r: "/auth/logout" in r.url and r.status == 204  # noqa: E731 (after a 401)
        with (
            page.expect_response("**/auth/refresh") as refreshed,
            page.expect_response(revoked) as logout,
        ):
            page.get_by_role("button", name="Sign out").click()
        assert refreshed.value.status == 200 and logout.value.ok
        console.says("You are signed out.")
        token = refreshed.value.json()["refresh_token"]
        again = short_tokens_stack.http.call("POST", "/auth/refresh", {"refresh_token": token})
        assert again.status == 401
        assert len(failed) >= 2


# ---- every screen: accessibility, the phone, screenshots ---------------------------------------


def seed_a_shop(shop: Shop) -> dict[str, str]:
    """A small shop to look at: a catalog with low items, orders, purchases, holds, staff."""
    tag = uuid.uuid4().hex[:4].upper()
    catalog = [
        ("Espresso beans 1 kg", 40, 10, "18.50"),
        ("Oat milk 1 l", 3, 12, "2.40"),
        ("Paper cups (50)", 0, 20, "6.90"),
        ("Ceramic mug", 25, 5, "9.00"),
        ("Milk jug 600 ml", 8, 4, "14.00"),
        ("Grinder burr set", 2, 3, "32.00"),
    ]
    skus = []
    for n, (name, stock, threshold, price) in enumerate(catalog):
        sku = f"CAFE-{tag}-{n + 1:02d}"
        shop.product(sku, name, stock=stock, threshold=threshold, price=price)
        skus.append(sku)
    customer = {"email": f"dana.reyes.{tag.lower()}@example.com", "name": "Dana Reyes"}
    customer_id = shop.call(
        "POST", "/users", {**customer, "password": PASSWORD, "role": "customer"}, 201
    )["id"]
    order = shop.order(customer_id, {skus[0]: 2, skus[3]: 1})
    shop.order(customer_id, {skus[4]: 1})
    purchase = {
        "sku": skus[0],
        "quantity": 20,
        "supplier_name": "Roastery Nord",
        "unit_cost": "9.10",
    }
    shop.call("POST", "/purchase-orders", purchase, 201)
    items = [{"sku": skus[3], "quantity": 2}]
    shop.call("POST", "/holds", {"items": items, "customer_id": customer_id}, 201)
    shop.call("POST", f"/products/{skus[0]}/adjustments", {"change": -1, "reason": "damaged"}, 201)
    staff = {"email": f"sam.okafor.{tag.lower()}@example.com", "name": "Sam Okafor"}
    shop.call("POST", "/users", {**staff, "password": PASSWORD, "role": "staff"}, 201)
    shop.call("POST", "/notifications/check")
    return {"product": skus[0], "order": order["id"]}


# Each screen of the admin's console, and the table it shows once loaded.
TABLES = {
    "Products": "Products",
    "Low stock": "Open notifications",
    "Orders": "Orders",
    "Purchases": "Purchases",
    "Holds": "Active holds",
    "Users": "Users",
}


def screens(console: Console, seeded: dict[str, str]) -> Iterator[str]:
    """Visits every screen of the admin's console; yields each one's name once it has loaded."""
    page = console.page
    for name, table in TABLES.items():
        console.go(name)
        expect(console.region(table)).to_be_visible()  # loaded, with the seeded rows
        expect(page.get_by_text("Loading…")).to_have_count(0)  # and the rest of the screen
        expect(page.get_by_role("alert").filter(has_text=re.compile(r"\S"))).to_have_count(0)
        yield name.lower().replace(" ", "-")
    console.product(seeded["product"])
    expect(console.region("Movements")).to_be_visible()
    sections = page.get_by_role("heading", level=3)
    expect(sections).to_have_text(["Adjust stock", "Edit product", "Movements"])  # in this order
    yield "product"
    page.goto(f"{console.base_url}/console#/orders/{seeded['order']}")
    expect(page.get_by_role("heading", level=3, name="Record a return")).to_be_visible()
    yield "order"


def no_serious_violations(page: Page) -> None:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    bad = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]])
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not bad, bad


def test_every_screen_is_accessible_and_captured(console: Console, shop: Shop, tmp_path: Path):
    seeded = seed_a_shop(shop)
    shots = Path(SHOTS) if SHOTS else tmp_path / "shots"
    shots.mkdir(parents=True, exist_ok=True)
    page = console.page
    console.open()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    no_serious_violations(page)
    page.screenshot(path=str(shots / "sign-in.png"))
    console.signed_in()
    taken = ["sign-in"]
    for name in screens(console, seeded):
        no_serious_violations(page)
        page.screenshot(path=str(shots / f"{name}.png"))
        taken.append(name)
    assert sorted(p.stem for p in shots.glob("*.png")) == sorted(taken)


def test_every_screen_fits_a_phone(console: Console, shop: Shop):
    seeded = seed_a_shop(shop)
    console.page.set_viewport_size(PHONE)
    console.signed_in()
    for name in screens(console, seeded):
        width = console.page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{name} scrolls sideways at 390 px: {width} px"
        no_serious_violations(console.page)

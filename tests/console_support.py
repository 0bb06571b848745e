"""What the console's browser tests need: a synchronous client of the real API, and
a realistic reseller to look at (tests/integration/test_console.py)."""

from __future__ import annotations

import base64
import dataclasses
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from tests.api import ADMIN_TOKEN

PENDING_APPROVAL = "Reseller Pending Approval"


class Rest:
    """The API over urllib: the browser tests are synchronous (Playwright's sync API)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def request(self, method: str, path: str, body: Any = None, headers: dict | None = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers or {})
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                raw, status = response.read(), response.status
        except urllib.error.HTTPError as exc:
            raw, status = exc.read(), exc.code
        return status, json.loads(raw) if raw else None

    def admin(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        status, answer = self.request(method, path, body, {"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert status == expect, (method, path, status, answer)
        return answer

    def token(self, client_id: str, secret: str) -> str:
        basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        request = urllib.request.Request(
            self.base_url + "/oauth/token",
            data=urllib.parse.urlencode({"grant_type": "client_credentials"}).encode(),
            headers={"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)["access_token"]


@dataclasses.dataclass
class Credential:
    client_id: str
    secret: str
    token: str


@dataclasses.dataclass
class Reseller:
    """Northwind Cloud: customers, products, custom fields, and a credential per role."""

    rest: Rest
    reseller_id: int
    accounts: dict[str, int]
    products: dict[str, dict]
    clerk: Credential  # orders:read orders:write: builds and checks out orders
    approver: Credential  # orders:read orders:approve
    viewer: Credential  # orders:read
    everything: Credential  # every scope: may check out and try to approve its own order

    def call(self, who: Credential, method: str, path: str, body: Any = None, expect: int | None = None) -> Any:
        status, answer = self.rest.request(method, path, body, {"Authorization": f"Bearer {who.token}"})
        if expect is not None:
            assert status == expect, (method, path, status, answer)
        return answer

    def order(
        self,
        account: str,
        lines: list[tuple[str, int, str, dict]],
        *,
        notes: str | None = None,
        po: str | None = None,
        checkout: bool = True,
        by: Credential | None = None,
    ) -> dict:
        """An order of (product, quantity, cycle, characteristics) lines, checked out unless told."""
        who = by or self.clerk
        order = self.call(who, "POST", "/api/orders", {"accountId": self.accounts[account], "notes": notes}, 201)
        for product, quantity, cycle, values in lines:
            self.call(who, "POST", f"/api/orders/{order['id']}/items", {
                "productId": self.products[product]["id"],
                "quantity": quantity,
                "billingCycle": cycle,
                "characteristics": [{"name": k, "value": v} for k, v in values.items()],
            }, 201)
        if po is not None:
            values = [{"name": "po_number", "value": po}, {"name": "cost_center", "value": "Operations"}]
            self.call(who, "PUT", f"/api/orders/{order['id']}/customfields", values, 200)
        if checkout:
            order = self.call(who, "POST", f"/api/orders/{order['id']}/checkout", None, 202)
        return order

    def pending(self, notes: str | None = None, by: Credential | None = None) -> dict:
        order = self.order(
            "Contoso Ltd", [("M365-BS", 25, "Annually", {"domain": "contoso.example"})],
            notes=notes, po="PO-2291", by=by,
        )
        assert order["status"] == PENDING_APPROVAL, order
        return order

    def status(self, order_id: int) -> str:
        return self.call(self.approver, "GET", f"/api/orders/{order_id}", None, 200)["status"]

    def wait_for(self, order_id: int, status: str, within: float = 15.0) -> None:
        deadline = time.monotonic() + within
        while self.status(order_id) != status:
            assert time.monotonic() < deadline, f"order {order_id} never became {status}"
            time.sleep(0.1)


def northwind(rest: Rest) -> Reseller:
    reseller = rest.admin("POST", "/admin/resellers", {"name": "Northwind Cloud", "edition": "Standard"}, 201)
    rid = reseller["id"]
    accounts = {"Northwind Cloud": reseller["accountId"]}
    for name in ("Contoso Ltd", "Fabrikam Inc", "Tailspin Toys", "Woodgrove Bank"):
        accounts[name] = rest.admin("POST", f"/admin/resellers/{rid}/customers", {"name": name}, 201)["id"]
    rest.admin("POST", f"/admin/resellers/{rid}/customfields",
               {"name": "po_number", "label": "PO number", "type": "text"}, 201)
    rest.admin("POST", f"/admin/resellers/{rid}/customfields",
               {"name": "cost_center", "label": "Cost center", "type": "select",
                "options": ["Operations", "Sales", "R&D"]}, 201)
    products = {}
    for sku, name, prices, characteristics in (
        ("M365-BS", "Microsoft 365 Business Standard", {"Monthly": "11.70", "Annually": "126.00"},
         [{"name": "domain", "label": "Tenant domain", "type": "text", "required": True}]),
        ("BACKUP-500", "Cloud Backup 500 GB", {"Monthly": "19.90", "Annually": "199.00"}, []),
        ("EXCH-P2", "Hosted Exchange Plan 2", {"Monthly": "7.40", "Annually": "79.00"},
         [{"name": "region", "label": "Data region", "type": "select", "options": ["EU", "US"]}]),
    ):
        products[sku] = rest.admin("POST", "/admin/products", {
            "sku": sku, "name": name, "billingCycles": list(prices), "unitPrices": prices, "currency": "EUR",
            "characteristics": characteristics, "fulfillment": {"type": "instant"},
        }, 201)

    def credential(scopes: list[str] | None) -> Credential:
        body = None if scopes is None else {"scopes": scopes}
        made = rest.admin("POST", f"/admin/resellers/{rid}/credentials", body, 201)
        return Credential(made["clientId"], made["clientSecret"], rest.token(made["clientId"], made["clientSecret"]))

    return Reseller(
        rest=rest, reseller_id=rid, accounts=accounts, products=products,
        clerk=credential(["orders:read", "orders:write"]),
        approver=credential(["orders:read", "orders:approve"]),
        viewer=credential(["orders:read"]),
        everything=credential(None),
    )


def history(north: Reseller) -> None:
    """Orders of every kind: executed ones first, then approval turned on and a queue."""
    done = [
        north.order("Fabrikam Inc", [("BACKUP-500", 3, "Monthly", {}),
                                     ("EXCH-P2", 40, "Annually", {"region": "EU"})], po="PO-2270"),
        north.order("Woodgrove Bank", [("M365-BS", 120, "Annually", {"domain": "woodgrove.example"})],
                    po="PO-2275"),
        north.order("Tailspin Toys", [("EXCH-P2", 12, "Monthly", {"region": "US"})], po="PO-2281"),
    ]
    for order in done:
        north.wait_for(order["id"], "Completed")
    north.rest.admin("PATCH", f"/admin/resellers/{north.reseller_id}", {"approvalRequired": True})
    north.order("Tailspin Toys", [("BACKUP-500", 1, "Monthly", {})], checkout=False)
    north.order("Woodgrove Bank", [("BACKUP-500", 10, "Annually", {}),
                                   ("EXCH-P2", 250, "Annually", {"region": "EU"})],
                notes="Second site, go-live on the 1st", po="PO-2288")
    north.order("Fabrikam Inc", [("M365-BS", 15, "Monthly", {"domain": "fabrikam.example"})], po="PO-2290")

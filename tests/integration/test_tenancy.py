"""Another reseller's objects answer exactly like missing ones, on every endpoint,
also when the request carries the owner's real ETag in If-Match or an
Idempotency-Key the owner used."""

import itertools

from tests.subscription_support import bought

MISSING = 987654321
_keys = itertools.count(1)


def _same_answer(theirs, missing):
    (status_a, body_a), (status_b, body_b) = theirs, missing
    assert status_a == status_b
    if body_a is None:
        assert body_b is None
        return
    strip = lambda body: {k: v for k, v in body.items() if k != "requestId"}  # noqa: E731
    assert strip(body_a) == strip(body_b)


async def test_foreign_ids_answer_like_missing_ones_on_every_endpoint(api):
    owner = await api.tenant(name="Owner")
    intruder = await api.tenant(name="Intruder")
    product = await api.product()
    owned = await bought(api, owner, product)
    draft = await api.draft(owner)
    item = await api.item(owner, draft["id"], product)
    confirmed = await api.draft(owner, owner.customer_id)
    await api.item(owner, confirmed["id"], product)
    status, _ = await api.call(owner, "POST", f"/api/orders/{confirmed['id']}/checkout")
    assert status == 202
    await api.call(owner, "PUT", "/api/settings", {"approvalRequired": True})
    # The owner uses a key the intruder will send too: it must not reach the owner's answer.
    status, _ = await api.call(
        owner, "POST", f"/api/orders/{draft['id']}/items",
        {"productId": product["id"], "quantity": 1, "billingCycle": "Monthly"},
        headers={"Idempotency-Key": OWNERS_KEY},  # the intruder sends it too, below
    )
    assert status == 201
    waiting = await api.draft(owner)
    waiting_item = await api.item(owner, waiting["id"], product)
    status, body = await api.call(owner, "POST", f"/api/orders/{waiting['id']}/checkout")
    assert (status, body["status"]) == (202, "Reseller Pending Approval")

    item_body = {"productId": product["id"], "quantity": 1, "billingCycle": "Monthly"}
    values = [{"name": "x", "value": "y"}]
    cases = []
    for order_id, item_id in (
        (draft["id"], item["id"]),
        (confirmed["id"], item["id"]),
        (waiting["id"], waiting_item["id"]),
    ):
        cases += [
            ("GET", "/api/orders/{o}", None),
            ("GET", "/api/orders/{o}/items", None),
            ("POST", "/api/orders/{o}/items", item_body),
            ("GET", "/api/orders/{o}/items/{i}", None),
            ("DELETE", "/api/orders/{o}/items/{i}", None),
            ("POST", "/api/orders/{o}/checkout", None),
            ("GET", "/api/orders/{o}/execute/status", None),
            ("GET", "/api/orders/{o}/customfields", None),
            ("PUT", "/api/orders/{o}/customfields", values),
            ("GET", "/api/orders/{o}/items/{i}/characteristics", None),
            ("PUT", "/api/orders/{o}/items/{i}/characteristics", values),
            ("POST", "/api/orders/{o}/approve", None),
            ("POST", "/api/orders/{o}/cancel", {"reason": "not mine"}),
            ("GET", "/api/orders/{o}/events", None),
        ]
        for method, template, body in cases:
            theirs = await api.call(intruder, method, template.format(o=order_id, i=item_id), body)
            missing = await api.call(intruder, method, template.format(o=MISSING, i=MISSING), body)
            assert theirs[0] == 404, (method, template, theirs)
            _same_answer(theirs, missing)
            if method == "GET":
                continue
            # With the owner's current tag: still missing, never 412 (which would say it exists).
            tag = await _owner_tag(api, owner, template.format(o=order_id, i=item_id))
            theirs = await api.call(
                intruder, method, template.format(o=order_id, i=item_id), body, headers={"If-Match": tag}
            )
            missing = await api.call(
                intruder, method, template.format(o=MISSING, i=MISSING), body, headers={"If-Match": tag}
            )
            assert theirs[0] == 404, (method, template, "If-Match", theirs)
            _same_answer(theirs, missing)
            if method != "POST":
                continue
            # With an Idempotency-Key: missing, and a repeat answers the same.
            keyed = {"Idempotency-Key": f"key-{next(_keys)}"}
            theirs = await api.call(intruder, method, template.format(o=order_id, i=item_id), body, headers=keyed)
            again = await api.call(intruder, method, template.format(o=order_id, i=item_id), body, headers=keyed)
            keyed = {"Idempotency-Key": f"key-{next(_keys)}"}
            missing = await api.call(intruder, method, template.format(o=MISSING, i=MISSING), body, headers=keyed)
            assert theirs[0] == again[0] == 404, (method, template, theirs, again)
            _same_answer(theirs, missing)

    # The owner's very request with the owner's key: the intruder's own request, missing.
    owners_request = f"/api/orders/{draft['id']}/items"
    theirs = await api.call(intruder, "POST", owners_request, item_body, headers={"Idempotency-Key": OWNERS_KEY})
    missing = await api.call(
        intruder, "POST", f"/api/orders/{MISSING}/items", item_body, headers={"Idempotency-Key": "fresh"}
    )
    assert theirs[0] == 404 and "Idempotent-Replayed" not in (theirs[1] or {})
    _same_answer(theirs, missing)

    # Subscriptions and accounts, by id; and a change item naming the owner's subscription.
    for method, template, body in (
        ("GET", "/api/subscriptions/{s}", None),
        ("GET", "/api/accounts/{a}", None),
        ("PUT", "/api/accounts/{a}/settings", {"approvalRequired": True}),
        ("PUT", "/api/accounts/{a}/settings", {"approvalRequired": "bad body"}),
    ):
        for account_id in (owner.account_id, owner.customer_id):
            theirs = await api.call(intruder, method, template.format(s=owned["id"], a=account_id), body)
            missing = await api.call(intruder, method, template.format(s=MISSING, a=MISSING), body)
            assert theirs[0] == 404, (method, template, theirs)
            _same_answer(theirs, missing)
    mine = await api.draft(intruder, intruder.customer_id)
    change = {"subscriptionId": owned["id"], "action": "cancel"}
    theirs = await api.call(intruder, "POST", f"/api/orders/{mine['id']}/items", change)
    missing = await api.call(intruder, "POST", f"/api/orders/{mine['id']}/items", dict(change, subscriptionId=MISSING))
    assert theirs[0] == 422
    _same_answer(theirs, missing)
    for query in ("", f"?accountId={owner.customer_id}", f"?productId={product['id']}", "?status=Active"):
        status, page = await api.call(intruder, "GET", f"/api/subscriptions{query}")
        assert (status, page["items"]) == (200, []), query

    # The owner's item under the intruder's own order is missing too.
    own = await api.draft(intruder)
    theirs = await api.call(intruder, "GET", f"/api/orders/{own['id']}/items/{item['id']}")
    missing = await api.call(intruder, "GET", f"/api/orders/{own['id']}/items/{MISSING}")
    _same_answer(theirs, missing)

    # An order for the owner's accounts is the same 422 as for an unknown account.
    for account_id in (owner.account_id, owner.customer_id):
        theirs = await api.call(intruder, "POST", "/api/orders", {"accountId": account_id})
        missing = await api.call(intruder, "POST", "/api/orders", {"accountId": MISSING})
        assert theirs[0] == 422
        _same_answer(theirs, missing)

    # Lists never show the owner's rows, whatever the filters.
    for query in ("stage=All", "stage=Draft", f"stage=All&accountId={owner.customer_id}"):
        status, page = await api.call(intruder, "GET", f"/api/orders?{query}")
        assert status == 200
        assert all(o["id"] in (own["id"], mine["id"]) for o in page["items"]), query
    status, accounts = await api.call(intruder, "GET", "/api/accounts")
    assert {a["id"] for a in accounts["items"]} == {intruder.account_id, intruder.customer_id}

    # The events feed shows none of the owner's events, whatever the filters.
    for query in ("", f"?orderId={draft['id']}", "?type=order.created"):
        status, feed = await api.call(intruder, "GET", f"/api/events{query}")
        assert status == 200
        assert all(event["orderId"] in (own["id"], mine["id"]) for event in feed["items"]), query
    # ... and the owner's order is untouched by all of the above.
    status, still = await api.call(owner, "GET", f"/api/orders/{waiting['id']}")
    assert (still["status"], still["decidedBy"]) == ("Reseller Pending Approval", None)
    for account_id in (owner.account_id, owner.customer_id):
        assert (await api.call(owner, "GET", f"/api/accounts/{account_id}"))[1]["approvalRequired"] is None
    assert await api.call(owner, "GET", f"/api/subscriptions/{owned['id']}") == (200, owned)


OWNERS_KEY = "owners-key"


async def _owner_tag(api, owner, path: str) -> str:
    """The owner's current ETag of what a write to `path` compares with If-Match."""
    parts = path.split("/")
    if parts[-1] in ("customfields", "characteristics"):
        target = path
    elif len(parts) >= 6 and parts[4] == "items" and parts[5].isdigit():
        target = "/".join(parts[:6])  # an item (DELETE) or its characteristics
    else:
        target = "/".join(parts[:4])  # the order (items, checkout, approve, cancel)
    response = await api.client.get(target, headers=owner.headers)
    if response.status != 200:  # an item of another of the owner's orders: take the order's tag
        response = await api.client.get("/".join(parts[:4]), headers=owner.headers)
    assert response.status == 200, target
    return response.headers["ETag"]


async def test_an_item_of_another_order_is_404(api):
    tenant = await api.tenant()
    product = await api.product()
    first, second = await api.draft(tenant), await api.draft(tenant)
    item = await api.item(tenant, first["id"], product)
    status, problem = await api.call(tenant, "GET", f"/api/orders/{second['id']}/items/{item['id']}")
    assert (status, problem["code"]) == (404, "not_found")
    status, _ = await api.call(tenant, "DELETE", f"/api/orders/{second['id']}/items/{item['id']}")
    assert status == 404

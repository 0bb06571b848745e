"""ETag, If-None-Match and If-Match on orders, items, custom fields and
characteristics, through real HTTP: a tag changes exactly when its
representation does (the poll job's changes included), 304 for the current
tag, 412 and no change for another, and the check cannot be split from the
write it guards."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from service.state import POLLER
from tests.api import PROBLEM
from tests.locks import order_held, waiting_for_locks


@dataclasses.dataclass
class Draft:
    tenant: object
    order: dict
    item: dict
    product: dict

    @property
    def paths(self) -> dict[str, str]:
        order = f"/api/orders/{self.order['id']}"
        item = f"{order}/items/{self.item['id']}"
        return {
            "order": order,
            "item": item,
            "customfields": f"{order}/customfields",
            "characteristics": f"{item}/characteristics",
        }


@pytest.fixture
async def draft(api) -> Draft:
    tenant = await api.tenant()
    await api.admin(
        "POST",
        f"/admin/resellers/{tenant.reseller_id}/customfields",
        {"name": "po", "label": "PO", "type": "text"},
        expect=201,
    )
    product = await api.product(characteristics=[{"name": "domain", "label": "Domain", "type": "text"}])
    order = await api.draft(tenant)
    item = await api.item(tenant, order["id"], product)
    return Draft(tenant=tenant, order=order, item=item, product=product)


async def get(api, tenant, path: str, **headers: str):
    response = await api.client.get(path, headers={**tenant.headers, **headers})
    return response.status, response.headers.get("ETag"), await response.read()


async def tags(api, draft: Draft) -> dict[str, str]:
    found = {}
    for name, path in draft.paths.items():
        status, tag, _ = await get(api, draft.tenant, path)
        assert status == 200 and tag, (name, status)
        found[name] = tag
    return found


async def write(api, tenant, method: str, path: str, body=None, *, if_match: str | None = None):
    headers = dict(tenant.headers)
    if if_match is not None:
        headers["If-Match"] = if_match
    response = await api.client.request(method, path, json=body, headers=headers)
    return response.status, await response.json(content_type=None) if response.status != 204 else None


def changed(before: dict, after: dict) -> set[str]:
    return {name for name in before if before[name] != after[name]}


async def test_each_tag_changes_exactly_when_its_representation_does(api, client, draft):
    tenant, paths = draft.tenant, draft.paths
    start = await tags(api, draft)
    assert len(set(start.values())) == 4
    assert await tags(api, draft) == start  # reading changes nothing

    other = await api.draft(tenant)  # another order's changes are not this one's
    await api.item(tenant, other["id"], draft.product)
    assert await tags(api, draft) == start

    steps = [
        # (what, the request, the representations it changes)
        (
            "custom field",
            ("PUT", paths["customfields"], [{"name": "po", "value": "PO-1"}]),
            {"customfields", "order"},
        ),
        ("same value again", ("PUT", paths["customfields"], [{"name": "po", "value": "PO-1"}]), {"order"}),
        (
            "characteristic",
            ("PUT", paths["characteristics"], [{"name": "domain", "value": "a.example"}]),
            {"characteristics"},
        ),
        ("refused value", ("PUT", paths["customfields"], [{"name": "nope", "value": "x"}]), set()),
        (
            "another item",
            (
                "POST",
                paths["order"] + "/items",
                {"productId": draft.product["id"], "quantity": 1, "billingCycle": "Monthly"},
            ),
            {"order"},
        ),
        ("checkout", ("POST", paths["order"] + "/checkout", None), {"order", "item"}),
    ]
    before = start
    for what, (method, path, body), expected in steps:
        status, answer = await write(api, tenant, method, path, body)
        assert status < 300 or not expected, (what, answer)
        after = await tags(api, draft)
        assert changed(before, after) == expected, what
        before = after

    # The poll job completes the instant items: order and item change, nothing else.
    assert await client.app[POLLER].run_once() == 2
    after = await tags(api, draft)
    assert changed(before, after) == {"order", "item"}
    _, _, body = await get(api, tenant, paths["order"])
    assert b'"Completed"' in body
    assert await client.app[POLLER].run_once() == 0
    assert await tags(api, draft) == after


async def test_if_none_match_with_the_current_tag_answers_304_without_a_body(api, draft):
    for name, path in draft.paths.items():
        _, tag, body = await get(api, draft.tenant, path)
        for header in (tag, f"W/{tag}", f'"elsewhere", {tag}', "*"):
            status, again, rest = await get(api, draft.tenant, path, **{"If-None-Match": header})
            assert (status, again, rest) == (304, tag, b""), (name, header)
        status, again, rest = await get(api, draft.tenant, path, **{"If-None-Match": '"stale"'})
        assert (status, again, rest) == (200, tag, body), name


def _guarded_writes(draft: Draft) -> list[tuple[str, str, str, object]]:
    """(whose tag, method, path, body) of every write that takes If-Match."""
    paths = draft.paths
    item = {"productId": draft.product["id"], "quantity": 1, "billingCycle": "Monthly"}
    return [
        ("customfields", "PUT", paths["customfields"], [{"name": "po", "value": "PO-9"}]),
        ("characteristics", "PUT", paths["characteristics"], [{"name": "domain", "value": "b.example"}]),
        ("item", "DELETE", paths["item"], None),
        ("order", "POST", paths["order"] + "/items", item),
        ("order", "POST", paths["order"] + "/checkout", None),
    ]


async def test_a_write_with_another_tag_is_refused_with_412_and_changes_nothing(api, conn, draft):
    events = "SELECT count(*) FROM order_events"
    for whose, method, path, body in _guarded_writes(draft):
        before, count = await tags(api, draft), await conn.fetchval(events)
        # Another tag, and the current one marked weak: If-Match compares strongly.
        for header in ('"not-the-tag"', f"W/{before[whose]}"):
            status, problem = await write(api, draft.tenant, method, path, body, if_match=header)
            assert status == 412, (path, problem)
            assert problem["code"] == "precondition_failed"
        assert await tags(api, draft) == before
        assert await conn.fetchval(events) == count
        if method != "DELETE" and not path.endswith("/checkout"):
            status, _ = await write(api, draft.tenant, method, path, body, if_match=before[whose])
            assert status in (200, 201), path
    status, _ = await write(
        api, draft.tenant, "DELETE", draft.paths["item"], if_match=(await tags(api, draft))["item"]
    )
    assert status == 204


async def test_approve_and_cancel_compare_the_orders_tag(api, draft):
    tenant = draft.tenant
    approver = await api.colleague(tenant)
    await write(api, tenant, "PUT", "/api/settings", {"approvalRequired": True})
    status, _ = await write(api, tenant, "POST", draft.paths["order"] + "/checkout")
    assert status == 202
    _, tag, _ = await get(api, tenant, draft.paths["order"])
    for decision in ("approve", "cancel"):
        status, problem = await write(
            api, approver, "POST", f"{draft.paths['order']}/{decision}", if_match='"old"'
        )
        assert (status, problem["code"]) == (412, "precondition_failed")
    assert (await get(api, tenant, draft.paths["order"]))[1] == tag
    status, order = await write(api, approver, "POST", draft.paths["order"] + "/approve", if_match=tag)
    assert (status, order["status"]) == (202, "Pending")


async def test_the_tag_is_checked_after_the_body_and_before_the_state(api, draft):
    tenant, paths = draft.tenant, draft.paths
    status, problem = await write(
        api, tenant, "PUT", paths["customfields"], [{"name": "po"}], if_match='"old"'
    )
    assert (status, problem["code"]) == (422, "validation_error")
    _, tag, _ = await get(api, tenant, paths["order"])
    assert (await write(api, tenant, "POST", paths["order"] + "/checkout", if_match=tag))[0] == 202
    status, problem = await write(api, tenant, "POST", paths["order"] + "/checkout", if_match=tag)
    assert (status, problem["code"]) == (412, "precondition_failed")  # the checkout changed the order
    _, tag, _ = await get(api, tenant, paths["order"])
    status, problem = await write(api, tenant, "POST", paths["order"] + "/checkout", if_match=tag)
    assert (status, problem["code"]) == (409, "order_not_draft")
    _, tag, _ = await get(api, tenant, paths["customfields"])
    status, problem = await write(api, tenant, "PUT", paths["customfields"], [], if_match=tag)
    assert (status, problem["code"]) == (409, "order_not_draft")


@pytest.mark.parametrize("whose", ["customfields", "characteristics", "order"])
async def test_of_two_writers_holding_one_tag_exactly_one_wins(api, conn, dsn, draft, whose):
    """Two people edit one draft from the same reading. Both requests are in
    flight at once, waiting for the order's lock: the first to get it writes,
    the second then finds the tag stale. Compared before the lock, both would
    pass and the second would silently overwrite the first."""
    colleague = await api.colleague(draft.tenant)
    paths = draft.paths
    tag = (await tags(api, draft))[whose]
    if whose == "order":
        path, method = paths["order"] + "/items", "POST"
        bodies = [
            {"productId": draft.product["id"], "quantity": q, "billingCycle": "Monthly"} for q in (3, 4)
        ]
    else:
        path, method = paths[whose], "PUT"
        name = "po" if whose == "customfields" else "domain"
        bodies = [[{"name": name, "value": value}] for value in ("alice", "bob")]
    async with order_held(dsn, draft.order["id"]):
        racing = [
            asyncio.ensure_future(write(api, who, method, path, body, if_match=tag))
            for who, body in zip((draft.tenant, colleague), bodies, strict=True)
        ]
        await waiting_for_locks(conn, 2)
    results = await asyncio.gather(*racing)
    statuses = sorted(status for status, _ in results)
    assert statuses == [200 if method == "PUT" else 201, 412], results
    winner = next(body for (status, _), body in zip(results, bodies, strict=True) if status < 300)
    if whose == "order":
        quantities = await conn.fetch(
            "SELECT quantity FROM order_items WHERE order_id = $1", draft.order["id"]
        )
        assert sorted(r["quantity"] for r in quantities) == sorted(
            [draft.item["quantity"], winner["quantity"]]
        )
    else:
        _, _, body = await get(api, draft.tenant, path)
        assert f'"value":"{winner[0]["value"]}"'.encode() in body


async def test_a_write_refused_for_its_tag_is_problem_json(api, draft):
    response = await api.client.put(
        draft.paths["customfields"], json=[], headers={**draft.tenant.headers, "If-Match": '"x"'}
    )
    assert response.status == 412
    assert response.content_type == PROBLEM

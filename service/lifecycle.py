"""The order lifecycle: every status, the stages that group them, and the moves
between them; the subscriptions that completed purchases become, and the
actions an item takes. The one place these names live in Python; the SQL that
moves an order, an item or a subscription declares each move with a
`-- transition: [item |subscription ]A -> B` line, and
tests/unit/test_lifecycle.py checks that the SQL uses exactly these names and
only these moves.

    Draft ──checkout──▶ Pending ──▶ In Progress ──▶ Completed
      │                    ▲                   ├──▶ Partially Completed
      │ checkout           │ approve           └──▶ Failed
      │ (approval on)      │
      └──▶ Reseller Pending Approval ──cancel──▶ Cancelled by Reseller

A purchase item that completes creates a subscription (Active); a change item
(changeQuantity, cancel) names one, and when it completes changes it:

    Active ──cancel item completes──▶ Cancelled

A Draft whose expirationDate is before today (UTC) is expired: invisible to
every endpoint at once, deleted by the expiry job later. In SQL that rule is
the view `visible_orders` (sql/migrations/0003_lifecycle.sql).
"""

from __future__ import annotations

from types import MappingProxyType

DRAFT = "Draft"
PENDING_APPROVAL = "Reseller Pending Approval"
CANCELLED = "Cancelled by Reseller"
PENDING = "Pending"
IN_PROGRESS = "In Progress"
COMPLETED = "Completed"
PARTIALLY_COMPLETED = "Partially Completed"
FAILED = "Failed"

ORDER_STATUSES = (
    DRAFT,
    PENDING_APPROVAL,
    CANCELLED,
    PENDING,
    IN_PROGRESS,
    COMPLETED,
    PARTIALLY_COMPLETED,
    FAILED,
)
# An item's execution status; null while its order is not executing.
ITEM_STATUSES = (PENDING, IN_PROGRESS, COMPLETED, FAILED)

TRANSITIONS = MappingProxyType(
    {
        DRAFT: frozenset({PENDING, PENDING_APPROVAL}),
        PENDING_APPROVAL: frozenset({PENDING, CANCELLED}),
        # Pending straight to a final status: every item finished within one tick.
        PENDING: frozenset({IN_PROGRESS, COMPLETED, PARTIALLY_COMPLETED, FAILED}),
        IN_PROGRESS: frozenset({COMPLETED, PARTIALLY_COMPLETED, FAILED}),
        CANCELLED: frozenset(),
        COMPLETED: frozenset(),
        PARTIALLY_COMPLETED: frozenset(),
        FAILED: frozenset(),
    }
)
ITEM_TRANSITIONS = MappingProxyType(
    {
        PENDING: frozenset({IN_PROGRESS}),
        IN_PROGRESS: frozenset({COMPLETED, FAILED}),
        COMPLETED: frozenset(),
        FAILED: frozenset(),
    }
)

# What an order item does. Without a subscription it buys (PURCHASE, the
# default); naming one, it changes that subscription's quantity or cancels it.
PURCHASE = "purchase"
CHANGE_QUANTITY = "changeQuantity"
CANCEL = "cancel"
ITEM_ACTIONS = (PURCHASE, CHANGE_QUANTITY, CANCEL)
CHANGE_ACTIONS = frozenset({CHANGE_QUANTITY, CANCEL})

# A subscription's status. Not the order's "Cancelled by Reseller": that order never executed.
ACTIVE = "Active"
SUBSCRIPTION_CANCELLED = "Cancelled"
SUBSCRIPTION_STATUSES = (ACTIVE, SUBSCRIPTION_CANCELLED)
SUBSCRIPTION_TRANSITIONS = MappingProxyType(
    {
        ACTIVE: frozenset({SUBSCRIPTION_CANCELLED}),
        SUBSCRIPTION_CANCELLED: frozenset(),
    }
)

EXECUTING = frozenset({PENDING, IN_PROGRESS})
FINAL = frozenset({COMPLETED, PARTIALLY_COMPLETED, FAILED})
# Stage Confirmed is every status but these; stage Draft is DRAFT alone.
NOT_CONFIRMED = frozenset({DRAFT, PENDING_APPROVAL, CANCELLED})
STAGES = ("Confirmed", "Draft", "All")


def may_move(current: str, to: str) -> bool:
    return to in TRANSITIONS.get(current, frozenset())


def is_confirmed(status: str) -> bool:
    return status not in NOT_CONFIRMED


# What the events trail records (service.domain.events); the SQL that writes
# each is checked against this list by tests/unit/test_lifecycle.py.
EVENT_TYPES = (
    "order.created",
    "order.item_added",
    "order.item_removed",
    "order.values_changed",
    "order.checked_out",
    "order.approval_requested",
    "order.approved",
    "order.cancelled",
    "order.status_changed",
    "item.status_changed",
    "order.expired",
    "subscription.created",
    "subscription.changed",
    "subscription.cancelled",
)

# What each event type records and its `data`, for the reference (docs/hooks.py
# renders docs/reference/events.md from these two tables). A type without an
# entry here is listed as not described.
EVENT_DESCRIPTIONS = MappingProxyType(
    {
        "order.created": ("a Draft is created", "`{}`"),
        "order.item_added": ("an item is added to a Draft", '`{"itemId"}`'),
        "order.item_removed": ("an item is removed from a Draft", '`{"itemId"}`'),
        "order.values_changed": (
            "custom fields or an item's characteristics are changed",
            '`{"customFields": [names]}` or `{"itemId", "characteristics": [names]}`',
        ),
        "order.checked_out": ("checkout succeeds", '`{"itemCount", "total", "currency"}`'),
        "order.approval_requested": ("checkout stops at `Reseller Pending Approval`", "`{}`"),
        "order.approved": ("another credential approves the order; execution starts", "`{}`"),
        "order.cancelled": ("an order waiting for approval is cancelled", '`{"reason"}`'),
        "order.status_changed": ("any change of the order's status, by whoever made it", '`{"from", "to"}`'),
        "item.status_changed": (
            "an item's execution status changes",
            '`{"itemId", "from", "to", "message", "subscriptionId"}`',
        ),
        "order.expired": (
            "the expiry job deletes an expired Draft (its events stay)",
            '`{"expirationDate"}`',
        ),
        "subscription.created": (
            "a purchase item completes and becomes a subscription (`orderId`: that purchase)",
            '`{"subscriptionId", "itemId", "productId", "quantity"}`',
        ),
        "subscription.changed": (
            "a `changeQuantity` item completes (`orderId`: the change order)",
            '`{"subscriptionId", "from": {"quantity"}, "to": {"quantity"}}`',
        ),
        "subscription.cancelled": (
            "a `cancel` item completes (`orderId`: the change order)",
            '`{"subscriptionId"}`',
        ),
    }
)

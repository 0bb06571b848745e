// Words for what the API answers: statuses, money, times, events and problems.

import { ApiError, NetworkError } from "./api.js";

export const PENDING_APPROVAL = "Reseller Pending Approval";

const BADGES = {
  Draft: "draft",
  "Reseller Pending Approval": "approval",
  "Cancelled by Reseller": "cancelled",
  Pending: "pending",
  "In Progress": "progress",
  Completed: "completed",
  "Partially Completed": "partial",
  Failed: "failed",
  // A subscription's.
  Active: "completed",
  Cancelled: "cancelled",
};

const ACTIONS = { purchase: "Purchase", changeQuantity: "Change quantity", cancel: "Cancel subscription" };

/** What an item does, in words; actions added later show as they are named. */
export function actionLabel(action) {
  return ACTIONS[action] || action || "Purchase";
}

/** The CSS class of a status badge; statuses added later get a neutral one. */
export function badgeClass(status) {
  return `badge badge-${BADGES[status] || "other"}`;
}

export function money(amount, currency) {
  if (amount === null || amount === undefined) return "—";
  if (!currency) return amount;
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(Number(amount));
  } catch {
    return `${amount} ${currency}`;
  }
}

export function day(value) {
  if (!value) return "—";
  const [year, month, date] = value.split("-").map(Number);
  return new Date(Date.UTC(year, month - 1, date)).toLocaleDateString(undefined, {
    year: "numeric", month: "short", day: "numeric", timeZone: "UTC",
  });
}

/** A timestamp to the minute, for facts; the timeline shows seconds (`moment`). */
export function when(value) {
  if (!value) return "—";
  return new Date(value).toLocaleString(undefined, {
    year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
  });
}

export function moment(value) {
  if (!value) return "—";
  return new Date(value).toLocaleString(undefined, {
    year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
}

export function actor(actorValue) {
  if (!actorValue) return "";
  if (actorValue.type === "system") return "System";
  if (actorValue.type === "operator") return "Operator";
  return actorValue.clientId || "A client";
}

/** One line for an event of the timeline, and an optional detail. */
export function describeEvent(event) {
  const data = event.data || {};
  switch (event.type) {
    case "order.created": return ["Order created"];
    case "order.item_added": return [`Item ${data.itemId} added`];
    case "order.item_removed": return [`Item ${data.itemId} removed`];
    case "order.values_changed": return ["Values changed", changedNames(data)];
    case "order.checked_out": return ["Checked out"];
    case "order.approval_requested": return ["Approval requested"];
    case "order.approved": return ["Approved"];
    case "order.cancelled": return ["Cancelled", data.reason ? `Reason: ${data.reason}` : "No reason given"];
    case "order.status_changed": return [`Status ${data.from} → ${data.to}`];
    case "item.status_changed":
      return [`Item ${data.itemId}: ${data.from} → ${data.to}`,
        [data.message, data.subscriptionId && `subscription ${data.subscriptionId}`].filter(Boolean).join(" · ")];
    case "order.expired": return ["Draft expired"];
    case "subscription.created":
      return [`Subscription #${data.subscriptionId} created`, `from item ${data.itemId}, quantity ${data.quantity}`];
    case "subscription.changed":
      return [`Subscription #${data.subscriptionId}: quantity ${(data.from || {}).quantity} → ${(data.to || {}).quantity}`];
    case "subscription.cancelled": return [`Subscription #${data.subscriptionId} cancelled`];
    default: return [event.type];
  }
}

function changedNames(data) {
  const names = [...(data.customFields || []), ...(data.characteristics || [])];
  return names.length ? names.join(", ") : "";
}

/** What a person should read about a failed call; `action` says what they tried. */
export function explain(error, action = "That") {
  if (error instanceof NetworkError) return error.message;
  if (!(error instanceof ApiError)) return `${action} failed unexpectedly: ${error.message}`;
  const problem = error.problem;
  const reference = problem.requestId ? ` (request ${problem.requestId})` : "";
  const wait = error.retryAfter !== null && error.retryAfter !== undefined
    ? ` Try again in ${error.retryAfter} s.` : "";
  switch (error.code) {
    case "approver_is_submitter":
      return "You checked this order out, so you cannot approve it: four eyes means another credential must approve it. You may still cancel it.";
    case "order_not_pending_approval":
      return "This order is no longer waiting for approval: someone decided it in the meantime. The view now shows its current state.";
    case "insufficient_scope":
      return `Your credential is not allowed to do this: ${problem.detail || "a scope is missing"}.`;
    case "edition_not_permitted":
      return "Your reseller's edition may only read orders.";
    case "rate_limited":
    case "too_many_streams":
      return `Too many requests for now.${wait || " Try again shortly."}`;
    case "not_found":
      return "This order does not exist, or is no longer visible to you.";
    case "subscription_change_pending":
      return `${problem.detail || "A subscription of this order has another change pending"}.`;
    case "validation_error":
      return `${action} was refused: ${(problem.errors || []).map((e) => `${e.field}: ${e.message}`).join("; ") || problem.detail}.`;
    case "invalid_client":
      return "The client ID or secret is not right.";
    case "slow_down":
      return `Too many failed sign-ins for this client ID.${wait}`;
    case "service_unavailable":
      return `The service is unavailable for a moment.${wait || " Try again shortly."}`;
    default:
      break;
  }
  if (error.status === 409) return `${problem.detail || "Not possible in the order's current state"}.${reference}`;
  if (error.status === 429) return `Too many requests.${wait}`;
  return `${action} failed: ${problem.title || `HTTP ${error.status}`}${problem.detail && problem.detail !== problem.title ? ` — ${problem.detail}` : ""}${reference}`;
}

// One order: its facts, the approval decision, execution progress, items with
// their characteristics, custom fields, and the timeline of its events.

import { call, can, current, get } from "./api.js";
import { byId, cell, fact, fill, h, show } from "./dom.js";
import {
  PENDING_APPROVAL, actionLabel, actor, badgeClass, day, describeEvent, explain, moment, money, when,
} from "./format.js";
import { LiveView } from "./view.js";

const CONFIRMED = new Set(["Pending", "In Progress", "Completed", "Partially Completed", "Failed"]);
const MAX_TIMELINE_PAGES = 5;
const VALUE_EVENTS = new Set(["order.values_changed", "order.item_added", "order.item_removed"]);

export class OrderView extends LiveView {
  /** accountHref(accountId): the link of an account's view (its approval setting and subscriptions). */
  constructor({ onDecided, accountHref }) {
    super({ message: "order-message", what: "the order" });
    this.onDecided = onDecided;
    this.accountHref = accountHref;
    this.cooldown = null;
    byId("approve").addEventListener("click", () => this.#decide("approve"));
    byId("cancel").addEventListener("click", () => this.#decide("cancel"));
  }

  async open(id) {
    if (id !== this.id) {
      this.id = id;
      this.values = null; // custom fields and characteristics, read again only when they change
      byId("reason").value = "";
      show(byId("decision-message"), false);
      show(byId("order-message"), false);
      byId("order-title").textContent = `Order #${id}`;
    }
    await this.refresh();
  }

  /** Read the order again soon: at most once per `delay` however many events arrive. */
  soon(event, delay = 300) {
    if (event && VALUE_EVENTS.has(event.type)) this.values = null;
    super.soon(delay);
  }

  load(id) {
    return load(id, this.values);
  }

  render(loaded) {
    const { items } = loaded;
    this.values = { values: loaded.values, characteristics: loaded.characteristics, itemIds: items.map((i) => i.id) };
    this.#render(loaded);
  }

  #render({ order, items, characteristics, values, events, execution }) {
    this.order = order;
    const status = byId("order-status");
    status.textContent = order.status;
    status.className = badgeClass(order.status);
    fill(byId("order-facts"), facts(order, this.accountHref(order.accountId)));
    this.#renderDecision(order);
    show(byId("progress-block"), Boolean(execution));
    if (execution) fill(byId("progress"), progress(execution));
    fill(byId("items"), items.length
      ? itemsTable(items, characteristics, order.currency) : h("p", { class: "muted" }, "No items."));
    fill(byId("values"), values.length ? valueList(values) : h("p", { class: "muted" }, "No custom fields."));
    fill(byId("timeline"), events.map(timelineEntry));
  }

  #renderDecision(order) {
    const waiting = order.status === PENDING_APPROVAL;
    show(byId("decision"), waiting);
    if (!waiting) return;
    const mine = current() && order.submittedBy === current().clientId;
    const allowed = can("orders:approve");
    show(byId("decision-actions"), allowed);
    byId("decision-note").textContent = !allowed
      ? "You are signed in with a credential that may only read: approving or cancelling needs the scope orders:approve."
      : mine
        ? "You checked this order out. Four eyes: another credential must approve it; you may cancel it."
        : `Submitted by ${order.submittedBy || "another credential"} on ${when(order.checkedOutAt)}. `
          + "Check the items and values, then approve it or cancel it with a reason.";
  }

  async #decide(decision) {
    const id = this.id;
    const reason = byId("reason").value.trim();
    const body = decision === "cancel" ? (reason ? { reason } : {}) : undefined;
    const buttons = [byId("approve"), byId("cancel")];
    for (const button of buttons) button.disabled = true;
    byId("decision").setAttribute("aria-busy", "true");
    const message = byId("decision-message");
    let cooldown = 0;
    try {
      await call("POST", `/api/orders/${id}/${decision}`, { body });
      message.className = "alert alert-success";
      message.textContent = decision === "approve"
        ? `Order #${id} approved: it is executing now.` : `Order #${id} cancelled.`;
      byId("reason").value = "";
      this.onDecided();
    } catch (error) {
      message.className = "alert";
      message.textContent = explain(error, decision === "approve" ? "Approving" : "Cancelling");
      if (error.status === 409 || error.status === 404) this.onDecided();
      cooldown = error.retryAfter || 0;
    } finally {
      show(message);
      byId("decision").removeAttribute("aria-busy");
      setTimeout(() => { for (const button of buttons) button.disabled = false; }, cooldown * 1000);
    }
    if (id === this.id) await this.refresh();
  }
}

async function load(id, known) {
  const base = `/api/orders/${id}`;
  const [order, items, events] = await Promise.all([get(base), get(`${base}/items?pageSize=200`), timeline(base)]);
  const ids = items.items.map((item) => item.id);
  // Values change only on the events that say so (see VALUE_EVENTS); execution does not touch them.
  const reuse = known && known.itemIds.length === ids.length && known.itemIds.every((v, i) => v === ids[i]);
  const [values, characteristics, execution] = await Promise.all([
    reuse ? known.values : get(`${base}/customfields`),
    reuse ? known.characteristics
      : Promise.all(ids.slice(0, 50).map((itemId) => get(`${base}/items/${itemId}/characteristics`))),
    CONFIRMED.has(order.status) ? get(`${base}/execute/status`) : null,
  ]);
  return { order, items: items.items, characteristics, values, events, execution };
}

async function timeline(base) {
  const events = [];
  let cursor = "";
  for (let page = 0; page < MAX_TIMELINE_PAGES; page += 1) {
    const answer = await get(`${base}/events?pageSize=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    events.push(...answer.items);
    if (!answer.nextCursor) break;
    cursor = answer.nextCursor;
  }
  return events;
}

function facts(order, accountHref) {
  const present = (value) => value !== null && value !== undefined && value !== "";
  return [
    fact("Account", h("a", { href: accountHref }, order.accountName)),
    fact("Order date", day(order.orderDate)),
    fact("Total", money(order.total, order.currency), "numeric-strong"),
    fact("Items", String(order.itemCount)),
    order.expirationDate ? fact("Expires", day(order.expirationDate)) : null,
    present(order.checkedOutAt) ? fact("Checked out", when(order.checkedOutAt)) : null,
    present(order.submittedBy) ? fact("Submitted by", order.submittedBy, "mono") : null,
    present(order.decidedBy) ? fact("Decided by", order.decidedBy, "mono") : null,
    order.cancellationReason !== null ? fact("Cancellation reason", order.cancellationReason, "wrap wide") : null,
    present(order.notes) ? fact("Notes", order.notes, "wrap notes") : null,
  ];
}

function progress(execution) {
  const { total, completed, failed, inProgress, pending } = execution.progress;
  const done = completed + failed;
  const bar = h("div", {
    class: "bar",
    attrs: {
      role: "progressbar", "aria-label": "Items finished", "aria-valuemin": 0, "aria-valuemax": total || 1,
      "aria-valuenow": done, "aria-valuetext": `${done} of ${total} items finished`,
    },
  });
  for (const [count, kind] of [[completed, "completed"], [failed, "failed"], [inProgress, "progress"]]) {
    const part = h("span", { class: `bar-${kind}` });
    part.style.width = total ? `${(100 * count) / total}%` : "0%"; // CSSOM: allowed by the CSP
    bar.append(part);
  }
  const counts = [[completed, "completed"], [failed, "failed"], [inProgress, "in progress"], [pending, "pending"]];
  return [
    bar,
    h("p", { class: "progress-counts" },
      counts.map(([count, label]) => h("span", { class: "progress-count" }, h("strong", {}, String(count)), ` ${label}`))),
    execution.completedAt ? h("p", { class: "muted" }, `Finished ${when(execution.completedAt)}`) : null,
  ];
}

function itemsTable(items, characteristics, currency) {
  const headers = [
    ["Product", ""], ["Action", ""], ["Quantity", "numeric"], ["Price", "numeric"], ["Total", "numeric"], ["Status", ""],
  ];
  return h("div", { class: "table-scroll" }, h("table", { class: "items-table" },
    h("caption", { class: "visually-hidden" }, "Items of the order"),
    h("thead", {}, h("tr", {}, headers.map(([label, kind]) => h("th", { scope: "col", class: kind }, label)))),
    h("tbody", {}, items.map((item, index) => h("tr", {},
      h("th", { scope: "row", class: "cell-product" },
        h("span", { class: "product" }, item.productName),
        h("span", { class: "sku" }, item.sku),
        characteristicList(characteristics[index])),
      cell("Action", "cell-action", actionLabel(item.action),
        item.subscriptionId ? h("span", { class: "sub" }, `Subscription #${item.subscriptionId}`) : null),
      cell("Quantity", "numeric", String(item.quantity)),
      cell("Price", "numeric cell-price", money(item.unitPrice, currency), h("span", { class: "sub" }, item.billingCycle)),
      cell("Total", "numeric", money(item.totalPrice, currency)),
      cell("Status", "cell-status",
        item.status ? h("span", { class: badgeClass(item.status) }, item.status) : h("span", { class: "muted" }, "Not started")))))));
}

function characteristicList(values) {
  if (!values || !values.length) return null;
  return h("dl", { class: "characteristics" }, values.map((value) => [
    h("dt", {}, value.label || value.name),
    h("dd", {}, value.value === null || value.value === undefined ? "—" : String(value.value)),
  ]));
}

function valueList(values) {
  return h("dl", { class: "facts values" }, values.map((value) => fact(
    value.label || value.name,
    value.value === null || value.value === undefined ? null : String(value.value),
    "wrap",
  )));
}

function timelineEntry(event) {
  const [title, detail] = describeEvent(event);
  return h("li", { class: `event event-${event.type.replace(/[^a-z]+/g, "-")}` },
    h("span", { class: "event-meta" },
      h("time", { attrs: { datetime: event.occurredAt } }, moment(event.occurredAt)),
      h("span", { class: "event-actor" }, actor(event.actor))),
    h("span", { class: "event-title" }, title),
    detail ? h("span", { class: "event-detail" }, detail) : null);
}

// The orders list: a tab per stage (and the approval queue), filters, cursor paging.

import { get } from "./api.js";
import { byId, fill, h, show } from "./dom.js";
import { PENDING_APPROVAL, badgeClass, day, explain, money } from "./format.js";

const PAGE_SIZE = 25;
const VIEWS = {
  pending: { stage: "All", status: PENDING_APPROVAL, caption: "Orders waiting for approval", statuses: [] },
  confirmed: {
    stage: "Confirmed", caption: "Confirmed orders",
    statuses: ["Pending", "In Progress", "Completed", "Partially Completed", "Failed"],
  },
  draft: { stage: "Draft", caption: "Draft orders", statuses: [] },
  all: {
    stage: "All", caption: "All orders",
    statuses: ["Draft", PENDING_APPROVAL, "Cancelled by Reseller", "Pending", "In Progress", "Completed",
      "Partially Completed", "Failed"],
  },
};
export const VIEW_NAMES = Object.keys(VIEWS);

export class OrderList {
  constructor({ href }) {
    this.href = href; // (orderId) => the link of an order in the current view
    this.view = "pending";
    this.pages = [null]; // the cursor of each page visited; [0] is the first page
    this.page = 0;
    this.next = null;
    this.selected = null;
    this.timer = null;
    this.loading = null;
    this.loaded = false;
    this.#wire();
  }

  #wire() {
    const tabs = [...document.querySelectorAll('[role="tab"]')];
    for (const tab of tabs) {
      tab.addEventListener("keydown", (event) => {
        const step = { ArrowRight: 1, ArrowLeft: -1, Home: -tabs.length, End: tabs.length }[event.key];
        if (step === undefined) return;
        event.preventDefault();
        const index = Math.max(0, Math.min(tabs.length - 1, tabs.indexOf(tab) + step));
        tabs[index].focus();
        tabs[index].click();
      });
    }
    for (const id of ["filter-account", "filter-status", "filter-from", "filter-to"]) {
      byId(id).addEventListener("change", () => this.reload());
    }
    byId("filters").addEventListener("reset", () => setTimeout(() => this.reload(), 0));
    byId("filters").addEventListener("submit", (event) => event.preventDefault());
    byId("page-next").addEventListener("click", () => this.#turn(1));
    byId("page-first").addEventListener("click", () => this.#turn(-this.page));
    // Filters are open on wide screens, a tap away on phones.
    byId("filters-box").open = window.matchMedia("(min-width: 721px)").matches;
  }

  async loadAccounts() {
    try {
      const page = await get("/api/accounts?pageSize=200");
      fill(byId("filter-account"), h("option", { value: "" }, "All accounts"),
        page.items.map((account) => h("option", { value: String(account.id) }, account.name)));
    } catch {
      // The filter stays "All accounts"; the list says what went wrong if it fails too.
    }
  }

  /** Show a view (a key of VIEWS) from its first page. */
  async showView(view) {
    if (!VIEWS[view]) view = "pending";
    const changed = view !== this.view;
    this.view = view;
    for (const tab of document.querySelectorAll('[role="tab"]')) {
      const active = tab.dataset.view === view;
      tab.setAttribute("aria-selected", String(active));
      tab.tabIndex = active ? 0 : -1;
      if (active) byId("order-list").setAttribute("aria-labelledby", tab.id);
    }
    const statuses = VIEWS[view].statuses;
    show(byId("filter-status-field"), statuses.length > 0);
    if (changed || byId("filter-status").options.length !== statuses.length + 1) {
      fill(byId("filter-status"), h("option", { value: "" }, "Any status"),
        statuses.map((status) => h("option", { value: status }, status)));
    }
    byId("list-caption").textContent = VIEWS[view].caption;
    if (changed) this.pages = [null];
    this.page = changed ? 0 : this.page;
    await this.load();
  }

  reload() {
    this.pages = [null];
    this.page = 0;
    return this.load();
  }

  /** Load the list again soon: at most once per `delay` however many events arrive. */
  soon(delay = 500) {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.load();
    }, delay);
  }

  #turn(step) {
    if (step > 0 && !this.next) return;
    if (step > 0) this.pages[this.page + 1] = this.next;
    this.page += step;
    this.load();
  }

  #query() {
    const { stage, status } = VIEWS[this.view];
    const query = new URLSearchParams({ stage, pageSize: String(PAGE_SIZE) });
    const chosen = byId("filter-status").value;
    if (status || chosen) query.set("status", status || chosen);
    const filters = { accountId: "filter-account", fromDate: "filter-from", toDate: "filter-to" };
    for (const [name, id] of Object.entries(filters)) if (byId(id).value) query.set(name, byId(id).value);
    const cursor = this.pages[this.page];
    if (cursor) query.set("cursor", cursor);
    return query;
  }

  async load() {
    const query = this.#query();
    const request = (this.loading = get(`/api/orders?${query}`));
    byId("order-list").setAttribute("aria-busy", "true");
    try {
      const page = await request;
      if (request !== this.loading) return; // a newer load has started
      this.next = page.nextCursor;
      this.loaded = true;
      this.#render(page.items);
      show(byId("list-message"), false);
    } catch (error) {
      if (request !== this.loading) return;
      const message = byId("list-message");
      message.textContent = explain(error, "Loading the orders");
      show(message);
      if (error.retryAfter) this.soon(error.retryAfter * 1000);
    } finally {
      if (request === this.loading) byId("order-list").removeAttribute("aria-busy");
    }
  }

  #render(orders) {
    fill(byId("order-rows"), orders.map((order) => this.#row(order)));
    show(byId("list-empty"), orders.length === 0);
    byId("list-empty").textContent = this.view === "pending"
      ? "Nothing is waiting for approval." : "No orders match.";
    byId("page-number").textContent = `Page ${this.page + 1}`;
    byId("page-first").disabled = this.page === 0;
    byId("page-next").disabled = !this.next;
  }

  #row(order) {
    const current = order.id === this.selected;
    const items = `${order.itemCount} item${order.itemCount === 1 ? "" : "s"}`;
    return h("tr", { class: current ? "selected" : "", on: { click: (event) => this.#rowClick(event, order) } },
      h("th", { scope: "row", class: "cell-order" },
        h("a", { href: this.href(order.id), attrs: { "aria-label": `Order #${order.id}`, "aria-current": current ? "true" : null } },
          `#${order.id}`),
        h("span", { class: "sub" }, day(order.orderDate))),
      h("td", { class: "cell-account" },
        h("span", { class: "account" }, order.accountName),
        h("span", { class: "sub mono", attrs: { title: "Submitted by" } }, order.submittedBy || "not checked out")),
      h("td", { class: "cell-state" },
        h("span", { class: badgeClass(order.status) }, order.status),
        h("span", { class: "total" }, money(order.total, order.currency), h("span", { class: "sub-inline" }, ` · ${items}`))));
  }

  #rowClick(event, order) {
    if (event.target.closest("a")) return; // the link navigates itself
    location.hash = this.href(order.id);
  }

  select(orderId) {
    this.selected = orderId;
    for (const row of byId("order-rows").rows) {
      const link = row.querySelector("a");
      const current = link && link.getAttribute("href") === this.href(orderId);
      row.classList.toggle("selected", Boolean(current));
      if (link) {
        if (current) link.setAttribute("aria-current", "true");
        else link.removeAttribute("aria-current");
      }
    }
  }
}

/** How many orders wait for approval (shown on the tab), up to 200. */
export async function pendingCount() {
  const query = new URLSearchParams({ stage: "All", status: PENDING_APPROVAL, pageSize: "200" });
  const page = await get(`/api/orders?${query}`);
  return page.nextCursor ? "200+" : String(page.items.length);
}

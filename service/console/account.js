// One account: its approval setting (its own, or the reseller's it follows) and
// its subscriptions, newest first, a page at a time.

import { get } from "./api.js";
import { byId, cell, fact, fill, h, show } from "./dom.js";
import { badgeClass, day, explain, money } from "./format.js";
import { LiveView } from "./view.js";

const PAGE_SIZE = 50;

/** What an account's approvalRequired means for its checkouts, in words. */
export function approvalText(account, resellerRequires) {
  if (account.approvalRequired === true) return "Required: this account's own setting";
  if (account.approvalRequired === false) return "Not required: this account's own setting";
  const follows = resellerRequires === null ? "" : `: ${resellerRequires ? "required" : "not required"}`;
  return `As the reseller's setting says${follows}`;
}

export class AccountView extends LiveView {
  constructor() {
    super({ message: "account-message", what: "the account" });
    this.next = null;
    this.rows = [];
    byId("subscriptions-more").addEventListener("click", () => this.#more());
  }

  async open(id) {
    if (id !== this.id) {
      this.id = id;
      byId("account-title").textContent = "Loading…"; // not "Account": the filter is labelled so
      fill(byId("account-facts"));
      fill(byId("subscriptions"));
      show(byId("account-message"), false);
    }
    await this.refresh();
  }

  load(id) {
    return Promise.all([
      get(`/api/accounts/${id}`),
      get("/api/settings").catch(() => ({ approvalRequired: null })),
      get(`/api/subscriptions?${new URLSearchParams({ accountId: String(id), pageSize: String(PAGE_SIZE) })}`),
    ]);
  }

  render([account, settings, page]) {
    this.account = account;
    this.rows = page.items;
    this.next = page.nextCursor;
    byId("account-title").textContent = account.name;
    fill(byId("account-facts"),
      fact("Type", account.type === "Reseller" ? "Your own account" : "Customer"),
      fact("Approval", approvalText(account, settings.approvalRequired), "wide"));
    this.#renderSubscriptions();
  }

  async #more() {
    if (!this.next || this.id === null) return;
    const id = this.id;
    const query = new URLSearchParams({ accountId: String(id), pageSize: String(PAGE_SIZE), cursor: this.next });
    try {
      const page = await get(`/api/subscriptions?${query}`);
      if (id !== this.id) return;
      this.rows = [...this.rows, ...page.items];
      this.next = page.nextCursor;
      this.#renderSubscriptions();
    } catch (error) {
      const message = byId("account-message");
      message.textContent = explain(error, "Loading more subscriptions");
      show(message);
    }
  }

  #renderSubscriptions() {
    show(byId("subscriptions-more"), Boolean(this.next));
    if (!this.rows.length) {
      fill(byId("subscriptions"), h("p", { class: "muted" }, "No subscriptions: nothing bought for this account has completed yet."));
      return;
    }
    const headers = [["Subscription", ""], ["Product", ""], ["Quantity", "numeric"], ["Price", "numeric"], ["Status", ""]];
    fill(byId("subscriptions"), h("div", { class: "table-scroll" }, h("table", { class: "items-table subscriptions-table" },
      h("caption", { class: "visually-hidden" }, `Subscriptions of ${this.account.name}`),
      h("thead", {}, h("tr", {}, headers.map(([label, kind]) => h("th", { scope: "col", class: kind }, label)))),
      h("tbody", {}, this.rows.map((row) => h("tr", {},
        h("th", { scope: "row", class: "cell-product" },
          h("span", { class: "product" }, `#${row.id}`),
          h("span", { class: "sub" }, `since ${day(row.createdAt.slice(0, 10))}`),
          row.externalId ? h("span", { class: "sub mono" }, row.externalId) : null),
        cell("Product", "", h("span", { class: "product" }, row.productName), h("span", { class: "sku" }, row.sku)),
        cell("Quantity", "numeric", String(row.quantity)),
        cell("Price", "numeric cell-price", money(row.unitPrice, row.currency), h("span", { class: "sub" }, row.billingCycle)),
        cell("Status", "cell-status", h("span", { class: badgeClass(row.status) }, row.status),
          row.cancelledAt ? h("span", { class: "sub" }, `on ${day(row.cancelledAt.slice(0, 10))}`) : null)))))));
  }
}

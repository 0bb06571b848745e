// The approver's console: sign in, browse orders, decide the approval queue,
// and watch execution live. Only the public API; see docs/how-to/console-and-live-events.md.

import { AccountView } from "./account.js";
import * as api from "./api.js";
import { byId, fill, show } from "./dom.js";
import { explain } from "./format.js";
import { OrderList, VIEW_NAMES, pendingCount } from "./list.js";
import { OrderView } from "./order.js";
import { LiveEvents } from "./stream.js";

const list = new OrderList({ href: (id) => `#${list.view}/order/${id}` });
const orderView = new OrderView({
  onDecided: () => { list.soon(0); countSoon(0); },
  accountHref: (id) => `#${list.view}/account/${id}`,
});
const accountView = new AccountView();
const live = new LiveEvents({
  onEvent,
  onState,
  onUnauthorized: () => api.signOut("expired"),
});
let countTimer = null;

const SIGNED_OUT = {
  expired: "Your session ended: the access token expired or the credential was revoked. Sign in again.",
  null: "You are signed out.",
};

function message(element, text, kind = "") {
  element.className = `alert ${kind}`.trim();
  element.textContent = text;
  show(element, Boolean(text));
}

async function signIn(event) {
  event.preventDefault();
  const id = byId("client-id").value.trim();
  const secret = byId("client-secret").value;
  const note = byId("sign-in-message");
  if (!id || !secret) {
    message(note, "Enter the client ID and the client secret of your credential.");
    return;
  }
  const button = byId("sign-in-button");
  button.disabled = true;
  message(note, "");
  try {
    await api.signIn(id, secret);
    byId("client-secret").value = ""; // nothing of the secret stays in the page
    await enter();
  } catch (error) {
    message(note, explain(error, "Signing in"));
  } finally {
    button.disabled = false;
  }
}

async function enter() {
  const session = api.current();
  byId("who").textContent = session.clientId;
  byId("who").title = `Scopes: ${[...session.scopes].join(", ")}`;
  show(byId("sign-in-view"), false);
  show(byId("session"));
  show(byId("workspace"));
  live.start();
  list.loadAccounts();
  countSoon(0);
  await route();
  byId("orders-title").focus();
}

function leave(reason) {
  live.stop();
  orderView.close();
  accountView.close();
  fill(byId("order-rows"));
  list.loaded = false;
  show(byId("workspace"), false);
  show(byId("session"), false);
  show(byId("sign-in-view"));
  message(byId("sign-in-message"), SIGNED_OUT[reason] || SIGNED_OUT.null, reason ? "" : "alert-info");
  byId("client-id").focus();
}

/** #<view>[/order/<id> | /account/<id>]: which tab, and which order or account is open. */
function parseHash() {
  const [view, kind, id] = location.hash.replace(/^#/, "").split("/");
  const valid = /^\d{1,18}$/.test(id || "");
  return {
    view: VIEW_NAMES.includes(view) ? view : list.view,
    orderId: kind === "order" && valid ? Number(id) : null,
    accountId: kind === "account" && valid ? Number(id) : null,
  };
}

async function route() {
  if (!api.current()) return;
  const { view, orderId, accountId } = parseHash();
  const opening = orderId !== null && orderId !== orderView.id;
  const openingAccount = accountId !== null && accountId !== accountView.id;
  document.body.classList.toggle("has-order", orderId !== null || accountId !== null);
  show(byId("order-view"), orderId !== null);
  show(byId("account-view"), accountId !== null);
  show(byId("order-placeholder"), orderId === null && accountId === null);
  list.select(orderId);
  const loads = [view !== list.view || !list.loaded ? list.showView(view) : null];
  if (orderId === null) orderView.close();
  else loads.push(orderView.open(orderId));
  if (accountId === null) accountView.close();
  else loads.push(accountView.open(accountId));
  await Promise.all(loads);
  if (opening) byId("order-title").focus({ preventScroll: window.innerWidth > 900 });
  if (openingAccount) byId("account-title").focus({ preventScroll: window.innerWidth > 900 });
}

function onEvent(event) {
  if (event.orderId === orderView.id) orderView.soon(event);
  if (event.accountId === accountView.id && event.type.startsWith("subscription.")) accountView.soon();
  list.soon();
  countSoon();
}

function onState(state, seconds) {
  const indicator = byId("live");
  indicator.dataset.state = state;
  indicator.textContent = state === "live" ? "Live" : state === "waiting" ? `Reconnecting in ${seconds} s` : "Connecting…";
  indicator.title = state === "live" ? "Changes appear as they happen" : "Live updates are paused";
}

function countSoon(delay = 500) {
  if (countTimer && delay) return; // at most once per delay; 0: now
  clearTimeout(countTimer);
  countTimer = setTimeout(async () => {
    countTimer = null;
    try {
      byId("pending-count").textContent = await pendingCount();
    } catch {
      byId("pending-count").textContent = "";
    }
  }, delay);
}

function wire() {
  byId("sign-in-form").addEventListener("submit", signIn);
  byId("sign-out").addEventListener("click", () => api.signOut(null));
  byId("refresh").addEventListener("click", () => {
    list.load(); orderView.refresh(); accountView.refresh(); countSoon(0);
  });
  byId("back").addEventListener("click", () => { location.hash = `#${list.view}`; });
  byId("account-back").addEventListener("click", () => { location.hash = `#${list.view}`; });
  for (const tab of document.querySelectorAll('[role="tab"]')) {
    tab.addEventListener("click", () => {
      const open = orderView.id !== null ? `/order/${orderView.id}`
        : accountView.id !== null ? `/account/${accountView.id}` : "";
      location.hash = `#${tab.dataset.view}${open}`;
    });
  }
  window.addEventListener("hashchange", route);
  api.onSignedOut(leave);
  byId("client-id").focus();
}

wire();

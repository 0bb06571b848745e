// The public API, as any integrator calls it: a client-credentials token from
// POST /oauth/token, then Bearer calls under /api. The token lives in this
// module's memory only: never in storage, cookies or a URL.

let session = null; // {token, clientId, scopes: Set, expiresAt}
const listeners = new Set();

/** An answer the API refused: its RFC 9457 problem, and Retry-After when it sent one. */
export class ApiError extends Error {
  constructor(status, problem, retryAfter) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
    this.code = this.problem.code || this.problem.error || null;
    this.retryAfter = retryAfter;
  }
}

/** The service could not be reached at all. */
export class NetworkError extends Error {}

export function onSignedOut(listener) {
  listeners.add(listener);
}

export function current() {
  return session;
}

export function can(scope) {
  return Boolean(session && session.scopes.has(scope));
}

export function signOut(reason = null) {
  const was = session;
  session = null;
  if (was) for (const listener of listeners) listener(reason);
}

function basic(id, secret) {
  // btoa only takes Latin-1; encode as UTF-8 bytes first.
  const bytes = new TextEncoder().encode(`${id}:${secret}`);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return `Basic ${btoa(binary)}`;
}

function retryAfter(response) {
  const raw = response.headers.get("Retry-After");
  const seconds = raw === null ? NaN : Number.parseInt(raw, 10);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds : null;
}

async function send(url, init) {
  try {
    return await fetch(url, { ...init, credentials: "omit", cache: "no-store", referrerPolicy: "no-referrer" });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new NetworkError("The service cannot be reached. Check your connection; the console retries when you act again.");
  }
}

async function problemOf(response) {
  try {
    return await response.json();
  } catch {
    return null;
  }
}

export async function signIn(clientId, secret) {
  const response = await send("/oauth/token", {
    method: "POST",
    headers: { Authorization: basic(clientId, secret), "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "client_credentials" }),
  });
  if (!response.ok) throw new ApiError(response.status, await problemOf(response), retryAfter(response));
  const answer = await response.json();
  session = {
    token: answer.access_token,
    clientId,
    scopes: new Set(String(answer.scope || "orders:read orders:write orders:approve").split(" ")),
    expiresAt: Date.now() + answer.expires_in * 1000,
  };
  return session;
}

/** Authorization for a request of this session (the event stream uses it too). */
export function authorization() {
  return session ? `Bearer ${session.token}` : null;
}

/**
 * Call the API; resolves to {data, status, etag}. A 401 ends the session (the
 * token expired or the credential was revoked) before it throws.
 */
export async function call(method, path, { body, signal } = {}) {
  if (!session) throw new ApiError(401, { code: "unauthorized", detail: "Not signed in" }, null);
  const headers = { Authorization: authorization(), Accept: "application/json" };
  const init = { method, headers, signal };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await send(path, init);
  if (response.status === 401) {
    const error = new ApiError(401, await problemOf(response), null);
    signOut("expired");
    throw error;
  }
  if (!response.ok) throw new ApiError(response.status, await problemOf(response), retryAfter(response));
  const data = response.status === 204 ? null : await response.json();
  return { data, status: response.status, etag: response.headers.get("ETag") };
}

export const get = (path, options) => call("GET", path, options).then((answer) => answer.data);

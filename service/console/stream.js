// GET /api/events/stream read with fetch(): EventSource cannot send an
// Authorization header, and the token must never travel in a URL. The parser
// follows the WHATWG event-stream rules; reconnections send Last-Event-ID,
// so nothing is missed or repeated.

import { authorization } from "./api.js";

const FIRST_RETRY_MS = 1000;
const MAX_RETRY_MS = 30000;

export class LiveEvents {
  /**
   * onEvent(event, type): each event's JSON. onState("connecting" | "live" | "waiting", detail).
   * onUnauthorized(): the token no longer works.
   */
  constructor({ onEvent, onState, onUnauthorized }) {
    this.onEvent = onEvent;
    this.onState = onState;
    this.onUnauthorized = onUnauthorized;
    this.lastEventId = null;
    this.retryMs = FIRST_RETRY_MS;
    this.controller = null;
    this.stopped = true;
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    this.#loop();
  }

  stop() {
    this.stopped = true;
    this.lastEventId = null;
    if (this.controller) this.controller.abort();
  }

  async #loop() {
    let delay = FIRST_RETRY_MS;
    while (!this.stopped) {
      this.onState("connecting");
      let wait = delay;
      try {
        const outcome = await this.#connect();
        if (outcome === "unauthorized") {
          this.stopped = true;
          this.onUnauthorized();
          return;
        }
        if (typeof outcome === "number") wait = outcome * 1000; // Retry-After of a 429 or 503
        else delay = this.retryMs; // it was open: start again from the server's retry delay
      } catch (error) {
        if (this.stopped) return;
      }
      if (this.stopped) return;
      this.onState("waiting", Math.round(wait / 1000));
      await new Promise((resolve) => setTimeout(resolve, wait));
      delay = Math.min(delay * 2, MAX_RETRY_MS);
    }
  }

  async #connect() {
    const auth = authorization();
    if (!auth) return "unauthorized";
    this.controller = new AbortController();
    const headers = { Authorization: auth, Accept: "text/event-stream" };
    if (this.lastEventId) headers["Last-Event-ID"] = this.lastEventId;
    const response = await fetch("/api/events/stream", {
      headers, signal: this.controller.signal, credentials: "omit", cache: "no-store", referrerPolicy: "no-referrer",
    });
    if (response.status === 401) return "unauthorized";
    if (!response.ok) {
      const seconds = Number.parseInt(response.headers.get("Retry-After") || "", 10);
      return Number.isFinite(seconds) ? Math.max(seconds, 1) : null;
    }
    this.onState("live");
    await this.#read(response.body.pipeThrough(new TextDecoderStream()).getReader());
    return null;
  }

  async #read(reader) {
    let buffer = "";
    let message = { data: [], type: "" };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      const lines = buffer.split(/\r\n|\r|\n/);
      buffer = lines.pop(); // an incomplete last line waits for more
      for (const line of lines) message = this.#line(line, message);
    }
  }

  #line(line, message) {
    if (line === "") {
      if (message.data.length) this.#dispatch(message);
      return { data: [], type: "" };
    }
    if (line.startsWith(":")) return message; // a comment: the keepalive
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") message.data.push(value);
    else if (field === "event") message.type = value;
    else if (field === "id" && !value.includes("\0")) this.lastEventId = value;
    else if (field === "retry" && /^\d+$/.test(value)) this.retryMs = Number(value);
    return message;
  }

  #dispatch(message) {
    let event;
    try {
      event = JSON.parse(message.data.join("\n"));
    } catch {
      return; // not ours to show; the next message is unaffected
    }
    this.onEvent(event, message.type || "message");
  }
}

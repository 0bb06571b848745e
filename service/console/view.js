// What the order's and the account's views share: reading their subject again
// when events say it changed (at most once per delay, however many arrive),
// dropping a read that a newer one superseded, and saying in the view's alert
// why a read failed.

import { byId, show } from "./dom.js";
import { explain } from "./format.js";

export class LiveView {
  /** message: the id of the view's alert; what: the subject, as in "Loading the order". */
  constructor({ message, what }) {
    this.message = message;
    this.what = what;
    this.id = null;
    this.timer = null;
    this.generation = 0;
  }

  close() {
    this.id = null;
    clearTimeout(this.timer);
    this.timer = null;
  }

  /** Read the subject again soon: at most once per `delay`. */
  soon(delay = 300) {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.refresh();
    }, delay);
  }

  /** Read with this.load(id), then show with this.render(loaded), both of the subclass. */
  async refresh() {
    const id = this.id;
    if (id === null) return;
    const generation = ++this.generation;
    try {
      const loaded = await this.load(id);
      if (generation !== this.generation || id !== this.id) return; // superseded
      this.render(loaded);
      show(byId(this.message), false);
    } catch (error) {
      if (generation !== this.generation) return;
      const message = byId(this.message);
      message.textContent = explain(error, `Loading ${this.what}`);
      show(message);
    }
  }
}

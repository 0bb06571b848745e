// Building the page from data without ever parsing a string as HTML: every
// text from the API becomes a text node. The Content-Security-Policy also
// requires Trusted Types, so an innerHTML assignment would throw anyway.

/**
 * h("p", {class: "x", attrs: {"aria-label": "y"}, on: {click: fn}}, "text", node, [more])
 * Children: strings (as text), nodes, arrays of them; null, undefined and false are skipped.
 */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") element.className = value;
    else if (key === "text") element.textContent = value;
    else if (key === "attrs") for (const [name, v] of Object.entries(value)) setAttr(element, name, v);
    else if (key === "on") for (const [type, handler] of Object.entries(value)) element.addEventListener(type, handler);
    else if (key === "dataset") Object.assign(element.dataset, value);
    else element[key] = value; // properties such as id, type, value, disabled, hidden
  }
  append(element, children);
  return element;
}

function setAttr(element, name, value) {
  if (value === undefined || value === null || value === false) return;
  element.setAttribute(name, value === true ? "" : String(value));
}

function append(parent, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace an element's content with these children. */
export function fill(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

export function byId(id) {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} is missing from the page`);
  return element;
}

export function show(element, visible = true) {
  element.hidden = !visible;
}

/** A fact of a <dl class="facts">: a label and its value ("—" when there is none). */
export function fact(label, value, className = "") {
  const shown = value === null || value === undefined || value === "" ? "—" : value;
  return h("div", { class: "fact" }, h("dt", {}, label), h("dd", { class: className }, shown));
}

/** A cell of a table that phones show as a card: the label comes from data-label. */
export function cell(label, className, ...content) {
  return h("td", { class: className, dataset: { label } }, h("span", { class: "value" }, content));
}

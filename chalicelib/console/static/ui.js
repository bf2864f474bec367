// Small DOM helpers shared by every page: elements, tables that become cards on phones, messages, dialogs.
import { ApiError, apiPath, plainWords, report } from "./api.js";

/** h("button", {class: "btn", onclick}, "Save") — attributes, properties (on*), children (strings are text). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "html") throw new Error("h(): no raw HTML");
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";
/** An inline icon (decorative: hidden from assistive technology; the button carries the label). */
export function icon(name) {
  const paths = {
    bolt: "M13 2 4 14h7l-1 8 9-12h-7l1-8z",
    trash: "M4 7h16M9 7V4h6v3m-8 0 1 13h8l1-13",
    refresh: "M20 11a8 8 0 1 0-2.3 5.7M20 4v7h-7",
  };
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const p = document.createElementNS(SVG_NS, "path");
  p.setAttribute("d", paths[name] || "");
  p.setAttribute("fill", name === "bolt" ? "currentColor" : "none");
  p.setAttribute("stroke", "currentColor");
  p.setAttribute("stroke-width", "2");
  p.setAttribute("stroke-linecap", "round");
  p.setAttribute("stroke-linejoin", "round");
  svg.append(p);
  return svg;
}

// --- formatting --------------------------------------------------------------------------------------

export function fmtDateTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export function fmtDate(isoDate) {
  if (!isoDate) return "—";
  const d = new Date(`${String(isoDate).slice(0, 10)}T12:00:00Z`);
  if (Number.isNaN(d.getTime())) return String(isoDate);
  return d.toLocaleDateString(undefined, { weekday: "short", year: "numeric", month: "short", day: "numeric", timeZone: "UTC" });
}

export function fmtBytes(n) {
  if (n === undefined || n === null) return "—";
  const units = ["bytes", "KB", "MB", "GB", "TB"];
  let v = Number(n);
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return i === 0 ? `${v} bytes` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function plural(n, one, many = `${one}s`) {
  return `${n} ${n === 1 ? one : many}`;
}

/** `<input type=datetime-local>` value (local time) → ISO 8601 UTC with Z. */
export function localInputToIso(value) {
  if (!value) return "";
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? "" : d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** The browser's IANA time zone (the default for new schedules and tasks). */
export function browserZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  } catch {
    return "UTC";
  }
}

export function todayIso() {
  const d = new Date();
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

// --- tables ------------------------------------------------------------------------------------------

/**
 * A data table. columns: [{label, render(row) → node|string, class?}]; on narrow screens each row becomes
 * a card whose cells are labelled (data-label).
 */
export function table(columns, rows, { caption, empty = "Nothing to show.", rowAttrs } = {}) {
  if (!rows.length) return h("p", { class: "empty" }, empty);
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: "data" },
      caption ? h("caption", { class: "visually-hidden" }, caption) : null,
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c.label)))),
      h(
        "tbody",
        {},
        rows.map((row) =>
          h(
            "tr",
            rowAttrs ? rowAttrs(row) : {},
            columns.map((c) => {
              const v = c.render(row);
              return h("td", { "data-label": c.label, class: c.class }, v === undefined || v === null || v === "" ? "—" : v);
            }),
          ),
        ),
      ),
    ),
  );
}

/** Long text cut to `max` characters (the whole text stays available as the element's title). */
export function clipText(text, max = 160) {
  const s = String(text ?? "");
  return s.length <= max ? s : h("span", { title: s }, `${s.slice(0, max).trimEnd()}…`);
}

export function badge(text, kind = "") {
  return h("span", { class: `badge ${kind}`.trim() }, text);
}

// --- messages ----------------------------------------------------------------------------------------

/** A live message area: `set(kind, text)` with kind error|ok|info|warn; errors are announced assertively. */
export function messageArea() {
  const el = h("div", { class: "messages" });
  const polite = h("div", { "aria-live": "polite" });
  const assertive = h("div", { role: "alert" });
  el.append(assertive, polite);
  return {
    el,
    set(kind, text, extra) {
      this.clear();
      const box = h("div", { class: `alert alert-${kind}` }, h("p", {}, text), extra || null);
      (kind === "error" ? assertive : polite).append(box);
      return box;
    },
    clear() {
      assertive.replaceChildren();
      polite.replaceChildren();
    },
  };
}

/**
 * Show a failure in plain words and report it to the Incident Hub with the backend's error body.
 * Returns the sentence shown.
 */
export function fail(messages, err, { action, area, entities, context }) {
  if (err && err.name === "AbortError") return "";
  const text = plainWords(err, action);
  let extra = null;
  if (err instanceof ApiError && err.status === 401) {
    extra = h("p", {}, h("a", { href: `${apiPath("/console")}?next=${encodeURIComponent(location.pathname + location.search)}` }, "Sign in again"));
  }
  if (messages) messages.set("error", text, extra);
  report(err, { area, message: text, entities, context });
  return text;
}

/** Run an async action with a button disabled and labelled as busy; never runs twice at once. */
export async function busy(button, label, fn) {
  if (button.dataset.busy === "1") return undefined;
  button.dataset.busy = "1";
  const before = button.textContent;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  if (label) button.textContent = label;
  try {
    return await fn();
  } finally {
    button.dataset.busy = "";
    button.disabled = false;
    button.removeAttribute("aria-busy");
    if (label && button.isConnected) button.textContent = before;
  }
}

/**
 * A modal confirmation (native <dialog>: focus is trapped and returned, Esc cancels).
 * body: node or string. Resolves true when confirmed.
 */
export function confirmDialog({ title, body, confirm = "Confirm", danger = false }) {
  return new Promise((resolve) => {
    const opener = document.activeElement;
    const titleId = `dlg-${Math.random().toString(36).slice(2)}`;
    const ok = h("button", { type: "button", class: `btn ${danger ? "danger" : ""}`.trim() }, confirm);
    const cancel = h("button", { type: "button", class: "btn secondary" }, "Cancel");
    const dlg = h(
      "dialog",
      { "aria-labelledby": titleId },
      h("div", { class: "dialog-body" }, h("h2", { id: titleId }, title), typeof body === "string" ? h("p", {}, body) : body, h("div", { class: "actions" }, cancel, ok)),
    );
    let result = false;
    const close = (value) => {
      result = value;
      dlg.close();
    };
    ok.addEventListener("click", () => close(true));
    cancel.addEventListener("click", () => close(false));
    dlg.addEventListener("close", () => {
      dlg.remove();
      if (opener && opener.isConnected && typeof opener.focus === "function") opener.focus();
      resolve(result);
    });
    document.body.append(dlg);
    dlg.showModal();
    cancel.focus();
  });
}

/** A labelled form field wrapper. */
export function field(label, control, hint) {
  return h("label", { class: "field" }, h("span", {}, label, hint ? h("span", { class: "hint" }, ` ${hint}`) : null), control);
}

/** Student options for a <select>: [{id, name}] from GET /admin/students or /customer/students (all pages). */
export async function loadAll(apiFn, path, max = 500) {
  const items = [];
  let token = null;
  do {
    const sep = path.includes("?") ? "&" : "?";
    const page = await apiFn("GET", `${path}${sep}limit=100${token ? `&next_token=${encodeURIComponent(token)}` : ""}`);
    items.push(...(page.items || []));
    token = page.next_token;
  } while (token && items.length < max);
  return items;
}

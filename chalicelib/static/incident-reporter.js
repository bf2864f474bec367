// Academy Ops — browser incident reporter (ES module, no dependencies).
//
//   import { configureIncidentReporter, installGlobalHandlers, reportIncident, reportingFetch } from "/static/incident-reporter.js";
//   configureIncidentReporter({ endpoint: "https://api.example/incidents", getToken: () => session.token });
//   installGlobalHandlers({ areaPrefix: "console" }); // opt-in: uncaught errors and unhandled rejections
//   const res = await reportingFetch(`/admin/schedules/${id}`, { method: "DELETE" },
//     { area: "admin.academic.schedules.delete", entities: [{ type: "schedule", id }],
//       message: "Failed to remove schedule. Please try again." });
//
// Guarantees: no function here throws (reportingFetch rethrows only the caller's own fetch error),
// nothing blocks the UI (reports are queued and sent from a timer), failed sends are retried with
// exponential backoff and jitter, a 429 pauses the queue for its Retry-After, 4xx rejections other
// than 401/408/429 are dropped (resending would not help), and a 413 counts as delivered (the
// server keeps a stub of an oversize report). A 401 with a token is retried once anonymously.
// Reports lost on purpose (queue full, gave up, rate limited, duplicate or capped uncaught errors)
// are counted, and the counts ride on the next report as context.reporter_dropped.
//
// Page hide/unload: when the page turns hidden (visibilitychange) or is left (pagehide), every
// queued report that is not already in flight is sent at once, in parallel, with fetch(keepalive)
// (which the browser completes after the page is gone, within a 64 KB budget shared by all
// keepalive requests, so the flush stays under cfg.unloadBudgetBytes), ignoring retry backoff but
// not a 429 pause. Only where fetch is missing, or throws synchronously during that flush, is
// navigator.sendBeacon used. The trade-off: sendBeacon cannot set an Authorization header, so a
// beaconed incident arrives anonymous (no actor; the server accepts it under its per-IP rate
// limit); fetch(keepalive) keeps the token, which is why it comes first. The beacon body is a Blob
// of type application/json: fine same-origin; cross-origin it needs a CORS preflight, which the
// browser does for beacons too. Neither path puts a token in a URL or body, and page URLs are sent
// with secret-looking query/fragment values ("token", "code", "signature", "X-Amz-…") redacted.

const DEFAULTS = {
  endpoint: "/incidents",
  getToken: null, // () => string | null | Promise<string | null>
  fetch: null, // the transport; defaults to globalThis.fetch as it was when the reporter was created
  maxQueue: 50,
  maxAttempts: 6,
  baseDelayMs: 1000,
  maxDelayMs: 60000,
  defaultRetryAfterS: 30,
  maxErrorBodyChars: 8000,
  maxBodyBytes: 60000, // the server's limit is 64 KB; stay under it
  unloadBudgetBytes: 60000, // keepalive requests share 64 KB in flight; what one page hide may send
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  now: () => Date.now(),
  random: Math.random,
  location: () => redactUrl((globalThis.location && globalThis.location.href) || "unknown"),
  window: undefined, // where pagehide/visibilitychange/error/unhandledrejection are heard; default: globalThis in a browser
  document: undefined, // for visibilityState; default: globalThis.document
  navigator: undefined, // for sendBeacon; default: globalThis.navigator at the time of the flush
  onDrop: null, // (payload, reason) => void
  onSent: null, // (payload, status) => void; status 0: handed to sendBeacon (no response to see)
};

const GLOBAL_DEFAULTS = {
  areaPrefix: "browser", // areas: <prefix>.uncaught and <prefix>.unhandled_rejection
  dedupeWindowMs: 60000, // the same error (kind, name, message, place) is reported once per window
  maxPerPage: 20, // uncaught errors reported by one installation, ever; the rest are only counted
  maxStackBytes: 4000,
  maxKeys: 200, // distinct errors remembered for dedupe
  // Benign noise: an aborted fetch nobody awaited, Chrome's ResizeObserver loop notice.
  ignore: (e) => e.name === "AbortError" || /^ResizeObserver loop/.test(e.message),
};

// This module's own URL: an uncaught error whose stack points here is the reporter's own failure,
// which must never be reported (it could loop).
const SELF_URL = import.meta.url;

const SECRET_PARAM = /token|secret|passw|pwd|auth|code|key|sig|credential|session|jwt|x-amz-/i;

// Errors reportingFetch has already reported (a rethrown network error left unhandled must not file twice).
const alreadyReported = typeof WeakSet === "function" ? new WeakSet() : null;

const encoder = typeof TextEncoder === "function" ? new TextEncoder() : null;
const byteLength = (text) => (encoder ? encoder.encode(text).length : text.length * 3);

function safeJson(value) {
  try {
    return JSON.stringify(value);
  } catch {
    return null;
  }
}

function clipText(text, max) {
  const s = String(text);
  return s.length <= max ? s : `${s.slice(0, max)}…[truncated ${s.length - max} chars]`;
}

/** Cut text to at most maxBytes of UTF-8 (marker included). */
function clipBytes(text, maxBytes) {
  let s = String(text);
  if (byteLength(s) <= maxBytes) return s;
  let keep = Math.min(s.length, maxBytes);
  while (keep > 0) {
    const cut = `${s.slice(0, keep)}…[truncated]`;
    if (byteLength(cut) <= maxBytes) return cut;
    keep = Math.floor(keep * 0.9);
  }
  return "";
}

function redactParams(params) {
  return params
    .split("&")
    .map((part) => {
      const eq = part.indexOf("=");
      if (eq < 0) return part;
      let name = part.slice(0, eq);
      try {
        name = decodeURIComponent(name.replace(/\+/g, " "));
      } catch {
        /* judge the raw name */
      }
      return SECRET_PARAM.test(name) ? `${part.slice(0, eq)}=[redacted]` : part;
    })
    .join("&");
}

/** A URL (absolute or relative) with the values of secret-looking query and fragment parameters replaced. */
export function redactUrl(url) {
  try {
    let s = String(url);
    let hash = "";
    const hashAt = s.indexOf("#");
    if (hashAt >= 0) {
      hash = s.slice(hashAt + 1);
      s = s.slice(0, hashAt);
    }
    const queryAt = s.indexOf("?");
    if (queryAt >= 0) s = `${s.slice(0, queryAt)}?${redactParams(s.slice(queryAt + 1))}`;
    if (hashAt >= 0) s += `#${hash.includes("=") ? redactParams(hash) : hash}`;
    return s;
  } catch {
    return "unknown";
  }
}

function toPayload(incident, cfg) {
  const src = incident && typeof incident === "object" ? incident : { message: String(incident) };
  const payload = {
    area: typeof src.area === "string" && src.area ? src.area : "frontend.unknown",
    message: clipText(src.message || "Unexpected error", 2000),
    location: src.location || cfg.location(),
    occurred_at: src.occurred_at || new Date(cfg.now()).toISOString(),
  };
  if (Number.isInteger(src.http_status) && src.http_status >= 100 && src.http_status <= 599) payload.http_status = src.http_status;
  if (src.backend_error !== undefined) payload.backend_error = src.backend_error;
  if (Array.isArray(src.entities)) {
    payload.entities = src.entities
      .filter((e) => e && e.type && e.id !== undefined && e.id !== null)
      .map((e) => ({ type: String(e.type), id: String(e.id) }));
  }
  if (src.request_id) payload.request_id = String(src.request_id).slice(0, 128);
  if (src.context !== undefined) payload.context = src.context;
  for (const key of ["backend_error", "context"]) {
    if (key in payload && safeJson(payload[key]) === null) payload[key] = clipText(String(payload[key]), 4000);
  }
  let body = safeJson(payload);
  if (body !== null && byteLength(body) > cfg.maxBodyBytes) {
    for (const key of ["context", "backend_error"]) {
      if (key in payload) payload[key] = { _truncated: true, preview: clipText(safeJson(payload[key]) || "", 4000) };
    }
    body = safeJson(payload);
  }
  return body !== null && byteLength(body) <= cfg.maxBodyBytes ? payload : null;
}

function retryAfterMs(header, cfg) {
  if (header) {
    const seconds = Number(header);
    if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
    const at = Date.parse(header);
    if (!Number.isNaN(at)) return Math.max(0, at - cfg.now());
  }
  return cfg.defaultRetryAfterS * 1000;
}

/** What an error event or a rejection reason says: {name, message, stack?, source?}. Never throws. */
function describeThrown(value, event) {
  const out = { name: "Error", message: "" };
  try {
    if (value && typeof value === "object") {
      out.name = String(value.name || (value.constructor && value.constructor.name) || "Error");
      out.message = typeof value.message === "string" ? value.message : clipText(safeJson(value) || String(value), 1000);
      if (typeof value.stack === "string") out.stack = value.stack;
    } else if (value !== undefined && value !== null) {
      out.name = typeof value;
      out.message = clipText(String(value), 1000);
    } else if (!event || !event.message) {
      out.name = String(value);
    }
    if (event && typeof event.message === "string" && event.message && !out.message) out.message = event.message;
    if (event && event.filename) out.source = `${event.filename}:${event.lineno || 0}:${event.colno || 0}`;
  } catch {
    /* keep what we have */
  }
  return out;
}

export function createIncidentReporter(options = {}) {
  const cfg = { ...DEFAULTS, ...options };
  const transport = cfg.fetch || (typeof globalThis.fetch === "function" ? globalThis.fetch.bind(globalThis) : null);
  const win = cfg.window !== undefined ? cfg.window : typeof globalThis.addEventListener === "function" ? globalThis : null;
  const queue = [];
  const dropped = {}; // reason -> count, not yet carried by a delivered report
  let carrier = null; // the in-flight item carrying the dropped counts
  let pausedUntil = 0;
  let sending = false;
  let timerAt = null;

  const countDrop = (reason, n = 1) => {
    dropped[reason] = (dropped[reason] || 0) + n;
  };

  const drop = (item, reason) => {
    countDrop(reason);
    try {
      if (cfg.onDrop) cfg.onDrop(item.payload, reason);
    } catch {
      /* never throw */
    }
  };

  function schedule(delayMs) {
    const at = cfg.now() + Math.max(0, delayMs);
    if (timerAt !== null && timerAt <= at) return;
    timerAt = at;
    try {
      cfg.setTimeout(() => {
        timerAt = null;
        return pump();
      }, Math.max(0, delayMs));
    } catch {
      timerAt = null;
    }
  }

  function backoff(attempts) {
    const ceiling = Math.min(cfg.maxDelayMs, cfg.baseDelayMs * 2 ** Math.max(0, attempts - 1));
    return Math.round(ceiling / 2 + (ceiling / 2) * cfg.random());
  }

  function failed(item) {
    item.attempts += 1;
    if (item.attempts >= cfg.maxAttempts) return "drop:gave_up";
    item.notBefore = cfg.now() + backoff(item.attempts);
    return "retry";
  }

  /** The JSON body for an item; the first item sent while reports were dropped carries their counts. */
  function bodyFor(item) {
    if (carrier === null && Object.keys(dropped).length) {
      carrier = item;
      item.carried = { ...dropped };
    }
    if (carrier !== item) return JSON.stringify(item.payload);
    const ctx = item.payload.context;
    const merged =
      ctx && typeof ctx === "object" && !Array.isArray(ctx)
        ? { ...ctx, reporter_dropped: item.carried }
        : ctx === undefined || ctx === null
          ? { reporter_dropped: item.carried }
          : { value: ctx, reporter_dropped: item.carried };
    return JSON.stringify({ ...item.payload, context: merged });
  }

  /** Hand a body to navigator.sendBeacon: "beacon" if it took it, a retry/drop outcome if not, null without one. */
  function beacon(item, body) {
    const nav = cfg.navigator !== undefined ? cfg.navigator : globalThis.navigator;
    if (!nav || typeof nav.sendBeacon !== "function") return null;
    try {
      const data = typeof Blob === "function" ? new Blob([body], { type: "application/json" }) : body;
      if (nav.sendBeacon(cfg.endpoint, data)) return "beacon";
    } catch {
      /* refused like a false return */
    }
    return failed(item); // over the browser's beacon quota, or blocked: back off like a network error
  }

  // With unloading set, everything up to the transport call runs synchronously (no await before
  // it), so the request starts inside the pagehide/visibilitychange handler.
  async function send(item, unloading = false) {
    const body = bodyFor(item);
    if (!transport) return beacon(item, body) || "drop:no_fetch";
    const headers = { "Content-Type": "application/json" };
    if (!item.anonymous && cfg.getToken) {
      let token = null;
      try {
        token = cfg.getToken();
      } catch {
        token = null; // report anonymously
      }
      if (token && typeof token.then === "function") {
        const pending = Promise.resolve(token);
        pending.catch(() => {}); // a rejected token must not become an unhandled rejection
        token = unloading ? null : await pending.catch(() => null); // no time to wait while the page goes
      }
      if (typeof token === "string" && token) headers.Authorization = `Bearer ${token}`;
    }
    let res;
    try {
      res = transport(cfg.endpoint, {
        method: "POST",
        headers,
        body,
        credentials: "omit",
        keepalive: byteLength(body) < 60000,
      });
    } catch {
      if (unloading) return beacon(item, body) || failed(item);
      return failed(item);
    }
    try {
      res = await res;
    } catch {
      return failed(item);
    }
    const status = res && typeof res.status === "number" ? res.status : 0;
    if ((status >= 200 && status < 300) || status === 413) {
      try {
        if (cfg.onSent) cfg.onSent(item.payload, status);
      } catch {
        /* never throw */
      }
      return "done";
    }
    if (status === 429) {
      let header = null;
      try {
        header = res.headers && res.headers.get ? res.headers.get("Retry-After") : null;
      } catch {
        header = null;
      }
      pausedUntil = cfg.now() + retryAfterMs(header, cfg);
      item.attempts += 1;
      return item.attempts >= cfg.maxAttempts ? "drop:rate_limited" : "retry";
    }
    if (status === 401 && headers.Authorization && !item.anonymous) {
      item.anonymous = true; // an expired session must not lose the report
      return "retry";
    }
    if (status === 0 || status === 408 || status >= 500) return failed(item);
    return `drop:rejected_${status}`;
  }

  /** Apply a send's outcome: done/beacon and drops leave the queue, a retry stays. */
  function settle(item, outcome) {
    item.inFlight = false;
    if (carrier === item) {
      carrier = null;
      if (outcome === "done" || outcome === "beacon") {
        for (const [reason, n] of Object.entries(item.carried || {})) {
          const left = (dropped[reason] || 0) - n;
          if (left > 0) dropped[reason] = left;
          else delete dropped[reason];
        }
      }
    }
    if (outcome === "beacon") {
      try {
        if (cfg.onSent) cfg.onSent(item.payload, 0);
      } catch {
        /* never throw */
      }
    }
    if (outcome === "retry") return;
    const at = queue.indexOf(item);
    if (at >= 0) queue.splice(at, 1);
    if (outcome.startsWith("drop:")) drop(item, outcome.slice(5));
  }

  async function pump() {
    if (sending) return;
    sending = true;
    try {
      for (;;) {
        const item = queue.find((i) => !i.inFlight);
        if (!item) return;
        const wait = Math.max(pausedUntil, item.notBefore) - cfg.now();
        if (wait > 0) {
          schedule(wait);
          return;
        }
        item.inFlight = true;
        let outcome;
        try {
          outcome = await send(item);
        } catch {
          outcome = failed(item);
        }
        settle(item, outcome);
      }
    } finally {
      sending = false;
    }
  }

  /**
   * Send every queued report not already in flight, now and in parallel (the page is being hidden
   * or left): retry backoff is skipped, a 429 pause is not. Returns how many sends were started.
   */
  function flushForUnload() {
    let started = 0;
    try {
      if (cfg.now() < pausedUntil) return 0; // the server asked for quiet; they stay queued if the page comes back
      const sizeOf = (item) => byteLength(safeJson(item.payload) || "") + 512; // + headers and dropped counts
      let budget = cfg.unloadBudgetBytes;
      for (const item of queue) if (item.inFlight) budget -= sizeOf(item); // already holding keepalive quota
      for (const item of queue.slice()) {
        if (item.inFlight) continue;
        const size = sizeOf(item);
        if (size > budget) continue; // over the keepalive budget: left for the pump if the page stays
        budget -= size;
        item.inFlight = true;
        started += 1;
        let pending;
        try {
          pending = send(item, true);
        } catch {
          pending = Promise.resolve(failed(item));
        }
        pending
          .then(
            (outcome) => settle(item, outcome),
            () => settle(item, failed(item)),
          )
          .then(() => schedule(0))
          .catch(() => {});
      }
    } catch {
      /* never throw */
    }
    return started;
  }

  function report(incident) {
    try {
      const payload = toPayload(incident, cfg);
      if (!payload) return false;
      if (queue.length >= cfg.maxQueue) {
        const oldest = queue.find((i) => !i.inFlight);
        if (oldest) {
          queue.splice(queue.indexOf(oldest), 1);
          drop(oldest, "queue_full");
        }
      }
      queue.push({ payload, attempts: 0, notBefore: 0, anonymous: false, inFlight: false });
      schedule(0);
      return true;
    } catch {
      return false;
    }
  }

  async function readError(response) {
    try {
      const text = clipText(await response.text(), cfg.maxErrorBodyChars);
      try {
        return JSON.parse(text);
      } catch {
        return text;
      }
    } catch {
      return null;
    }
  }

  function wrapFetch(fetchImpl = transport, defaults = {}) {
    return async function reportingFetch(input, init = {}, meta = {}) {
      const info = { ...defaults, ...(meta || {}) };
      let method = "GET";
      let url = "";
      try {
        method = String((init && init.method) || (input && input.method) || "GET").toUpperCase();
        url = typeof input === "string" ? input : (input && input.url) || String(input);
      } catch {
        /* keep defaults */
      }
      const own = url === cfg.endpoint;
      const shown = redactUrl(url); // presigned URLs carry signatures and session tokens
      let response;
      try {
        response = await fetchImpl(input, init);
      } catch (err) {
        if (!own) {
          report({
            area: info.area || "frontend.fetch",
            message: info.message || `${method} ${shown} failed: ${(err && err.message) || err}`,
            backend_error: { name: (err && err.name) || "Error", message: String((err && err.message) || err) },
            entities: info.entities,
            context: { ...(info.context || {}), method, url: shown, network_error: true },
          });
          try {
            if (alreadyReported && err && typeof err === "object") alreadyReported.add(err);
          } catch {
            /* frozen or exotic error */
          }
        }
        throw err;
      }
      try {
        if (!own && response && !response.ok && !(info.ignoreStatuses || []).includes(response.status)) {
          const copy = response.clone();
          const requestId = response.headers && response.headers.get ? response.headers.get("X-Request-Id") : null;
          Promise.resolve()
            .then(() => readError(copy))
            .then((backendError) =>
              report({
                area: info.area || "frontend.fetch",
                message: info.message || `${method} ${shown} failed with ${response.status}`,
                http_status: response.status,
                backend_error: backendError,
                entities: info.entities,
                request_id: requestId || undefined,
                context: { ...(info.context || {}), method, url: shown },
              }),
            )
            .catch(() => {});
        }
      } catch {
        /* never let reporting change what the caller gets */
      }
      return response;
    };
  }

  /**
   * Report uncaught errors and unhandled promise rejections heard on `target` (default: the
   * reporter's window). Identical errors are reported once per dedupeWindowMs, at most maxPerPage
   * in all; the rest are counted (context.reporter_dropped of the next report). The reporter's own
   * failures are never reported, and the handlers never throw. Returns a function that removes them.
   */
  function installGlobalHandlers(handlerOptions = {}) {
    const opts = { ...GLOBAL_DEFAULTS, ...(handlerOptions || {}) };
    const target = opts.target !== undefined ? opts.target : win;
    if (!target || typeof target.addEventListener !== "function") return () => {};
    const seen = new Map(); // dedupe key -> when it was last reported
    let filed = 0;
    let busy = false;

    function capture(kind, event) {
      if (busy) return; // something below failed and re-entered: never report the reporter
      busy = true;
      try {
        const thrown = kind === "error" ? event && event.error : event && event.reason;
        if (alreadyReported && thrown && typeof thrown === "object" && alreadyReported.has(thrown)) return;
        const info = describeThrown(thrown, kind === "error" ? event : null);
        if ((info.stack && info.stack.includes(SELF_URL)) || (info.source && info.source.startsWith(`${SELF_URL}:`))) return;
        if (opts.ignore && opts.ignore(info)) return;
        const key = [kind, info.name, info.message, info.source || (info.stack || "").split("\n", 3).join("|")].join("\u0000");
        const now = cfg.now();
        const last = seen.get(key);
        if (last !== undefined && now - last < opts.dedupeWindowMs) {
          countDrop("uncaught_duplicate");
          return;
        }
        if (filed >= opts.maxPerPage) {
          countDrop("uncaught_page_cap");
          return;
        }
        if (seen.size >= opts.maxKeys) seen.delete(seen.keys().next().value);
        seen.delete(key);
        seen.set(key, now);
        filed += 1;
        const rejection = kind === "unhandledrejection";
        const label = info.message ? `${info.name}: ${info.message}` : info.name;
        const backendError = { name: info.name, message: info.message };
        if (info.stack) backendError.stack = clipBytes(info.stack, opts.maxStackBytes);
        if (info.source) backendError.source = clipText(info.source, 500);
        const status = thrown && typeof thrown === "object" ? thrown.status : undefined; // e.g. an ApiError nobody caught
        const requestId = thrown && typeof thrown === "object" ? thrown.requestId : undefined;
        report({
          area: `${opts.areaPrefix}.${rejection ? "unhandled_rejection" : "uncaught"}`,
          message: clipText(rejection ? `Unhandled promise rejection: ${label}` : `Uncaught ${label}`, 1000),
          http_status: Number.isInteger(status) ? status : undefined,
          request_id: typeof requestId === "string" ? requestId : undefined,
          backend_error: backendError,
          context: { kind }, // the server records the user agent and the actor itself
        });
      } catch {
        /* never throw from a global handler */
      } finally {
        busy = false;
      }
    }

    const onError = (event) => capture("error", event);
    const onRejection = (event) => capture("unhandledrejection", event);
    try {
      target.addEventListener("error", onError);
      target.addEventListener("unhandledrejection", onRejection);
    } catch {
      return () => {};
    }
    return () => {
      try {
        target.removeEventListener("error", onError);
        target.removeEventListener("unhandledrejection", onRejection);
      } catch {
        /* never throw */
      }
    };
  }

  // Page hide/unload: flush the queue (see the header). visibilitychange fires on the document and
  // bubbles to the window; pagehide covers bfcache and browsers that skip visibilitychange on exit.
  if (win && typeof win.addEventListener === "function") {
    const onHidden = (event) => {
      try {
        const doc = cfg.document !== undefined ? cfg.document : globalThis.document;
        if (event && event.type === "visibilitychange" && doc && doc.visibilityState !== "hidden") return;
        flushForUnload();
      } catch {
        /* never throw */
      }
    };
    try {
      win.addEventListener("visibilitychange", onHidden);
      win.addEventListener("pagehide", onHidden);
    } catch {
      /* not a browser */
    }
  }

  const reportingFetch = wrapFetch();

  return {
    report,
    fetch: reportingFetch,
    wrapFetch,
    installGlobalHandlers,
    flushForUnload,
    pending: () => queue.length,
    pausedUntil: () => pausedUntil,
    dropped: () => ({ ...dropped }),
    flush: () => pump().catch(() => {}),
  };
}

let defaultReporter = null;
let globalHandlers = null; // { options, uninstall } of installGlobalHandlers(), moved along on reconfigure

function current() {
  if (!defaultReporter) defaultReporter = createIncidentReporter();
  return defaultReporter;
}

/** Replace the default reporter's options (endpoint, getToken, …). Returns the reporter. */
export function configureIncidentReporter(options = {}) {
  try {
    defaultReporter = createIncidentReporter(options);
  } catch {
    defaultReporter = null;
  }
  if (globalHandlers) {
    try {
      globalHandlers.uninstall();
      globalHandlers.uninstall = current().installGlobalHandlers(globalHandlers.options);
    } catch {
      /* never throw */
    }
  }
  return defaultReporter;
}

/**
 * Opt in: uncaught errors and unhandled rejections become incidents through the default reporter
 * (options: areaPrefix, dedupeWindowMs, maxPerPage, maxStackBytes, target). Idempotent; returns an uninstaller.
 */
export function installGlobalHandlers(options = {}) {
  try {
    if (globalHandlers) globalHandlers.uninstall();
    globalHandlers = { options, uninstall: current().installGlobalHandlers(options) };
    return () => {
      try {
        if (globalHandlers) globalHandlers.uninstall();
      } catch {
        /* never throw */
      }
      globalHandlers = null;
    };
  } catch {
    return () => {};
  }
}

/** Queue one incident ({area, message, http_status?, backend_error?, entities?, location?, context?}). Never throws. */
export function reportIncident(incident) {
  try {
    return current().report(incident);
  } catch {
    return false;
  }
}

/** fetch() that reports a failed call (status, the backend's error body, X-Request-Id) and returns it unchanged. */
export function reportingFetch(input, init, meta) {
  return current().fetch(input, init, meta);
}

// Academy Ops — browser incident reporter (ES module, no dependencies).
//
//   import { configureIncidentReporter, reportIncident, reportingFetch } from "/static/incident-reporter.js";
//   configureIncidentReporter({ endpoint: "https://api.example/incidents", getToken: () => session.token });
//   const res = await reportingFetch(`/admin/schedules/${id}`, { method: "DELETE" },
//     { area: "admin.academic.schedules.delete", entities: [{ type: "schedule", id }],
//       message: "Failed to remove schedule. Please try again." });
//
// Guarantees: no function here throws (reportingFetch rethrows only the caller's own fetch error),
// nothing blocks the UI (reports are queued and sent from a timer), failed sends are retried with
// exponential backoff and jitter, a 429 pauses the queue for its Retry-After, 4xx rejections other
// than 401/408/429 are dropped (resending would not help), and a 413 counts as delivered (the
// server keeps a stub of an oversize report). A 401 with a token is retried once anonymously.

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
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  now: () => Date.now(),
  random: Math.random,
  location: () => (globalThis.location && globalThis.location.href) || "unknown",
  onDrop: null, // (payload, reason) => void
  onSent: null, // (payload, status) => void
};

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

export function createIncidentReporter(options = {}) {
  const cfg = { ...DEFAULTS, ...options };
  const transport = cfg.fetch || (typeof globalThis.fetch === "function" ? globalThis.fetch.bind(globalThis) : null);
  const queue = [];
  let pausedUntil = 0;
  let sending = false;
  let timerAt = null;

  const drop = (item, reason) => {
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

  async function send(item) {
    if (!transport) return "drop:no_fetch";
    const headers = { "Content-Type": "application/json" };
    if (!item.anonymous && cfg.getToken) {
      try {
        const token = await cfg.getToken();
        if (token) headers.Authorization = `Bearer ${token}`;
      } catch {
        /* report anonymously */
      }
    }
    const body = JSON.stringify(item.payload);
    let res;
    try {
      res = await transport(cfg.endpoint, {
        method: "POST",
        headers,
        body,
        credentials: "omit",
        keepalive: byteLength(body) < 60000,
      });
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

  async function pump() {
    if (sending) return;
    sending = true;
    try {
      while (queue.length) {
        const item = queue[0];
        const wait = Math.max(pausedUntil, item.notBefore) - cfg.now();
        if (wait > 0) {
          schedule(wait);
          return;
        }
        let outcome;
        try {
          outcome = await send(item);
        } catch {
          outcome = failed(item);
        }
        if (outcome !== "retry") {
          queue.shift();
          if (outcome.startsWith("drop:")) drop(item, outcome.slice(5));
        }
      }
    } finally {
      sending = false;
    }
  }

  function report(incident) {
    try {
      const payload = toPayload(incident, cfg);
      if (!payload) return false;
      if (queue.length >= cfg.maxQueue) drop(queue.shift(), "queue_full");
      queue.push({ payload, attempts: 0, notBefore: 0, anonymous: false });
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
      let response;
      try {
        response = await fetchImpl(input, init);
      } catch (err) {
        if (!own) {
          report({
            area: info.area || "frontend.fetch",
            message: info.message || `${method} ${url} failed: ${(err && err.message) || err}`,
            backend_error: { name: (err && err.name) || "Error", message: String((err && err.message) || err) },
            entities: info.entities,
            context: { ...(info.context || {}), method, url, network_error: true },
          });
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
                message: info.message || `${method} ${url} failed with ${response.status}`,
                http_status: response.status,
                backend_error: backendError,
                entities: info.entities,
                request_id: requestId || undefined,
                context: { ...(info.context || {}), method, url },
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

  const reportingFetch = wrapFetch();

  return {
    report,
    fetch: reportingFetch,
    wrapFetch,
    pending: () => queue.length,
    pausedUntil: () => pausedUntil,
    flush: () => pump().catch(() => {}),
  };
}

let defaultReporter = null;

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
  return defaultReporter;
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

if (typeof globalThis.addEventListener === "function") {
  try {
    globalThis.addEventListener("pagehide", () => {
      if (defaultReporter) defaultReporter.flush();
    });
  } catch {
    /* not a browser */
  }
}

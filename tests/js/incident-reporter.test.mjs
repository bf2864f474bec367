// The browser incident reporter, under Node's built-in test runner (no npm packages).
// Run: node --test tests/js/   (tests/unit/test_incident_reporter_js.py runs it from pytest)
import assert from "node:assert/strict";
import { test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const modUrl = pathToFileURL(path.join(here, "..", "..", "chalicelib", "static", "incident-reporter.js")).href;
const { createIncidentReporter, reportIncident, reportingFetch, configureIncidentReporter, installGlobalHandlers, redactUrl } = await import(
  modUrl
);

/** A virtual clock and timer queue: nothing waits in real time. */
function fakeTime(start = 1_700_000_000_000) {
  const t = {
    now: start,
    timers: [],
    setTimeout(fn, ms) {
      t.timers.push({ at: t.now + ms, fn });
    },
    async advance(ms) {
      const until = t.now + ms;
      for (;;) {
        t.timers.sort((a, b) => a.at - b.at);
        const next = t.timers[0];
        if (!next || next.at > until) break;
        t.timers.shift();
        t.now = Math.max(t.now, next.at);
        await next.fn();
        await settle();
      }
      t.now = until;
    },
  };
  return t;
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

function response(status, body = "", headers = {}) {
  const h = new Headers(headers);
  return new Response(typeof body === "string" ? body : JSON.stringify(body), { status, headers: h });
}

/** A scripted transport: each call takes the next scripted outcome (a status, a Response or an Error). */
function transport(script) {
  const calls = [];
  const fn = async (url, init) => {
    calls.push({ url, init, body: init && init.body ? JSON.parse(init.body) : null });
    const next = script.length ? script.shift() : 202;
    if (next instanceof Error) throw next;
    if (next instanceof Response) return next;
    return response(next, next === 202 ? { id: "i", group_id: "g", stored: true } : "");
  };
  fn.calls = calls;
  return fn;
}

function reporter(script, extra = {}) {
  const time = fakeTime();
  const send = transport(script);
  const drops = [];
  const r = createIncidentReporter({
    fetch: send,
    setTimeout: time.setTimeout,
    now: () => time.now,
    random: () => 1,
    location: () => "https://app.example/page",
    onDrop: (payload, reason) => drops.push(reason),
    ...extra,
  });
  return { r, time, send, drops };
}

test("report queues and returns at once; the send happens later, off the caller's path", async () => {
  const { r, time, send } = reporter([202]);
  const ok = r.report({ area: "customers.homework.upload", message: "Upload failed", http_status: 413 });
  assert.equal(ok, true);
  assert.equal(send.calls.length, 0, "nothing is sent synchronously");
  await time.advance(0);
  assert.equal(send.calls.length, 1);
  const { url, init, body } = send.calls[0];
  assert.equal(url, "/incidents");
  assert.equal(init.method, "POST");
  assert.equal(init.headers["Content-Type"], "application/json");
  assert.equal(body.area, "customers.homework.upload");
  assert.equal(body.http_status, 413);
  assert.equal(body.location, "https://app.example/page");
  assert.match(body.occurred_at, /^\d{4}-\d\d-\d\dT.*Z$/);
  assert.equal(r.pending(), 0);
});

test("the token comes from getToken; a rejected token is retried once anonymously", async () => {
  const { r, time, send } = reporter([401, 202], { getToken: async () => "tok-1" });
  r.report({ area: "a.b", message: "m" });
  await time.advance(0);
  assert.equal(send.calls.length, 2);
  assert.equal(send.calls[0].init.headers.Authorization, "Bearer tok-1");
  assert.equal(send.calls[1].init.headers.Authorization, undefined);
});

test("failures retry with exponential backoff, then give up", async () => {
  const { r, time, send, drops } = reporter([500, new TypeError("network down"), 503, 502, 500, 500], {
    maxAttempts: 4,
  });
  r.report({ area: "a.b", message: "m" });
  await time.advance(0);
  assert.equal(send.calls.length, 1);
  await time.advance(999);
  assert.equal(send.calls.length, 1, "first retry waits ~1 s");
  await time.advance(1);
  assert.equal(send.calls.length, 2);
  await time.advance(2000);
  assert.equal(send.calls.length, 3, "then ~2 s");
  await time.advance(4000);
  assert.equal(send.calls.length, 4, "then ~4 s");
  assert.deepEqual(drops, ["gave_up"]);
  assert.equal(r.pending(), 0);
});

test("429 pauses the whole queue for Retry-After", async () => {
  const { r, time, send } = reporter([response(429, { error: { code: "rate_limited" } }, { "Retry-After": "30" }), 202, 202]);
  r.report({ area: "a.b", message: "first" });
  r.report({ area: "a.b", message: "second" });
  await time.advance(0);
  assert.equal(send.calls.length, 1);
  await time.advance(29_999);
  assert.equal(send.calls.length, 1, "nothing is sent while rate limited");
  await time.advance(1);
  assert.equal(send.calls.length, 3);
  assert.deepEqual(
    send.calls.map((c) => c.body.message),
    ["first", "first", "second"],
  );
});

test("4xx rejections are dropped, 413 counts as delivered (the server kept a stub)", async () => {
  const { r, time, send, drops } = reporter([400, 413]);
  r.report({ area: "a.b", message: "bad" });
  r.report({ area: "a.b", message: "big" });
  await time.advance(0);
  assert.equal(send.calls.length, 2);
  assert.deepEqual(drops, ["rejected_400"]);
});

test("report never throws, whatever it is given", async () => {
  const { r, time } = reporter([202, 202, 202, 202]);
  const circular = { a: 1 };
  circular.self = circular;
  assert.doesNotThrow(() => r.report(undefined));
  assert.doesNotThrow(() => r.report(null));
  assert.doesNotThrow(() => r.report("just a string"));
  assert.doesNotThrow(() => r.report({ area: "a.b", message: "m", context: circular, backend_error: 10n }));
  await time.advance(0);
  const broken = createIncidentReporter({ fetch: null, setTimeout: () => { throw new Error("no timers"); } });
  assert.doesNotThrow(() => broken.report({ area: "a.b", message: "m" }));
  const hostile = reporter([], {
    fetch: () => {
      throw new Error("synchronous transport failure");
    },
    getToken: () => {
      throw new Error("session store broken");
    },
    maxAttempts: 2,
  });
  assert.doesNotThrow(() => hostile.r.report({ message: "m" }));
  await hostile.time.advance(0);
  await hostile.time.advance(5000);
  assert.deepEqual(hostile.drops, ["gave_up"]);
});

test("oversize payloads are trimmed under the server's limit", async () => {
  const { r, time, send } = reporter([202]);
  r.report({ area: "a.b", message: "m", context: { blob: "x".repeat(200_000) } });
  await time.advance(0);
  const sent = send.calls[0].init.body;
  assert.ok(sent.length < 60_000, `sent ${sent.length} bytes`);
  assert.equal(send.calls[0].body.context._truncated, true);
});

test("the queue is bounded: the oldest report is dropped first", async () => {
  const { r, drops } = reporter([], { maxQueue: 2 });
  r.report({ area: "a.b", message: "1" });
  r.report({ area: "a.b", message: "2" });
  r.report({ area: "a.b", message: "3" });
  assert.equal(r.pending(), 2);
  assert.deepEqual(drops, ["queue_full"]);
});

test("reportingFetch returns the response untouched and reports a failed call with the backend's error", async () => {
  const { r, time, send } = reporter([]);
  const backendBody = { error: { code: "schedule_has_attendance", message: "Cannot delete schedule with attendance records." } };
  const appFetch = async () => response(409, backendBody, { "Content-Type": "application/json", "X-Request-Id": "req-9" });
  const wrapped = r.wrapFetch(appFetch);
  const res = await wrapped(
    "/admin/schedules/s1",
    { method: "DELETE" },
    {
      area: "admin.academic.schedules.delete",
      entities: [{ type: "schedule", id: "s1" }],
      message: "Failed to remove schedule. Please try again.",
    },
  );
  assert.equal(res.status, 409);
  assert.deepEqual(await res.json(), backendBody, "the caller can still read the body");
  await settle();
  await time.advance(0);
  assert.equal(send.calls.length, 1);
  const body = send.calls[0].body;
  assert.equal(body.area, "admin.academic.schedules.delete");
  assert.equal(body.http_status, 409);
  assert.deepEqual(body.backend_error, backendBody);
  assert.deepEqual(body.entities, [{ type: "schedule", id: "s1" }]);
  assert.equal(body.request_id, "req-9");
  assert.equal(body.message, "Failed to remove schedule. Please try again.");
  assert.deepEqual(body.context, { method: "DELETE", url: "/admin/schedules/s1" });
});

test("reportingFetch keeps non-JSON error bodies as text, ignores successes and rethrows network errors", async () => {
  const { r, time, send } = reporter([]);
  const wrapped = r.wrapFetch(async (url) => {
    if (url === "/ok") return response(200, "{}");
    if (url === "/down") throw new TypeError("Failed to fetch");
    return response(413, "<html>Request Entity Too Large</html>");
  });
  assert.equal((await wrapped("/ok")).status, 200);
  assert.equal((await wrapped("/upload", { method: "POST" }, { area: "customers.homework.upload" })).status, 413);
  await assert.rejects(wrapped("/down"), TypeError);
  await settle();
  await time.advance(0);
  assert.equal(send.calls.length, 2);
  const failed = send.calls.find((c) => c.body.http_status === 413).body;
  assert.equal(failed.backend_error, "<html>Request Entity Too Large</html>");
  assert.equal(failed.area, "customers.homework.upload");
  const offline = send.calls.find((c) => c.body.http_status === undefined).body;
  assert.equal(offline.context.network_error, true);
  assert.deepEqual(offline.backend_error, { name: "TypeError", message: "Failed to fetch" });
});

test("the default reporter: configure, reportIncident, reportingFetch", async () => {
  const time = fakeTime();
  const send = transport([202]);
  configureIncidentReporter({ fetch: send, setTimeout: time.setTimeout, now: () => time.now, endpoint: "https://api.example/incidents" });
  assert.equal(reportIncident({ area: "a.b", message: "m", location: "here" }), true);
  await time.advance(0);
  assert.equal(send.calls[0].url, "https://api.example/incidents");
  assert.equal(typeof reportingFetch, "function");
});

// --- uncaught errors, unhandled rejections, page hide --------------------------------------------

/** A fake window: listeners are called directly, so an exception in one would reach the test. */
function fakeWindow() {
  const listeners = {};
  return {
    listeners,
    addEventListener(type, fn) {
      (listeners[type] ||= []).push(fn);
    },
    removeEventListener(type, fn) {
      listeners[type] = (listeners[type] || []).filter((f) => f !== fn);
    },
    fire(type, event = {}) {
      for (const fn of [...(listeners[type] || [])]) fn({ type, ...event });
    },
  };
}

function fakeNavigator(accept = true) {
  const beacons = [];
  return {
    beacons,
    sendBeacon(url, data) {
      beacons.push({ url, data });
      return accept;
    },
  };
}

function withWindow(script, extra = {}) {
  const win = fakeWindow();
  const doc = { visibilityState: "visible" };
  const nav = fakeNavigator();
  const rig = reporter(script, { window: win, document: doc, navigator: nav, ...extra });
  return { ...rig, win, doc, nav };
}

function thrown(name, message, where = "https://app.example/static/page.js:10:5") {
  const err = new Error(message);
  err.name = name;
  err.stack = `${name}: ${message}\n    at render (${where})\n    at main (https://app.example/static/app.js:3:1)`;
  return err;
}

test("an uncaught error becomes one incident: area, message, error name and trimmed stack, place, time", async () => {
  const { r, time, send, win } = withWindow([]);
  r.installGlobalHandlers({ areaPrefix: "console", maxStackBytes: 300 });
  const err = thrown("TypeError", "Cannot read properties of undefined (reading 'id')");
  err.stack += "\n    at deep (https://app.example/x.js:1:1)".repeat(500);
  win.fire("error", { message: `Uncaught ${err.name}: ${err.message}`, error: err, filename: "https://app.example/static/page.js", lineno: 10, colno: 5 });
  await time.advance(0);
  assert.equal(send.calls.length, 1);
  const body = send.calls[0].body;
  assert.equal(body.area, "console.uncaught");
  assert.equal(body.message, "Uncaught TypeError: Cannot read properties of undefined (reading 'id')");
  assert.equal(body.backend_error.name, "TypeError");
  assert.equal(body.backend_error.message, "Cannot read properties of undefined (reading 'id')");
  assert.equal(body.backend_error.source, "https://app.example/static/page.js:10:5");
  assert.ok(body.backend_error.stack.startsWith("TypeError: Cannot read"), body.backend_error.stack);
  assert.ok(new TextEncoder().encode(body.backend_error.stack).length <= 300, "stack cut to its byte budget");
  assert.match(body.backend_error.stack, /…\[truncated\]$/);
  assert.equal(body.location, "https://app.example/page");
  assert.equal(body.occurred_at, new Date(1_700_000_000_000).toISOString());
  assert.equal(body.context.kind, "error");
  assert.equal(body.http_status, undefined);
});

test("the same error 50 times files once per window; the repeats are counted on the next report", async () => {
  const { r, time, send, win } = withWindow([], {});
  r.installGlobalHandlers({ dedupeWindowMs: 60_000 });
  const err = thrown("RangeError", "Maximum call stack size exceeded");
  const fire = () => win.fire("error", { message: err.message, error: err, filename: "https://app.example/static/page.js", lineno: 10, colno: 5 });
  fire();
  await time.advance(0);
  for (let i = 0; i < 49; i++) fire();
  await time.advance(0);
  assert.equal(send.calls.length, 1, "49 duplicates were not sent");
  assert.equal(send.calls[0].body.context.reporter_dropped, undefined);
  assert.deepEqual(r.dropped(), { uncaught_duplicate: 49 });
  r.report({ area: "a.b", message: "next", context: { tab: "jobs" } });
  await time.advance(0);
  assert.deepEqual(send.calls[1].body.context, { tab: "jobs", reporter_dropped: { uncaught_duplicate: 49 } });
  assert.deepEqual(r.dropped(), {}, "delivered counts are not carried twice");
  await time.advance(60_000);
  fire();
  await time.advance(0);
  assert.equal(send.calls.length, 3, "after the window the same error is filed again");
  assert.equal(send.calls[2].body.context.reporter_dropped, undefined);
});

test("distinct uncaught errors are capped per page", async () => {
  const { r, time, send, win } = withWindow([]);
  r.installGlobalHandlers({ maxPerPage: 5 });
  for (let i = 0; i < 12; i++) win.fire("error", { error: thrown("Error", `distinct ${i}`) });
  await time.advance(0);
  assert.equal(send.calls.length, 5);
  assert.deepEqual(
    send.calls.map((c) => c.body.message),
    [0, 1, 2, 3, 4].map((i) => `Uncaught Error: distinct ${i}`),
  );
  assert.deepEqual(send.calls[0].body.context.reporter_dropped, { uncaught_page_cap: 7 }, "the first send carries the count");
  assert.equal(send.calls[1].body.context.reporter_dropped, undefined);
  assert.deepEqual(r.dropped(), {});
});

test("unhandled rejections: non-Error reasons are described, an uncaught ApiError keeps its status", async () => {
  const { r, time, send, win } = withWindow([]);
  r.installGlobalHandlers();
  win.fire("unhandledrejection", { reason: "boom" });
  win.fire("unhandledrejection", { reason: { code: 42 } });
  win.fire("unhandledrejection", { reason: undefined });
  const apiError = Object.assign(thrown("ApiError", "Schedule not found"), { status: 404, requestId: "req-1" });
  win.fire("unhandledrejection", { reason: apiError });
  await time.advance(0);
  const bodies = send.calls.map((c) => c.body);
  assert.equal(bodies.length, 4);
  assert.ok(bodies.every((b) => b.area === "browser.unhandled_rejection" && b.context.kind === "unhandledrejection"));
  assert.deepEqual(
    bodies.map((b) => b.message),
    [
      "Unhandled promise rejection: string: boom",
      'Unhandled promise rejection: Object: {"code":42}',
      "Unhandled promise rejection: undefined",
      "Unhandled promise rejection: ApiError: Schedule not found",
    ],
  );
  assert.deepEqual(bodies[0].backend_error, { name: "string", message: "boom" });
  win.fire("unhandledrejection", { reason: new DOMException("The operation was aborted.", "AbortError") });
  await time.advance(0);
  assert.equal(send.calls.length, 4, "an unawaited aborted fetch is not an incident");
  assert.equal(bodies[3].http_status, 404);
  assert.equal(bodies[3].request_id, "req-1");
});

test("global handlers never throw and never report the reporter's own failures", async () => {
  const win = fakeWindow();
  const r = createIncidentReporter({
    window: win,
    navigator: null,
    fetch: () => {
      throw new Error("synchronous transport failure");
    },
    getToken: () => {
      throw new Error("session store broken");
    },
    setTimeout: () => {
      throw new Error("no timers");
    },
    onDrop: () => {
      throw new Error("callback broken");
    },
    maxQueue: 1,
  });
  r.installGlobalHandlers();
  const hostile = {};
  Object.defineProperty(hostile, "message", {
    get() {
      throw new Error("getter");
    },
  });
  assert.doesNotThrow(() => win.fire("error", { error: thrown("Error", "app bug") }));
  assert.doesNotThrow(() => win.fire("error", { error: hostile }));
  assert.doesNotThrow(() => win.fire("unhandledrejection", { reason: hostile }));
  assert.doesNotThrow(() => win.fire("unhandledrejection", null));
  assert.doesNotThrow(() => win.fire("pagehide"));
  assert.doesNotThrow(() => r.flushForUnload());
  await settle();

  const rig = withWindow([]);
  rig.r.installGlobalHandlers();
  const own = thrown("TypeError", "reporter bug", `${modUrl}:120:7`);
  rig.win.fire("error", { error: own, filename: modUrl, lineno: 120, colno: 7 });
  rig.win.fire("unhandledrejection", { reason: own });
  await rig.time.advance(0);
  assert.equal(rig.send.calls.length, 0, "an error thrown inside the reporter is not reported");
});

test("a network error reportingFetch already reported is not filed again when it goes unhandled", async () => {
  const { r, time, send, win } = withWindow([]);
  r.installGlobalHandlers();
  const offline = new TypeError("Failed to fetch");
  const wrapped = r.wrapFetch(async () => {
    throw offline;
  });
  await assert.rejects(wrapped("/admin/jobs"), TypeError);
  win.fire("unhandledrejection", { reason: offline });
  await time.advance(0);
  assert.equal(send.calls.length, 1);
  assert.equal(send.calls[0].body.context.network_error, true);
});

test("page hidden: queued reports go at once, in parallel, with keepalive and the token, backoff skipped", async () => {
  const { r, time, send, win, doc, nav } = withWindow([500, 202, 202, 202], { getToken: () => "tok-9" });
  r.report({ area: "a.b", message: "first" });
  await time.advance(0);
  assert.equal(send.calls.length, 1, "first failed and now waits ~1 s");
  r.report({ area: "a.b", message: "second" });
  r.report({ area: "a.b", message: "third" });
  win.fire("visibilitychange");
  assert.equal(send.calls.length, 1, "visible: nothing is flushed");
  doc.visibilityState = "hidden";
  win.fire("visibilitychange");
  assert.equal(send.calls.length, 4, "all three started synchronously inside the handler");
  assert.deepEqual(
    send.calls.slice(1).map((c) => c.body.message),
    ["first", "second", "third"],
  );
  assert.ok(send.calls.slice(1).every((c) => c.init.keepalive === true && c.init.headers.Authorization === "Bearer tok-9"));
  assert.equal(nav.beacons.length, 0, "fetch worked: no beacon");
  await settle();
  assert.equal(r.pending(), 0);
  win.fire("pagehide");
  await time.advance(5000);
  assert.equal(send.calls.length, 4, "nothing is sent twice");
});

test("page hide: an async token is not awaited (the report goes anonymous) and the flush respects the keepalive budget", async () => {
  const { r, send, win } = withWindow([], { getToken: async () => "tok", unloadBudgetBytes: 3600 });
  for (let i = 0; i < 4; i++) r.report({ area: "a.b", message: `m${i}`, context: { pad: "x".repeat(900) } });
  win.fire("pagehide");
  assert.equal(send.calls.length, 2, "two ~1.6 KB reports (with the 512 B allowance) fit a 3.6 KB budget");
  assert.ok(send.calls.every((c) => c.init.headers.Authorization === undefined));
  await settle();
  assert.equal(r.pending(), 2, "the rest stay queued for the pump if the page stays");
});

test("page hide without fetch uses sendBeacon with a JSON blob", async () => {
  const realFetch = globalThis.fetch;
  globalThis.fetch = undefined;
  let rig;
  try {
    rig = withWindow([], { fetch: null });
  } finally {
    globalThis.fetch = realFetch;
  }
  const { r, win, nav } = rig; // created while fetch was missing
  r.report({ area: "customers.homework.upload", message: "Upload failed", entities: [{ type: "homework", id: "h1" }] });
  win.fire("pagehide");
  assert.equal(nav.beacons.length, 1);
  const { url, data } = nav.beacons[0];
  assert.equal(url, "/incidents");
  assert.ok(data instanceof Blob);
  assert.equal(data.type, "application/json");
  const body = JSON.parse(await data.text());
  assert.equal(body.area, "customers.homework.upload");
  assert.deepEqual(body.entities, [{ type: "homework", id: "h1" }]);
  await settle();
  assert.equal(r.pending(), 0);
});

test("page hide: a fetch that throws falls back to sendBeacon; a refused beacon keeps the report", async () => {
  const win = fakeWindow();
  const nav = fakeNavigator(true);
  const time = fakeTime();
  const r = createIncidentReporter({
    window: win,
    document: { visibilityState: "hidden" },
    navigator: nav,
    now: () => time.now,
    setTimeout: time.setTimeout,
    fetch: () => {
      throw new TypeError("fetch is not allowed now");
    },
  });
  r.report({ area: "a.b", message: "m" });
  win.fire("visibilitychange");
  assert.equal(nav.beacons.length, 1);
  await settle();
  assert.equal(r.pending(), 0);

  const refusing = fakeNavigator(false);
  const r2 = createIncidentReporter({ window: win, navigator: refusing, now: () => time.now, setTimeout: time.setTimeout, fetch: () => { throw new TypeError("no"); } });
  r2.report({ area: "a.b", message: "kept" });
  r2.flushForUnload();
  await settle();
  assert.equal(refusing.beacons.length, 1);
  assert.equal(r2.pending(), 1, "the browser refused the beacon: the report stays queued");
});

test("429: nothing is sent until Retry-After; what was dropped meanwhile is counted on the next report", async () => {
  const { r, time, send, drops } = reporter(
    [response(429, { error: { code: "rate_limited" } }, { "Retry-After": new Date(1_700_000_000_000 + 20_000).toUTCString() }), 202, 202, 202],
    { maxQueue: 2 },
  );
  r.report({ area: "a.b", message: "first" });
  await time.advance(0);
  assert.equal(send.calls.length, 1);
  assert.equal(r.pausedUntil(), 1_700_000_000_000 + 20_000, "an HTTP-date Retry-After works too");
  for (let i = 0; i < 4; i++) r.report({ area: "a.b", message: `during ${i}` });
  assert.equal(r.flushForUnload(), 0, "a page hide during the pause sends nothing either");
  await time.advance(19_999);
  assert.equal(send.calls.length, 1);
  assert.deepEqual(drops, ["queue_full", "queue_full", "queue_full"]);
  await time.advance(1);
  assert.deepEqual(
    send.calls.map((c) => c.body.message),
    ["first", "during 2", "during 3"],
  );
  assert.deepEqual(send.calls[1].body.context, { reporter_dropped: { queue_full: 3 } });
  assert.equal(send.calls[2].body.context, undefined, "counted once");
  assert.deepEqual(r.dropped(), {});
});

test("configure moves installGlobalHandlers to the new default reporter", async () => {
  const win = fakeWindow();
  const time = fakeTime();
  const first = transport([]);
  configureIncidentReporter({ fetch: first, window: win, setTimeout: time.setTimeout, now: () => time.now, location: () => "here" });
  const uninstall = installGlobalHandlers({ target: win, areaPrefix: "console" });
  const second = transport([]);
  configureIncidentReporter({ fetch: second, window: win, setTimeout: time.setTimeout, now: () => time.now, location: () => "here" });
  win.fire("error", { error: thrown("Error", "after reconfigure") });
  await time.advance(0);
  assert.equal(first.calls.length, 0);
  assert.equal(second.calls.length, 1);
  assert.equal(second.calls[0].body.area, "console.uncaught");
  assert.equal(win.listeners.error.length, 1, "handlers were moved, not doubled");
  uninstall();
  win.fire("error", { error: thrown("Error", "after uninstall") });
  await time.advance(0);
  assert.equal(second.calls.length, 1);
});

test("secret-looking URL parameters are redacted from locations and reported URLs", async () => {
  assert.equal(redactUrl("/admin/schedules/s1"), "/admin/schedules/s1");
  assert.equal(redactUrl("https://a.example/p?tab=jobs&token=abc&X-Amz-Signature=f00"), "https://a.example/p?tab=jobs&token=[redacted]&X-Amz-Signature=[redacted]");
  assert.equal(redactUrl("https://a.example/cb#access_token=abc&state=1"), "https://a.example/cb#access_token=[redacted]&state=1");
  assert.equal(redactUrl("https://a.example/console#jobs"), "https://a.example/console#jobs");
  const saved = globalThis.location;
  globalThis.location = { href: "https://a.example/console/login?code=oauth-code&next=%2Fjobs" };
  try {
    const time = fakeTime();
    const send = transport([]);
    const r = createIncidentReporter({ fetch: send, setTimeout: time.setTimeout, now: () => time.now });
    r.report({ area: "a.b", message: "m" });
    const wrapped = r.wrapFetch(async () => response(403, "<Error><Code>AccessDenied</Code></Error>"));
    await wrapped("https://bucket.s3.amazonaws.com/k?X-Amz-Credential=AKIA&X-Amz-Security-Token=sess&X-Amz-Expires=60", { method: "PUT" });
    await settle();
    await time.advance(0);
    assert.equal(send.calls[0].body.location, "https://a.example/console/login?code=[redacted]&next=%2Fjobs");
    const put = send.calls[1].body;
    assert.equal(put.context.url, "https://bucket.s3.amazonaws.com/k?X-Amz-Credential=[redacted]&X-Amz-Security-Token=[redacted]&X-Amz-Expires=[redacted]");
    assert.ok(!JSON.stringify(put).includes("AKIA") && !JSON.stringify(put).includes("sess"), JSON.stringify(put));
  } finally {
    globalThis.location = saved;
  }
});

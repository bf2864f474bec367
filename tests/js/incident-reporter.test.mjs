// The browser incident reporter, under Node's built-in test runner (no npm packages).
// Run: node --test tests/js/   (tests/unit/test_incident_reporter_js.py runs it from pytest)
import assert from "node:assert/strict";
import { test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const modUrl = pathToFileURL(path.join(here, "..", "..", "chalicelib", "static", "incident-reporter.js")).href;
const { createIncidentReporter, reportIncident, reportingFetch, configureIncidentReporter } = await import(modUrl);

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

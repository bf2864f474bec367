// The console's resumable part uploader (chalicelib/console/static/multipart.js) under Node's test runner.
// Run: node --test tests/js/   (tests/unit/test_incident_reporter_js.py runs every file here from pytest)
import assert from "node:assert/strict";
import { test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
globalThis.window = new EventTarget();
globalThis.navigator = { onLine: true };
Math.random = () => 0; // the shortest back-off: 250 ms, 500 ms, ...
const { sendParts, StorageError } = await import(pathToFileURL(path.join(here, "..", "..", "chalicelib", "console", "static", "multipart.js")).href);

/** Storage: answers per URL from a script ([status, body] per attempt, then 200), records what it got. */
function fakeStorage(script = {}) {
  const got = [];
  let inFlight = 0;
  let maxInFlight = 0;
  class FakeXHR {
    constructor() {
      this.listeners = {};
      this.upload = { addEventListener: (t, fn) => ((this.uploadProgress = fn), t) };
      this.status = 0;
      this.responseText = "";
    }
    addEventListener(type, fn) {
      this.listeners[type] = fn;
    }
    open(method, url) {
      this.method = method;
      this.url = url;
    }
    abort() {
      this.listeners.abort?.();
    }
    send(blob) {
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      setTimeout(async () => {
        inFlight -= 1;
        const answers = script[this.url] || [];
        const [status, body] = answers.length ? answers.shift() : [200, ""];
        this.status = status;
        this.responseText = body;
        if (status === 200) {
          got.push({ url: this.url, bytes: new Uint8Array(await blob.arrayBuffer()) });
          this.uploadProgress?.({ loaded: blob.size });
        }
        if (status === 0) this.listeners.error?.();
        else this.listeners.load?.();
      }, 5);
    }
  }
  globalThis.XMLHttpRequest = FakeXHR;
  return { got, maxInFlight: () => maxInFlight };
}

const file = (n) => new Blob([Uint8Array.from({ length: n }, (_, i) => i % 251)]);
const signer = (calls) => async (numbers) => {
  calls.push(numbers);
  return numbers.map((n) => ({ part_number: n, url: `u${n}.${calls.length}` }));
};

test("sends every missing part once, at most `concurrency` at a time, in the right byte ranges", async () => {
  const storage = fakeStorage();
  const calls = [];
  const progress = [];
  const f = file(10);
  await sendParts({ file: f, session: { part_size: 3, part_count: 4 }, held: new Set([2]), urls: new Map(), signParts: signer(calls), onProgress: (p) => progress.push(p), concurrency: 2 });
  assert.deepEqual(calls, [[1, 3, 4]]); // one batch for the missing parts; part 2 is already stored
  assert.deepEqual(storage.got.map((g) => g.url).sort(), ["u1.1", "u3.1", "u4.1"]);
  assert.deepEqual([...storage.got.find((g) => g.url === "u4.1").bytes], [9]); // the last part: the rest
  assert.ok(storage.maxInFlight() <= 2);
  assert.equal(progress.at(-1).loaded, 10);
  assert.equal(progress[0].loaded, 3); // what storage already held counts from the start
});

test("a 5xx or a dropped connection is retried with back-off, then the part goes through", async () => {
  const storage = fakeStorage({ "u1.1": [[503, "<Error><Code>SlowDown</Code></Error>"], [0, ""]] });
  const retries = [];
  await sendParts({ file: file(4), session: { part_size: 4, part_count: 1 }, held: new Set(), urls: new Map(), signParts: signer([]), onProgress: () => {}, onRetry: (r) => retries.push(r.status) });
  assert.deepEqual(retries, [503, 0]);
  assert.equal(storage.got.length, 1);
});

test("an expired part URL is signed again; another refusal stops at once with the storage error", async () => {
  const expired = "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>";
  fakeStorage({ "u1.1": [[403, expired]] });
  const calls = [];
  await sendParts({ file: file(4), session: { part_size: 4, part_count: 1 }, held: new Set(), urls: new Map(), signParts: signer(calls), onProgress: () => {} });
  assert.deepEqual(calls, [[1], [1]]); // re-signed after the expiry

  const denied = "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>";
  fakeStorage({ "u1.1": [[403, denied]] });
  await assert.rejects(
    sendParts({ file: file(4), session: { part_size: 4, part_count: 1 }, held: new Set(), urls: new Map(), signParts: signer([]), onProgress: () => {} }),
    (err) => err instanceof StorageError && err.status === 403 && err.partNumber === 1 && err.body === denied,
  );
});

test("offline, the upload waits for the online event and then carries on", async () => {
  const storage = fakeStorage();
  navigator.onLine = false;
  let done = false;
  const run = sendParts({ file: file(4), session: { part_size: 4, part_count: 1 }, held: new Set(), urls: new Map(), signParts: signer([]), onProgress: () => {} }).then(() => (done = true));
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(done, false);
  assert.equal(storage.got.length, 0);
  navigator.onLine = true;
  window.dispatchEvent(new Event("online"));
  await run;
  assert.equal(storage.got.length, 1);
});

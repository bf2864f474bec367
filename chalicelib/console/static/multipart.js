// Resumable uploads in parts (S3 multipart through the API's presigned part URLs): parts go in parallel
// (bounded), each retried with exponential back-off; offline, the upload waits for the network and goes
// on; the upload id is kept in localStorage, so after a reload (or a crash) choosing the same file again
// resumes from what storage already holds (ListParts through GET .../parts).

const SAVED_PREFIX = "academy.upload.";
const MAX_BACKOFF_MS = 30_000;
const MAX_ONLINE_ATTEMPTS = 12; // ≈ 5 min of back-off while the browser says it is online; offline waits for ever
const MAX_URL_REFRESHES = 3; // an expired part URL is re-signed, but a URL refused for another reason is not retried for ever

/** A file's identity across reloads: the same name, size, modification time and student. */
export function fingerprint(file, studentId) {
  return `${studentId}|${file.name}|${file.size}|${file.lastModified}`;
}

export function savedUpload(fp) {
  try {
    return JSON.parse(localStorage.getItem(SAVED_PREFIX + fp) || "null");
  } catch {
    return null;
  }
}

export function saveUpload(fp, value) {
  try {
    localStorage.setItem(SAVED_PREFIX + fp, JSON.stringify({ ...value, saved_at: Date.now() }));
  } catch {
    /* storage full or disabled: the upload still works, it just cannot resume after a reload */
  }
}

export function forgetUpload(fp) {
  try {
    localStorage.removeItem(SAVED_PREFIX + fp);
  } catch {
    /* nothing to forget */
  }
}

/** Interrupted uploads remembered on this device: [{fingerprint, filename, size_bytes, video_id, ...}]. */
export function pendingUploads() {
  const out = [];
  try {
    for (let i = 0; i < localStorage.length; i += 1) {
      const key = localStorage.key(i);
      if (key && key.startsWith(SAVED_PREFIX)) {
        const value = JSON.parse(localStorage.getItem(key) || "null");
        if (value) out.push({ fingerprint: key.slice(SAVED_PREFIX.length), ...value });
      }
    }
  } catch {
    /* unreadable storage: nothing to resume */
  }
  return out;
}

/** A storage refusal that retrying cannot fix (a 4xx other than an expired URL or throttling). */
export class StorageError extends Error {
  constructor(status, body, partNumber) {
    super(`storage answered HTTP ${status} for part ${partNumber}`);
    this.name = "StorageError";
    this.status = status;
    this.body = body;
    this.partNumber = partNumber;
  }
}

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(new DOMException("aborted", "AbortError"));
    });
  });
}

function waitOnline(signal) {
  if (navigator.onLine !== false) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = () => {
      window.removeEventListener("online", done);
      resolve();
    };
    window.addEventListener("online", done);
    signal?.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
  });
}

function putPart(url, blob, onProgress, signal) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    let droppedOffline = false;
    const offline = () => {
      droppedOffline = true; // the connection went: drop this attempt now rather than wait for a timeout
      xhr.abort();
    };
    const settle = (fn, value) => {
      window.removeEventListener("offline", offline);
      fn(value);
    };
    window.addEventListener("offline", offline);
    xhr.open("PUT", url);
    xhr.timeout = 10 * 60 * 1000;
    xhr.upload.addEventListener("progress", (ev) => onProgress(ev.loaded));
    xhr.addEventListener("load", () => (xhr.status >= 200 && xhr.status < 300 ? settle(resolve) : settle(reject, { status: xhr.status, body: xhr.responseText })));
    xhr.addEventListener("error", () => settle(reject, { status: 0, body: "" }));
    xhr.addEventListener("timeout", () => settle(reject, { status: 0, body: "" }));
    xhr.addEventListener("abort", () => settle(reject, droppedOffline ? { status: 0, body: "" } : new DOMException("aborted", "AbortError")));
    signal?.addEventListener("abort", () => xhr.abort());
    xhr.send(blob);
  });
}

const expiredUrl = (status, body) => status === 403 && /Request has expired/i.test(body || "");
const retryable = (status, body) => status === 0 || status === 408 || status === 429 || status >= 500 || expiredUrl(status, body);

/**
 * Send every part of `file` that storage does not hold yet, then resolve.
 * session: {part_size, part_count}; held: Set of part numbers already stored; urls: Map part → url;
 * signParts(numbers) → [{part_number, url}]; onProgress({loaded, total, speed, waiting}).
 */
export async function sendParts({ file, session, held, urls, signParts, onProgress, signal, concurrency = 3, onRetry }) {
  const total = file.size;
  const size = (n) => (n < session.part_count ? session.part_size : total - session.part_size * (session.part_count - 1));
  const queue = [];
  for (let n = 1; n <= session.part_count; n += 1) if (!held.has(n)) queue.push(n);
  let doneBytes = [...held].reduce((sum, n) => sum + size(n), 0);
  const inFlight = new Map();
  const samples = [];
  let waiting = false;
  const report = () => {
    const loaded = doneBytes + [...inFlight.values()].reduce((a, b) => a + b, 0);
    const now = performance.now();
    samples.push([now, loaded]);
    while (samples.length > 2 && now - samples[0][0] > 5000) samples.shift();
    const [t0, b0] = samples[0];
    const speed = now > t0 ? ((loaded - b0) * 1000) / (now - t0) : 0;
    onProgress({ loaded: Math.min(loaded, total), total, speed: Math.max(speed, 0), waiting });
  };
  report();

  const missing = [...queue];
  const sent = new Set();
  let signing = null; // one signing request at a time; workers waiting for a URL share it

  async function urlFor(n, refresh = false) {
    if (refresh) urls.delete(n);
    while (!urls.has(n)) {
      if (!signing) {
        const batch = [n, ...missing.filter((m) => m !== n && !urls.has(m) && !sent.has(m))].slice(0, 100);
        signing = signParts(batch)
          .then((parts) => {
            for (const p of parts) urls.set(p.part_number, p.url);
            if (!urls.has(n)) throw new Error(`the API signed no URL for part ${n}`);
          })
          .finally(() => {
            signing = null;
          });
      }
      await signing;
    }
    return urls.get(n);
  }

  async function one(n) {
    const blob = file.slice((n - 1) * session.part_size, (n - 1) * session.part_size + size(n));
    let attempt = 0;
    let refreshes = 0;
    let refresh = false;
    for (;;) {
      if (signal?.aborted) throw new DOMException("aborted", "AbortError");
      try {
        await waitOnline(signal);
        const url = await urlFor(n, refresh);
        inFlight.set(n, 0);
        await putPart(url, blob, (loaded) => {
          inFlight.set(n, loaded);
          report();
        }, signal);
        inFlight.delete(n);
        sent.add(n);
        doneBytes += size(n);
        waiting = false;
        report();
        return;
      } catch (err) {
        inFlight.delete(n);
        if (err && err.name === "AbortError") throw err;
        const status = err && typeof err.status === "number" ? err.status : 0;
        const body = err && err.body;
        refresh = expiredUrl(status, body); // an expired part URL: ask for a fresh one
        refreshes += refresh ? 1 : 0;
        if (navigator.onLine !== false) attempt += 1;
        if (!retryable(status, body) || attempt > MAX_ONLINE_ATTEMPTS || refreshes > MAX_URL_REFRESHES) {
          throw err && err.name === "ApiError" ? err : new StorageError(status, body, n);
        }
        waiting = true;
        report();
        onRetry?.({ part: n, attempt, status, offline: navigator.onLine === false });
        await sleep(Math.min(MAX_BACKOFF_MS, 500 * 2 ** Math.min(attempt, 6)) * (0.5 + Math.random() / 2), signal);
      }
    }
  }

  async function worker() {
    while (queue.length) await one(queue.shift());
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, queue.length || 1) }, worker));
}

// Follow one background job (GET /admin/jobs/{id}) until it ends, showing its state and progress.
import { api, reason } from "./api.js";
import { h } from "./ui.js";

const DONE = new Set(["succeeded", "failed", "cancelled"]);

/** Numbers a job reports about its progress, wherever the job keeps them (result or payload). */
function progressOf(job) {
  for (const src of [job.result, job.progress, job.payload]) {
    if (!src || typeof src !== "object") continue;
    const done = src.deleted ?? src.done ?? src.processed ?? src.attendance_deleted;
    const total = src.total ?? src.expected ?? src.attendance_total;
    if (typeof done === "number") return { done, total: typeof total === "number" ? total : null };
  }
  return null;
}

/**
 * A live progress panel for a job. Returns {el, finished} where `finished` resolves with the final job
 * (or null if it could not be followed).
 */
export function watchJob(jobId, { title = "Working…", intervalMs = 1000, unit = "records", total = null } = {}) {
  const bar = h("progress", { max: "100", "aria-label": title });
  const status = h("p", { "aria-live": "polite", class: "small" }, "Queued…");
  const el = h("div", { class: "card", "data-job-id": jobId }, h("h3", {}, title), h("div", { class: "progress-row" }, bar, h("span", { class: "mono small" }, `job ${jobId}`)), status);
  const finished = new Promise((resolve) => {
    let failures = 0;
    const tick = async () => {
      let job;
      try {
        job = await api("GET", `/admin/jobs/${encodeURIComponent(jobId)}`);
        failures = 0;
      } catch (err) {
        failures += 1;
        status.textContent = `Could not read the job's progress: ${reason(err)}${failures < 5 ? " Retrying…" : ""}`;
        if (failures >= 5) return resolve(null);
        return setTimeout(tick, intervalMs * 2);
      }
      const p = progressOf(job) || (total !== null && job.state === "succeeded" ? { done: total, total } : null);
      if (p && p.total === null && total !== null) p.total = total;
      if (p && p.total) {
        bar.value = Math.min(100, Math.round((p.done / p.total) * 100));
      } else if (job.state === "succeeded") {
        bar.value = 100;
      } else {
        bar.removeAttribute("value"); // indeterminate
      }
      const counts = p ? (p.total ? `${p.done} of ${p.total} ${unit}` : `${p.done} ${unit} so far`) : total ? `${total} ${unit} to remove` : "";
      const stateText = { queued: job.stuck ? "Queued (stuck: its message seems lost; retry it)" : "Queued", running: job.stuck ? "Running (stuck: no heartbeat lately)" : "Running", succeeded: "Done", failed: "Failed", cancelled: "Cancelled" }[job.state] || job.state;
      const err = job.last_error ? ` — ${job.last_error.message || JSON.stringify(job.last_error)}` : "";
      status.textContent = [stateText, counts].filter(Boolean).join(": ") + (job.state === "failed" ? err : "");
      if (DONE.has(job.state)) return resolve(job);
      setTimeout(tick, intervalMs);
    };
    tick();
  });
  return { el, finished };
}

// Admin > Insights > Media: videos with their variant count and state; a compact icon-only "optimise"
// action, shown only when the data says the video is optimisable (original only, no job queued or
// running), hidden as soon as it is clicked, restored with the API's reason if the API refuses,
// and never dispatched twice (one request in flight per video, whatever the clicks). Trends (GET
// /admin/metrics/media): video minutes processed per day and the estimated cost per day, Lambda (measured
// worker GB-seconds at list price) beside MediaConvert's list price; redrawn when the list loads and
// when a followed optimisation ends.
import { ApiError, api, qs, reason } from "./api.js";
import { formats, mountChart, rangeParams, utcDays } from "./charts.js";
import { showPlayer } from "./player.js";
import { badge, busy, clear, clipText, fail, field, fmtBytes, fmtDateTime, h, icon, loadAll, messageArea } from "./ui.js";

const AREA = "admin.insights.media";
const ACTIVE = new Set(["queued", "running"]);
const POLL_MS = 2000;
const TREND_DAYS = 30;

export function canOptimise(v) {
  return v.status === "uploaded" && v.optimisable === true && v.variant_count === 1 && !(v.job && ACTIVE.has(v.job.state));
}

function stateOf(v) {
  if (v.status !== "uploaded") return badge("awaiting upload", "");
  if (v.job && ACTIVE.has(v.job.state)) return badge(v.job.state === "running" ? (v.job.stuck ? "optimising (stuck)" : "optimising") : "queued", "info");
  if (v.variant_count > 1) return badge("optimised", "ok");
  if (v.job && v.job.state === "failed") return badge("optimisation failed", "bad");
  return badge("original only", "warn");
}

export async function render(main, { title }) {
  const messages = messageArea();
  const filter = h(
    "select",
    { name: "optimisable" },
    h("option", { value: "" }, "All videos"),
    h("option", { value: "true" }, "Optimisable (original only)"),
    h("option", { value: "false" }, "Already optimised"),
  );
  const filterForm = h("form", { class: "grid card", role: "search", "aria-label": "Filter videos" }, field("Show", filter), h("div", { class: "actions" }, h("button", { type: "submit", class: "btn" }, "Show")));
  filterForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    load();
  });
  const tbody = h("tbody");
  const listBox = h("div");
  const moreBox = h("div", { class: "actions" });
  const playerTitle = h("h2", {}, "Video");
  const playerBody = h("div");
  const playerBox = h("section", { class: "card player-box", "aria-label": "Video player", hidden: true, tabindex: "-1" }, playerTitle, playerBody);
  const minutesBox = h("div");
  const costBox = h("div");
  const priceNote = h("p", { class: "small muted" });
  const trends = h("details", { class: "card media-trends", open: true }, h("summary", {}, `Processing and cost, last ${TREND_DAYS} days`), h("div", { class: "charts two" }, minutesBox, costBox), priceNote);
  clear(main, h("h1", {}, title), h("p", { class: "muted" }, "Videos uploaded as proof. A video with only its original can be optimised to a 720p MP4 with a poster frame."), messages.el, trends, filterForm, playerBox, listBox, moreBox);

  let trendsFailed = false;
  async function loadTrends() {
    const params = rangeParams(TREND_DAYS * 86_400_000, "hour");
    let out;
    try {
      out = await api("GET", `/admin/metrics/media${qs(params)}`);
    } catch (err) {
      if (!trendsFailed) fail(null, err, { action: "load the media trends", area: `${AREA}.trends` });
      trendsFailed = true;
      clear(minutesBox, h("p", { class: "alert alert-error" }, `Could not load the trends: ${reason(err)}`));
      costBox.replaceChildren();
      return;
    }
    trendsFailed = false;
    const cost = out.cost || {};
    const perDay = new Map((cost.per_day || []).map((d) => [d.date, d]));
    const days = utcDays(out.from || params.from, out.to || params.to);
    const pick = (key) => days.map((d) => (perDay.has(d) && typeof perDay.get(d)[key] === "number" ? perDay.get(d)[key] : 0));
    mountChart(minutesBox, { id: "media-minutes", title: "Video minutes processed per day", step: "day", times: days, format: "minutes", series: [{ name: "Video minutes", kind: "bar", tone: "primary", values: pick("video_minutes") }] });
    mountChart(costBox, {
      id: "media-cost",
      title: "Estimated cost per day",
      step: "day",
      times: days,
      format: "usd",
      series: [
        { name: "Lambda (measured)", kind: "bar", tone: "ok", values: pick("lambda_usd") },
        { name: "MediaConvert (list price)", kind: "bar", tone: "warn", values: pick("mediaconvert_usd") },
      ],
    });
    const per = (v) => (typeof v === "number" ? formats.usd(v) : "—");
    priceNote.textContent =
      `Per video minute: Lambda ${per(cost.lambda_usd_per_video_minute)}` +
      (typeof cost.gb_seconds_per_video_minute === "number" ? ` (${cost.gb_seconds_per_video_minute.toFixed(1)} GB-s measured × ${per(cost.lambda_usd_per_gb_s)} per GB-s)` : "") +
      `, MediaConvert ${per(cost.mediaconvert_usd_per_video_minute)}. List prices as of ${cost.prices_as_of || "—"}; days in UTC.`;
  }

  const studentNames = new Map();
  try {
    for (const s of await loadAll(api, "/admin/students")) studentNames.set(s.id, s.name);
  } catch (err) {
    fail(messages, err, { action: "load the students", area: `${AREA}.students` });
  }
  const videos = new Map(); // id → video (latest known)
  const inFlight = new Set(); // ids with an optimise request on the wire: a second click does nothing
  const rowErrors = new Map(); // id → the refusal shown in its row
  const watching = new Set();

  const columns = [
    {
      label: "Video",
      render: (v) =>
        h(
          "div",
          { class: "video-cell" },
          v.poster_url ? h("img", { class: "poster", src: v.poster_url, alt: "", width: "64", height: "36", loading: "lazy" }) : null,
          h("strong", { title: `video ${v.id}` }, v.filename),
        ),
    },
    { label: "Student", render: (v) => studentNames.get(v.student_id) || v.student_id },
    { label: "Size", class: "nowrap", render: (v) => fmtBytes(v.size_bytes) },
    {
      label: "Variants",
      render: (v) =>
        h(
          "div",
          { "data-variants": String(v.variant_count) },
          h("span", { class: "variant-count" }, String(v.variant_count)),
          h("div", { class: "chips" }, (v.variants || []).map((x) => {
            const text = x.height ? `${x.name} ${x.width}×${x.height}` : x.name;
            return x.url ? h("a", { class: "chip", href: x.url, target: "_blank", rel: "noopener", "aria-label": `Open the ${x.name} variant of ${v.filename}` }, text) : h("span", { class: "chip" }, text);
          })),
        ),
    },
    { label: "State", render: (v) => h("div", { class: "state-cell", tabindex: "-1" }, stateOf(v), rowErrors.has(v.id) ? h("span", { class: "inline-error", role: "alert" }, rowErrors.get(v.id)) : null, v.job && v.job.state === "failed" && v.job.last_error ? h("span", { class: "inline-error" }, clipText(v.job.last_error.message, 120)) : null) },
    { label: "Updated", render: (v) => fmtDateTime(v.updated_at) },
    { label: "Actions", class: "actions-cell", render: (v) => [v.status === "uploaded" ? playButton(v) : null, canOptimise(v) && !inFlight.has(v.id) ? optimiseButton(v) : null] },
  ];

  /** Play in the page: a <video> on the presigned /play URL (720p once it exists, else the original), streamed by the browser. */
  function playButton(v) {
    const b = h("button", { type: "button", class: "btn secondary small play", "aria-label": `Play ${v.filename}` }, "Play");
    b.addEventListener("click", () =>
      busy(b, "Loading…", async () => {
        const path = `/admin/media/${encodeURIComponent(v.id)}`;
        playerBox.hidden = false;
        try {
          await showPlayer(playerBody, {
            playPath: `${path}/play`,
            downloadPath: `${path}/download`,
            filename: v.filename,
            onError: (err, action) => fail(messages, err, { action, area: `${AREA}.download`, entities: [{ type: "video", id: v.id }] }),
          });
          playerTitle.textContent = v.filename;
          playerBox.focus();
        } catch (err) {
          playerBox.hidden = true;
          fail(messages, err, { action: `play ${v.filename}`, area: `${AREA}.play`, entities: [{ type: "video", id: v.id }] });
        }
      }),
    );
    return b;
  }

  function rowFor(v) {
    return h(
      "tr",
      { "data-video-id": v.id },
      columns.map((c) => {
        const val = c.render(v);
        return h("td", { "data-label": c.label, class: c.class }, val === null || val === undefined || val === "" ? "" : val);
      }),
    );
  }

  function renderTable() {
    const list = [...videos.values()];
    if (!list.length) {
      clear(listBox, h("p", { class: "empty" }, "No videos match."));
      return;
    }
    tbody.replaceChildren(...list.map(rowFor));
    clear(listBox, h("div", { class: "table-wrap" }, h("table", { class: "data" }, h("caption", { class: "visually-hidden" }, "Videos"), h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c.label)))), tbody)));
  }

  function updateRow(v, { focusState = false } = {}) {
    videos.set(v.id, v);
    const old = tbody.querySelector(`tr[data-video-id="${CSS.escape(v.id)}"]`);
    if (!old) return;
    const fresh = rowFor(v);
    old.replaceWith(fresh);
    if (focusState) fresh.querySelector(".state-cell").focus();
  }

  function optimiseButton(v) {
    const label = `Optimise ${v.filename}`;
    const b = h("button", { type: "button", class: "icon-btn optimise", "aria-label": label, "data-tip": "Optimise to 720p" }, icon("bolt"));
    b.addEventListener("click", () => optimise(v.id, b));
    return b;
  }

  async function optimise(id, button) {
    if (inFlight.has(id)) return; // a double click, or a second click before the first answer
    inFlight.add(id);
    rowErrors.delete(id);
    const before = videos.get(id);
    const hadFocus = document.activeElement === button;
    button.remove(); // optimistic: gone at once
    updateRow({ ...before, job: { state: "queued", job_id: null } }, { focusState: hadFocus });
    try {
      const out = await api("POST", `/admin/media/${encodeURIComponent(id)}/optimise`);
      messages.set("ok", `Optimisation of ${before.filename} is queued (job ${out.job_id}).`);
      updateRow({ ...videos.get(id), job: { state: "queued", job_id: out.job_id } });
      watch(id);
    } catch (err) {
      inFlight.delete(id);
      const text = fail(messages, err, { action: `optimise ${before.filename}`, area: `${AREA}.optimise`, entities: [{ type: "video", id }] });
      rowErrors.set(id, reason(err));
      // The API is the truth: refetch, so a 409 (already optimised / queued) shows the real state.
      let fresh = before;
      if (err instanceof ApiError && err.status === 409) {
        try {
          fresh = await api("GET", `/admin/media/${encodeURIComponent(id)}`);
        } catch {
          fresh = before;
        }
      }
      updateRow(fresh);
      const restored = tbody.querySelector(`tr[data-video-id="${CSS.escape(id)}"] button.optimise`);
      if (restored && hadFocus) restored.focus();
      if (fresh.job && ACTIVE.has(fresh.job.state)) watch(id);
      return text;
    }
    inFlight.delete(id);
    return "";
  }

  /** Follow a video while its job is queued or running; its row updates when the variant appears. */
  function watch(id) {
    if (watching.has(id)) return;
    watching.add(id);
    const tick = async () => {
      if (!main.isConnected) return watching.delete(id);
      try {
        const v = await api("GET", `/admin/media/${encodeURIComponent(id)}`);
        const focusWasInRow = tbody.querySelector(`tr[data-video-id="${CSS.escape(id)}"]`)?.contains(document.activeElement);
        updateRow(v, { focusState: focusWasInRow });
        if (v.job && ACTIVE.has(v.job.state)) return setTimeout(tick, POLL_MS);
        watching.delete(id);
        loadTrends(); // the job's minutes and cost are counted now
        if (v.variant_count > 1) messages.set("ok", `${v.filename} is optimised: ${v.variant_count} variants.`);
        else if (v.job && v.job.state === "failed") messages.set("error", `Optimising ${v.filename} failed: ${(v.job.last_error && v.job.last_error.message) || "see Insights > Jobs"}.`);
      } catch (err) {
        watching.delete(id);
        fail(messages, err, { action: "refresh the video's state", area: `${AREA}.refresh`, entities: [{ type: "video", id }] });
      }
    };
    setTimeout(tick, POLL_MS);
  }

  let nextToken = null;
  async function load(more = false) {
    if (!more) loadTrends();
    const params = { optimisable: filter.value, limit: 50, next_token: more ? nextToken : null };
    try {
      const page = await api("GET", `/admin/media${qs(params)}`);
      if (!more) videos.clear();
      for (const v of page.items) videos.set(v.id, v);
      nextToken = page.next_token;
      renderTable();
      for (const v of page.items) if (v.job && ACTIVE.has(v.job.state)) watch(v.id);
      clear(moreBox, nextToken ? h("button", { type: "button", class: "btn secondary", onclick: () => load(true) }, "Load more") : null);
    } catch (err) {
      fail(messages, err, { action: "load the videos", area: `${AREA}.list`, context: { params } });
    }
  }

  await load();
}

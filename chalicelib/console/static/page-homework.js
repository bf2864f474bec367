// Admin > Academic > Homework: what customers submitted, unreviewed first (then reviewed, then still
// awaiting the file), newest first in each; filters by student, status and dates; open the file through a
// short-lived link (inline for PDF and images, a download otherwise); review with written feedback at the
// revision read (a stale one is refused: the page reloads the homework), and the review history.
import { ApiError, api, qs, reason } from "./api.js";
import { badge, busy, clear, fail, field, fmtBytes, fmtDateTime, h, loadAll, messageArea, table } from "./ui.js";

const AREA = "admin.academic.homework";
const MAX_FEEDBACK = 4000;
const LINK_FRESH_MS = 240_000; // the API's links last 300 s: renew one older than this before opening it

export function statusBadge(x) {
  if (x.status === "reviewed") return badge("reviewed", "ok");
  if (x.status === "uploaded") return badge("to review", "warn");
  return badge("awaiting upload", "");
}

export async function render(main, { title }) {
  const messages = messageArea();
  const student = h("select", { name: "student_id" }, h("option", { value: "" }, "All students"));
  const status = h(
    "select",
    { name: "status" },
    h("option", { value: "" }, "Unreviewed first"),
    h("option", { value: "uploaded" }, "To review"),
    h("option", { value: "reviewed" }, "Reviewed"),
    h("option", { value: "awaiting_upload" }, "Awaiting upload"),
  );
  const from = h("input", { type: "date", name: "from" });
  const to = h("input", { type: "date", name: "to" });
  const filterForm = h(
    "form",
    { class: "grid card", role: "search", "aria-label": "Filter homework" },
    field("Student", student),
    field("Status", status),
    field("Submitted from", from),
    field("to", to),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "btn" }, "Show")),
  );
  filterForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    load();
  });
  const listBox = h("div");
  const moreBox = h("div", { class: "actions" });
  const detailBox = h("section", { class: "card", "aria-label": "Homework review", hidden: true, tabindex: "-1" });
  clear(main, h("h1", {}, title), h("p", { class: "muted" }, "Homework sent by families. Open a submission, write feedback and mark it reviewed; the family sees the status and the feedback."), messages.el, filterForm, detailBox, listBox, moreBox);

  const studentNames = new Map();
  try {
    for (const s of await loadAll(api, "/admin/students")) {
      studentNames.set(s.id, s.name);
      student.append(h("option", { value: s.id }, s.name));
    }
  } catch (err) {
    fail(messages, err, { action: "load the students", area: `${AREA}.students` });
  }
  const nameOf = (id) => studentNames.get(id) || id;

  let items = [];
  let nextToken = null;

  function renderList() {
    const columns = [
      { label: "File", render: (x) => h("strong", { title: `homework ${x.id}` }, x.filename) },
      { label: "Student", render: (x) => nameOf(x.student_id) },
      { label: "Size", class: "nowrap", render: (x) => fmtBytes(x.size_bytes) },
      { label: "Status", render: statusBadge },
      { label: "Submitted", render: (x) => fmtDateTime(x.uploaded_at || x.created_at) },
      {
        label: "Actions",
        class: "actions-cell",
        render: (x) => h("button", { type: "button", class: "btn secondary small", "aria-label": `Open ${x.filename}`, onclick: () => openDetail(x.id) }, x.status === "uploaded" ? "Review" : "Open"),
      },
    ];
    clear(listBox, table(columns, items, { caption: "Homework", empty: "No homework matches.", rowAttrs: (x) => ({ "data-homework-id": x.id }) }));
    clear(moreBox, nextToken ? h("button", { type: "button", class: "btn secondary", onclick: () => load(true) }, "Load more") : null);
  }

  async function load(more = false) {
    const params = { student_id: student.value, status: status.value, from: from.value, to: to.value, limit: 50, next_token: more ? nextToken : null };
    try {
      const page = await api("GET", `/admin/homework${qs(params)}`);
      items = more ? items.concat(page.items) : page.items;
      nextToken = page.next_token;
      renderList();
    } catch (err) {
      fail(messages, err, { action: "load the homework", area: `${AREA}.list`, context: { params } });
    }
  }

  /** An <a> to the file through a short-lived link (fetched now; refreshed on click once it is old). */
  function fileLink(hw) {
    const a = h("a", { class: "btn secondary", target: "_blank", rel: "noopener", "aria-disabled": "true", "data-file-link": hw.id }, `Open ${hw.filename}`);
    let fetchedAt = 0;
    async function refresh() {
      try {
        const link = await api("GET", `/admin/homework/${encodeURIComponent(hw.id)}/file`);
        a.href = link.url;
        a.dataset.disposition = link.disposition;
        a.removeAttribute("aria-disabled");
        fetchedAt = Date.now();
        return link;
      } catch (err) {
        fail(messages, err, { action: `open ${hw.filename}`, area: `${AREA}.file`, entities: [{ type: "homework", id: hw.id }] });
        return null;
      }
    }
    a.addEventListener("click", async (ev) => {
      if (fetchedAt && Date.now() - fetchedAt < LINK_FRESH_MS) return; // the browser opens it
      ev.preventDefault();
      if (await refresh()) messages.set("info", `The link to ${hw.filename} was renewed: select it again to open the file.`);
    });
    refresh();
    return a;
  }

  function history(hw) {
    if (!hw.reviews || !hw.reviews.length) return h("p", { class: "muted" }, "Not reviewed yet.");
    return h(
      "ol",
      { class: "reviews", "aria-label": "Review history" },
      [...hw.reviews].reverse().map((r) => h("li", {}, h("p", { class: "feedback" }, r.feedback), h("p", { class: "muted small" }, `${r.reviewer} · ${fmtDateTime(r.at)}`))),
    );
  }

  function renderDetail(hw) {
    const submitted = hw.status === "uploaded" || hw.status === "reviewed";
    const feedback = h("textarea", { name: "feedback", rows: "5", maxlength: String(MAX_FEEDBACK), required: true });
    const save = h("button", { type: "submit", class: "btn" }, hw.status === "reviewed" ? "Review again" : "Mark reviewed");
    const form = h("form", { class: "review-form", "aria-label": `Review ${hw.filename}` }, field("Feedback", feedback, `(up to ${MAX_FEEDBACK} characters; the family sees it)`), h("div", { class: "actions" }, save));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      busy(save, "Saving…", () => submitReview(hw, feedback.value));
    });
    const open = submitted ? fileLink(hw) : null;
    const close = h("button", { type: "button", class: "btn secondary small", onclick: () => { detailBox.hidden = true; } }, "Close");
    clear(
      detailBox,
      h("div", { class: "actions" }, h("h2", {}, hw.filename), close),
      h("p", {}, `${nameOf(hw.student_id)} · ${fmtBytes(hw.size_bytes)} · `, statusBadge(hw), ` · submitted ${fmtDateTime(hw.uploaded_at || hw.created_at)}`),
      submitted ? h("div", { class: "actions" }, open) : h("p", { class: "muted" }, "The family has not finished uploading this file."),
      h("h3", {}, "Review history"),
      history(hw),
      submitted ? form : null,
    );
    detailBox.hidden = false;
    detailBox.dataset.homeworkId = hw.id;
    detailBox.dataset.rev = String(hw.rev);
  }

  async function openDetail(id) {
    try {
      renderDetail(await api("GET", `/admin/homework/${encodeURIComponent(id)}`));
      detailBox.focus();
    } catch (err) {
      fail(messages, err, { action: "open the homework", area: `${AREA}.detail`, entities: [{ type: "homework", id }] });
    }
  }

  async function submitReview(hw, text) {
    const feedback = text.trim();
    if (!feedback) {
      messages.set("error", "Write some feedback before marking the homework reviewed.");
      return;
    }
    try {
      const saved = await api("POST", `/admin/homework/${encodeURIComponent(hw.id)}/review`, { feedback, rev: hw.rev });
      messages.set("ok", `${hw.filename} is reviewed; ${nameOf(hw.student_id)}'s family can see the feedback.`);
      renderDetail(saved);
      items = items.map((x) => (x.id === saved.id ? saved : x));
      renderList();
    } catch (err) {
      if (err instanceof ApiError && err.code === "stale_revision") {
        messages.set("warn", `Someone else changed ${hw.filename} meanwhile: it is reloaded below. Your feedback was not saved: ${reason(err)}`);
        await openDetail(hw.id);
        return;
      }
      fail(messages, err, { action: `review ${hw.filename}`, area: `${AREA}.review`, entities: [{ type: "homework", id: hw.id }] });
    }
  }

  await load();
}

// Admin > Academic > Lessons: edit a schedule, cancel or move one lesson, record a whole lesson's attendance,
// academy-wide closures, and the missing-attendance report.
import { ApiError, api, qs } from "./api.js";
import { badge, busy, clear, confirmDialog, fail, field, fmtDate, fmtDateTime, h, loadAll, localInputToIso, messageArea, table, todayIso } from "./ui.js";

const AREA = "admin.academic.lessons";
const CODES = ["present", "late", "absent", "excused", "cancelled"];
const KIND = { scheduled: "ok", moved: "warn", cancelled: "bad" };

export async function render(main, { title }) {
  const messages = messageArea();
  const pick = h("select", { name: "schedule_id" });
  const from = h("input", { type: "date", name: "from", value: todayIso() });
  const editBox = h("div", { id: "schedule-edit" });
  const lessonsBox = h("div", { id: "lessons" });
  const lessonBox = h("div", { id: "lesson-attendance" });
  const closuresBox = h("div", { id: "closures" });
  const missingBox = h("div", { id: "missing" });
  const chooser = h("form", { class: "grid card", "aria-label": "Choose a schedule" }, field("Schedule", pick), field("From", from), h("div", { class: "actions" }, h("button", { type: "submit", class: "btn" }, "Show lessons")));
  chooser.addEventListener("submit", (ev) => {
    ev.preventDefault();
    showSchedule();
  });
  clear(main, h("h1", {}, title), messages.el, chooser, editBox, lessonsBox, lessonBox, h("h2", {}, "Closures"), closuresBox, h("h2", {}, "Missing attendance"), missingBox);

  let students = [];
  let schedules = [];
  const name = (id) => (students.find((s) => s.id === id) || {}).name || id;
  try {
    [students, schedules] = await Promise.all([loadAll(api, "/admin/students"), loadAll(api, "/admin/schedules")]);
  } catch (err) {
    fail(messages, err, { action: "load the schedules", area: `${AREA}.load` });
  }
  for (const s of schedules) pick.append(h("option", { value: s.id }, s.title));
  const path = () => `/admin/schedules/${encodeURIComponent(pick.value)}`;

  // --- edit -----------------------------------------------------------------------------------------
  function renderEdit(s) {
    const t = h("input", { type: "text", name: "title", value: s.title, maxlength: "200", required: true });
    const until = h("input", { type: "date", name: "until", value: s.until || "" });
    const start = h("input", { type: "datetime-local", name: "starts_at" });
    const end = h("input", { type: "datetime-local", name: "ends_at" });
    const who = h("div", { class: "checks" }, students.map((st) => h("label", {}, h("input", { type: "checkbox", value: st.id, checked: (s.student_ids || []).includes(st.id) }), st.name)));
    const form = h("form", { class: "grid" }, field("Title", t), field("Until", until, "(weekly; empty: no end)"), field("New first start", start, "(optional)"), field("New first end", end, "(optional)"), h("fieldset", { class: "field wide" }, h("legend", {}, "Students"), who), h("div", { class: "actions" }, h("button", { type: "submit", class: "btn" }, "Save changes")));
    const save = async (confirm) => {
      const body = { rev: s.rev, title: t.value.trim(), student_ids: [...who.querySelectorAll("input:checked")].map((i) => i.value) };
      if (s.recurrence === "weekly") body.until = until.value || null;
      if (start.value) body.starts_at = localInputToIso(start.value);
      if (end.value) body.ends_at = localInputToIso(end.value);
      if (confirm) body.confirm = true;
      try {
        const out = await api("PATCH", path(), body);
        messages.set("ok", `Saved “${out.title}”.`);
        await showSchedule();
      } catch (err) {
        if (!confirm && err instanceof ApiError && err.code === "would_orphan_attendance") {
          const recs = (err.details.records || []).map((r) => `${fmtDate(r.date)} ${name(r.student_id)}`);
          const ok = await confirmDialog({ title: "Delete attendance too?", body: h("div", {}, h("p", {}, `This change leaves ${err.details.count} attendance record(s) without a lesson:`), h("ul", {}, recs.map((r) => h("li", {}, r)))), confirm: "Save and delete them", danger: true });
          if (ok) await save(true);
          return;
        }
        fail(messages, err, { action: "save the schedule", area: `${AREA}.edit`, entities: [{ type: "schedule", id: s.id }] });
      }
    };
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      busy(form.querySelector("[type=submit]"), "Saving…", () => save(false));
    });
    clear(editBox, h("details", { class: "card" }, h("summary", {}, `Edit “${s.title}”`), form));
  }

  // --- lessons ----------------------------------------------------------------------------------------
  async function showSchedule() {
    if (!pick.value) return;
    try {
      const s = await api("GET", path());
      renderEdit(s);
      const lessons = await api("GET", `${path()}/lessons${qs({ from: from.value })}`);
      clear(
        lessonsBox,
        table(
          [
            { label: "Date", render: (l) => fmtDate(l.date) },
            { label: "Time", render: (l) => fmtDateTime(l.starts_at) },
            { label: "Status", render: (l) => h("span", {}, badge(l.status, KIND[l.status]), l.status !== "scheduled" && l.reason ? ` ${l.reason}` : "") },
            {
              label: "Actions",
              class: "actions-cell",
              render: (l) =>
                h(
                  "div",
                  { class: "actions" },
                  l.status === "scheduled" ? h("button", { type: "button", class: "btn danger small", onclick: (ev) => cancel(l, ev.currentTarget) }, "Cancel", h("span", { class: "visually-hidden" }, ` ${l.date}`)) : null,
                  l.status === "scheduled" ? h("button", { type: "button", class: "btn secondary small", onclick: () => move(l) }, "Move") : null,
                  l.status !== "scheduled" && !String(l.reason || "").startsWith("closure:") ? h("button", { type: "button", class: "btn secondary small", onclick: (ev) => undo(l, ev.currentTarget) }, "Undo") : null,
                  l.status !== "cancelled" ? h("button", { type: "button", class: "btn small", onclick: () => attendance(s, l) }, "Attendance", h("span", { class: "visually-hidden" }, ` ${l.date}`)) : null,
                ),
            },
          ],
          lessons.items,
          { caption: `Lessons of ${s.title}`, empty: "No lessons in this range.", rowAttrs: (l) => ({ "data-date": l.date, "data-status": l.status }) },
        ),
      );
    } catch (err) {
      fail(messages, err, { action: "load the lessons", area: `${AREA}.lessons`, entities: [{ type: "schedule", id: pick.value }] });
    }
  }

  async function cancel(l, button) {
    const reason = window.prompt(`Cancel the lesson of ${fmtDate(l.date)}? Reason (optional):`, "Holiday");
    if (reason === null) return;
    await busy(button, "Cancelling…", async () => {
      try {
        const out = await api("PUT", `${path()}/exceptions/${l.date}`, reason.trim() ? { action: "cancel", reason: reason.trim() } : { action: "cancel" });
        messages.set("ok", `Cancelled the lesson of ${fmtDate(l.date)}${out.attendance_cancelled ? ` (${out.attendance_cancelled} record(s) marked cancelled)` : ""}.`);
        await showSchedule();
      } catch (err) {
        fail(messages, err, { action: "cancel the lesson", area: `${AREA}.cancel`, entities: [{ type: "schedule", id: pick.value }] });
      }
    });
  }

  async function move(l) {
    const to = window.prompt(`Move the lesson of ${fmtDate(l.date)} to (YYYY-MM-DDTHH:MM, your time):`, l.starts_at.slice(0, 16));
    if (!to) return;
    try {
      await api("PUT", `${path()}/exceptions/${l.date}`, { action: "move", to_time: localInputToIso(to) });
      messages.set("ok", `Moved the lesson of ${fmtDate(l.date)}.`);
      await showSchedule();
    } catch (err) {
      fail(messages, err, { action: "move the lesson", area: `${AREA}.move`, entities: [{ type: "schedule", id: pick.value }] });
    }
  }

  async function undo(l, button) {
    await busy(button, "Undoing…", async () => {
      try {
        await api("DELETE", `${path()}/exceptions/${l.date}`);
        messages.set("ok", `The lesson of ${fmtDate(l.date)} is back on schedule.`);
        await showSchedule();
      } catch (err) {
        fail(messages, err, { action: "undo the change", area: `${AREA}.undo`, entities: [{ type: "schedule", id: pick.value }] });
      }
    });
  }

  // --- a whole lesson's attendance ------------------------------------------------------------------
  async function attendance(s, l) {
    let recorded = [];
    try {
      recorded = (await api("GET", `${path()}/attendance${qs({ from: l.date, to: l.date })}`)).items;
    } catch (err) {
      fail(messages, err, { action: "load the lesson's attendance", area: `${AREA}.attendance.load` });
    }
    const current = Object.fromEntries(recorded.map((a) => [a.student_id, a.status]));
    const rows = (s.student_ids || []).map((id) => ({ id, select: h("select", { name: `status-${id}`, "aria-label": `Status of ${name(id)}` }, CODES.map((c) => h("option", { value: c, selected: (current[id] || "present") === c }, c))) }));
    const form = h("form", { class: "grid" }, rows.map((r) => field(name(r.id), r.select)), h("div", { class: "actions" }, h("button", { type: "submit", class: "btn" }, "Save the lesson's attendance")));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      busy(form.querySelector("[type=submit]"), "Saving…", async () => {
        const body = { records: rows.map((r) => ({ student_id: r.id, status: r.select.value })) };
        try {
          const out = await api("PUT", `${path()}/lessons/${l.date}/attendance`, body);
          messages.set("ok", `Recorded ${out.items.length} student(s) for ${fmtDate(l.date)}.`);
          await showMissing();
        } catch (err) {
          fail(messages, err, { action: "record the attendance", area: `${AREA}.attendance.save`, entities: [{ type: "schedule", id: s.id }] });
        }
      });
    });
    clear(lessonBox, h("section", { class: "card" }, h("h2", {}, `Attendance: ${s.title}, ${fmtDate(l.date)}`), form));
  }

  // --- closures ------------------------------------------------------------------------------------------
  const cFrom = h("input", { type: "date", name: "starts_on", required: true });
  const cTo = h("input", { type: "date", name: "ends_on", required: true });
  const cReason = h("input", { type: "text", name: "reason", required: true, maxlength: "200" });
  const cList = h("div");
  const cForm = h("form", { class: "grid card" }, field("First day", cFrom), field("Last day", cTo), field("Reason", cReason), h("div", { class: "actions" }, h("button", { type: "submit", class: "btn" }, "Close the academy")));
  cForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    busy(cForm.querySelector("[type=submit]"), "Saving…", async () => {
      try {
        await api("POST", "/admin/closures", { starts_on: cFrom.value, ends_on: cTo.value, reason: cReason.value.trim() });
        messages.set("ok", `Closed ${fmtDate(cFrom.value)} to ${fmtDate(cTo.value)}.`);
        cForm.reset();
        await showClosures();
        await showSchedule();
      } catch (err) {
        fail(messages, err, { action: "add the closure", area: `${AREA}.closures.create` });
      }
    });
  });
  clear(closuresBox, cForm, cList);
  async function showClosures() {
    try {
      const items = await loadAll(api, "/admin/closures");
      clear(
        cList,
        table(
          [
            { label: "From", render: (c) => fmtDate(c.starts_on) },
            { label: "To", render: (c) => fmtDate(c.ends_on) },
            { label: "Reason", render: (c) => c.reason },
            { label: "Actions", class: "actions-cell", render: (c) => h("button", { type: "button", class: "btn danger small", onclick: () => removeClosure(c) }, "Reopen") },
          ],
          items,
          { caption: "Closures", empty: "No closures." },
        ),
      );
    } catch (err) {
      fail(messages, err, { action: "load the closures", area: `${AREA}.closures.list` });
    }
  }
  async function removeClosure(c) {
    try {
      await api("DELETE", `/admin/closures/${encodeURIComponent(c.id)}`);
      messages.set("ok", `Reopened ${fmtDate(c.starts_on)} to ${fmtDate(c.ends_on)}.`);
      await showClosures();
      await showSchedule();
    } catch (err) {
      fail(messages, err, { action: "reopen the days", area: `${AREA}.closures.delete` });
    }
  }

  // --- missing attendance ----------------------------------------------------------------------------
  async function showMissing() {
    try {
      const report = await api("GET", "/admin/attendance/missing");
      clear(
        missingBox,
        table(
          [
            { label: "Date", render: (m) => fmtDate(m.date) },
            { label: "Schedule", render: (m) => m.title },
            { label: "Without a record", render: (m) => m.missing_student_ids.map(name).join(", ") },
          ],
          report.items,
          { caption: "Past lessons of the last four weeks with students lacking attendance", empty: "Every past lesson has its attendance." },
        ),
      );
    } catch (err) {
      fail(messages, err, { action: "load the missing-attendance report", area: `${AREA}.missing` });
    }
  }

  await Promise.all([showSchedule(), showClosures(), showMissing()]);
}

// Admin > Academic > Schedules: list and filter, create, record attendance, delete with an impact preview.
import { ApiError, api, qs } from "./api.js";
import { watchJob } from "./jobwatch.js";
import { badge, browserZone, busy, clear, confirmDialog, fail, field, fmtDate, fmtDateTime, h, loadAll, localInputToIso, messageArea, plural, table, todayIso } from "./ui.js";

const AREA = "admin.academic.schedules";

export async function render(main, { title }) {
  const messages = messageArea();
  const listBox = h("div", { id: "schedule-list" });
  const moreBox = h("div", { class: "actions" });
  const progressBox = h("div");
  const attendanceBox = h("div", { id: "attendance" });
  let students = [];
  const studentName = (id) => (students.find((s) => s.id === id) || {}).name || id;

  // --- filters ---------------------------------------------------------------------------------------
  const fStudent = h("select", { name: "student_id" }, h("option", { value: "" }, "All students"));
  const fFrom = h("input", { type: "date", name: "from" });
  const fTo = h("input", { type: "date", name: "to" });
  const filters = h(
    "form",
    { class: "grid card", role: "search", "aria-label": "Filter schedules" },
    field("Student", fStudent),
    field("From", fFrom),
    field("To", fTo),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "btn" }, "Filter"), h("button", { type: "reset", class: "btn secondary" }, "Clear")),
  );
  filters.addEventListener("submit", (ev) => {
    ev.preventDefault();
    load();
  });
  filters.addEventListener("reset", () => setTimeout(load, 0));

  // --- create ----------------------------------------------------------------------------------------
  const cTitle = h("input", { type: "text", name: "title", required: true, maxlength: "200" });
  const cStudents = h("div", { class: "checks" });
  const cStart = h("input", { type: "datetime-local", name: "starts_at", required: true });
  const cEnd = h("input", { type: "datetime-local", name: "ends_at", required: true });
  const cRec = h("select", { name: "recurrence" }, h("option", { value: "none" }, "Once"), h("option", { value: "weekly" }, "Every week"));
  const cUntil = h("input", { type: "date", name: "until" });
  const cZone = h("input", { type: "text", name: "timezone", value: browserZone(), autocomplete: "off", spellcheck: "false" });
  const createForm = h(
    "form",
    { class: "grid" },
    field("Title", cTitle),
    field("Starts", cStart),
    field("Ends", cEnd),
    field("Repeats", cRec),
    field("Until", cUntil, "(weekly only, optional)"),
    field("Time zone", cZone, "(for attendance dates)"),
    h("fieldset", { class: "field wide" }, h("legend", {}, "Students"), cStudents),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "btn" }, "Create schedule")),
  );
  const createCard = h("details", { class: "card" }, h("summary", {}, "New schedule"), createForm);
  createForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const student_ids = [...cStudents.querySelectorAll("input:checked")].map((i) => i.value);
    const body = { title: cTitle.value.trim(), student_ids, starts_at: localInputToIso(cStart.value), ends_at: localInputToIso(cEnd.value), recurrence: cRec.value };
    if (cZone.value.trim()) body.timezone = cZone.value.trim();
    if (cUntil.value && cRec.value === "weekly") body.until = cUntil.value;
    const missing = [!body.title && "a title", !student_ids.length && "at least one student", !body.starts_at && "a start", !body.ends_at && "an end"].filter(Boolean);
    if (missing.length) {
      messages.set("error", `Could not create the schedule. It needs ${missing.join(", ")}.`);
      return;
    }
    busy(createForm.querySelector("[type=submit]"), "Creating…", async () => {
      try {
        const s = await api("POST", "/admin/schedules", body);
        messages.set("ok", `Created “${s.title}”.`);
        createForm.reset();
        cZone.value = browserZone();
        createCard.open = false;
        await load();
      } catch (err) {
        fail(messages, err, { action: "create the schedule", area: `${AREA}.create`, context: { body } });
      }
    });
  });

  clear(main, h("h1", {}, title), messages.el, progressBox, createCard, filters, listBox, moreBox, attendanceBox);

  try {
    students = await loadAll(api, "/admin/students");
  } catch (err) {
    fail(messages, err, { action: "load the students", area: `${AREA}.students` });
  }
  for (const s of students) {
    fStudent.append(h("option", { value: s.id }, s.name));
    cStudents.append(h("label", {}, h("input", { type: "checkbox", value: s.id }), s.name));
  }
  if (!students.length) cStudents.append(h("p", { class: "muted" }, "No students yet."));

  // --- list ------------------------------------------------------------------------------------------
  let rows = [];
  async function load(more = null) {
    const params = { student_id: fStudent.value, from: fFrom.value, to: fTo.value, limit: 50, next_token: more };
    try {
      const page = await api("GET", `/admin/schedules${qs(params)}`);
      rows = more ? rows.concat(page.items) : page.items;
      renderList(page.next_token);
    } catch (err) {
      fail(messages, err, { action: "load the schedules", area: `${AREA}.list`, context: { params } });
    }
  }

  function renderList(nextToken) {
    clear(
      listBox,
      table(
        [
          { label: "Title", render: (s) => h("strong", {}, s.title) },
          { label: "Students", render: (s) => (s.student_ids || []).map(studentName).join(", ") },
          { label: "Starts", render: (s) => fmtDateTime(s.starts_at) },
          { label: "Ends", render: (s) => fmtDateTime(s.ends_at) },
          { label: "Repeats", render: (s) => (s.recurrence === "weekly" ? h("span", {}, badge("weekly", "info"), s.until ? ` until ${fmtDate(s.until)}` : "") : "once") },
          {
            label: "Actions",
            class: "actions-cell",
            render: (s) =>
              h(
                "div",
                { class: "actions" },
                h("button", { type: "button", class: "btn secondary small", onclick: () => showAttendance(s) }, "Attendance", h("span", { class: "visually-hidden" }, ` for ${s.title}`)),
                h("button", { type: "button", class: "btn danger small", onclick: (ev) => remove(s, ev.currentTarget) }, "Delete", h("span", { class: "visually-hidden" }, ` ${s.title}`)),
              ),
          },
        ],
        rows,
        { caption: "Schedules", empty: "No schedules match. Create one with “New schedule”.", rowAttrs: (s) => ({ "data-schedule-id": s.id }) },
      ),
    );
    clear(moreBox, nextToken ? h("button", { type: "button", class: "btn secondary", onclick: () => load(nextToken) }, "Load more") : null);
  }

  // --- attendance -----------------------------------------------------------------------------------
  async function countAttendance(s) {
    if (typeof s.attendance_count === "number") return { count: s.attendance_count, exact: true };
    let count = 0;
    let token = null;
    let pages = 0;
    do {
      const page = await api("GET", `/admin/schedules/${encodeURIComponent(s.id)}/attendance${qs({ limit: 100, next_token: token })}`);
      count += page.items.length;
      token = page.next_token;
      pages += 1;
    } while (token && pages < 50);
    return { count, exact: !token };
  }

  async function showAttendance(s) {
    const box = h("section", { class: "card", "aria-labelledby": "att-h", tabindex: "-1" });
    clear(attendanceBox, box);
    const listEl = h("div");
    const date = h("input", { type: "date", required: true, value: todayIso() });
    const who = h("select", {}, (s.student_ids || []).map((id) => h("option", { value: id }, studentName(id))));
    const status = h("select", {}, ["present", "late", "absent"].map((v) => h("option", { value: v }, v)));
    const note = h("input", { type: "text", maxlength: "500" });
    const form = h("form", { class: "grid" }, field("Date", date), field("Student", who), field("Status", status), field("Note", note, "(optional)"), h("div", { class: "actions" }, h("button", { type: "submit", class: "btn" }, "Record")));
    const reload = async () => {
      try {
        const items = await loadAll(api, `/admin/schedules/${encodeURIComponent(s.id)}/attendance`, 1000);
        clear(
          listEl,
          table(
            [
              { label: "Date", render: (a) => fmtDate(a.date) },
              { label: "Student", render: (a) => studentName(a.student_id) },
              { label: "Status", render: (a) => badge(a.status, a.status === "present" ? "ok" : a.status === "late" ? "warn" : "bad") },
              { label: "Note", render: (a) => a.note },
            ],
            items,
            { caption: `Attendance for ${s.title}`, empty: "No attendance recorded yet." },
          ),
        );
      } catch (err) {
        fail(messages, err, { action: "load the attendance", area: `${AREA}.attendance.list`, entities: [{ type: "schedule", id: s.id }] });
      }
    };
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      busy(form.querySelector("[type=submit]"), "Saving…", async () => {
        const path = `/admin/schedules/${encodeURIComponent(s.id)}/attendance/${date.value}/${encodeURIComponent(who.value)}`;
        const body = { status: status.value };
        if (note.value.trim()) body.note = note.value.trim();
        try {
          await api("PUT", path, body);
          messages.set("ok", `Recorded ${studentName(who.value)} as ${status.value} on ${fmtDate(date.value)}.`);
          await reload();
        } catch (err) {
          fail(messages, err, { action: "record the attendance", area: `${AREA}.attendance.record`, entities: [{ type: "schedule", id: s.id }, { type: "student", id: who.value }] });
        }
      });
    });
    box.append(h("h2", { id: "att-h" }, `Attendance: ${s.title}`), form, listEl);
    await reload();
    box.focus();
  }

  // --- delete ---------------------------------------------------------------------------------------
  async function remove(s, button) {
    await busy(button, "Checking…", async () => {
      let impact;
      try {
        impact = await countAttendance(s);
      } catch (err) {
        fail(messages, err, { action: "check what deleting the schedule would remove", area: `${AREA}.delete.preview`, entities: [{ type: "schedule", id: s.id }] });
        return;
      }
      const n = impact.exact ? plural(impact.count, "attendance record") : `more than ${plural(impact.count, "attendance record")}`;
      const ok = await confirmDialog({
        title: `Delete “${s.title}”?`,
        body: h("div", {}, h("p", { class: "impact" }, impact.count ? `This also deletes ${n}.` : "It has no attendance records."), h("p", {}, "This cannot be undone.")),
        confirm: "Delete schedule",
        danger: true,
      });
      if (!ok) return;
      try {
        const out = await api("DELETE", `/admin/schedules/${encodeURIComponent(s.id)}`);
        rows = rows.filter((r) => r.id !== s.id);
        renderList(null);
        attendanceBox.replaceChildren();
        if (out && out.job_id) {
          messages.set("info", `“${s.title}” is deleted; its attendance records are being removed in the background.`);
          const w = watchJob(out.job_id, { title: `Removing the attendance records of “${s.title}”`, unit: "attendance records", total: impact.exact ? impact.count : null });
          progressBox.prepend(w.el);
          const job = await w.finished;
          if (job && job.state === "succeeded") messages.set("ok", `Deleted “${s.title}” and all its attendance records.`);
          else if (job) messages.set("error", `Removing the attendance records of “${s.title}” ${job.state}. Open Insights > Jobs to retry it.`);
        } else {
          const count = out && typeof out.attendance_deleted === "number" ? out.attendance_deleted : impact.count;
          messages.set("ok", `Deleted “${s.title}” and ${plural(count, "attendance record")}.`);
        }
      } catch (err) {
        if (err instanceof ApiError && err.status === 404) {
          rows = rows.filter((r) => r.id !== s.id);
          renderList(null);
        }
        fail(messages, err, { action: `delete the schedule “${s.title}”`, area: `${AREA}.delete`, entities: [{ type: "schedule", id: s.id }] });
      }
    });
  }

  await load();
}

// Admin > Academic > Families: the families (customers) list and a new family's record; one family's page
// (?customer=ID) shows its record (editable at the revision read), its students, and for each student its
// homework, video proofs and attendance, read from the admin list endpoints with a student filter.
import { ApiError, api, apiPath, qs } from "./api.js";
import { badge, busy, clear, fail, field, fmtBytes, fmtDate, fmtDateTime, h, loadAll, messageArea, plural, table } from "./ui.js";

const AREA = "admin.academic.family";

function familyHref(customerId) {
  return `${apiPath("/console/admin/family")}?customer=${encodeURIComponent(customerId)}`;
}

export async function render(main, { title }) {
  const messages = messageArea();
  const customerId = new URLSearchParams(location.search).get("customer");
  if (customerId) await renderFamily(main, messages, customerId);
  else await renderList(main, messages, title);
}

// --- every family --------------------------------------------------------------------------------------

async function renderList(main, messages, title) {
  const cId = h("input", { type: "text", name: "customer_id", required: true, maxlength: "64", autocomplete: "off", spellcheck: "false" });
  const cName = h("input", { type: "text", name: "display_name", required: true, maxlength: "200" });
  const cEmail = h("input", { type: "email", name: "contact_email", required: true, maxlength: "254", autocomplete: "off" });
  const createForm = h(
    "form",
    { class: "grid", novalidate: true },
    field("Family name", cName, "(e.g. The Lovelaces)"),
    field("Contact email", cEmail),
    field("Customer id", cId, "(their sign-in's customer id; their students name it)"),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "btn" }, "Add family")),
  );
  const createCard = h("details", { class: "card" }, h("summary", {}, "New family"), createForm);
  const listBox = h("div", { id: "family-list" });
  const moreBox = h("div", { class: "actions" });
  clear(main, h("h1", {}, title), messages.el, createCard, listBox, moreBox);

  createForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const body = { customer_id: cId.value.trim(), display_name: cName.value.trim(), contact_email: cEmail.value.trim() };
    const missing = [!body.display_name && "a family name", !body.contact_email && "a contact email", !body.customer_id && "a customer id"].filter(Boolean);
    if (missing.length) {
      messages.set("error", `Could not add the family. It needs ${missing.join(", ")}.`);
      return;
    }
    busy(createForm.querySelector("[type=submit]"), "Adding…", async () => {
      try {
        const c = await api("POST", "/admin/customers", body);
        messages.set("ok", `Added ${c.display_name}.`, h("p", {}, h("a", { href: familyHref(c.customer_id) }, `Open ${c.display_name}`)));
        createForm.reset();
        createCard.open = false;
        await load();
      } catch (err) {
        if (err instanceof ApiError && err.code === "customer_exists") {
          messages.set("error", `A family with customer id ${body.customer_id} already exists with other details.`, h("p", {}, h("a", { href: familyHref(body.customer_id) }, "Open it to edit")));
          return;
        }
        fail(messages, err, { action: "add the family", area: `${AREA}.create`, context: { body } });
      }
    });
  });

  let rows = [];
  async function load(more = null) {
    try {
      const page = await api("GET", `/admin/customers${qs({ limit: 50, next_token: more })}`);
      rows = more ? rows.concat(page.items) : page.items;
      clear(
        listBox,
        table(
          [
            { label: "Family", render: (c) => h("a", { href: familyHref(c.customer_id) }, h("strong", {}, c.display_name)) },
            { label: "Contact email", render: (c) => c.contact_email },
            { label: "Customer id", render: (c) => h("code", {}, c.customer_id) },
            { label: "Added", render: (c) => fmtDateTime(c.created_at) },
          ],
          rows,
          { caption: "Families", empty: "No families yet. Add one with “New family”.", rowAttrs: (c) => ({ "data-customer-id": c.customer_id }) },
        ),
      );
      const next = page.next_token ? h("button", { type: "button", class: "btn secondary" }, "Show more") : null;
      if (next) next.addEventListener("click", () => busy(next, "Loading…", () => load(page.next_token)));
      clear(moreBox, next);
    } catch (err) {
      fail(messages, err, { action: "load the families", area: `${AREA}.list` });
    }
  }
  await load();
}

// --- one family ----------------------------------------------------------------------------------------

async function renderFamily(main, messages, customerId) {
  const heading = h("h1", {}, "Family");
  const back = h("p", {}, h("a", { href: apiPath("/console/admin/family") }, "← All families"));
  const recordBox = h("div", { id: "family-record" });
  const studentsBox = h("div", { id: "family-students" });
  const detailBox = h("div", { id: "family-student-detail" });
  clear(main, back, heading, messages.el, recordBox, h("h2", {}, "Students"), studentsBox, detailBox);

  let record;
  try {
    record = await api("GET", `/admin/customers/${encodeURIComponent(customerId)}`);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      messages.set("warn", `There is no family with customer id ${customerId}.`, h("p", {}, h("a", { href: apiPath("/console/admin/family") }, "Add it from the families page")));
      clear(studentsBox);
      return;
    }
    fail(messages, err, { action: "load the family", area: `${AREA}.get`, entities: [{ type: "customer", id: customerId }] });
    return;
  }
  document.title = `${record.display_name} · Academy Ops`;

  function drawRecord() {
    clear(heading, record.display_name);
    const eName = h("input", { type: "text", name: "display_name", required: true, maxlength: "200", value: record.display_name });
    const eEmail = h("input", { type: "email", name: "contact_email", required: true, maxlength: "254", value: record.contact_email });
    const form = h(
      "form",
      { class: "grid", novalidate: true },
      field("Family name", eName),
      field("Contact email", eEmail),
      h("div", { class: "actions" }, h("button", { type: "submit", class: "btn" }, "Save")),
    );
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const body = { rev: record.rev };
      if (eName.value.trim() !== record.display_name) body.display_name = eName.value.trim();
      if (eEmail.value.trim() !== record.contact_email) body.contact_email = eEmail.value.trim();
      if (Object.keys(body).length === 1) {
        messages.set("info", "Nothing to save: no field was changed.");
        return;
      }
      busy(form.querySelector("[type=submit]"), "Saving…", async () => {
        try {
          record = await api("PATCH", `/admin/customers/${encodeURIComponent(customerId)}`, body);
          messages.set("ok", `Saved ${record.display_name}.`);
          drawRecord();
        } catch (err) {
          if (err instanceof ApiError && err.code === "stale_revision") {
            record = await api("GET", `/admin/customers/${encodeURIComponent(customerId)}`);
            messages.set("warn", "Someone else changed this family since the page loaded it. It is reloaded: check it and try again.");
            drawRecord();
            return;
          }
          fail(messages, err, { action: "save the family", area: `${AREA}.update`, entities: [{ type: "customer", id: customerId }], context: { body } });
        }
      });
    });
    clear(
      recordBox,
      h(
        "section",
        { class: "card", "aria-labelledby": "record-h" },
        h("h2", { id: "record-h" }, "Record"),
        h("p", { class: "muted small" }, "Customer id ", h("code", {}, record.customer_id), ` · added ${fmtDateTime(record.created_at)}`),
        form,
      ),
    );
  }
  drawRecord();

  let students = [];
  try {
    students = await loadAll(api, `/admin/customers/${encodeURIComponent(customerId)}/students`);
  } catch (err) {
    fail(messages, err, { action: "load the family's students", area: `${AREA}.students`, entities: [{ type: "customer", id: customerId }] });
  }
  clear(
    studentsBox,
    table(
      [
        { label: "Name", render: (s) => h("strong", {}, s.name) },
        { label: "Time zone", render: (s) => s.timezone },
        { label: "Status", render: (s) => (s.active ? badge("active", "ok") : badge("archived", "")) },
        {
          label: "Actions",
          class: "actions-cell",
          render: (s) => h("button", { type: "button", class: "btn secondary small", onclick: () => showStudent(s) }, "Homework, videos, attendance", h("span", { class: "visually-hidden" }, ` of ${s.name}`)),
        },
      ],
      students,
      { caption: "Students of this family", empty: "No students in this family yet. Add them on the Students page.", rowAttrs: (s) => ({ "data-student-id": s.id }) },
    ),
    h("p", {}, h("a", { href: apiPath("/console/admin/students") }, "Manage students")),
  );
  if (students.length === 1) await showStudent(students[0]);

  async function showStudent(s) {
    for (const tr of studentsBox.querySelectorAll("tr[data-student-id]")) tr.classList.toggle("selected", tr.dataset.studentId === s.id);
    const homeworkBox = h("div", {}, h("p", { class: "muted" }, "Loading…"));
    const videosBox = h("div", {}, h("p", { class: "muted" }, "Loading…"));
    const attendanceBox = h("div", {}, h("p", { class: "muted" }, "Loading…"));
    const section = h(
      "section",
      { class: "card", "aria-labelledby": "student-h", tabindex: "-1" },
      h("h2", { id: "student-h" }, s.name),
      h("h3", {}, "Homework"),
      homeworkBox,
      h("h3", {}, "Video proofs"),
      videosBox,
      h("h3", {}, "Attendance"),
      attendanceBox,
    );
    clear(detailBox, section);
    section.focus();
    const entities = [{ type: "student", id: s.id }];
    await Promise.all([
      loadInto(homeworkBox, "homework", entities, async () => {
        const items = await loadAll(api, `/admin/homework${qs({ student_id: s.id })}`, 200);
        return table(
          [
            { label: "File", render: (w) => (w.download_url ? h("a", { href: w.download_url, rel: "noopener" }, w.filename) : w.filename) },
            { label: "Size", render: (w) => fmtBytes(w.size_bytes) },
            { label: "Status", render: (w) => (w.status === "uploaded" ? badge("uploaded", "ok") : badge("awaiting upload", "")) },
            { label: "Sent", render: (w) => fmtDateTime(w.uploaded_at || w.created_at) },
          ],
          items,
          { caption: `Homework of ${s.name}`, empty: "No homework yet." },
        );
      }),
      loadInto(videosBox, "videos", entities, async () => {
        const items = await loadAll(api, `/admin/media${qs({ student_id: s.id })}`, 200);
        return h(
          "div",
          {},
          table(
            [
              { label: "File", render: (v) => v.filename },
              { label: "Size", render: (v) => fmtBytes(v.size_bytes) },
              { label: "Status", render: (v) => (v.status === "uploaded" ? badge("uploaded", "ok") : badge("awaiting upload", "")) },
              { label: "Versions", render: (v) => plural(v.variant_count || 0, "version") },
              { label: "Sent", render: (v) => fmtDateTime(v.created_at) },
            ],
            items,
            { caption: `Video proofs of ${s.name}`, empty: "No video proofs yet." },
          ),
          items.length ? h("p", {}, h("a", { href: apiPath("/console/admin/media") }, "Open the Media page to watch or optimise them")) : null,
        );
      }),
      loadInto(attendanceBox, "attendance", entities, () => attendanceOf(s)),
    ]);
  }

  async function loadInto(box, what, entities, build) {
    try {
      clear(box, await build());
    } catch (err) {
      clear(box, h("p", { class: "muted" }, `Could not load the ${what}.`));
      fail(messages, err, { action: `load the ${what}`, area: `${AREA}.${what}`, entities });
    }
  }

  /** The student's schedules (GET /admin/schedules?student_id=), and each one's records of this student. */
  async function attendanceOf(s) {
    const schedules = await loadAll(api, `/admin/schedules${qs({ student_id: s.id })}`, 50);
    if (!schedules.length) return h("p", { class: "empty" }, "Not on any schedule yet.");
    const records = [];
    for (const sched of schedules) {
      const items = await loadAll(api, `/admin/schedules/${encodeURIComponent(sched.id)}/attendance`, 500);
      for (const r of items) if (r.student_id === s.id) records.push({ ...r, title: sched.title });
    }
    records.sort((a, b) => (a.date < b.date ? 1 : a.date > b.date ? -1 : 0));
    const tone = { present: "ok", late: "warn", absent: "bad", excused: "info", cancelled: "" };
    return h(
      "div",
      {},
      h("p", { class: "muted small" }, `On ${plural(schedules.length, "schedule")}: ${schedules.map((x) => x.title).join(", ")}.`),
      table(
        [
          { label: "Date", render: (r) => fmtDate(r.date) },
          { label: "Lesson", render: (r) => r.title },
          { label: "Status", render: (r) => badge(r.status, tone[r.status] || "") },
          { label: "Note", render: (r) => r.note || "" },
        ],
        records,
        { caption: `Attendance of ${s.name}`, empty: "No attendance recorded yet." },
      ),
      h("p", {}, h("a", { href: apiPath("/console/admin/schedules") }, "Record attendance on the Schedules page")),
    );
  }
}

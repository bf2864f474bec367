// Customers > Tasks: each of the family's students' tasks, today's instance and the past two weeks (or a range
// chosen here), with what is done and when. Read-only: the academy marks instances done.
import { api, qs } from "./api.js";
import { badge, busy, clear, fail, field, fmtDate, fmtDateTime, h, loadAll, messageArea, table } from "./ui.js";

const AREA = "customers.tasks";

export async function render(main, { title }) {
  const messages = messageArea();
  const student = h("select", { "aria-label": "Student" });
  const from = h("input", { type: "date" });
  const to = h("input", { type: "date" });
  const out = h("div", { class: "stack" });
  const form = h(
    "form",
    { class: "grid" },
    field("Student", student),
    field("From", from, "(optional)"),
    field("To", to, "(optional; at most 62 days)"),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "btn" }, "Show tasks")),
  );
  clear(main, h("h1", {}, title), messages.el, h("section", { class: "card" }, form), out);

  let students = [];
  try {
    students = await loadAll(api, "/customer/students");
  } catch (err) {
    fail(messages, err, { action: "load your students", area: `${AREA}.students` });
    return;
  }
  if (!students.length) {
    clear(out, h("p", { class: "empty" }, "No students are linked to your account yet. Ask the academy to add them."));
    form.hidden = true;
    return;
  }
  clear(student, ...students.map((s) => h("option", { value: s.id }, s.name)));

  let shown = 0; // the latest show(): an earlier student's answer arriving late must not replace it
  async function show() {
    const mine = ++shown;
    const sid = student.value;
    const params = {};
    if (from.value) params.from = from.value;
    if (to.value) params.to = to.value;
    try {
      const got = await api("GET", `/customer/students/${encodeURIComponent(sid)}/tasks${qs(params)}`);
      if (mine !== shown) return;
      messages.clear();
      if (!got.items.length) {
        clear(out, h("p", { class: "empty" }, "No tasks for this student."));
        return;
      }
      clear(
        out,
        ...got.items.map((t) => {
          const today = t.instances.find((i) => i.date === t.today);
          return h(
            "section",
            { class: "card", "data-task": t.id },
            h("h2", {}, t.title, " ", badge(t.recurrence === "daily" ? "Daily" : "One-off"), t.status === "ended" ? badge("Ended", "muted") : null),
            t.description ? h("p", {}, t.description) : null,
            h("p", {}, "Today: ", today ? badge(today.status === "done" ? "Done" : "To do", today.status === "done" ? "ok" : "warn") : "nothing due"),
            table(
              [
                { label: "Date", render: (i) => fmtDate(i.date) },
                { label: "Status", render: (i) => badge(i.status === "done" ? "Done" : "Open", i.status === "done" ? "ok" : "") },
                { label: "Done at", render: (i) => (i.done_at ? fmtDateTime(i.done_at) : "") },
              ],
              t.instances,
              { caption: `${t.title}: instances`, empty: "Nothing in this range." },
            ),
          );
        }),
        got.truncated ? h("p", { class: "muted small" }, "This student has more tasks than one page shows.") : null,
      );
    } catch (err) {
      if (mine !== shown) return;
      fail(messages, err, { action: "load the tasks", area: `${AREA}.list`, entities: { student_id: sid }, context: params });
    }
  }
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    busy(form.querySelector("[type=submit]"), "Loading…", show);
  });
  student.addEventListener("change", show);
  await show();
}

// Customers > Lessons & attendance: each of your students' lessons (cancelled and moved ones shown) and attendance history.
import { api, qs } from "./api.js";
import { badge, clear, fail, field, fmtDate, h, loadAll, messageArea, todayIso } from "./ui.js";

const AREA = "customers.lessons";
const STATUS_KIND = { scheduled: "ok", moved: "warn", cancelled: "bad", present: "ok", late: "warn", excused: "info", absent: "bad" };

function fmtLocal(iso) {
  // the API gives the local time with its offset: show it as the student's wall clock
  return iso ? iso.slice(0, 16).replace("T", " ") : "";
}

export async function render(main, { title }) {
  const messages = messageArea();
  const pick = h("select", { name: "student_id" });
  const from = h("input", { type: "date", name: "from", value: todayIso() });
  const lessonsBox = h("div", { id: "family-lessons" });
  const attendanceBox = h("div", { id: "family-attendance" });
  const form = h("form", { class: "grid card", role: "search", "aria-label": "Choose a student" }, field("Student", pick), field("From", from), h("div", { class: "actions" }, h("button", { type: "submit", class: "btn" }, "Show")));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    show();
  });
  clear(main, h("h1", {}, title), messages.el, form, h("h2", {}, "Lessons"), lessonsBox, h("h2", {}, "Attendance history"), attendanceBox);

  let students = [];
  try {
    students = await loadAll(api, "/customer/students");
  } catch (err) {
    fail(messages, err, { action: "load your students", area: `${AREA}.students` });
    return;
  }
  if (!students.length) {
    messages.set("info", "No students yet: the academy adds them for you.");
    return;
  }
  for (const s of students) pick.append(h("option", { value: s.id }, s.name));

  async function show() {
    const id = encodeURIComponent(pick.value);
    try {
      const lessons = await api("GET", `/customer/students/${id}/lessons${qs({ from: from.value })}`);
      clear(
        lessonsBox,
        h(
          "div",
          {},
          lessons.items.length
            ? h(
                "ul",
                { class: "lessons" },
                lessons.items.map((l) => {
                  const me = (l.students || [])[0] || {};
                  return h("li", { "data-date": l.date, "data-status": l.status }, h("strong", {}, l.title), ` ${fmtDate(l.date)} ${fmtLocal(me.local_starts_at)} `, badge(l.status, STATUS_KIND[l.status]), l.reason && l.status !== "scheduled" ? ` ${l.reason}` : "");
                }),
              )
            : h("p", { class: "muted" }, "No lessons in the next four weeks."),
        ),
      );
      const titles = Object.fromEntries(lessons.items.map((l) => [l.schedule_id, l.title]));
      const history = await loadAll(api, `/customer/students/${id}/attendance`, 500);
      clear(
        attendanceBox,
        history.length
          ? h("ul", { class: "attendance" }, history.map((a) => h("li", { "data-date": a.date }, titles[a.schedule_id] ? h("strong", {}, `${titles[a.schedule_id]} `) : null, `${fmtDate(a.date)} `, badge(a.status, STATUS_KIND[a.status]), a.note ? ` ${a.note}` : "")))
          : h("p", { class: "muted" }, "No attendance recorded yet."),
      );
    } catch (err) {
      fail(messages, err, { action: "load the lessons", area: `${AREA}.list`, entities: [{ type: "student", id: pick.value }] });
    }
  }
  await show();
}

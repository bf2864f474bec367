// Admin > Academic > Tasks: create (one-off or daily), see a task's instances by date, mark them done,
// end a recurrence, and clean up future instances with the prune preview and apply.
import { api } from "./api.js";
import { badge, browserZone, busy, clear, confirmDialog, fail, field, fmtDate, fmtDateTime, h, loadAll, messageArea, plural, table, todayIso } from "./ui.js";

const AREA = "admin.academic.tasks";

export async function render(main, { title }) {
  const messages = messageArea();
  let students = [];
  const studentName = (id) => (id ? (students.find((s) => s.id === id) || {}).name || id : "");

  // --- create ----------------------------------------------------------------------------------------
  const cTitle = h("input", { type: "text", required: true, maxlength: "200" });
  const cDesc = h("textarea", { maxlength: "2000", rows: "2" });
  const cStudent = h("select", {}, h("option", { value: "" }, "No student (academy task)"));
  const cRec = h("select", {}, h("option", { value: "none" }, "One-off"), h("option", { value: "daily" }, "Daily"));
  const cZone = h("input", { type: "text", value: browserZone(), autocomplete: "off", spellcheck: "false" });
  const cStart = h("input", { type: "date", value: todayIso() });
  const cEnd = h("input", { type: "date" });
  const createForm = h(
    "form",
    { class: "grid" },
    field("Title", cTitle),
    field("Repeats", cRec),
    field("Student", cStudent),
    field("Time zone", cZone, "(IANA, e.g. Europe/London)"),
    field("Starts on", cStart),
    field("Ends on", cEnd, "(optional, daily only)"),
    h("label", { class: "field wide" }, h("span", {}, "Description ", h("span", { class: "hint" }, "(optional)")), cDesc),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "btn" }, "Create task")),
  );
  const createCard = h("details", { class: "card" }, h("summary", {}, "New task"), createForm, h("p", { class: "muted small" }, "Creating a task makes exactly one instance (for its start date). A daily task gets each following day's instance from the daily scheduler."));
  createForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const body = { title: cTitle.value.trim(), recurrence: cRec.value };
    if (cDesc.value.trim()) body.description = cDesc.value.trim();
    if (cStudent.value) body.student_id = cStudent.value;
    if (cZone.value.trim()) body.timezone = cZone.value.trim();
    if (cStart.value) body.starts_on = cStart.value;
    if (cEnd.value && cRec.value === "daily") body.ends_on = cEnd.value;
    if (!body.title) {
      messages.set("error", "Could not create the task. It needs a title.");
      cTitle.focus();
      return;
    }
    busy(createForm.querySelector("[type=submit]"), "Creating…", async () => {
      try {
        const out = await api("POST", "/admin/tasks", body);
        const t = out.task || out;
        const made = out.instances_created ?? 1;
        messages.set("ok", `Created “${t.title}” with ${plural(made, "instance")}.${made ? "" : ` Its first instance is made on ${fmtDate(t.starts_on)}.`}`);
        createForm.reset();
        cZone.value = browserZone();
        cStart.value = todayIso();
        createCard.open = false;
        await loadTasks();
        await showInstances(t);
      } catch (err) {
        fail(messages, err, { action: "create the task", area: `${AREA}.create`, context: { body } });
      }
    });
  });

  // --- prune -----------------------------------------------------------------------------------------
  const pruneResult = h("div", { "aria-live": "polite" });
  const pruneCheck = h("button", { type: "button", class: "btn secondary" }, "Check for future instances");
  const pruneCard = h(
    "details",
    { class: "card" },
    h("summary", {}, "Clean up future instances"),
    h("p", {}, "Recurring tasks should only have instances up to today (in each task's time zone). This finds instances dated later — for example from an old bug — and lets you delete them. Past and today's instances are never touched."),
    h("div", { class: "actions" }, pruneCheck),
    pruneResult,
  );
  /** Run the prune in batches (the API examines a bounded window per call) and add up the answers. */
  async function prune(apply) {
    const total = { matched: 0, deleted: 0, sample: [] };
    let cursor = null;
    let calls = 0;
    do {
      const out = await api("POST", "/admin/tasks/prune-future", cursor ? { apply, cursor } : { apply });
      total.matched += out.matched || 0;
      total.deleted += out.deleted || 0;
      total.sample = total.sample.concat(out.sample || []).slice(0, 10);
      cursor = out.next_cursor;
      calls += 1;
    } while (cursor && calls < 200);
    total.more = Boolean(cursor);
    return total;
  }

  pruneCheck.addEventListener("click", () =>
    busy(pruneCheck, "Checking…", async () => {
      try {
        renderPrune(await prune(false));
      } catch (err) {
        fail(messages, err, { action: "check for future instances", area: `${AREA}.prune.preview` });
      }
    }),
  );

  function renderPrune(out) {
    if (!out.matched) {
      clear(pruneResult, h("p", { class: "alert alert-ok" }, "No future instances: nothing to clean up."));
      return;
    }
    const apply = h("button", { type: "button", class: "btn danger" }, `Delete ${plural(out.matched, "future instance")}`);
    apply.addEventListener("click", async () => {
      const ok = await confirmDialog({ title: `Delete ${plural(out.matched, "future instance")}?`, body: "Only instances dated after each recurring task's local today are deleted. This cannot be undone.", confirm: "Delete them", danger: true });
      if (!ok) return;
      await busy(apply, "Deleting…", async () => {
        try {
          const done = await prune(true);
          clear(pruneResult, h("p", { class: "alert alert-ok" }, `Deleted ${plural(done.deleted, "future instance")}.`));
          if (current) await showInstances(current);
        } catch (err) {
          fail(messages, err, { action: "delete the future instances", area: `${AREA}.prune.apply` });
        }
      });
    });
    clear(
      pruneResult,
      h(
        "div",
        { class: "alert alert-warn" },
        h("p", {}, `${plural(out.matched, "future instance")} found${out.more ? " (or more: the check stopped counting)" : ""}.${(out.sample || []).length ? " For example:" : ""}`),
        h("ul", { class: "sample" }, (out.sample || []).map((s) => h("li", {}, `${taskTitle(s.task_id)} — ${fmtDate(s.date)}${s.timezone ? ` (${s.timezone})` : ""}`))),
        h("div", { class: "actions" }, apply),
      ),
    );
  }

  // --- list and instances ----------------------------------------------------------------------------
  const listBox = h("div");
  const instancesBox = h("div", { id: "instances" });
  clear(main, h("h1", {}, title), messages.el, createCard, pruneCard, h("h2", {}, "Tasks"), listBox, instancesBox);

  try {
    students = await loadAll(api, "/admin/students");
    cStudent.append(...students.map((s) => h("option", { value: s.id }, s.name)));
  } catch (err) {
    fail(messages, err, { action: "load the students", area: `${AREA}.students` });
  }

  let tasks = [];
  let current = null;
  const taskTitle = (id) => (tasks.find((t) => t.id === id) || {}).title || `task ${id}`;
  async function loadTasks() {
    try {
      tasks = await loadAll(api, "/admin/tasks", 500);
      clear(
        listBox,
        table(
          [
            { label: "Task", render: (t) => h("div", {}, h("strong", {}, t.title), t.description ? h("div", { class: "muted small" }, t.description) : null) },
            { label: "Repeats", render: (t) => (t.recurrence === "daily" ? badge("daily", "info") : "one-off") },
            { label: "Student", render: (t) => studentName(t.student_id) },
            { label: "Time zone", render: (t) => t.timezone },
            { label: "Dates", render: (t) => `${fmtDate(t.starts_on)}${t.ends_on ? ` → ${fmtDate(t.ends_on)}` : t.recurrence === "daily" ? " → (open)" : ""}` },
            { label: "Status", render: (t) => (t.status === "ended" ? badge("ended", "") : badge("active", "ok")) },
            {
              label: "Actions",
              class: "actions-cell",
              render: (t) =>
                h(
                  "div",
                  { class: "actions" },
                  h("button", { type: "button", class: "btn secondary small", onclick: () => showInstances(t) }, "Instances", h("span", { class: "visually-hidden" }, ` of ${t.title}`)),
                  t.status === "ended" ? null : h("button", { type: "button", class: "btn danger small", onclick: (ev) => endTask(t, ev.currentTarget) }, t.recurrence === "daily" ? "End" : "Delete", h("span", { class: "visually-hidden" }, ` ${t.title}`)),
                ),
            },
          ],
          tasks,
          { caption: "Tasks", empty: "No tasks yet. Create one with “New task”.", rowAttrs: (t) => ({ "data-task-id": t.id, class: current && current.id === t.id ? "selected" : null }) },
        ),
      );
    } catch (err) {
      fail(messages, err, { action: "load the tasks", area: `${AREA}.list` });
    }
  }

  async function showInstances(t) {
    current = t;
    for (const tr of listBox.querySelectorAll("tr[data-task-id]")) tr.classList.toggle("selected", tr.dataset.taskId === t.id);
    const from = h("input", { type: "date" });
    const to = h("input", { type: "date" });
    const body = h("div");
    const section = h(
      "section",
      { class: "card", "aria-labelledby": "inst-h", tabindex: "-1" },
      h("h2", { id: "inst-h" }, `Instances of “${t.title}”`),
      h("div", { class: "grid", role: "group", "aria-label": "Date range" }, field("From", from), field("To", to)),
      body,
    );
    clear(instancesBox, section);
    let items = [];
    const draw = () => {
      const shown = items.filter((i) => (!from.value || i.date >= from.value) && (!to.value || i.date <= to.value));
      clear(
        body,
        table(
          [
            { label: "Date", render: (i) => fmtDate(i.date) },
            { label: "Status", render: (i) => (i.status === "done" ? badge("done", "ok") : badge("open", "")) },
            { label: "Done at", render: (i) => (i.done_at ? fmtDateTime(i.done_at) : "") },
            {
              label: "Actions",
              class: "actions-cell",
              render: (i) => {
                const next = i.status === "done" ? "open" : "done";
                const b = h("button", { type: "button", class: `btn small ${next === "open" ? "secondary" : ""}`.trim() }, next === "done" ? "Mark done" : "Reopen", h("span", { class: "visually-hidden" }, ` ${fmtDate(i.date)}`));
                b.addEventListener("click", () =>
                  busy(b, "Saving…", async () => {
                    try {
                      const updated = await api("PATCH", `/admin/tasks/${encodeURIComponent(t.id)}/instances/${i.date}`, { status: next });
                      Object.assign(i, updated && updated.date ? updated : { status: next });
                      messages.set("ok", `${fmtDate(i.date)} is ${next === "done" ? "done" : "open again"}.`);
                      draw();
                    } catch (err) {
                      fail(messages, err, { action: `mark ${fmtDate(i.date)} as ${next}`, area: `${AREA}.instance.update`, entities: [{ type: "task", id: t.id }] });
                    }
                  }),
                );
                return b;
              },
            },
          ],
          shown,
          { caption: `Instances of ${t.title}`, empty: items.length ? "No instances in this date range." : "No instances yet.", rowAttrs: (i) => ({ "data-date": i.date }) },
        ),
      );
    };
    from.addEventListener("change", draw);
    to.addEventListener("change", draw);
    try {
      items = await loadAll(api, `/admin/tasks/${encodeURIComponent(t.id)}/instances`, 2000);
      items.sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : 0));
      draw();
      section.focus();
    } catch (err) {
      fail(messages, err, { action: "load the task's instances", area: `${AREA}.instances`, entities: [{ type: "task", id: t.id }] });
    }
  }

  async function endTask(t, button) {
    const daily = t.recurrence === "daily";
    const ok = await confirmDialog({
      title: daily ? `End “${t.title}”?` : `Delete “${t.title}”?`,
      body: daily ? "No more instances will be created, and its future instances are removed. Past instances are kept." : "Its future instances are removed. Past instances are kept.",
      confirm: daily ? "End task" : "Delete task",
      danger: true,
    });
    if (!ok) return;
    await busy(button, "Saving…", async () => {
      try {
        await api("DELETE", `/admin/tasks/${encodeURIComponent(t.id)}`);
        messages.set("ok", daily ? `“${t.title}” has ended.` : `“${t.title}” is deleted.`);
        await loadTasks();
        if (current && current.id === t.id) await showInstances(t);
      } catch (err) {
        fail(messages, err, { action: daily ? "end the task" : "delete the task", area: `${AREA}.delete`, entities: [{ type: "task", id: t.id }] });
      }
    });
  }

  await loadTasks();
}

// Admin > Academic > Students: list (active or archived), search by name prefix, create, edit name / time zone /
// notes at the revision read, archive and restore. Each student links to its family's page.
import { ApiError, api, apiPath, qs } from "./api.js";
import { badge, browserZone, busy, clear, confirmDialog, fail, field, fmtDateTime, h, loadAll, messageArea, table } from "./ui.js";

const AREA = "admin.academic.students";

export function familyHref(customerId) {
  return `${apiPath("/console/admin/family")}?customer=${encodeURIComponent(customerId)}`;
}

function stale(err) {
  return err instanceof ApiError && err.status === 409 && err.code === "stale_revision";
}

export async function render(main, { title }) {
  const messages = messageArea();
  const params = new URLSearchParams(location.search);
  let families = [];
  const familyName = (id) => (families.find((c) => c.customer_id === id) || {}).display_name || "";

  // --- search and filter -----------------------------------------------------------------------------
  const fQuery = h("input", { type: "search", name: "q", maxlength: "100", autocomplete: "off", spellcheck: "false", value: params.get("q") || "", placeholder: "e.g. Ada" });
  const fWhich = h("select", { name: "show" }, h("option", { value: "active" }, "Active students"), h("option", { value: "archived" }, "Archived students"));
  fWhich.value = params.get("show") === "archived" ? "archived" : "active";
  const filters = h(
    "form",
    { class: "grid card", role: "search", "aria-label": "Search students" },
    field("Name starts with", fQuery, "(active students; any case)"),
    field("Show", fWhich),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "btn" }, "Search"), h("button", { type: "reset", class: "btn secondary" }, "Clear")),
  );
  filters.addEventListener("submit", (ev) => {
    ev.preventDefault();
    if (fQuery.value.trim() && fWhich.value === "archived") fWhich.value = "active"; // the search covers active students
    syncUrl();
    load();
  });
  filters.addEventListener("reset", () =>
    setTimeout(() => {
      fQuery.value = "";
      fWhich.value = "active";
      syncUrl();
      load();
    }, 0),
  );
  function syncUrl() {
    const q = { q: fQuery.value.trim(), show: fWhich.value === "archived" ? "archived" : "" };
    history.replaceState(null, "", `${location.pathname}${qs(q)}`);
  }

  // --- create ----------------------------------------------------------------------------------------
  const cCustomer = h("input", { type: "text", name: "customer_id", required: true, maxlength: "64", autocomplete: "off", spellcheck: "false", list: "family-ids" });
  const familyIds = h("datalist", { id: "family-ids" });
  const cName = h("input", { type: "text", name: "name", required: true, maxlength: "200" });
  const cZone = h("input", { type: "text", name: "timezone", value: browserZone(), autocomplete: "off", spellcheck: "false" });
  const createForm = h(
    "form",
    { class: "grid" },
    field("Name", cName),
    field("Family (customer id)", cCustomer, "(their sign-in's customer id)"),
    familyIds,
    field("Time zone", cZone, "(IANA, e.g. Europe/London)"),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "btn" }, "Add student")),
  );
  const createCard = h("details", { class: "card" }, h("summary", {}, "New student"), createForm);
  createForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const body = { customer_id: cCustomer.value.trim(), name: cName.value.trim(), timezone: cZone.value.trim() || "UTC" };
    const missing = [!body.name && "a name", !body.customer_id && "a family (customer id)"].filter(Boolean);
    if (missing.length) {
      messages.set("error", `Could not add the student. It needs ${missing.join(" and ")}.`);
      (body.name ? cCustomer : cName).focus();
      return;
    }
    busy(createForm.querySelector("[type=submit]"), "Adding…", async () => {
      try {
        const s = await api("POST", "/admin/students", body);
        messages.set("ok", `Added ${s.name}.`);
        createForm.reset();
        cZone.value = browserZone();
        createCard.open = false;
        await load();
      } catch (err) {
        fail(messages, err, { action: "add the student", area: `${AREA}.create`, context: { body } });
      }
    });
  });

  const listBox = h("div", { id: "student-list" });
  const moreBox = h("div", { class: "actions" });
  const editBox = h("div", { id: "student-edit" });
  clear(main, h("h1", {}, title), messages.el, createCard, filters, listBox, moreBox, editBox);

  try {
    families = await loadAll(api, "/admin/customers");
    familyIds.append(...families.map((c) => h("option", { value: c.customer_id }, c.display_name)));
  } catch (err) {
    fail(messages, err, { action: "load the families", area: `${AREA}.families` });
  }

  // --- list ------------------------------------------------------------------------------------------
  let rows = [];
  async function load(more = null) {
    const q = fQuery.value.trim();
    const query = { limit: 50, next_token: more };
    if (q) query.q = q;
    else if (fWhich.value === "archived") query.archived = "true";
    try {
      const page = await api("GET", `/admin/students${qs(query)}`);
      rows = more ? rows.concat(page.items) : page.items;
      renderList(page.next_token, q);
    } catch (err) {
      fail(messages, err, { action: q ? "search the students" : "load the students", area: `${AREA}.list`, context: { query } });
    }
  }

  function renderList(nextToken, q) {
    const empty = q ? `No active student's name starts with “${q}”.` : fWhich.value === "archived" ? "No archived students." : "No students yet. Add one with “New student”.";
    clear(
      listBox,
      table(
        [
          { label: "Name", render: (s) => h("strong", {}, s.name) },
          { label: "Family", render: (s) => h("a", { href: familyHref(s.customer_id) }, familyName(s.customer_id) || s.customer_id) },
          { label: "Time zone", render: (s) => s.timezone },
          { label: "Status", render: (s) => (s.active ? badge("active", "ok") : badge("archived", "")) },
          { label: "Added", render: (s) => fmtDateTime(s.created_at) },
          {
            label: "Actions",
            class: "actions-cell",
            render: (s) =>
              h(
                "div",
                { class: "actions" },
                h("button", { type: "button", class: "btn secondary small", onclick: () => edit(s) }, "Edit", h("span", { class: "visually-hidden" }, ` ${s.name}`)),
                s.active
                  ? h("button", { type: "button", class: "btn danger small", onclick: (ev) => setActive(s, false, ev.currentTarget) }, "Archive", h("span", { class: "visually-hidden" }, ` ${s.name}`))
                  : h("button", { type: "button", class: "btn small", onclick: (ev) => setActive(s, true, ev.currentTarget) }, "Restore", h("span", { class: "visually-hidden" }, ` ${s.name}`)),
              ),
          },
        ],
        rows,
        { caption: "Students", empty, rowAttrs: (s) => ({ "data-student-id": s.id }) },
      ),
    );
    const more = nextToken ? h("button", { type: "button", class: "btn secondary" }, "Show more") : null;
    if (more) more.addEventListener("click", () => busy(more, "Loading…", () => load(nextToken)));
    clear(moreBox, more);
  }

  // A stale revision is an expected answer (someone else saved first), not an incident: say so and reload.
  async function reloadAfterStale(s) {
    messages.set("warn", `${s.name} was changed by someone else since this page loaded it. The list is reloaded: check it and try again.`);
    clear(editBox);
    await load();
  }

  async function setActive(s, active, button) {
    if (!active) {
      const ok = await confirmDialog({
        title: `Archive ${s.name}?`,
        body: "An archived student leaves the student lists and cannot join new schedules. Their homework, videos and attendance are kept, and you can restore them at any time.",
        confirm: "Archive",
        danger: true,
      });
      if (!ok) return;
    }
    await busy(button, active ? "Restoring…" : "Archiving…", async () => {
      try {
        await api("PATCH", `/admin/students/${encodeURIComponent(s.id)}`, { rev: s.rev, active });
        messages.set("ok", active ? `${s.name} is restored.` : `${s.name} is archived.`);
        await load();
      } catch (err) {
        if (stale(err)) await reloadAfterStale(s);
        else fail(messages, err, { action: active ? "restore the student" : "archive the student", area: `${AREA}.${active ? "restore" : "archive"}`, entities: [{ type: "student", id: s.id }] });
      }
    });
  }

  function edit(s) {
    const eName = h("input", { type: "text", name: "name", required: true, maxlength: "200", value: s.name });
    const eZone = h("input", { type: "text", name: "timezone", required: true, autocomplete: "off", spellcheck: "false", value: s.timezone });
    const eNotes = h("textarea", { name: "notes", maxlength: "2000", rows: "3" });
    eNotes.value = s.notes || "";
    const cancel = h("button", { type: "button", class: "btn secondary" }, "Cancel");
    const form = h(
      "form",
      { class: "grid" },
      field("Name", eName),
      field("Time zone", eZone, "(IANA)"),
      h("label", { class: "field wide" }, h("span", {}, "Notes ", h("span", { class: "hint" }, "(for admins; empty clears them)")), eNotes),
      h("div", { class: "actions" }, h("button", { type: "submit", class: "btn" }, "Save"), cancel),
    );
    const section = h("section", { class: "card", "aria-labelledby": "edit-h", tabindex: "-1" }, h("h2", { id: "edit-h" }, `Edit ${s.name}`), form);
    cancel.addEventListener("click", () => clear(editBox));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const body = { rev: s.rev };
      if (eName.value.trim() !== s.name) body.name = eName.value.trim();
      if (eZone.value.trim() !== s.timezone) body.timezone = eZone.value.trim();
      if (eNotes.value.trim() !== (s.notes || "")) body.notes = eNotes.value.trim();
      if (Object.keys(body).length === 1) {
        messages.set("info", "Nothing to save: no field was changed.");
        return;
      }
      if ("name" in body && !body.name) {
        messages.set("error", "Could not save the student. It needs a name.");
        eName.focus();
        return;
      }
      busy(form.querySelector("[type=submit]"), "Saving…", async () => {
        try {
          const saved = await api("PATCH", `/admin/students/${encodeURIComponent(s.id)}`, body);
          messages.set("ok", `Saved ${saved.name}.`);
          clear(editBox);
          await load();
        } catch (err) {
          if (stale(err)) await reloadAfterStale(s);
          else fail(messages, err, { action: "save the student", area: `${AREA}.update`, entities: [{ type: "student", id: s.id }], context: { body } });
        }
      });
    });
    clear(editBox, section);
    section.focus();
  }

  await load();
}

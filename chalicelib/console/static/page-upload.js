// Customers > Homework and video upload: pick a file, send it straight to storage with the presigned POST
// (with a progress bar), then confirm. Every failure is shown in plain words and reported to the
// Incident Hub with the backend's own error body.
import { ApiError, api, plainWords, report } from "./api.js";
import { badge, busy, clear, field, fmtBytes, fmtDateTime, h, loadAll, messageArea, table } from "./ui.js";

const KINDS = {
  homework: {
    noun: "homework",
    path: "/customer/homework",
    area: "customers.homework.upload",
    entity: "homework",
    accept: ".pdf,.jpg,.jpeg,.png,.heic,.docx,.txt",
    allowed: "PDF, JPEG, PNG, HEIC, Word (.docx) or plain text",
    intro: "Send homework for one of your students: a PDF, a photo, a Word document or a text file.",
  },
  videos: {
    noun: "video",
    path: "/customer/videos",
    area: "customers.videos.upload",
    entity: "video",
    accept: ".mp4,.mov,.webm,.mkv",
    allowed: "MP4, MOV, WebM or MKV",
    intro: "Send a video proof for one of your students. Large files are fine: they go straight to storage.",
  },
};

const TYPES = {
  pdf: "application/pdf",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  png: "image/png",
  heic: "image/heic",
  docx: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
  txt: "text/plain",
  mp4: "video/mp4",
  mov: "video/quicktime",
  webm: "video/webm",
  mkv: "video/x-matroska",
};

export function contentTypeOf(file) {
  const ext = (file.name.split(".").pop() || "").toLowerCase();
  return file.type || TYPES[ext] || "application/octet-stream";
}

/** What S3 said, from its XML error body: {code, message}. */
function s3Error(text) {
  try {
    const doc = new DOMParser().parseFromString(text || "", "application/xml");
    const get = (tag) => (doc.getElementsByTagName(tag)[0] || {}).textContent || "";
    return { code: get("Code"), message: get("Message") };
  } catch {
    return { code: "", message: "" };
  }
}

function s3Words(status, err) {
  if (status === 0) return "The file could not be sent: the connection to storage was lost or refused. Check your connection and try again.";
  switch (err.code) {
    case "EntityTooLarge":
      return "The file is larger than this upload allows. Choose a smaller file.";
    case "EntityTooSmall":
      return "The file is smaller than it was declared to be. Choose the file again and retry.";
    case "AccessDenied":
      return /expired/i.test(err.message) ? "The upload link expired before the file was sent. Try again." : "Storage refused the file: the upload link does not allow it. Try again; if it keeps failing, the problem has been recorded.";
    case "InvalidPolicyDocument":
    case "InvalidArgument":
      return "Storage refused the file because it does not match what was announced (type or size). Try again.";
    default:
      return `Storage refused the file (HTTP ${status}${err.code ? `, ${err.code}` : ""}). Try again in a moment; the problem has been recorded.`;
  }
}

/** POST the file to the presigned URL; resolves on 2xx, rejects with {status, body}. Reports progress. */
function postToStorage(upload, file, onProgress, signal) {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    for (const [k, v] of Object.entries(upload.fields || {})) form.append(k, v);
    form.append("file", file);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", upload.url);
    xhr.upload.addEventListener("progress", (ev) => {
      if (ev.lengthComputable) onProgress(ev.loaded, ev.total);
    });
    xhr.addEventListener("load", () => (xhr.status >= 200 && xhr.status < 300 ? resolve(xhr.status) : reject({ status: xhr.status, body: xhr.responseText })));
    xhr.addEventListener("error", () => reject({ status: 0, body: "" }));
    xhr.addEventListener("abort", () => reject({ status: 0, aborted: true, body: "" }));
    if (signal) signal.addEventListener("abort", () => xhr.abort());
    xhr.send(form);
  });
}

export async function render(main, { title, page }) {
  const kind = KINDS[page.split("/")[1]];
  const messages = messageArea();
  const student = h("select", { name: "student_id", required: true, id: "upload-student" });
  const file = h("input", { type: "file", name: "file", accept: kind.accept, required: true, id: "upload-file", "aria-describedby": "file-hint" });
  const submit = h("button", { type: "submit", class: "btn" }, `Upload ${kind.noun}`);
  const cancel = h("button", { type: "button", class: "btn secondary", hidden: true }, "Cancel upload");
  const bar = h("progress", { max: "100", value: "0", id: "upload-progress", "aria-label": "Upload progress" });
  const barText = h("span", { class: "small mono", "aria-hidden": "true" }, "0%");
  const step = h("p", { class: "small", "aria-live": "polite", id: "upload-step" });
  const progressBox = h("div", { hidden: true, class: "stack" }, h("div", { class: "progress-row" }, bar, barText), step);
  const form = h(
    "form",
    { class: "card stack", novalidate: true },
    h("h2", {}, `New ${kind.noun}`),
    field("Student", student),
    field("File", file),
    h("p", { id: "file-hint", class: "muted small" }, `Accepted: ${kind.allowed}.`),
    h("div", { class: "actions" }, submit, cancel),
    progressBox,
  );
  const listBox = h("div");
  clear(main, h("h1", {}, title), h("p", { class: "muted" }, kind.intro), messages.el, form, h("h2", {}, `Your ${kind.noun === "video" ? "videos" : "homework"}`), listBox);

  let students = [];
  try {
    students = await loadAll(api, "/customer/students");
  } catch (err) {
    const text = plainWords(err, "load your students");
    messages.set("error", text);
    report(err, { area: `${kind.area}.students`, message: text });
  }
  if (students.length) {
    student.append(...students.map((s) => h("option", { value: s.id }, s.name)));
  } else {
    student.append(h("option", { value: "" }, "No students yet"));
    student.disabled = true;
    submit.disabled = true;
    messages.set("info", "There are no students on your account yet. Ask the academy to add them, then come back.");
  }
  const studentName = (id) => (students.find((s) => s.id === id) || {}).name || id;

  function setProgress(loaded, total) {
    const pct = total ? Math.floor((loaded / total) * 100) : 0;
    bar.value = pct;
    barText.textContent = `${pct}%`;
    bar.setAttribute("aria-valuetext", `${pct}% (${fmtBytes(loaded)} of ${fmtBytes(total)})`);
    step.textContent = `Uploading… ${pct}% (${fmtBytes(loaded)} of ${fmtBytes(total)})`;
  }

  let controller = null;
  cancel.addEventListener("click", () => controller && controller.abort());

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const chosen = file.files && file.files[0];
    if (!student.value) {
      messages.set("error", "Choose the student this is for.");
      student.focus();
      return;
    }
    if (!chosen) {
      messages.set("error", "Choose a file to upload first.");
      file.focus();
      return;
    }
    busy(submit, "Uploading…", () => upload(chosen, student.value));
  });

  async function upload(chosen, studentId) {
    messages.clear();
    controller = new AbortController();
    const contentType = contentTypeOf(chosen);
    const context = { filename: chosen.name, size_bytes: chosen.size, content_type: contentType, kind: kind.noun };
    const entities = [{ type: "student", id: studentId }];
    progressBox.hidden = false;
    bar.value = 0;
    barText.textContent = "0%";
    step.textContent = "Preparing the upload…";
    // 1. ask for a presigned POST
    let created;
    try {
      created = await api("POST", kind.path, { student_id: studentId, filename: chosen.name, content_type: contentType, size_bytes: chosen.size });
    } catch (err) {
      return failed(err, "start the upload", { step: "start", ...context }, entities);
    }
    const item = created.homework || created.video;
    entities.push({ type: kind.entity, id: item.id });
    // 2. send the file straight to storage
    cancel.hidden = false;
    try {
      await postToStorage(created.upload, chosen, setProgress, controller.signal);
    } catch (e) {
      cancel.hidden = true;
      if (e.aborted) {
        step.textContent = "Upload cancelled.";
        messages.set("info", `The upload of ${chosen.name} was cancelled. Nothing was saved.`);
        return;
      }
      const s3 = s3Error(e.body);
      const text = `Could not upload ${chosen.name}. ${s3Words(e.status, s3)}`;
      step.textContent = "Upload failed.";
      messages.set("error", text);
      report(new ApiError({ status: e.status, code: s3.code, message: s3.message, body: e.body || null, method: "POST", path: "(presigned storage URL)" }), {
        area: kind.area,
        message: text,
        entities,
        context: { step: "storage", ...context, storage_status: e.status, storage_error: s3 },
      });
      return;
    }
    cancel.hidden = true;
    setProgress(chosen.size, chosen.size);
    // 3. confirm
    step.textContent = "Confirming…";
    try {
      await api("POST", `${kind.path}/${encodeURIComponent(item.id)}/complete`);
    } catch (err) {
      return failed(err, "confirm the upload", { step: "complete", ...context }, entities);
    }
    step.textContent = "Done.";
    messages.set("ok", `Uploaded ${chosen.name} for ${studentName(studentId)}.${kind.noun === "video" ? " It will be optimised for playback shortly." : ""}`);
    form.reset();
    await loadList();
  }

  /** The API's refusal of a file, said in terms of the file the user picked. */
  function startRefusal(err, context) {
    const fields = (err instanceof ApiError && err.status === 400 && err.details && err.details.fields) || {};
    if (fields.content_type) return `Could not upload ${context.filename}: this type of file is not accepted. Choose a ${kind.allowed} file.`;
    if (fields.size_bytes || (err instanceof ApiError && err.status === 413)) {
      return `Could not upload ${context.filename} (${fmtBytes(context.size_bytes)}): ${err.serverMessage || "the file is too large or empty"}`;
    }
    return null;
  }

  function failed(err, action, context, entities) {
    cancel.hidden = true;
    step.textContent = "Upload failed.";
    const text = (context.step === "start" && startRefusal(err, context)) || plainWords(err, action);
    messages.set("error", text);
    report(err, { area: kind.area, message: text, entities, context });
    return text;
  }

  async function loadList() {
    try {
      const items = await loadAll(api, kind.path, 200);
      const columns = [
        { label: "File", render: (x) => (x.download_url ? h("a", { href: x.download_url, rel: "noopener", target: "_blank" }, x.filename) : x.filename) },
        { label: "Student", render: (x) => studentName(x.student_id) },
        { label: "Size", class: "nowrap", render: (x) => fmtBytes(x.size_bytes) },
        { label: "Status", render: (x) => (x.status === "uploaded" ? badge("uploaded", "ok") : badge("not finished", "warn")) },
        { label: "Sent", render: (x) => fmtDateTime(x.uploaded_at || x.created_at) },
      ];
      if (kind.noun === "video") columns.splice(4, 0, { label: "Playback", render: (x) => (x.variant_count > 1 ? badge("optimised", "ok") : x.status === "uploaded" ? badge("original only", "") : "") });
      clear(listBox, table(columns, items, { caption: `Your ${kind.noun} uploads`, empty: `Nothing uploaded yet.` }));
    } catch (err) {
      const text = plainWords(err, "load your uploads");
      messages.set("error", text);
      report(err, { area: `${kind.area}.list`, message: text });
    }
  }

  await loadList();
}

// Customers > Homework and video upload: pick a file, send it straight to storage — homework with the
// presigned POST, videos in resumable parts (multipart.js: parallel, retried, resumed after going offline
// or a reload) — with a progress bar and the speed, then confirm. Every failure is shown in plain words and reported to the
// Incident Hub with the backend's own error body.
import { ApiError, api, plainWords, report } from "./api.js";
import { StorageError, fingerprint, forgetUpload, pendingUploads, saveUpload, savedUpload, sendParts } from "./multipart.js";
import { showPlayer } from "./player.js";
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
  const playerTitle = h("h2", {}, "Video");
  const playerBody = h("div");
  const playerBox = h("section", { class: "card player-box", "aria-label": "Video player", hidden: true, tabindex: "-1" }, playerTitle, playerBody);
  clear(main, h("h1", {}, title), h("p", { class: "muted" }, kind.intro), messages.el, form, playerBox, h("h2", {}, `Your ${kind.noun === "video" ? "videos" : "homework"}`), listBox);

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

  function setProgress(loaded, total, speed = null, waiting = false) {
    const pct = total ? Math.floor((loaded / total) * 100) : 0;
    bar.value = pct;
    barText.textContent = `${pct}%`;
    bar.setAttribute("aria-valuetext", `${pct}% (${fmtBytes(loaded)} of ${fmtBytes(total)})`);
    const rate = speed !== null && !waiting ? ` · ${fmtBytes(Math.round(speed))}/s` : "";
    const why = navigator.onLine === false ? "You are offline: the upload will continue when the connection is back." : "Connection trouble: retrying…";
    step.textContent = waiting ? `${why} ${pct}% sent (${fmtBytes(loaded)} of ${fmtBytes(total)}).` : `Uploading… ${pct}% (${fmtBytes(loaded)} of ${fmtBytes(total)})${rate}`;
  }

  if (kind.noun === "video") {
    const pending = pendingUploads();
    if (pending.length) {
      const names = pending.map((p) => `${p.filename} (${fmtBytes(p.size_bytes)})`).join(", ");
      messages.set("info", `An upload was interrupted: ${names}. Choose the same file again to resume where it stopped.`);
    }
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
    if (kind.noun === "video") return uploadVideo(chosen, studentId, context, entities);
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

  /** A video in resumable parts: resume a remembered upload of this very file, else start one. */
  async function uploadVideo(chosen, studentId, context, entities) {
    const fp = fingerprint(chosen, studentId);
    let videoId = null;
    let session = null;
    const held = new Set();
    const urls = new Map();
    const saved = savedUpload(fp);
    if (saved) {
      try {
        const listed = await api("GET", `${kind.path}/${encodeURIComponent(saved.video_id)}/parts`);
        for (const p of listed.parts) if (!listed.wrong_size.includes(p.part_number)) held.add(p.part_number);
        videoId = saved.video_id;
        session = listed;
        step.textContent = `Resuming: ${held.size} of ${listed.part_count} parts are already stored.`;
      } catch {
        forgetUpload(fp); // expired, cancelled or completed elsewhere: start afresh
      }
    }
    if (!videoId) {
      let created;
      try {
        created = await api("POST", kind.path, { student_id: studentId, filename: chosen.name, content_type: context.content_type, size_bytes: chosen.size, multipart: true });
      } catch (err) {
        return failed(err, "start the upload", { step: "start", ...context }, entities);
      }
      videoId = created.video.id;
      session = created.multipart;
      for (const p of session.parts) urls.set(p.part_number, p.url);
      saveUpload(fp, { video_id: videoId, upload_id: session.upload_id, filename: chosen.name, size_bytes: chosen.size });
    }
    entities.push({ type: kind.entity, id: videoId });
    cancel.hidden = false;
    const signParts = async (numbers) => (await api("POST", `${kind.path}/${encodeURIComponent(videoId)}/parts`, { part_numbers: numbers }, { signal: controller.signal })).parts;
    try {
      await sendParts({
        file: chosen,
        session,
        held,
        urls,
        signParts,
        signal: controller.signal,
        onProgress: ({ loaded, total, speed, waiting }) => setProgress(loaded, total, speed, waiting),
      });
    } catch (e) {
      cancel.hidden = true;
      if (e && e.name === "AbortError") {
        forgetUpload(fp);
        try {
          await api("DELETE", `${kind.path}/${encodeURIComponent(videoId)}/upload`);
        } catch {
          /* already gone; the bucket's lifecycle rule aborts it anyway */
        }
        step.textContent = "Upload cancelled.";
        messages.set("info", `The upload of ${chosen.name} was cancelled. Nothing was saved.`);
        return;
      }
      if (!(e instanceof StorageError)) {
        forgetUpload(fp);
        return failed(e, "send the file", { step: "parts", ...context }, entities);
      }
      const s3 = s3Error(e.body);
      const text = `Could not upload ${chosen.name}. ${s3Words(e.status, s3)}`;
      step.textContent = "Upload failed.";
      messages.set("error", text);
      report(new ApiError({ status: e.status, code: s3.code, message: s3.message, body: e.body || null, method: "PUT", path: "(presigned storage URL)" }), {
        area: kind.area,
        message: text,
        entities,
        context: { step: "storage", ...context, part_number: e.partNumber, storage_status: e.status, storage_error: s3 },
      });
      return;
    }
    cancel.hidden = true;
    setProgress(chosen.size, chosen.size);
    step.textContent = "Confirming…";
    try {
      await api("POST", `${kind.path}/${encodeURIComponent(videoId)}/complete`);
    } catch (err) {
      if (!(err instanceof ApiError && err.code === "upload_incomplete")) forgetUpload(fp);
      return failed(err, "confirm the upload", { step: "complete", ...context }, entities);
    }
    forgetUpload(fp);
    step.textContent = "Done.";
    messages.set("ok", `Uploaded ${chosen.name} for ${studentName(studentId)}. It will be optimised for playback shortly.`);
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

  function statusOf(x) {
    if (x.status === "reviewed") return badge("reviewed", "ok");
    if (x.status === "uploaded") return badge(kind.noun === "homework" ? "uploaded, awaiting review" : "uploaded", kind.noun === "homework" ? "info" : "ok");
    return badge("not finished", "warn");
  }

  /** The latest feedback, and the earlier reviews behind a disclosure (a re-review keeps them). */
  function feedbackOf(x) {
    const reviews = x.reviews || [];
    if (!reviews.length) return "";
    const latest = h("p", { class: "feedback" }, x.feedback || reviews[reviews.length - 1].feedback);
    if (reviews.length < 2) return latest;
    const earlier = reviews.slice(0, -1).reverse().map((r) => h("li", {}, h("p", { class: "feedback" }, r.feedback), h("p", { class: "muted small" }, fmtDateTime(r.at))));
    return h("div", {}, latest, h("details", {}, h("summary", {}, `${earlier.length} earlier review${earlier.length === 1 ? "" : "s"}`), h("ol", { class: "reviews" }, earlier)));
  }

  /** Play one's own video in the page: a <video> on the presigned /play URL (streamed, never loaded into JS). */
  function playButton(x) {
    const b = h("button", { type: "button", class: "btn secondary small", "aria-label": `Play ${x.filename}` }, "Play");
    b.addEventListener("click", () =>
      busy(b, "Loading…", async () => {
        playerBox.hidden = false;
        try {
          const path = `${kind.path}/${encodeURIComponent(x.id)}`;
          await showPlayer(playerBody, {
            playPath: `${path}/play`,
            downloadPath: `${path}/download`,
            filename: x.filename,
            onError: (err, action) => messages.set("error", plainWords(err, action)),
          });
          playerTitle.textContent = x.filename;
          playerBox.focus();
        } catch (err) {
          playerBox.hidden = true;
          const text = plainWords(err, `play ${x.filename}`);
          messages.set("error", text);
          report(err, { area: `${kind.area}.play`, message: text, entities: [{ type: "video", id: x.id }] });
        }
      }),
    );
    return b;
  }

  async function loadList() {
    try {
      const items = await loadAll(api, kind.path, 200);
      const columns = [
        { label: "File", render: (x) => (x.download_url ? h("a", { href: x.download_url, rel: "noopener", target: "_blank" }, x.filename) : x.filename) },
        { label: "Student", render: (x) => studentName(x.student_id) },
        { label: "Size", class: "nowrap", render: (x) => fmtBytes(x.size_bytes) },
        { label: "Status", render: statusOf },
        { label: "Sent", render: (x) => fmtDateTime(x.uploaded_at || x.created_at) },
      ];
      if (kind.noun === "video") columns.splice(4, 0, { label: "Playback", render: (x) => (x.variant_count > 1 ? badge("optimised", "ok") : x.status === "uploaded" ? badge("original only", "") : "") });
      if (kind.noun === "homework") columns.push({ label: "Feedback", render: feedbackOf });
      if (kind.noun === "video") columns.push({ label: "Watch", class: "actions-cell", render: (x) => (x.status === "uploaded" ? playButton(x) : "") });
      clear(listBox, table(columns, items, { caption: `Your ${kind.noun} uploads`, empty: `Nothing uploaded yet.` }));
    } catch (err) {
      const text = plainWords(err, "load your uploads");
      messages.set("error", text);
      report(err, { area: `${kind.area}.list`, message: text });
    }
  }

  await loadList();
}

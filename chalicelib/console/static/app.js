// The console shell: who is signed in, the navigation for that role, the sign-in page, and loading the page module.
import { ApiError, api, apiPath, claims, clearToken, consoleConfig, ensureFresh, getToken, plainWords, report, setSession, setToken } from "./api.js";
import { busy, clear, field, h, messageArea } from "./ui.js";

const NAV = {
  admin: [
    {
      heading: "Academic",
      links: [["students", "Students"], ["family", "Families"], ["schedules", "Schedules"], ["lessons", "Lessons"], ["tasks", "Tasks"], ["homework", "Homework"]],
    },
    { heading: "Insights", links: [["media", "Media"], ["jobs", "Jobs"], ["monitors", "Monitors"], ["alerts", "Alerts"], ["costs", "Costs"]] },
    { heading: "Support", links: [["incidents", "Incident Hub"]] },
  ],
  customer: [
    { heading: "Customers", links: [["homework", "Homework upload"], ["videos", "Video upload"]] },
    { heading: "My students", links: [["lessons", "Lessons & attendance"], ["tasks", "Tasks"]] },
  ],
};
const HOME = { admin: apiPath("/console/admin/schedules"), customer: apiPath("/console/customer/homework") };

const body = document.body;
const page = body.dataset.page;
const main = document.getElementById("main");

function currentClaims() {
  const token = getToken();
  if (!token) return null;
  const c = claims(token);
  if (!c || !c.role || (c.exp && c.exp * 1000 < Date.now())) {
    clearToken();
    return { expired: true };
  }
  return c;
}

function renderTopbar(c) {
  const top = document.getElementById("topbar");
  const nav = document.getElementById("sidenav");
  const items = [h("a", { class: "brand", href: apiPath("/console") }, "Academy Ops")];
  if (body.dataset.stage && body.dataset.devSignIn === "true") items.push(h("span", { class: "stage" }, `stage: ${body.dataset.stage}`));
  if (c && c.role) {
    const toggle = h("button", { type: "button", class: "btn secondary small menu-toggle", "aria-controls": "sidenav", "aria-expanded": "false" }, "Menu");
    toggle.addEventListener("click", () => {
      const open = nav.hidden;
      nav.hidden = !open;
      toggle.setAttribute("aria-expanded", String(open));
    });
    const account = () => h("div", { class: "account" }, h("span", { class: "who" }, `Signed in as ${c.role} ${c.sub}`), h("button", { type: "button", class: "btn secondary small", onclick: signOut }, "Sign out"));
    items.push(account(), toggle);
    renderNav(nav, c.role, account());
    nav.hidden = window.matchMedia("(max-width: 899px)").matches;
  } else {
    nav.hidden = true;
    body.classList.add("signed-out");
  }
  clear(top, items);
}

function renderNav(nav, role, account) {
  const groups = NAV[role] || [];
  clear(
    nav,
    account,
    groups.map((g) =>
      h(
        "div",
        {},
        h("h2", {}, g.heading),
        h(
          "ul",
          {},
          g.links.map(([slug, label]) => {
            const href = apiPath(`/console/${role}/${slug}`);
            return h("li", {}, h("a", { href, "aria-current": location.pathname === href ? "page" : null }, label));
          }),
        ),
      ),
    ),
  );
}

async function signOut() {
  const refreshToken = sessionStorage.getItem("academy.console.refresh");
  clearToken();
  if (refreshToken) {
    const config = await consoleConfig();
    if (config.auth === "cognito") await (await import("./cognito.js")).revoke(config, refreshToken);
  }
  location.assign(apiPath("/console"));
}

function nextTarget(role) {
  const next = new URLSearchParams(location.search).get("next") || "";
  // only our own pages: never an open redirect
  const own = next.startsWith(apiPath("/console/")) ? `/${next.slice(apiPath("/").length)}` : "";
  if (/^\/console\/(admin|customer)\/[a-z]+(\?[\w=&%.-]*)?$/.test(own) && own.startsWith(`/console/${role}/`)) return apiPath(own);
  if (page !== "home" && page.startsWith(`${role}/`)) return location.pathname + location.search;
  return HOME[role];
}

async function acceptToken(token, messages, session) {
  const c = claims(token);
  if (!c || !c.role) {
    messages.set(
      "error",
      session ? "Your account has no role in the academy yet. Ask the academy's office to give you one." : "This does not look like a sign-in token. Paste the whole token (three parts separated by dots).",
    );
    return;
  }
  if (session) setSession(session);
  else setToken(token);
  try {
    await api("GET", c.role === "admin" ? "/admin/students?limit=1" : "/customer/students?limit=1");
  } catch (err) {
    clearToken();
    const text = err instanceof ApiError && err.status === 401 ? `The token was refused: ${err.serverMessage || "it is not valid here"}.` : plainWords(err, "check the token");
    messages.set("error", text);
    if (!(err instanceof ApiError && err.status === 401)) report(err, { area: "console.sign_in", message: text });
    return;
  }
  location.assign(nextTarget(c.role));
}

function passwordField(id, label, autocomplete, hint) {
  const input = h("input", { id, name: id, type: "password", autocomplete, required: true, spellcheck: "false" });
  return { input, el: h("div", {}, h("label", { for: id, class: "field" }, h("span", {}, label, hint ? h("span", { class: "hint" }, ` ${hint}`) : null)), input) };
}

/** Cognito stages: email and password through the user pool; a first sign-in sets a new password. */
function renderPasswordSignIn(config, note) {
  document.title = "Sign in · Academy Ops";
  const messages = messageArea();
  const email = h("input", { id: "email", name: "email", type: "email", autocomplete: "username", required: true, spellcheck: "false" });
  const password = passwordField("password", "Password", "current-password");
  const form = h(
    "form",
    { class: "card stack", novalidate: true, id: "sign-in" },
    h("h2", {}, "Sign in"),
    h("div", {}, h("label", { for: "email", class: "field" }, h("span", {}, "Email")), email),
    password.el,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "btn" }, "Sign in")),
  );
  const parts = [h("h1", {}, "Sign in"), messages.el];
  if (note) parts.push(h("p", { class: "alert alert-info" }, note));
  parts.push(form);
  const holder = h("div", { class: "signin" }, parts);

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const address = email.value.trim();
    if (!address || !password.input.value) {
      messages.set("error", "Enter your email and your password.");
      (address ? password.input : email).focus();
      return;
    }
    await busy(form.querySelector("button[type=submit]"), "Signing in…", async () => {
      const cognito = await import("./cognito.js");
      try {
        const out = await cognito.signIn(config, address, password.input.value);
        await nextStep(config, holder, messages, out);
      } catch (err) {
        const text = cognito.cognitoReason(err);
        messages.set("error", text);
        if (!(err instanceof cognito.CognitoError) || !/NotAuthorized|UserNotFound|InvalidPassword/.test(err.type)) {
          report(err, { area: "console.sign_in", message: text });
        }
      }
    });
  });
  clear(main, holder);
  email.focus();
}

function renderNewPassword(config, holder, messages, challenge) {
  const fresh = passwordField("new-password", "New password", "new-password");
  const again = passwordField("new-password-again", "New password again", "new-password");
  const form = h(
    "form",
    { class: "card stack", novalidate: true, id: "new-password-form" },
    h("h2", {}, "Choose your password"),
    h("p", { class: "muted" }, "This is your first sign-in: replace the temporary password from your invitation with one only you know."),
    fresh.el,
    again.el,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "btn" }, "Set password and sign in")),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!fresh.input.value || fresh.input.value !== again.input.value) {
      messages.set("error", fresh.input.value ? "The two passwords are not the same." : "Enter your new password twice.");
      fresh.input.focus();
      return;
    }
    await busy(form.querySelector("button[type=submit]"), "Saving…", async () => {
      const cognito = await import("./cognito.js");
      try {
        const out = await cognito.completeNewPassword(config, challenge.email, fresh.input.value, challenge.challengeSession);
        await nextStep(config, holder, messages, out);
      } catch (err) {
        const text = cognito.cognitoReason(err);
        messages.set("error", /NotAuthorized/.test(err && err.type) ? "The sign-in took too long. Reload the page and sign in again." : text);
        if (!(err instanceof cognito.CognitoError) || !/InvalidPassword|NotAuthorized/.test(err.type)) report(err, { area: "console.sign_in.new_password", message: text });
      }
    });
  });
  messages.set("info", "Choose a new password to finish signing in.");
  clear(holder, h("h1", {}, "Sign in"), messages.el, form);
  fresh.input.focus();
}

/** Signed in, or the next challenge's form (a new password, then MFA setup or an MFA code). */
async function nextStep(config, holder, messages, out) {
  if (out.session) return acceptToken(out.session.idToken, messages, out.session);
  if (out.challenge === "NEW_PASSWORD_REQUIRED") return renderNewPassword(config, holder, messages, out);
  if (out.challenge === "SOFTWARE_TOKEN_MFA") return renderMfaCode(config, holder, messages, out, false);
  if (out.challenge === "MFA_SETUP") return renderMfaCode(config, holder, messages, out, true);
  messages.set("error", "The sign-in asked for a step this console does not offer. Ask the academy's office.");
}

/** A 6-digit authenticator code: to sign in, or (setup) to prove the new secret was added. */
async function renderMfaCode(config, holder, messages, challenge, setup) {
  const cognito = await import("./cognito.js");
  let challengeSession = challenge.challengeSession;
  const intro = [];
  if (setup) {
    let secret;
    try {
      ({ secret, challengeSession } = await cognito.startMfaSetup(config, challengeSession));
    } catch (err) {
      messages.set("error", cognito.cognitoReason(err));
      report(err, { area: "console.sign_in.mfa_setup", message: String((err && err.message) || err) });
      return;
    }
    const label = encodeURIComponent(`Academy Ops:${challenge.email}`);
    intro.push(
      h("p", {}, "This account needs a second step at sign-in. In your authenticator app, add an account with this key (time-based):"),
      h("p", {}, h("code", { id: "mfa-secret", class: "secret" }, secret)),
      h("p", { class: "muted small" }, "Or open this link on the phone with the app: ", h("code", { class: "secret" }, `otpauth://totp/${label}?secret=${secret}&issuer=Academy%20Ops`)),
    );
  } else {
    intro.push(h("p", {}, "Enter the 6-digit code from your authenticator app."));
  }
  const code = h("input", { id: "mfa-code", name: "mfa-code", inputmode: "numeric", autocomplete: "one-time-code", pattern: "[0-9]{6}", maxlength: "6", required: true });
  const form = h(
    "form",
    { class: "card stack", novalidate: true, id: "mfa-form" },
    h("h2", {}, setup ? "Set up two-step sign-in" : "Two-step sign-in"),
    ...intro,
    h("div", {}, h("label", { for: "mfa-code", class: "field" }, h("span", {}, "Code from the app")), code),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "btn" }, setup ? "Verify and sign in" : "Sign in")),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const value = code.value.replace(/\s+/g, "");
    if (!/^\d{6}$/.test(value)) {
      messages.set("error", "Enter the 6 digits the app shows.");
      code.focus();
      return;
    }
    await busy(form.querySelector("button[type=submit]"), "Checking…", async () => {
      try {
        const out = setup
          ? await cognito.finishMfaSetup(config, challenge.email, value, challengeSession)
          : await cognito.answerMfa(config, challenge.email, value, challengeSession);
        await nextStep(config, holder, messages, out);
      } catch (err) {
        const text = /NotAuthorized/.test(err && err.type) ? "The sign-in took too long. Reload the page and sign in again." : cognito.cognitoReason(err);
        messages.set("error", text);
        if (!(err instanceof cognito.CognitoError) || !/CodeMismatch|NotAuthorized|ExpiredCode|EnableSoftwareToken/.test(err.type)) {
          report(err, { area: "console.sign_in.mfa", message: text });
        }
      }
    });
  });
  messages.clear();
  clear(holder, h("h1", {}, "Sign in"), messages.el, form);
  code.focus();
}

function renderSignIn(note, config) {
  if (config && config.auth === "cognito") {
    renderPasswordSignIn(config, note);
    return;
  }
  document.title = "Sign in · Academy Ops";
  const messages = messageArea();
  const input = h("textarea", { id: "token", name: "token", rows: "4", autocomplete: "off", spellcheck: "false", required: true, "aria-describedby": "token-hint" });
  const form = h(
    "form",
    { class: "card stack", novalidate: true },
    h("h2", {}, "Sign in with a token"),
    h("label", { for: "token", class: "field" }, h("span", {}, "Access token")),
    input,
    h("p", { id: "token-hint", class: "muted small" }, "Paste the token you were given (it is kept in this browser tab only, until you sign out or close the tab)."),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "btn" }, "Sign in")),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const token = input.value.trim().replace(/^Bearer\s+/i, "");
    if (!token) {
      messages.set("error", "Paste your access token first.");
      input.focus();
      return;
    }
    await busy(form.querySelector("button[type=submit]"), "Signing in…", () => acceptToken(token, messages));
  });
  const parts = [h("h1", {}, "Sign in"), messages.el];
  if (note) parts.push(h("p", { class: "alert alert-info" }, note));
  if (config && config.auth === "none") parts.push(h("p", { class: "alert alert-warn" }, "Sign-in is not configured on this stage: the server accepts no token. Ask the academy's office."));
  parts.push(form);
  if (body.dataset.devSignIn === "true") {
    const devButton = (role, label) => {
      const b = h("button", { type: "button", class: "btn secondary" }, label);
      b.addEventListener("click", () =>
        busy(b, "Signing in…", async () => {
          try {
            const out = await api("POST", "/console/dev-sign-in", { role });
            await acceptToken(out.token, messages);
          } catch (err) {
            const text = plainWords(err, "sign in");
            messages.set("error", text);
            report(err, { area: "console.dev_sign_in", message: text });
          }
        }),
      );
      return b;
    };
    parts.push(
      h(
        "section",
        { class: "card", "aria-labelledby": "dev-h" },
        h("h2", { id: "dev-h" }, "Local development"),
        h("p", { class: "muted" }, `This is the local ${body.dataset.stage} stage: sign in with one click (this does not exist on real stages).`),
        h("div", { class: "actions" }, devButton("admin", "Sign in as admin"), devButton("customer", "Sign in as demo customer")),
      ),
    );
  }
  clear(main, h("div", { class: "signin" }, parts));
  input.focus();
}

function renderHome(c) {
  const groups = NAV[c.role] || [];
  clear(
    main,
    h("h1", {}, "Academy Ops"),
    h("p", {}, `You are signed in as ${c.role} ${c.sub}.`),
    groups.map((g) =>
      h(
        "section",
        { class: "card" },
        h("h2", {}, g.heading),
        h("ul", {}, g.links.map(([slug, label]) => h("li", {}, h("a", { href: apiPath(`/console/${c.role}/${slug}`) }, label)))),
      ),
    ),
  );
}

async function start() {
  await ensureFresh(); // Cognito stages: a token about to expire is renewed before the page uses it
  const c = currentClaims();
  renderTopbar(c && c.role ? c : null);
  if (page === "not-found") return;
  if (!c || c.expired) {
    const note = c && c.expired ? "Your sign-in expired. Sign in again." : page !== "home" ? `Sign in to open ${body.dataset.title}.` : "";
    renderSignIn(note, await consoleConfig());
    return;
  }
  if (page === "home") {
    if (new URLSearchParams(location.search).get("next")) location.replace(nextTarget(c.role));
    else renderHome(c);
    return;
  }
  const [area] = page.split("/");
  if (area !== c.role) {
    clear(
      main,
      h("h1", {}, body.dataset.title),
      h("p", { class: "alert alert-warn" }, `This page is for ${area}s. You are signed in as ${c.role} ${c.sub}.`),
      h("p", {}, h("a", { href: HOME[c.role] }, "Go to your pages"), " or ", h("button", { type: "button", class: "link", onclick: signOut }, "sign out"), "."),
    );
    return;
  }
  try {
    const mod = await import(`./${body.dataset.module}`);
    clear(main);
    await mod.render(main, { page, title: body.dataset.title, claims: c });
  } catch (err) {
    const messages = messageArea();
    clear(main, h("h1", {}, body.dataset.title), messages.el);
    messages.set("error", "This page could not be loaded. Reload it; if it keeps failing, the problem has been recorded.");
    report(err, { area: `console.${page.replace("/", ".")}.load`, message: String((err && err.message) || err) });
  }
}

// Once the page has rendered (or failed to): its data is loaded and its forms are live. Tests wait for it.
start().finally(() => {
  body.dataset.ready = "true";
});

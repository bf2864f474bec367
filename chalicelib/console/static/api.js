// Talking to the API: the signed-in token, the error envelope turned into plain words, and incident reports.
import { configureIncidentReporter, installGlobalHandlers, reportIncident } from "../../static/incident-reporter.js";

/**
 * Where the API is mounted: "/" at the root (academy up, a custom domain) or "/api/" under API Gateway's
 * stage path. This module is served at <root>console/static/api.js, so the root is two levels up.
 */
export const ROOT = new URL("../../", import.meta.url).pathname;

/** An API path ("/admin/students") as a URL path under the mount root ("/api/admin/students"). */
export function apiPath(path) {
  return ROOT + String(path).replace(/^\//, "");
}

const TOKEN_KEY = "academy.console.token";
const REFRESH_KEY = "academy.console.refresh"; // Cognito stages: the refresh token, this tab only

export function getToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || "";
  } catch {
    return "";
  }
}

export function setToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function clearToken() {
  signOuts += 1; // a refresh or call still in flight must not act for the session that just ended
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(REFRESH_KEY);
  clearTimeout(refreshTimer);
}

function getRefreshToken() {
  try {
    return sessionStorage.getItem(REFRESH_KEY) || "";
  } catch {
    return "";
  }
}

// --- the stage's sign-in settings and, on Cognito stages, keeping the ID token fresh -------------

let configPromise = null;

/** GET /console/config, once per page: {auth: "dev"|"cognito"|"none", region, client_id, cognito_endpoint}. */
export function consoleConfig() {
  if (!configPromise) {
    configPromise = fetch(apiPath("/console/config"), { headers: { Accept: "application/json" }, cache: "no-store" })
      .then((res) => (res.ok ? res.json() : { auth: "none" }))
      .catch(() => ({ auth: "none" }));
  }
  return configPromise;
}

let refreshTimer = 0;
let refreshing = null;
let signOuts = 0;

/** Keep a signed-in Cognito session: the ID token, the refresh token, and a timer to renew before expiry. */
export function setSession({ idToken, refreshToken }) {
  setToken(idToken);
  if (refreshToken) sessionStorage.setItem(REFRESH_KEY, refreshToken);
  scheduleRefresh();
}

function tokenTimes(token = getToken()) {
  const c = claims(token);
  if (!c || !c.exp) return null;
  const exp = c.exp * 1000;
  const iat = c.iat ? c.iat * 1000 : exp - 3600_000;
  return { exp, lifetime: exp - iat, margin: Math.max(5_000, Math.min(300_000, (exp - iat) / 4)) };
}

function scheduleRefresh() {
  clearTimeout(refreshTimer);
  const t = tokenTimes();
  if (!t || !getRefreshToken()) return;
  const wait = Math.max(0, t.exp - t.margin - Date.now());
  refreshTimer = setTimeout(() => ensureFresh(t.margin + 1_000).catch(() => {}), wait);
}

/**
 * Renew the ID token when it expires within `minValidityMs` (or at once with `force`), through the
 * refresh token. Silent: a refusal (revoked, user disabled) signs the tab out; the next call says so.
 */
export async function ensureFresh(minValidityMs = null, { force = false } = {}) {
  const refreshToken = getRefreshToken();
  if (!refreshToken) return false;
  const t = tokenTimes();
  const wanted = minValidityMs ?? Math.min(30_000, t ? t.lifetime / 2 : 30_000); // time left for the call itself
  if (!force && t && t.exp - Date.now() > wanted) return false;
  if (!refreshing) {
    const session = signOuts;
    refreshing = (async () => {
      const config = await consoleConfig();
      if (config.auth !== "cognito") return false;
      const { refresh, CognitoError } = await import("./cognito.js");
      try {
        const renewed = await refresh(config, refreshToken);
        if (session !== signOuts) return false; // signed out meanwhile: never bring the session back
        setSession(renewed);
        return true;
      } catch (err) {
        if (err instanceof CognitoError && err.status >= 400 && err.status < 500) clearToken(); // refused: sign in again
        return false;
      }
    })().finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

if (getRefreshToken()) scheduleRefresh(); // a page load in a signed-in tab picks the timer up again

configureIncidentReporter({ endpoint: apiPath("/incidents"), getToken: () => getToken() || null });
installGlobalHandlers({ areaPrefix: "console" }); // uncaught errors and unhandled rejections: console.uncaught, console.unhandled_rejection

/** The token's claims, for display only (the server verifies every call). Null if it is not a JWT. */
export function claims(token = getToken()) {
  try {
    const part = token.split(".")[1];
    const json = atob(part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "="));
    const c = JSON.parse(json);
    const groups = Array.isArray(c["cognito:groups"]) ? c["cognito:groups"] : [];
    const role = c.role || (groups.includes("admin") ? "admin" : groups.includes("customer") ? "customer" : null);
    const who = c["custom:customer_id"] || c.email || c.sub || "";
    const iat = typeof c.iat === "number" ? c.iat : null;
    return { role, sub: who, exp: typeof c.exp === "number" ? c.exp : null, iat, name: c.name || c.email || c.sub || "" };
  } catch {
    return null;
  }
}

/** A refused or failed call: HTTP status (0: the server was not reached), the envelope, and the raw body. */
export class ApiError extends Error {
  constructor({ status, code, message, details, body, requestId, method, path, retryAfter }) {
    super(message || `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.code = code || "";
    this.serverMessage = message || "";
    this.details = details || {};
    this.body = body;
    this.requestId = requestId || null;
    this.method = method;
    this.path = path;
    this.retryAfter = retryAfter || null;
  }
}

function parseBody(text) {
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Call the API. Resolves with the parsed JSON body; rejects with an ApiError for any non-2xx answer.
 * On Cognito stages the ID token is renewed first when it is about to expire, and once more after a
 * 401 token_expired (a laptop that slept through the timer). */
export async function api(method, path, body, { signal } = {}) {
  const session = signOuts;
  await ensureFresh();
  if (session !== signOuts) throw new DOMException("Signed out while the call waited for a token.", "AbortError");
  try {
    return await call(method, path, body, signal);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401 && err.code === "token_expired" && (await ensureFresh(0, { force: true }))) {
      return call(method, path, body, signal);
    }
    throw err;
  }
}

async function call(method, path, body, signal) {
  const headers = { Accept: "application/json" };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  const init = { method, headers, signal, cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(apiPath(path), init);
  } catch (err) {
    if (err && err.name === "AbortError") throw err;
    throw new ApiError({ status: 0, code: "network_error", message: String((err && err.message) || err), method, path });
  }
  const text = await res.text();
  const parsed = parseBody(text);
  if (!res.ok) {
    const env = parsed && typeof parsed === "object" && parsed.error ? parsed.error : {};
    throw new ApiError({
      status: res.status,
      code: env.code,
      message: env.message,
      details: env.details,
      body: parsed,
      requestId: res.headers.get("X-Request-Id"),
      method,
      path,
      retryAfter: res.headers.get("Retry-After"),
    });
  }
  return parsed;
}

/** Build a query string from the non-empty values of an object. */
export function qs(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}

function fieldList(details) {
  const fields = details && details.fields && typeof details.fields === "object" ? details.fields : null;
  if (!fields) return "";
  return Object.entries(fields)
    .map(([name, why]) => `${name.replace(/^query\./, "")}: ${why}`)
    .join("; ");
}

/** Why a call failed, in plain words (no codes, no stack traces). */
export function reason(err) {
  if (!(err instanceof ApiError)) return "Something unexpected happened in this page. Reload it and try again.";
  const said = err.serverMessage && !/^HTTP \d+$/.test(err.serverMessage) ? err.serverMessage : "";
  switch (true) {
    case err.status === 0:
      return "The server could not be reached. Check your connection and try again.";
    case err.status === 400: {
      const fields = fieldList(err.details);
      const whys = Object.values((err.details && err.details.fields) || {}).map(String);
      const covered = said && whys.every((w) => said.includes(w));
      return [said || "Some of the information was not accepted.", fields && !covered ? `Check: ${fields}.` : ""].filter(Boolean).join(" ");
    }
    case err.status === 401:
      return "Your sign-in is missing or has expired. Sign in again.";
    case err.status === 403 && /Missing Authentication Token/i.test(said):
      return "This server does not offer that yet (the API route is missing). The problem has been recorded.";
    case err.status === 403:
      return `Your account is not allowed to do this.${said ? ` (${said})` : ""}`;
    case err.status === 404:
      return said || "It was not found: it may have been deleted already. Reload the list.";
    case err.status === 409:
      return said || "That is not possible in its current state. Reload the list and try again.";
    case err.status === 413:
      return said || "That is too large to be accepted.";
    case err.status === 429: {
      const wait = Number(err.retryAfter || (err.details && err.details.retry_after)) || 0;
      return `Too many requests. ${wait ? `Wait ${wait} seconds` : "Wait a moment"} and try again.`;
    }
    case err.status >= 500:
      return `Something went wrong on our side and it has been recorded.${err.requestId ? ` Reference: ${err.requestId}.` : ""} Try again in a moment.`;
    default:
      return said || `The request was refused (HTTP ${err.status}).`;
  }
}

/** "Could not <action>. <reason>" */
export function plainWords(err, action) {
  return `Could not ${action}. ${reason(err)}`;
}

/**
 * Report a failure to the Incident Hub with the backend's own error body. Never throws.
 * `message` is what the user was shown.
 */
export function report(err, { area, message, entities, context } = {}) {
  try {
    const isApi = err instanceof ApiError;
    return reportIncident({
      area: area || "console.unknown",
      message: message || (err && err.message) || "Unexpected error",
      http_status: isApi && err.status >= 100 ? err.status : undefined,
      backend_error: isApi ? (err.body ?? { code: err.code, message: err.serverMessage }) : { name: err && err.name, message: String(err && err.message) },
      entities: entities || [],
      request_id: isApi ? err.requestId || undefined : undefined,
      context: { ...(context || {}), method: isApi ? err.method : undefined, path: isApi ? err.path : undefined },
    });
  } catch {
    return false;
  }
}

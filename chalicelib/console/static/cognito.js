// Signing in through the stage's Cognito user pool: email and password (USER_PASSWORD_AUTH, over TLS to
// Cognito's own endpoint), the first-login new-password challenge, and refreshing the ID token with the
// refresh token (REFRESH_TOKEN_AUTH) before it expires. No third-party code: three JSON calls.

const TARGET = "AWSCognitoIdentityProviderService.";

/** A refusal from Cognito: its error type (NotAuthorizedException, ...) and message. */
export class CognitoError extends Error {
  constructor(type, message, status) {
    super(message || type);
    this.name = "CognitoError";
    this.type = type || "";
    this.status = status || 0;
  }
}

async function call(config, action, payload) {
  let res;
  try {
    res = await fetch(config.cognito_endpoint, {
      method: "POST",
      headers: { "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": TARGET + action },
      body: JSON.stringify(payload),
      cache: "no-store",
      credentials: "omit",
    });
  } catch (err) {
    throw new CognitoError("NetworkError", String((err && err.message) || err), 0);
  }
  let body = {};
  try {
    body = await res.json();
  } catch {
    body = {};
  }
  if (!res.ok) {
    const type = String(body.__type || res.headers.get("x-amzn-ErrorType") || "").split("#").pop().split(":")[0];
    throw new CognitoError(type || `HTTP ${res.status}`, body.message || body.Message || "", res.status);
  }
  return body;
}

/** Tokens from an AuthenticationResult, with the moment the ID token expires (ms since the epoch). */
function session(result, refreshToken) {
  return {
    idToken: result.IdToken,
    refreshToken: result.RefreshToken || refreshToken || "",
    expiresAt: Date.now() + Number(result.ExpiresIn || 3600) * 1000,
  };
}

/**
 * Email and password. Resolves with {session} when signed in, or {challenge: "NEW_PASSWORD_REQUIRED",
 * challengeSession, email} on a first sign-in with the invitation's temporary password.
 */
export async function signIn(config, email, password) {
  const out = await call(config, "InitiateAuth", {
    AuthFlow: "USER_PASSWORD_AUTH",
    ClientId: config.client_id,
    AuthParameters: { USERNAME: email, PASSWORD: password },
  });
  return afterAuth(out, email);
}

const CHALLENGES = ["NEW_PASSWORD_REQUIRED", "SOFTWARE_TOKEN_MFA", "MFA_SETUP"];

function afterAuth(out, email) {
  if (out.AuthenticationResult) return { session: session(out.AuthenticationResult) };
  if (CHALLENGES.includes(out.ChallengeName)) return { challenge: out.ChallengeName, challengeSession: out.Session, email };
  throw new CognitoError(out.ChallengeName || "UnsupportedChallenge", `This sign-in needs a step the console does not offer (${out.ChallengeName}).`);
}

/** TOTP sign-in: the 6-digit code from the user's authenticator app. */
export async function answerMfa(config, email, code, challengeSession) {
  const out = await call(config, "RespondToAuthChallenge", {
    ChallengeName: "SOFTWARE_TOKEN_MFA",
    ClientId: config.client_id,
    Session: challengeSession,
    ChallengeResponses: { USERNAME: email, SOFTWARE_TOKEN_MFA_CODE: code },
  });
  return afterAuth(out, email);
}

/** MFA required but not set up yet: a new TOTP secret for this user ({secret, challengeSession}). */
export async function startMfaSetup(config, challengeSession) {
  const out = await call(config, "AssociateSoftwareToken", { Session: challengeSession });
  return { secret: out.SecretCode, challengeSession: out.Session || challengeSession };
}

/** The first code from the authenticator proves the setup; then the sign-in completes. */
export async function finishMfaSetup(config, email, code, challengeSession) {
  const verified = await call(config, "VerifySoftwareToken", { Session: challengeSession, UserCode: code, FriendlyDeviceName: "Academy Ops" });
  if (verified.Status !== "SUCCESS") throw new CognitoError("CodeMismatchException", "The code was not accepted.");
  const out = await call(config, "RespondToAuthChallenge", {
    ChallengeName: "MFA_SETUP",
    ClientId: config.client_id,
    Session: verified.Session,
    ChallengeResponses: { USERNAME: email },
  });
  return afterAuth(out, email);
}

/** The first-login password change: the new password for the challenge session. */
export async function completeNewPassword(config, email, newPassword, challengeSession) {
  const out = await call(config, "RespondToAuthChallenge", {
    ChallengeName: "NEW_PASSWORD_REQUIRED",
    ClientId: config.client_id,
    Session: challengeSession,
    ChallengeResponses: { USERNAME: email, NEW_PASSWORD: newPassword },
  });
  return afterAuth(out, email);
}

/** New ID token from the refresh token (Cognito keeps the refresh token: it is not rotated). */
export async function refresh(config, refreshToken) {
  const out = await call(config, "InitiateAuth", {
    AuthFlow: "REFRESH_TOKEN_AUTH",
    ClientId: config.client_id,
    AuthParameters: { REFRESH_TOKEN: refreshToken },
  });
  if (!out.AuthenticationResult) throw new CognitoError("NoTokens", "The refresh gave no tokens.");
  return session(out.AuthenticationResult, refreshToken);
}

/** Sign-out: the refresh token stops working (best effort; the tab forgets every token anyway). */
export async function revoke(config, refreshToken) {
  try {
    await call(config, "RevokeToken", { ClientId: config.client_id, Token: refreshToken });
  } catch {
    /* already invalid, or the pool does not revoke: nothing more to do */
  }
}

/** Cognito's refusal in plain words. */
export function cognitoReason(err) {
  if (!(err instanceof CognitoError)) return "Something unexpected happened. Reload the page and try again.";
  switch (err.type) {
    case "NotAuthorizedException":
      return /disabled/i.test(err.message) ? "This account is disabled. Ask the academy's office." : "The email or password is not right.";
    case "UserNotFoundException":
      return "The email or password is not right.";
    case "InvalidPasswordException":
      return `That password is not accepted: ${err.message.replace(/^Password does not conform to policy: /, "")}.`;
    case "CodeMismatchException":
    case "EnableSoftwareTokenMFAException":
      return "That code is not right. Enter the current 6-digit code from your authenticator app.";
    case "ExpiredCodeException":
      return "That code has expired. Enter the current one.";
    case "PasswordResetRequiredException":
      return "A password reset is required for this account. Ask the academy's office.";
    case "TooManyRequestsException":
    case "LimitExceededException":
      return "Too many attempts. Wait a minute and try again.";
    case "NetworkError":
      return "The sign-in service could not be reached. Check your connection and try again.";
    default:
      return `Sign-in failed: ${err.message || err.type}.`;
  }
}

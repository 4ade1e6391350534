// The console's one API client: tokens (in memory only, refreshed before they expire), a 401
// answered by one refresh, a 503 `busy` retried after its Retry-After, errors as ApiError.
// Also what each role may do, mirroring API.md's roles table.
// The API's base: the directory above this module (/ locally, /api/ behind a stage prefix).
const API = new URL("..", import.meta.url).href;
const BUSY_RETRIES = 3;
// One page of a list (`?limit=`); the API allows 1..100.
export const PAGE_SIZE = 20;

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `The server answered ${status}`);
    this.status = status;
    this.code = body && body.code;
    this.details = (body && body.details) || [];
  }
}

const session = { access: null, refresh: null, timer: null };
export const listeners = { signedOut: () => {}, busy: () => {} };

const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

export function newKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function query(params) {
  const sent = Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== "");
  return sent.length ? "?" + new URLSearchParams(sent).toString() : "";
}

// Paths that never carry a refreshable session: a 401 there is the answer itself.
const ANSWERS_401 = ["/auth/login", "/auth/refresh", "/auth/password-reset"];
let waiting = 0; // requests waiting out a 503, so the banner stays while any of them waits

// One request. A 503 `busy` is retried after its Retry-After; a 401 once after a refresh.
// `body` may be a function: it is asked again for each attempt (after a refresh, for one).
export async function api(method, path, body, { key } = {}) {
  let refreshed = false;
  for (let attempt = 0; ; attempt += 1) {
    const sent = typeof body === "function" ? body() : body;
    const headers = {};
    if (sent !== undefined) headers["Content-Type"] = "application/json";
    if (session.access) headers.Authorization = `Bearer ${session.access}`;
    if (key) headers["Idempotency-Key"] = key;
    const reply = await fetch(API + path.slice(1), {
      method,
      headers,
      body: sent === undefined ? undefined : JSON.stringify(sent),
    });
    if (reply.status === 503 && attempt < BUSY_RETRIES) {
      const seconds = Math.max(1, Number(reply.headers.get("Retry-After")) || 1);
      waiting += 1;
      listeners.busy(seconds);
      await sleep(seconds * 1000);
      waiting -= 1;
      if (!waiting) listeners.busy(0);
      continue;
    }
    const refreshable = !ANSWERS_401.some((prefix) => path.startsWith(prefix));
    if (reply.status === 401 && !refreshed && refreshable && session.refresh) {
      refreshed = true;
      if (await refreshTokens()) continue;
    }
    const data = await readBody(reply);
    if (!reply.ok) throw new ApiError(reply.status, data);
    return data;
  }
}

async function readBody(reply) {
  const text = await reply.text();
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return { message: text };
  }
}

function keepTokens(tokens) {
  session.access = tokens.access_token;
  session.refresh = tokens.refresh_token;
  retryIn = FIRST_RETRY_SECONDS;
  // Well before the access token expires: a minute early, or at 80% of a short lifetime.
  const lifetime = tokens.expires_in;
  schedule(Math.max(1, lifetime > 120 ? lifetime - 60 : lifetime * 0.8));
}

function schedule(seconds) {
  clearTimeout(session.timer);
  session.timer = setTimeout(refreshTokens, seconds * 1000);
}

// One refresh at a time: a refresh token works once, so a second refresh with it would fail
// and end the session the first one just renewed.
let refreshing = null;
function refreshTokens() {
  if (!refreshing) refreshing = renew().finally(() => (refreshing = null));
  return refreshing;
}

// A refresh that got no answer (or a busy one) is tried again, later each time.
const FIRST_RETRY_SECONDS = 5;
const LAST_RETRY_SECONDS = 60;
let retryIn = FIRST_RETRY_SECONDS;
// Counts sessions: a refresh answered after its session ended (signed out meanwhile) is
// not taken up, and the tokens it got are revoked.
let generation = 0;

async function renew() {
  const refresh = session.refresh;
  if (!refresh) return false;
  const mine = generation;
  try {
    const tokens = await api("POST", "/auth/refresh", { refresh_token: refresh });
    if (mine !== generation) {
      revoke(tokens).catch(() => {});
      return false;
    }
    keepTokens(tokens);
    return true;
  } catch (error) {
    if (mine !== generation) return false;
    if (error.status === 400 || error.status === 401) {
      forget(); // revoked, expired, or the user was deactivated
      listeners.signedOut("Your session has ended. Sign in again.");
    } else {
      schedule(retryIn); // the session may well be fine: try again
      retryIn = Math.min(retryIn * 2, LAST_RETRY_SECONDS);
    }
    return false;
  }
}

// Logs a token pair out that no session holds any more (bypassing `api`, which uses the session).
function revoke(tokens) {
  return fetch(API + "auth/logout", {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${tokens.access_token}` },
    body: JSON.stringify({ refresh_token: tokens.refresh_token }),
  });
}

function forget() {
  generation += 1;
  clearTimeout(session.timer);
  Object.assign(session, { access: null, refresh: null, timer: null });
}

// Tokens in hand: who is it? A customer is turned away (and their session revoked).
export async function begin(tokens) {
  keepTokens(tokens);
  let me;
  try {
    me = await api("GET", "/auth/me");
  } catch (error) {
    forget();
    throw error;
  }
  if (me.role === "customer") {
    await signOut();
    throw new Error("This console is for the shop's staff. Customers order through the shop.");
  }
  return me;
}

// Revokes the refresh token, then forgets the session whatever the answer (the error, if any,
// tells the caller the token may still be valid).
export async function signOut() {
  if (refreshing) await refreshing; // then log out the token that refresh brought
  try {
    // The token as it is when sent: an expired access token is refreshed first, which
    // replaces the refresh token.
    if (session.refresh) await api("POST", "/auth/logout", () => ({ refresh_token: session.refresh }));
  } finally {
    forget();
  }
}

export const may = {
  editCatalog: (user) => user.role === "admin",
  adjust: (user) => user.role === "admin" || user.role === "staff",
  notifications: (user) => user.role === "admin",
  cancelOrders: (user) => user.role === "admin",
  reversePurchases: (user) => user.role === "admin",
  users: (user) => user.role === "admin",
};

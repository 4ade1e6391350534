// The console's one API client: tokens (in memory only, refreshed before they expire), a 401
// answered by one refresh, a 503 `busy` retried after its Retry-After, errors as ApiError.
// Also what each role may do, mirroring API.md's roles table.
const API = new URL(".", location.href).href;
const BUSY_RETRIES = 3;
// One page of a list (`?limit=`); the API allows 1..100.
export const PAGE_SIZE = 20;

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `The server answered ${status}`);
    this.status = status;
    this.code = body && body.code;
    this.details = (body && body.details) || [];
  }
}

export const session = { access: null, refresh: null, user: null, timer: null };
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

// One request. A 503 `busy` is retried after its Retry-After; a 401 once after a refresh.
export async function api(method, path, body, { key } = {}) {
  for (let attempt = 0; ; attempt += 1) {
    const headers = {};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (session.access) headers.Authorization = `Bearer ${session.access}`;
    if (key) headers["Idempotency-Key"] = key;
    const reply = await fetch(API + path.slice(1), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (reply.status === 503 && attempt < BUSY_RETRIES) {
      const seconds = Math.max(1, Number(reply.headers.get("Retry-After")) || 1);
      listeners.busy(seconds);
      await sleep(seconds * 1000);
      listeners.busy(0);
      continue;
    }
    if (reply.status === 401 && attempt === 0 && session.refresh && !path.startsWith("/auth/")) {
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
  clearTimeout(session.timer);
  // Well before the access token expires: a minute early, or at 80% of a short lifetime.
  const lead = Math.max(1, Math.min(tokens.expires_in - 60, tokens.expires_in * 0.8));
  session.timer = setTimeout(refreshTokens, lead * 1000);
}

export async function refreshTokens() {
  const refresh = session.refresh;
  if (!refresh) return false;
  try {
    keepTokens(await api("POST", "/auth/refresh", { refresh_token: refresh }));
    return true;
  } catch (error) {
    forget();
    listeners.signedOut("Your session has ended. Sign in again.");
    return false;
  }
}

function forget() {
  clearTimeout(session.timer);
  Object.assign(session, { access: null, refresh: null, user: null, timer: null });
}

// Tokens in hand: who is it? A customer is turned away (and their session revoked).
export async function begin(tokens) {
  keepTokens(tokens);
  const me = await api("GET", "/auth/me");
  if (me.role === "customer") {
    await signOut();
    throw new Error("This console is for the shop's staff. Customers order through the shop.");
  }
  session.user = me;
  return me;
}

export async function signOut() {
  const refresh = session.refresh;
  try {
    if (refresh) await api("POST", "/auth/logout", { refresh_token: refresh });
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

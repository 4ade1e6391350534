// The AutoMart operator console: one page over the public HTTP API (API.md), nothing else.
// This module is the frame: who is signed in, the navigation, which screen shows. Preact with
// htm (preact-htm.js, from npm) renders; api.js talks to the API; one module per screen.
import { html, render, useState, useEffect, useRef } from "./preact-htm.js";
import { api, listeners, may, signOut } from "./api.js";
import { Busy } from "./ui.js";
import { SignIn } from "./signin.js";
import { Product, Products } from "./products.js";
import { LowStock } from "./lowstock.js";
import { Order, Orders } from "./orders.js";
import { Purchases } from "./purchases.js";
import { Holds } from "./holds.js";
import { Users } from "./users.js";

const SCREENS = [
  ["products", "Products", () => true],
  ["low-stock", "Low stock", () => true],
  ["orders", "Orders", () => true],
  ["purchases", "Purchases", may.adjust],
  ["holds", "Holds", () => true],
  ["users", "Users", may.users],
];

function parseHash() {
  const [path, search] = location.hash.replace(/^#\/?/, "").split("?");
  let screen, id;
  try {
    [screen, id] = path.split("/").map(decodeURIComponent);
  } catch {
    screen = "products"; // a malformed escape in a hand-typed address
  }
  return { screen: screen || "products", id, params: new URLSearchParams(search || "") };
}

// The count in the navigation is asked for again this often, so that notifications raised by
// the scheduled check or by other operators show up without a reload.
const COUNT_EVERY_MS = 60_000;

// How many products need attention: open notifications (admin), low products (staff).
async function lowCount(user) {
  const page = may.notifications(user)
    ? await api("GET", "/notifications?status=open&limit=100")
    : await api("GET", "/products?stock=low&limit=100");
  return page.next_cursor ? `${page.items.length}+` : String(page.items.length);
}

function Console({ user, onSignOut }) {
  const [where, setWhere] = useState(parseHash());
  const [count, setCount] = useState(null);
  const heading = useRef(null);
  const changed = () => lowCount(user).then(setCount, () => {}); // the count is a hint only
  useEffect(() => {
    const moved = () => setWhere(parseHash());
    addEventListener("hashchange", moved);
    changed();
    const timer = setInterval(changed, COUNT_EVERY_MS);
    return () => {
      removeEventListener("hashchange", moved);
      clearInterval(timer);
    };
  }, []);
  const allowed = SCREENS.filter(([, , may]) => may(user));
  const screen = allowed.some(([name]) => name === where.screen) ? where.screen : "products";
  const title = `AutoMart console: ${allowed.find(([name]) => name === screen)[1]}`;
  useEffect(() => {
    document.title = title;
    if (heading.current) heading.current.focus(); // a screen reader hears where it now is
  }, [where.screen, where.id]);
  const props = { user, onChanged: changed };
  // A detail screen is keyed by its id: another product is a new screen, not this one reused
  // (its form, its notice, its kept key belong to the one it was opened for).
  const body = {
    products: () =>
      where.id ? html`<${Product} ...${props} key=${where.id} sku=${where.id} />` : html`<${Products} ...${props} />`,
    "low-stock": () => html`<${LowStock} ...${props} />`,
    orders: () =>
      where.id ? html`<${Order} ...${props} key=${where.id} id=${where.id} />` : html`<${Orders} ...${props} />`,
    purchases: () => html`<${Purchases} ...${props} sku=${where.params.get("sku")} />`,
    holds: () => html`<${Holds} ...${props} />`,
    users: () => html`<${Users} ...${props} />`,
  }[screen];

  return html`<header class="bar">
      <p class="brand">AutoMart console</p>
      <nav aria-label="Screens"><ul>
        ${allowed.map(([name, label]) => html`<li><a href=${`#/${name}`} aria-current=${name === screen ? "page" : undefined}>
          ${label}${name === "low-stock" && count !== null &&
          html`<span class="count">${count}<span class="visually-hidden"> need attention</span></span>`}</a></li>`)}
      </ul></nav>
      <p class="who">${user.name} (${user.role})
        <button type="button" class="quiet" onClick=${onSignOut}>Sign out</button></p>
    </header>
    <main>
      <h1 class="visually-hidden" tabindex="-1" ref=${heading}>${title}</h1>
      <${Busy} />
      ${body()}
    </main>`;
}

function App() {
  const [user, setUser] = useState(null);
  const [message, setMessage] = useState(null);
  useEffect(() => {
    listeners.signedOut = (text) => {
      setUser(null);
      setMessage(text);
    };
  }, []);
  const out = async () => {
    let said = "You are signed out.";
    try {
      await signOut();
    } catch (error) {
      // A 401: the session had already ended on the server, nothing is left to revoke.
      if (error.status !== 401)
        said = `You are signed out here, but the server did not confirm that the session was revoked (${error.message}).`;
    }
    setUser(null);
    setMessage(said);
  };
  return user
    ? html`<${Console} user=${user} onSignOut=${out} />`
    : html`<${SignIn} message=${message} onSignedIn=${(u) => { setMessage(null); setUser(u); }} />`;
}

render(html`<${App} />`, document.getElementById("app"));

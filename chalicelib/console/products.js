// The catalog: find, create; a product: its figures, stock adjustments, edits, its movements.
import { html, useState, useEffect } from "./preact-htm.js";
import { api, may, query } from "./api.js";
import { Choice, Confirm, Field, Loaded, Notice, PagedList, Table, formData, useKey, useLoad, useNotice, when, whole } from "./ui.js";

// An adjustment's reasons (API.md, Adjustments).
const REASONS = ["count", "damaged", "lost", "found", "correction", "other"];

export function Products({ user, onChanged }) {
  const [q, setQ] = useState("");
  const [sort, setSort] = useState("sku");
  const [stock, setStock] = useState("");
  const [typed, setTyped] = useState("");
  const [creating, setCreating] = useState(false);
  const [notice, , run, pending] = useNotice();
  useEffect(() => {
    const timer = setTimeout(() => setQ(typed.trim()), 250); // search as you type
    return () => clearTimeout(timer);
  }, [typed]);
  const create = (event) => {
    const form = formData(event);
    run(async () => {
      const product = await api("POST", "/products", {
        sku: form.sku,
        name: form.name,
        description: form.description,
        price: form.price,
        stock: whole(form.stock),
        low_stock_threshold: whole(form.low_stock_threshold),
      });
      onChanged(); // a new product may start out low
      location.hash = `#/products/${encodeURIComponent(product.sku)}`;
    });
  };

  return html`<h2>Products</h2>
    <${Notice} notice=${notice} />
    <section class="panel" aria-label="Find products">
      <div class="row">
        <${Field} label="Search by sku or name" type="search" maxlength="100" value=${typed}
          onInput=${(e) => setTyped(e.target.value)} />
        <${Choice} label="Sort by" value=${sort} onChange=${(e) => setSort(e.target.value)}
          options=${[["sku", "SKU"], ["name", "Name"]]} />
        <${Choice} label="Stock" value=${stock} onChange=${(e) => setStock(e.target.value)}
          options=${[["", "All"], ["low", "Low"], ["out", "Out of stock"]]} />
        ${may.editCatalog(user) &&
        html`<button type="button" class="quiet" aria-expanded=${creating}
          onClick=${() => setCreating(!creating)}>New product</button>`}
      </div>
    </section>
    ${creating &&
    html`<section class="panel" aria-labelledby="new-product">
      <h3 id="new-product">New product</h3>
      <form class="grid" onSubmit=${create}>
        <${Field} label="SKU" name="sku" required pattern="[A-Za-z0-9._\\-]{1,64}" />
        <${Field} label="Name" name="name" required maxlength="200" />
        <${Field} label="Description" name="description" maxlength="2000" />
        <${Field} label="Price" name="price" required inputmode="decimal" />
        <${Field} label="Initial stock" name="stock" type="number" min="0" defaultValue="0" />
        <${Field} label="Low-stock threshold" name="low_stock_threshold" type="number" min="0" defaultValue="5" />
        <button type="submit" disabled=${pending}>Create product</button>
      </form>
    </section>`}
    <${PagedList} path=${"/products" + query({ q, sort, stock })}>${(products) => html`
      <${Table} label="Products" empty="No product matches."
        head=${["SKU", "Name", { text: "Price", num: 1 }, { text: "Stock", num: 1 },
          { text: "Held", num: 1 }, { text: "Available", num: 1 }, { text: "Threshold", num: 1 }]}
        rows=${products.map((p) => html`<tr key=${p.sku}>
          <td><a href=${`#/products/${encodeURIComponent(p.sku)}`}>${p.sku}</a></td>
          <td>${p.name}</td><td class="num">${p.price}</td><td class="num">${p.stock}</td>
          <td class="num">${p.held}</td><td class="num">${p.available}</td>
          <td class="num">${p.low_stock_threshold}</td></tr>`)} />`}
    <//>`;
}

// Who made a movement: the admin may read users and sees their email; staff see the id.
const people = new Map();
function useActors(user, movements) {
  const [, setLearned] = useState(0);
  useEffect(() => {
    if (!may.users(user) || !movements) return;
    const unknown = [...new Set(movements.map((m) => m.actor))].filter((id) => id && !people.has(id));
    unknown.forEach((id) => people.set(id, null));
    const learn = (id) =>
      api("GET", `/users/${encodeURIComponent(id)}`).then(
        (found) => people.set(id, found.email),
        () => people.delete(id),
      );
    Promise.all(unknown.map(learn)).then(() => unknown.length && setLearned((n) => n + 1));
  }, [movements]);
  return (id) => (id === user.id ? `you (${user.email})` : people.get(id) || id || "");
}

export function Product({ user, sku, onChanged }) {
  const [notice, setNotice, run, pending] = useNotice();
  const send = useKey();
  const [state, reload, replace] = useLoad(() => api("GET", `/products/${encodeURIComponent(sku)}`), [sku]);
  const [moved, setMoved] = useState(0);
  const [by, setBy] = useState("change");

  const adjust = (product) => (event) => {
    const form = formData(event);
    const body = {
      [by]: whole(form.units),
      expected_stock: product.stock, // the stock shown: a change meanwhile is a 409, never overwritten
      reason: form.reason,
      note: form.note || undefined,
    };
    const target = event.target;
    run(async () => {
      try {
        const after = await send(body, (key) =>
          api("POST", `/products/${encodeURIComponent(sku)}/adjustments`, body, { key }),
        );
        replace(after); // the product as the adjustment left it: the next one expects this stock
        setNotice({ kind: "ok", text: `Stock adjusted: ${sku} now has ${after.stock} in stock.` });
        target.elements.units.value = "";
      } catch (error) {
        if (error.code !== "stock_changed") throw error;
        const actual = error.details[0] ? error.details[0].actual : "?";
        setNotice({
          kind: "error",
          text: `The stock changed meanwhile: it is now ${actual}, not the ${product.stock} you saw. Nothing was adjusted; check the figure and adjust again.`,
        });
        reload();
      }
      setMoved((n) => n + 1);
      onChanged();
    });
  };
  // Only what the operator changed is sent: a field left alone keeps whatever another admin
  // saved meanwhile.
  const edit = (product) => (event) => {
    const form = formData(event);
    const typed = { ...form, low_stock_threshold: whole(form.low_stock_threshold) };
    const changed = Object.fromEntries(Object.entries(typed).filter(([k, v]) => v !== product[k]));
    run(
      async () => {
        if (!Object.keys(changed).length) throw new Error("Nothing to save: no field was changed.");
        const saved = await api("PATCH", `/products/${encodeURIComponent(sku)}`, changed);
        replace(saved);
        onChanged();
        return saved;
      },
      (p) => `Saved ${p.sku}.`,
    );
  };
  const remove = () =>
    run(async () => {
      await api("DELETE", `/products/${encodeURIComponent(sku)}`);
      onChanged();
      location.hash = "#/products";
    });

  return html`<p><a href="#/products">← All products</a></p>
    <${Loaded} state=${state}>${(p) => html`
      <h2>${p.name} <span class="muted">(${p.sku})</span></h2>
      <${Notice} notice=${notice} />
      <section class="panel" aria-label="Figures">
        <dl class="facts">
          <dt>Price</dt><dd>${p.price}</dd>
          <dt>Stock</dt><dd>${p.stock}</dd>
          <dt>Held</dt><dd>${p.held}</dd>
          <dt>Available</dt><dd>${p.available}</dd>
          <dt>Low-stock threshold</dt><dd>${p.low_stock_threshold}</dd>
          <dt>Description</dt><dd>${p.description || html`<span class="muted">none</span>`}</dd>
          <dt>Updated</dt><dd>${when(p.updated_at)}</dd>
        </dl>
        ${may.adjust(user) &&
        html`<p><a href=${`#/purchases?sku=${encodeURIComponent(p.sku)}`}>Record a purchase of ${p.sku}</a></p>`}
      </section>
      ${may.adjust(user) &&
      html`<section class="panel" aria-labelledby="adjust">
        <h3 id="adjust">Adjust stock</h3>
        <form class="grid" onSubmit=${adjust(p)}>
          <${Choice} label="Adjust by" value=${by} onChange=${(e) => setBy(e.target.value)}
            options=${[["change", "A change of units"], ["set_to", "A counted stock level"]]} />
          <${Field} label=${by === "change" ? "Change (units, + or -)" : "Counted stock"}
            name="units" type="number" required min=${by === "set_to" ? 0 : undefined} />
          <${Choice} label="Reason" name="reason" options=${REASONS.map((r) => [r, r])} />
          <${Field} label="Note" name="note" maxlength="500" />
          <button type="submit" disabled=${pending}>Adjust stock</button>
        </form>
      </section>`}
      ${may.editCatalog(user) &&
      html`<section class="panel" aria-labelledby="edit">
        <h3 id="edit">Edit product</h3>
        <form class="grid" onSubmit=${edit(p)} key=${p.updated_at}>
          <${Field} label="Name" name="name" defaultValue=${p.name} required maxlength="200" />
          <${Field} label="Description" name="description" defaultValue=${p.description} maxlength="2000" />
          <${Field} label="Price" name="price" defaultValue=${p.price} required inputmode="decimal" />
          <${Field} label="Low-stock threshold" name="low_stock_threshold" type="number" min="0"
            defaultValue=${p.low_stock_threshold} />
          <button type="submit" disabled=${pending}>Save changes</button>
        </form>
        <p><${Confirm} label="Delete product" question=${`Delete ${p.sku}? Orders keep their copy.`}
          yes="Yes, delete it" onYes=${remove} /></p>
      </section>`}`}
    <//>
    ${may.adjust(user) &&
    html`<section class="panel">
      <h3>Movements</h3>
      <${PagedList} path=${`/products/${encodeURIComponent(sku)}/movements`} version=${moved}>${(moves) =>
        html`<${Movements} user=${user} moves=${moves} />`}<//>
    </section>`}`;
}

function Movements({ user, moves }) {
  const actor = useActors(user, moves);
  return html`<${Table} label="Movements" empty="No movement yet."
    head=${["When", "Kind", { text: "Change", num: 1 }, "Reference", "Actor", "Reason", "Note"]}
    rows=${moves.map((m) => html`<tr>
      <td>${when(m.at)}</td><td>${m.kind}</td><td class="num">${m.quantity_change}</td>
      <td>${m.reference || ""}</td><td>${actor(m.actor)}</td>
      <td>${m.reason || ""}</td><td>${m.note || ""}</td></tr>`)} />`;
}

// Low stock: the open notifications first, then the resolved (admin), or the products below
// their threshold (staff, who may not read notifications); each a page at a time.
import { html, useState } from "./preact-htm.js";
import { api, may } from "./api.js";
import { Notice, PagedList, Table, useNotice, when } from "./ui.js";

export function LowStock({ user, onChanged }) {
  const [notice, , run, pending] = useNotice();
  const [version, setVersion] = useState(0);
  const admin = may.notifications(user);
  const after = (result) => {
    setVersion((v) => v + 1);
    onChanged();
    return result;
  };
  const check = () =>
    run(
      () => api("POST", "/notifications/check").then(after),
      (s) => `Check done: ${s.low_stock} low, ${s.created} new notifications, ${s.emailed} emailed.`,
    );
  const handle = (n) =>
    run(
      () => api("DELETE", `/notifications/${encodeURIComponent(n.id)}`).then(after),
      () => `Marked ${n.sku} handled.`,
    );
  const buy = (sku) => html`<a href=${`#/purchases?sku=${encodeURIComponent(sku)}`}>Record a purchase<span class="visually-hidden"> of ${sku}</span></a>`;
  const product = (sku) => html`<a href=${`#/products/${encodeURIComponent(sku)}`}>${sku}</a>`;

  if (!admin)
    return html`<h2>Low stock</h2>
      <section class="panel" aria-labelledby="low-p">
        <h3 id="low-p">Products below their threshold</h3>
        <${PagedList} path="/products?stock=low">${(low) => html`<${Table} label="Low products" empty="Nothing is low."
          head=${["SKU", "Name", { text: "Available", num: 1 }, { text: "Threshold", num: 1 }, "Actions"]}
          rows=${low.map((p) => html`<tr key=${p.sku}><td>${product(p.sku)}</td><td>${p.name}</td>
            <td class="num">${p.available}</td><td class="num">${p.low_stock_threshold}</td><td>${buy(p.sku)}</td></tr>`)} />`}<//>
      </section>`;
  return html`<h2>Low stock</h2>
    <${Notice} notice=${notice} />
    <p><button type="button" disabled=${pending} onClick=${check}>Run the check now</button></p>
    <section class="panel" aria-labelledby="open-n">
      <h3 id="open-n">Open</h3>
      <${PagedList} path="/notifications?status=open" version=${version} of="open notifications">${(open) =>
        html`<${Table} label="Open notifications" empty="Nothing is low."
          head=${["Product", "SKU", { text: "Available when opened", num: 1 }, { text: "Threshold", num: 1 }, "Since", "Emailed", "Actions"]}
          rows=${open.map((n) => html`<tr key=${n.id}>
            <td>${n.product_name}</td><td>${product(n.sku)}</td>
            <td class="num">${n.stock}</td><td class="num">${n.threshold}</td>
            <td>${when(n.created_at)}</td><td>${n.emailed_at ? when(n.emailed_at) : "not yet"}</td>
            <td><div class="row">${buy(n.sku)}
              <button type="button" class="quiet" onClick=${() => handle(n)}>Mark handled<span class="visually-hidden"> ${n.sku}</span></button></div></td>
          </tr>`)} />`}<//>
    </section>
    <section class="panel" aria-labelledby="resolved-n">
      <h3 id="resolved-n">Resolved</h3>
      <${PagedList} path="/notifications?status=resolved" version=${version} of="resolved notifications">${(resolved) =>
        html`<${Table} label="Resolved notifications" empty="None yet."
          head=${["Product", "SKU", "Since", "Resolved"]}
          rows=${resolved.map((n) => html`<tr key=${n.id}><td>${n.product_name}</td><td>${n.sku}</td>
            <td>${when(n.created_at)}</td><td>${when(n.resolved_at)}</td></tr>`)} />`}<//>
    </section>`;
}

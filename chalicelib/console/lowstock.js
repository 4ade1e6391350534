// Low stock: the open notifications (admin) or the products below their threshold (staff).
import { html } from "./preact-htm.js";
import { PAGE_SIZE, api, may } from "./api.js";
import { Loaded, Notice, Table, useLoad, useNotice, when } from "./ui.js";

export function LowStock({ user, onChanged }) {
  const [notice, , run] = useNotice();
  const admin = may.notifications(user);
  const [state, reload] = useLoad(
    async () =>
      admin
        ? {
            open: await api("GET", "/notifications?status=open&limit=100"),
            resolved: await api("GET", `/notifications?status=resolved&limit=${PAGE_SIZE}`),
          }
        : { low: await api("GET", "/products?stock=low&limit=100") },
    [],
  );
  const after = (result) => {
    reload();
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
      () => api("DELETE", `/notifications/${n.id}`).then(after),
      () => `Marked ${n.sku} handled.`,
    );
  const buy = (sku) => html`<a href=${`#/purchases?sku=${encodeURIComponent(sku)}`}>Record a purchase<span class="visually-hidden"> of ${sku}</span></a>`;

  return html`<h2>Low stock</h2>
    <${Notice} notice=${notice} />
    ${admin && html`<p><button type="button" onClick=${check}>Run the check now</button></p>`}
    <${Loaded} state=${state}>${(data) =>
      admin
        ? html`<section class="panel" aria-labelledby="open-n">
              <h3 id="open-n">Open</h3>
              <${Table} label="Open notifications" empty="Nothing is low."
                head=${["Product", "SKU", { text: "Available", num: 1 }, { text: "Threshold", num: 1 }, "Since", "Emailed", "Actions"]}
                rows=${data.open.items.map((n) => html`<tr>
                  <td>${n.product_name}</td><td><a href=${`#/products/${encodeURIComponent(n.sku)}`}>${n.sku}</a></td>
                  <td class="num">${n.stock}</td><td class="num">${n.threshold}</td>
                  <td>${when(n.created_at)}</td><td>${n.emailed_at ? when(n.emailed_at) : "not yet"}</td>
                  <td><div class="row">${buy(n.sku)}
                    <button type="button" class="quiet" onClick=${() => handle(n)}>Mark handled<span class="visually-hidden"> ${n.sku}</span></button></div></td>
                </tr>`)} />
            </section>
            <section class="panel" aria-labelledby="resolved-n">
              <h3 id="resolved-n">Resolved</h3>
              <${Table} label="Resolved notifications" empty="None yet."
                head=${["Product", "SKU", "Since", "Resolved"]}
                rows=${data.resolved.items.map((n) => html`<tr><td>${n.product_name}</td><td>${n.sku}</td>
                  <td>${when(n.created_at)}</td><td>${when(n.resolved_at)}</td></tr>`)} />
            </section>`
        : html`<section class="panel" aria-labelledby="low-p">
            <h3 id="low-p">Products below their threshold</h3>
            <${Table} label="Low products" empty="Nothing is low."
              head=${["SKU", "Name", { text: "Available", num: 1 }, { text: "Threshold", num: 1 }, "Actions"]}
              rows=${data.low.items.map((p) => html`<tr>
                <td><a href=${`#/products/${encodeURIComponent(p.sku)}`}>${p.sku}</a></td><td>${p.name}</td>
                <td class="num">${p.available}</td><td class="num">${p.low_stock_threshold}</td><td>${buy(p.sku)}</td></tr>`)} />
          </section>`}
    <//>`;
}

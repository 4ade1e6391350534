// Holds: the active and the expired, each a page at a time, and releasing one.
import { html, useState } from "./preact-htm.js";
import { api } from "./api.js";
import { Notice, PagedList, Table, useNotice, when } from "./ui.js";

export function Holds({ onChanged }) {
  const [notice, , run] = useNotice();
  const [version, setVersion] = useState(0);
  const release = (h) =>
    run(
      async () => {
        await api("DELETE", `/holds/${encodeURIComponent(h.id)}`);
        setVersion((v) => v + 1);
        onChanged();
      },
      () => `Hold ${h.id} released: its units are available again.`,
    );
  const list = (status, label) => html`<${PagedList} path=${`/holds?status=${status}`} version=${version}
    of=${label.toLowerCase()}>${(holds) => html`<${Table} label=${label} empty="None."
      head=${["Hold", "Customer", "Items", "Expires", "Actions"]}
      rows=${holds.map((h) => html`<tr key=${h.id}>
        <td>${h.id}</td><td>${h.customer.email}</td>
        <td>${h.items.map((i) => `${i.quantity} × ${i.sku}`).join(", ")}</td><td>${when(h.expires_at)}</td>
        <td><button type="button" class="quiet" onClick=${() => release(h)}>Release<span class="visually-hidden"> hold ${h.id}</span></button></td>
      </tr>`)} />`}<//>`;
  return html`<h2>Holds</h2>
    <${Notice} notice=${notice} />
    <section class="panel" aria-labelledby="active-h"><h3 id="active-h">Active</h3>${list("active", "Active holds")}</section>
    <section class="panel" aria-labelledby="expired-h"><h3 id="expired-h">Expired, not yet released</h3>${list("expired", "Expired holds")}</section>`;
}

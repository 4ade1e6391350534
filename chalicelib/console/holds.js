// Holds: the active and the expired, and releasing one.
import { html } from "./preact-htm.js";
import { api } from "./api.js";
import { Loaded, Notice, Table, useLoad, useNotice, when } from "./ui.js";

export function Holds({ onChanged }) {
  const [notice, , run] = useNotice();
  const [state, reload] = useLoad(
    async () => ({
      active: await api("GET", "/holds?status=active&limit=100"),
      expired: await api("GET", "/holds?status=expired&limit=100"),
    }),
    [],
  );
  const release = (h) =>
    run(
      async () => {
        await api("DELETE", `/holds/${h.id}`);
        reload();
        onChanged();
      },
      () => `Hold ${h.id} released: its units are available again.`,
    );
  const table = (label, holds) => html`<${Table} label=${label} empty="None."
    head=${["Hold", "Customer", "Items", "Expires", "Actions"]}
    rows=${holds.items.map((h) => html`<tr>
      <td>${h.id}</td><td>${h.customer.email}</td>
      <td>${h.items.map((i) => `${i.quantity} × ${i.sku}`).join(", ")}</td><td>${when(h.expires_at)}</td>
      <td><button type="button" class="quiet" onClick=${() => release(h)}>Release<span class="visually-hidden"> hold ${h.id}</span></button></td>
    </tr>`)} />`;
  return html`<h2>Holds</h2>
    <${Notice} notice=${notice} />
    <${Loaded} state=${state}>${(data) => html`
      <section class="panel" aria-labelledby="active-h"><h3 id="active-h">Active</h3>${table("Active holds", data.active)}</section>
      <section class="panel" aria-labelledby="expired-h"><h3 id="expired-h">Expired, not yet released</h3>${table("Expired holds", data.expired)}</section>`}
    <//>`;
}

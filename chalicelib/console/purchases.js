// Purchases: record one, list them, reverse one (admin).
import { html, useState } from "./preact-htm.js";
import { api, may } from "./api.js";
import { Confirm, Field, Notice, PagedList, Table, formData, useKey, useNotice, whole } from "./ui.js";

export function Purchases({ user, sku, onChanged }) {
  const [notice, , run, pending] = useNotice();
  const send = useKey();
  const [version, setVersion] = useState(0);
  const reload = () => setVersion((v) => v + 1);
  const record = (event) => {
    const form = formData(event);
    const target = event.target;
    run(
      async () => {
        const body = {
          sku: form.sku,
          quantity: whole(form.quantity),
          supplier_name: form.supplier_name,
          purchase_date: form.purchase_date || undefined,
          unit_cost: form.unit_cost || undefined,
        };
        const purchase = await send(body, (key) => api("POST", "/purchase-orders", body, { key }));
        target.reset();
        reload();
        onChanged();
        // Recorded whatever comes next: the new stock is a courtesy, not part of the outcome.
        const product = await api("GET", `/products/${encodeURIComponent(purchase.sku)}`).catch(() => null);
        return [purchase, product];
      },
      ([p, product]) =>
        `Purchase recorded: ${p.quantity} of ${p.sku} from ${p.supplier_name}` +
        (product ? `; stock is now ${product.stock}.` : "."),
    );
  };
  const reverse = (p) =>
    run(
      async () => {
        await api("DELETE", `/purchase-orders/${encodeURIComponent(p.id)}`);
        reload();
        onChanged();
      },
      () => `Purchase of ${p.quantity} ${p.sku} reversed.`,
    );

  return html`<h2>Purchases</h2>
    <${Notice} notice=${notice} />
    <section class="panel" aria-labelledby="record">
      <h3 id="record">Record a purchase</h3>
      <form class="grid" onSubmit=${record}>
        <${Field} label="Product SKU" name="sku" defaultValue=${sku || ""} required />
        <${Field} label="Quantity" name="quantity" type="number" min="1" max="1000000" required />
        <${Field} label="Supplier" name="supplier_name" required maxlength="200" />
        <${Field} label="Purchase date" name="purchase_date" type="date" />
        <${Field} label="Unit cost" name="unit_cost" inputmode="decimal" />
        <button type="submit" disabled=${pending}>Record purchase</button>
      </form>
    </section>
    <${PagedList} path="/purchase-orders" version=${version}>${(purchases) => html`
      <${Table} label="Purchases" empty="No purchases yet."
        head=${["Date", "SKU", "Product", { text: "Quantity", num: 1 }, "Supplier", { text: "Unit cost", num: 1 }, ...(may.reversePurchases(user) ? ["Actions"] : [])]}
        rows=${purchases.map((p) => html`<tr key=${p.id}>
          <td>${p.purchase_date}</td><td>${p.sku}</td><td>${p.product_name}</td><td class="num">${p.quantity}</td>
          <td>${p.supplier_name}</td><td class="num">${p.unit_cost || ""}</td>
          ${may.reversePurchases(user) &&
          html`<td><${Confirm} label=${`Reverse the purchase of ${p.quantity} ${p.sku}`}
            question=${`Take these ${p.quantity} units of ${p.sku} (from ${p.supplier_name}) back out of stock?`} yes="Yes, reverse it" onYes=${() => reverse(p)} /></td>`}
        </tr>`)} />`}
    <//>`;
}

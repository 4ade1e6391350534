// Purchases: record one, list them, reverse one (admin).
import { html } from "./preact-htm.js";
import { PAGE_SIZE, api, may, newKey, query } from "./api.js";
import { Confirm, Field, Loaded, Notice, Table, formData, useLoad, useNotice, usePages, whole } from "./ui.js";

export function Purchases({ user, sku, onChanged }) {
  const [notice, , run] = useNotice();
  const [cursor, pager] = usePages([]);
  const [state, reload] = useLoad(() => api("GET", "/purchase-orders" + query({ cursor, limit: PAGE_SIZE })), [cursor]);
  const record = (event) => {
    const form = formData(event);
    const target = event.target;
    run(
      async () => {
        const purchase = await api(
          "POST",
          "/purchase-orders",
          {
            sku: form.sku,
            quantity: whole(form.quantity),
            supplier_name: form.supplier_name,
            purchase_date: form.purchase_date || undefined,
            unit_cost: form.unit_cost || undefined,
          },
          { key: newKey() },
        );
        const product = await api("GET", `/products/${encodeURIComponent(purchase.sku)}`);
        target.reset();
        reload();
        onChanged();
        return [purchase, product];
      },
      ([p, product]) => `Purchase recorded: ${p.quantity} of ${p.sku} from ${p.supplier_name}; stock is now ${product.stock}.`,
    );
  };
  const reverse = (p) =>
    run(
      async () => {
        await api("DELETE", `/purchase-orders/${p.id}`);
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
        <${Field} label="Product SKU" name="sku" value=${sku || ""} required />
        <${Field} label="Quantity" name="quantity" type="number" min="1" max="1000000" required />
        <${Field} label="Supplier" name="supplier_name" required maxlength="200" />
        <${Field} label="Purchase date" name="purchase_date" type="date" />
        <${Field} label="Unit cost" name="unit_cost" inputmode="decimal" />
        <button type="submit">Record purchase</button>
      </form>
    </section>
    <${Loaded} state=${state}>${(page) => html`
      <${Table} label="Purchases" empty="No purchases yet."
        head=${["Date", "SKU", "Product", { text: "Quantity", num: 1 }, "Supplier", { text: "Unit cost", num: 1 }, ...(may.reversePurchases(user) ? ["Actions"] : [])]}
        rows=${page.items.map((p) => html`<tr>
          <td>${p.purchase_date}</td><td>${p.sku}</td><td>${p.product_name}</td><td class="num">${p.quantity}</td>
          <td>${p.supplier_name}</td><td class="num">${p.unit_cost || ""}</td>
          ${may.reversePurchases(user) &&
          html`<td><${Confirm} label=${`Reverse the purchase of ${p.quantity} ${p.sku}`}
            question="Take these units back out of stock?" yes="Yes, reverse it" onYes=${() => reverse(p)} /></td>`}
        </tr>`)} />
      ${pager(page.next_cursor)}`}
    <//>`;
}

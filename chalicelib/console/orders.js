// Orders: the list (filtered by customer for the admin), one order, its returns, cancelling.
import { html, useState } from "./preact-htm.js";
import { api, may, query } from "./api.js";
import { Choice, Confirm, Field, Loaded, Notice, PagedList, Table, formData, useKey, useLoad, useNotice, when, whole } from "./ui.js";

export function Orders({ user }) {
  const admin = may.cancelOrders(user);
  const [customer, setCustomer] = useState("");
  // Anyone can be an order's customer (staff and admins buy too); the first 100 users.
  const [customers] = useLoad(
    () => (admin ? api("GET", "/users?limit=100") : Promise.resolve({ items: [] })),
    [],
  );
  return html`<h2>Orders</h2>
    ${admin && customers.data &&
    html`<section class="panel" aria-label="Filter orders"><div class="row">
      <${Choice} label="Customer" value=${customer} onChange=${(e) => setCustomer(e.target.value)}
        options=${[["", "Every customer"], ...customers.data.items.map((c) => [c.id, `${c.name} (${c.email})`])]} />
    </div></section>`}
    <${PagedList} path=${"/sales-orders" + query({ customer_id: customer })}>${(orders) => html`
      <${Table} label="Orders" empty="No orders."
        head=${["Order", "Customer", "Status", { text: "Lines", num: 1 }, { text: "Total", num: 1 }, "Placed"]}
        rows=${orders.map((o) => html`<tr key=${o.id}>
          <td><a href=${`#/orders/${encodeURIComponent(o.id)}`}>${o.id}</a></td><td>${o.customer.email}</td><td>${o.status}</td>
          <td class="num">${o.items.length}</td><td class="num">${o.total}</td><td>${when(o.created_at)}</td></tr>`)} />`}
    <//>`;
}

export function Order({ user, id, onChanged }) {
  const [notice, , run, pending] = useNotice();
  const send = useKey();
  const path = `/sales-orders/${encodeURIComponent(id)}`;
  const [state, reload] = useLoad(() => api("GET", path), [id]);
  const giveBack = (order) => (event) => {
    const form = formData(event);
    const items = order.items
      .map((line) => ({ sku: line.sku, quantity: whole(form[`qty-${line.sku}`]) || 0, restock: form[`how-${line.sku}`] === "restock" }))
      .filter((line) => line.quantity > 0);
    const target = event.target;
    run(
      async () => {
        if (!items.length) throw new Error("Enter the units returned on at least one line.");
        const body = { items, note: form.note || undefined };
        const after = await send(body, (key) => api("POST", `${path}/returns`, body, { key }));
        target.reset();
        reload();
        onChanged();
        return after;
      },
      (after) => `Return recorded: the order is now ${after.status.replace("_", " ")}.`,
    );
  };
  const cancel = () =>
    run(async () => {
      await api("DELETE", path);
      onChanged();
      location.hash = "#/orders";
    });

  return html`<p><a href="#/orders">← All orders</a></p>
    <${Loaded} state=${state}>${(o) => html`
      <h2>Order ${o.id}</h2>
      <${Notice} notice=${notice} />
      <section class="panel" aria-label="Order">
        <dl class="facts">
          <dt>Customer</dt><dd>${o.customer.name} (${o.customer.email})</dd>
          <dt>Status</dt><dd>${o.status}</dd>
          <dt>Total</dt><dd>${o.total}</dd>
          <dt>Placed</dt><dd>${when(o.created_at)}</dd>
          <dt>Note</dt><dd>${o.note || html`<span class="muted">none</span>`}</dd>
          ${o.hold_id && html`<dt>From hold</dt><dd>${o.hold_id}</dd>`}
        </dl>
      </section>
      <section class="panel" aria-labelledby="lines">
        <h3 id="lines">Lines</h3>
        <${Table} label="Order lines" empty="No lines."
          head=${["SKU", "Name", { text: "Quantity", num: 1 }, { text: "Returned", num: 1 }, { text: "Unit price", num: 1 }, { text: "Line total", num: 1 }]}
          rows=${o.items.map((l) => html`<tr key=${l.sku}><td>${l.sku}</td><td>${l.name}</td><td class="num">${l.quantity}</td>
            <td class="num">${l.returned}</td><td class="num">${l.unit_price}</td><td class="num">${l.line_total}</td></tr>`)} />
      </section>
      ${may.adjust(user) && o.items.some((l) => l.returned < l.quantity) &&
      html`<section class="panel" aria-labelledby="return">
        <h3 id="return">Record a return</h3>
        <form onSubmit=${giveBack(o)}>
          ${o.items.filter((l) => l.returned < l.quantity).map((l) => html`<fieldset class="row" key=${l.sku}>
            <legend>${l.sku}: ${l.quantity - l.returned} may come back</legend>
            <${Field} label=${`Units returned of ${l.sku}`} name=${`qty-${l.sku}`} type="number" min="0"
              max=${l.quantity - l.returned} defaultValue="0" />
            <${Choice} label=${`What happens to the units of ${l.sku}`} name=${`how-${l.sku}`}
              options=${[["restock", "Back to stock"], ["write-off", "Written off"]]} />
          </fieldset>`)}
          <div class="row">
            <${Field} label="Return note" name="note" maxlength="500" />
            <button type="submit" disabled=${pending}>Record return</button>
          </div>
        </form>
      </section>`}
      ${may.cancelOrders(user) &&
      html`<section class="panel" aria-label="Cancel">
        <${Confirm} label="Cancel order" question="Cancel this order? Its units not yet returned go back to stock."
          yes="Yes, cancel the order" onYes=${cancel} />
      </section>`}`}
    <//>`;
}

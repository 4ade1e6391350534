// Users (admin): create staff and admins, change a role, deactivate, send a password reset.
import { html, useState } from "./preact-htm.js";
import { api, query } from "./api.js";
import { Choice, Field, Notice, PagedList, Table, formData, useNotice } from "./ui.js";

export function Users() {
  const [notice, , run, pending] = useNotice();
  const [role, setRole] = useState("");
  const [version, setVersion] = useState(0);
  const reload = () => setVersion((v) => v + 1);
  const create = (event) => {
    const form = formData(event);
    const target = event.target;
    run(
      async () => {
        const made = await api("POST", "/users", form);
        target.reset();
        reload();
        return made;
      },
      (u) => `Created ${u.role} ${u.email}.`,
    );
  };
  // Reloaded either way: a refused change (409 last_admin) puts the select back.
  const change = (u, fields, said) =>
    run(() => api("PATCH", `/users/${encodeURIComponent(u.id)}`, fields), said).then(reload);
  const reset = (u) =>
    run(
      () => api("POST", `/users/${encodeURIComponent(u.id)}/password-reset`),
      () => `A reset code is on its way to ${u.email}.`,
    );

  return html`<h2>Users</h2>
    <${Notice} notice=${notice} />
    <section class="panel" aria-labelledby="new-user">
      <h3 id="new-user">New staff member or admin</h3>
      <form class="grid" onSubmit=${create}>
        <${Field} label="Email" name="email" type="email" required />
        <${Field} label="Name" name="name" required />
        <${Field} label="Password" name="password" type="password" minlength="8" maxlength="128" required autocomplete="new-password" />
        <${Choice} label="Role" name="role" options=${[["staff", "staff"], ["admin", "admin"]]} />
        <button type="submit" disabled=${pending}>Create user</button>
      </form>
    </section>
    <section class="panel" aria-label="Filter users"><div class="row">
      <${Choice} label="Show role" value=${role} onChange=${(e) => setRole(e.target.value)}
        options=${[["", "Every role"], ["admin", "admin"], ["staff", "staff"], ["customer", "customer"]]} />
    </div></section>
    <${PagedList} path=${"/users" + query({ role })} version=${version}>${(users) => html`
      <${Table} label="Users" empty="No users."
        head=${["Email", "Name", "Role", "Active", "Actions"]}
        rows=${users.map((u) => html`<tr key=${u.id}>
          <td>${u.email}</td><td>${u.name}</td>
          <td><${Choice} label=${`Role of ${u.email}`} hideLabel value=${u.role}
            onChange=${(e) => change(u, { role: e.target.value }, (a) => `${a.email} is now ${a.role}.`)}
            options=${[["customer", "customer"], ["staff", "staff"], ["admin", "admin"]]} /></td>
          <td>${u.active ? "yes" : "no"}</td>
          <td><div class="row">
            <button type="button" class="quiet" onClick=${() => change(u, { active: !u.active }, (a) => `${a.email} is ${a.active ? "active" : "deactivated"}.`)}>
              ${u.active ? "Deactivate" : "Activate"}<span class="visually-hidden"> ${u.email}</span></button>
            <button type="button" class="quiet" onClick=${() => reset(u)}>Send password reset<span class="visually-hidden"> to ${u.email}</span></button>
          </div></td></tr>`)} />`}
    <//>`;
}

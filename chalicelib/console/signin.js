// Sign in, and a forgotten password reset by the emailed code.
import { html, useState, useEffect } from "./preact-htm.js";
import { api, begin } from "./api.js";
import { Busy, Field, Notice, formData, useNotice } from "./ui.js";

export function SignIn({ onSignedIn, message }) {
  const [mode, setMode] = useState("signin");
  const [email, setEmail] = useState("");
  const [notice, setNotice, run] = useNotice();
  useEffect(() => message && setNotice({ kind: "info", text: message }), [message]);

  const signIn = (event) => {
    const form = formData(event);
    run(async () => onSignedIn(await begin(await api("POST", "/auth/login", form))));
  };
  const ask = (event) => {
    const form = formData(event);
    setEmail(form.email);
    run(
      async () => {
        await api("POST", "/auth/password-reset", form);
        setMode("confirm");
      },
      () => "If an account has this address, a reset code is on its way to it.",
    );
  };
  const confirm = (event) => {
    const form = formData(event);
    run(async () =>
      onSignedIn(await begin(await api("POST", "/auth/password-reset/confirm", { email, ...form }))),
    );
  };

  return html`<main class="signin">
    <h1>AutoMart console</h1>
    <${Busy} />
    <${Notice} notice=${notice} />
    ${mode === "signin" &&
    html`<form onSubmit=${signIn}>
      <h2>Sign in</h2>
      <${Field} label="Email" name="email" type="email" autocomplete="username" required />
      <${Field} label="Password" name="password" type="password" autocomplete="current-password" required />
      <button type="submit">Sign in</button>
      <button type="button" class="quiet" onClick=${() => { setNotice(null); setMode("forgot"); }}>Forgot password?</button>
    </form>`}
    ${mode === "forgot" &&
    html`<form onSubmit=${ask}>
      <h2>Reset your password</h2>
      <${Field} label="Email" name="email" type="email" autocomplete="username" required />
      <button type="submit">Send reset code</button>
      <button type="button" class="quiet" onClick=${() => setMode("signin")}>Back to sign in</button>
    </form>`}
    ${mode === "confirm" &&
    html`<form onSubmit=${confirm}>
      <h2>Set a new password</h2>
      <p class="muted">For ${email}: enter the code from the email.</p>
      <${Field} label="Reset code" name="code" autocomplete="one-time-code" required />
      <${Field} label="New password" name="new_password" type="password" autocomplete="new-password" minlength="8" required />
      <button type="submit">Set password and sign in</button>
      <button type="button" class="quiet" onClick=${() => setMode("signin")}>Back to sign in</button>
    </form>`}
  </main>`;
}

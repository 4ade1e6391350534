// What every screen is made of: notices, loading, labelled controls, tables, confirmations,
// pages of a list, form values.
import { html, useState, useEffect, useRef } from "./preact-htm.js";

export const when = (iso) => (iso ? iso.replace("T", " ").slice(0, 16) + " UTC" : "");

export function describe(error) {
  const lines = (error.details || []).map((d) =>
    d.field !== undefined
      ? `${d.field}: ${d.message}`
      : Object.entries(d).map(([k, v]) => `${k} ${v}`).join(", "),
  );
  return { text: error.message, lines };
}

export function Notice({ notice }) {
  if (!notice) return null;
  const { kind, text, lines = [] } = notice;
  return html`<div class="notice ${kind}" role=${kind === "error" ? "alert" : "status"}>
    ${text}
    ${lines.length ? html`<ul>${lines.map((l) => html`<li>${l}</li>`)}</ul>` : null}
  </div>`;
}

// A screen's notice: `run` shows what an action did, or the API's error with its details.
export function useNotice() {
  const [notice, setNotice] = useState(null);
  const run = async (action, success) => {
    setNotice(null);
    try {
      const result = await action();
      if (success) setNotice({ kind: "ok", text: success(result) });
      return result;
    } catch (error) {
      setNotice({ kind: "error", ...describe(error) });
      return undefined;
    }
  };
  return [notice, setNotice, run];
}

// Data for a screen, loaded again when `deps` change or `reload()` is called.
export function useLoad(load, deps) {
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => live && setState({ data, error: null, loading: false }),
      (error) => live && setState({ data: null, error, loading: false }),
    );
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  return [state, () => setTick((t) => t + 1)];
}

export function Loaded({ state, children }) {
  if (state.error) return html`<${Notice} notice=${{ kind: "error", ...describe(state.error) }} />`;
  if (!state.data) return html`<p class="muted">Loading…</p>`;
  return children(state.data);
}

// A labelled control. The label is tied by id (wrapping a select would put its options' text
// into the label).
let controls = 0;
function useControlId() {
  return useRef(`control-${(controls += 1)}`).current;
}

export function Field({ label, ...input }) {
  const id = useControlId();
  return html`<div class="field"><label for=${id}>${label}</label><input id=${id} ...${input} /></div>`;
}

// `hideLabel`: in a table row, where the column says what the control is.
export function Choice({ label, options, hideLabel, ...select }) {
  const id = useControlId();
  return html`<div class="field"><label for=${id} class=${hideLabel ? "visually-hidden" : ""}>${label}</label>
    <select id=${id} ...${select}>
      ${options.map(([value, text]) => html`<option value=${value}>${text}</option>`)}
    </select></div>`;
}

export function Table({ label, head, rows, empty }) {
  if (!rows.length) return html`<p class="muted">${empty}</p>`;
  return html`<div class="scroll" tabindex="0" role="region" aria-label=${label}>
    <table>
      <thead><tr>${head.map((h) => html`<th scope="col" class=${h.num ? "num" : ""}>${h.text || h}</th>`)}</tr></thead>
      <tbody>${rows}</tbody>
    </table></div>`;
}

// A destructive action asks first, in the page (keyboard and screen reader alike).
export function Confirm({ label, question, yes, onYes }) {
  const [asking, setAsking] = useState(false);
  const yesButton = useRef(null);
  useEffect(() => {
    if (asking && yesButton.current) yesButton.current.focus();
  }, [asking]);
  if (!asking) return html`<button type="button" class="danger" onClick=${() => setAsking(true)}>${label}</button>`;
  return html`<div class="confirm" role="group" aria-label=${label}>
    <span>${question}</span>
    <button type="button" class="danger" ref=${yesButton}
      onClick=${async () => { setAsking(false); await onYes(); }}>${yes}</button>
    <button type="button" class="quiet" onClick=${() => setAsking(false)}>No, keep it</button>
  </div>`;
}

// Pages of a list: the cursors seen so far, so that "Previous page" goes back exactly.
// A new filter starts again at the first page (a cursor is valid for its own filter only).
export function usePages(deps) {
  const key = JSON.stringify(deps);
  const [pages, setPages] = useState({ key, cursors: [null] });
  const cursors = pages.key === key ? pages.cursors : [null];
  const setCursors = (next) => setPages({ key, cursors: next });
  const cursor = cursors[cursors.length - 1];
  const pager = (next) => html`<div class="pager">
    <button type="button" class="quiet" disabled=${cursors.length === 1}
      onClick=${() => setCursors(cursors.slice(0, -1))}>Previous page</button>
    <span class="muted">Page ${cursors.length}</span>
    <button type="button" class="quiet" disabled=${!next}
      onClick=${() => setCursors([...cursors, next])}>Next page</button>
  </div>`;
  return [cursor, pager];
}

export function formData(event) {
  event.preventDefault();
  return Object.fromEntries(new FormData(event.target).entries());
}

export const whole = (text) => (text === "" || text === undefined ? undefined : Number(text));

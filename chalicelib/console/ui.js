// What every screen is made of: notices, loading, labelled controls, tables, confirmations,
// pages of a list, form values.
import { html, useState, useEffect, useRef } from "./preact-htm.js";
import { PAGE_SIZE, api, listeners, newKey, query } from "./api.js";

export const when = (iso) => (iso ? iso.replace("T", " ").slice(0, 16) + " UTC" : "");

function describe(error) {
  const lines = (error.details || []).map((d) =>
    d.field !== undefined
      ? `${d.field}: ${d.message}`
      : Object.entries(d).map(([k, v]) => `${k} ${v}`).join(", "),
  );
  return { text: error.message, lines };
}

// Both live regions are always on the page and only their text changes: a region that appears
// together with its text is often not read out.
export function Notice({ notice }) {
  const { kind, text, lines = [] } = notice || {};
  const shown = (wanted) =>
    notice && wanted.includes(kind)
      ? html`<div class="notice ${kind}">${text}
          ${lines.length ? html`<ul>${lines.map((l) => html`<li>${l}</li>`)}</ul>` : null}</div>`
      : null;
  return html`<div role="status">${shown(["ok", "info"])}</div><div role="alert">${shown(["error"])}</div>`;
}

// "The database is busy": shown while a request waits out a 503's Retry-After.
export function Busy() {
  const [seconds, setSeconds] = useState(0);
  useEffect(() => {
    listeners.busy = setSeconds;
    return () => (listeners.busy = () => {});
  }, []);
  return html`<div role="status">${seconds > 0 &&
    html`<div class="notice info">The database is busy: trying again in ${seconds} s.</div>`}</div>`;
}

// A screen's notice: `run` shows what an action did, or the API's error with its details.
// One action at a time: a second click or Enter while one runs does nothing (`pending` says
// so, for buttons to show it).
export function useNotice() {
  const [notice, setNotice] = useState(null);
  const [pending, setPending] = useState(false);
  const running = useRef(false);
  const run = async (action, success) => {
    if (running.current) return undefined;
    running.current = true;
    setPending(true);
    setNotice(null);
    try {
      const result = await action();
      if (success) setNotice({ kind: "ok", text: success(result) });
      return result;
    } catch (error) {
      setNotice({ kind: "error", ...describe(error) });
      return undefined;
    } finally {
      running.current = false;
      setPending(false);
    }
  };
  return [notice, setNotice, run, pending];
}

// A form's Idempotency-Key. It is kept while the outcome of a submission is unknown (no answer,
// or a 5xx), so that sending the same body again cannot record it twice; once the server has
// answered (a success or a 4xx), or the body is another, it is a new submission with a new key.
export function useKey() {
  const kept = useRef(null);
  return async (body, send) => {
    const text = JSON.stringify(body);
    if (!kept.current || kept.current.body !== text) kept.current = { key: newKey(), body: text };
    try {
      const result = await send(kept.current.key);
      kept.current = null;
      return result;
    } catch (error) {
      if (error.status >= 400 && error.status < 500) kept.current = null;
      throw error;
    }
  };
}

// Data for a screen, loaded when `deps` change (nothing is shown of the data of other deps
// meanwhile: it would be acted on as if it were the new one) and again on `reload()` (the old
// data stays until the new arrives). `replace(data)` shows data the caller already has.
export function useLoad(load, deps) {
  const wanted = JSON.stringify(deps);
  const [state, setState] = useState({ data: null, error: null, for: null });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    load().then(
      (data) => live && setState({ data, error: null, for: wanted }),
      (error) => live && setState({ data: null, error, for: wanted }),
    );
    return () => {
      live = false;
    };
  }, [wanted, tick]);
  const current = state.for === wanted ? state : { data: null, error: null, for: wanted };
  const replace = (data) => setState({ data, error: null, for: wanted });
  return [current, () => setTick((t) => t + 1), replace];
}

// One element whatever it shows: Preact misplaces siblings when a component's output changes
// between one node and several.
export function Loaded({ state, children }) {
  let shown;
  if (state.error) shown = html`<${Notice} notice=${{ kind: "error", ...describe(state.error) }} />`;
  else if (!state.data) shown = html`<p class="muted">Loading…</p>`;
  else shown = children(state.data);
  return html`<div class="loaded">${shown}</div>`;
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
// The focus goes to "Yes" when it asks, and back to the button that asked when it is answered.
export function Confirm({ label, question, yes, onYes }) {
  const [asking, setAsking] = useState(false);
  const yesButton = useRef(null);
  const opener = useRef(null);
  const asked = useRef(false);
  useEffect(() => {
    if (asking && yesButton.current) yesButton.current.focus();
    if (!asking && asked.current && opener.current) opener.current.focus();
    asked.current = asking;
  }, [asking]);
  if (!asking)
    return html`<button type="button" class="danger" ref=${opener} onClick=${() => setAsking(true)}>${label}</button>`;
  return html`<div class="confirm" role="group" aria-label=${label}>
    <span>${question}</span>
    <button type="button" class="danger" ref=${yesButton}
      onClick=${async () => { setAsking(false); await onYes(); }}>${yes}</button>
    <button type="button" class="quiet" onClick=${() => setAsking(false)}>No, keep it</button>
  </div>`;
}

// Pages of a list: the cursors seen so far, so that "Previous page" goes back exactly.
// A new filter starts again at the first page (a cursor is valid for its own filter only).
// Returns the cursor to ask with and the pager (given the next cursor).
// `of` names the list when a screen has two (its buttons then say which).
function usePages(deps, of) {
  const key = JSON.stringify(deps);
  const [pages, setPages] = useState({ key, cursors: [null] });
  if (pages.key !== key) setPages({ key, cursors: [null] }); // forget the other filter's pages
  const cursors = pages.key === key ? pages.cursors : [null];
  const setCursors = (next) => setPages({ key, cursors: next });
  const cursor = cursors[cursors.length - 1];
  const which = of ? html`<span class="visually-hidden"> of ${of}</span>` : null;
  const pager = (next) =>
    (cursors.length > 1 || next) && html`<div class="pager">
    <button type="button" class="quiet" disabled=${cursors.length === 1}
      onClick=${() => setCursors(cursors.slice(0, -1))}>Previous page${which}</button>
    <span class="muted">Page ${cursors.length}</span>
    <button type="button" class="quiet" disabled=${!next}
      onClick=${() => setCursors([...cursors, next])}>Next page${which}</button>
  </div>`;
  return [cursor, pager];
}

export function formData(event) {
  event.preventDefault();
  return Object.fromEntries(new FormData(event.target).entries());
}

export const whole = (text) => (text === "" || text === undefined ? undefined : Number(text));

// A list from the API a page at a time. `path` has its filters but no cursor; a new `version`
// loads it again (after an action changed it).
export function PagedList({ path, version, of, children }) {
  const [cursor, pager] = usePages([path], of);
  const joiner = path.includes("?") ? "&" : "?";
  const [state] = useLoad(
    () => api("GET", path + joiner + query({ cursor, limit: PAGE_SIZE }).slice(1)),
    [path, cursor, version],
  );
  return html`<${Loaded} state=${state}>${(page) =>
    html`${children(page.items)}${pager(page.next_cursor)}`}<//>`;
}

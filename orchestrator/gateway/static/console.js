// The Aura console: a few pages over the orchestrator's HTTP API (/v1/...), no framework.
// Pages: #/runs, #/runs/<id>, #/definitions, #/definitions/<id>, #/services, #/analytics.
"use strict";

const view = document.getElementById("view");
const banner = document.getElementById("banner");
const RUN_POLL_MS = 200;
const SLOW_POLL_MS = 2000;
// A run page without an event stream asks for new events this often.
const POLL_MS = 1000;
// Event streams the tabs of one browser profile hold at once: Chromium and Firefox open at
// most six HTTP/1.1 connections to a host, and the pages' own calls need some of them.
const STREAM_SLOTS = 3;
const FINISHED = new Set(["SUCCEEDED", "PARTIALLY_SUCCEEDED", "FAILED", "CANCELLED"]);

// ---------------------------------------------------------------- helpers

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || (status ? `HTTP ${status}` : "no answer"));
    this.status = status; // 0: the console's server could not be reached
    this.body = body || {};
  }
}

// Bumped by each sign-in: a 401 to a call made before it (a poll in flight while the
// token was being sent) says nothing of the new session and opens no second sign-in.
let sessionEpoch = 0;

async function api(path, options = {}) {
  const epoch = sessionEpoch;
  let response;
  try {
    response = await fetch(path, {
      ...options,
      headers: options.body ? { "Content-Type": "application/json" } : {},
    });
  } catch (error) {
    showBanner("Lost the connection to the console's server; reconnecting…", true);
    throw new ApiError(0, { message: "the console's server cannot be reached" });
  }
  const body = await response.json().catch(() => ({}));
  if (response.status === 401) {
    if (epoch === sessionEpoch) showSignIn(body.message);
  } else if (response.status === 503) {
    showBanner(`The orchestrator is unavailable (${body.message || "no answer"}); retrying…`, true);
  } else {
    hideBanner("connection");
  }
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

// The orchestrator asks for a bearer token: the console keeps it in an HttpOnly session
// cookie (POST /console/session), which every call and event stream then carries.
function showSignIn(why) {
  if (document.getElementById("sign-in")) return;
  const input = h("input", { type: "password", name: "token", placeholder: "bearer token (JWT)", autocomplete: "off" });
  const problem = h("span", { class: "muted" }, why ? ` ${why}` : "");
  const form = h("form", { id: "sign-in", class: "sign-in" },
    h("strong", {}, "Sign in"), " This orchestrator asks for a token (aura token makes one). ",
    input, h("button", { type: "submit" }, "Sign in"), problem);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const response = await fetch("/console/session", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token: input.value }),
    });
    if (response.ok) {
      sessionEpoch += 1;
      form.remove();
      route();
    } else {
      const body = await response.json().catch(() => ({}));
      problem.textContent = ` ${body.message || `HTTP ${response.status}`}`;
    }
  });
  document.body.insertBefore(form, view);
  input.focus();
}

let bannerOwner = "";
function showBanner(text, bad, owner = "connection") {
  banner.textContent = text;
  banner.className = bad ? "bad" : "";
  banner.hidden = false;
  bannerOwner = owner;
}
function hideBanner(owner) {
  if (bannerOwner === owner) banner.hidden = true;
}

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

const HTML_ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const escapeHtml = (text) => String(text).replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]);
const short = (enumName, prefix) => (enumName || "").replace(prefix, "") || "UNSPECIFIED";
const runState = (run) => short(run.state, "RUN_STATE_");
const runId = (name) => (name || "").replace(/^workflowRuns\//, "");
const defId = (name) => (name || "").replace(/^workflowDefinitions\//, "");
const badge = (state) => h("span", { class: `badge s-${state}`, "data-state": state }, state);
const seconds = (duration) => (duration ? parseFloat(duration) : 0);
const time = (stamp) => (stamp ? new Date(stamp).toLocaleString() : "");
// One formatter for every event row: toLocaleTimeString builds a new one per call.
const CLOCK = new Intl.DateTimeFormat([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
const clock = (stamp) => {
  if (!stamp) return "";
  const at = new Date(stamp);
  return `${CLOCK.format(at)}.${String(at.getMilliseconds()).padStart(3, "0")}`;
};
const pct = (x) => `${((x || 0) * 100).toFixed(1)}%`;

function ms(value) {
  if (value === undefined || value === null || value === "") return "";
  const s = typeof value === "number" ? value : seconds(value);
  return s >= 10 ? `${s.toFixed(1)} s` : `${Math.round(s * 1000)} ms`;
}
function span(start, end) {
  if (!start) return "";
  const stop = end ? new Date(end) : new Date();
  return ms((stop - new Date(start)) / 1000);
}
function table(headers, rows, empty = "Nothing here yet.") {
  if (!rows.length) return h("div", { class: "empty" }, empty);
  return h("table", {},
    h("thead", {}, h("tr", {}, headers.map((x) => h("th", { class: x.endsWith("#") ? "num" : "" }, x.replace(/#$/, ""))))),
    h("tbody", {}, rows));
}
function errorBox(error) {
  const details = (error.body && error.body.details) || [];
  const reason = details.map((d) => d.reason).filter(Boolean).join(", ");
  const violations = details.flatMap((d) => d.fieldViolations || []);
  return h("div", { class: "error-box", role: "alert" },
    h("strong", {}, error.body.status || (error.status ? `HTTP ${error.status}` : "Unreachable")), " ",
    error.message, reason ? h("span", { class: "muted" }, ` (${reason})`) : null,
    violations.length ? h("ul", {}, violations.map((v) => h("li", {}, h("code", {}, v.field), ": ", v.description))) : null);
}

// Repeats `work` every `ms` milliseconds after it finishes, until the page changes.
function every(intervalMs, work) {
  let timer = null;
  let stopped = false;
  const tick = async () => {
    if (stopped) return;
    if (!document.hidden) {
      try { await work(); } catch (error) { /* shown by the page or the banner */ }
    }
    if (!stopped) timer = setTimeout(tick, intervalMs);
  };
  tick();
  return () => { stopped = true; clearTimeout(timer); };
}

// One of the profile's STREAM_SLOTS (Web Locks are shared by all its tabs of this
// origin): a function that gives it back, or null when all are taken. Without Web Locks
// (not a secure context) every visible tab streams.
async function takeStreamSlot() {
  if (!navigator.locks) return () => {};
  for (let slot = 0; slot < STREAM_SLOTS; slot += 1) {
    let release;
    const held = new Promise((resolve) => { release = resolve; });
    const got = await new Promise((answer) => {
      navigator.locks.request(`aura-console-stream-${slot}`, { ifAvailable: true }, (lock) => {
        answer(lock !== null);
        return lock ? held : undefined;
      }).catch(() => answer(false));
    });
    if (got) return release;
  }
  return null;
}

// ---------------------------------------------------------------- DAG

const NODE_W = 170, NODE_H = 40, GAP_X = 60, GAP_Y = 18, PAD = 10;

// The DAG as one SVG parse (hundreds of steps draw in one pass, not node by node).
function dagSvg(layout) {
  const width = PAD * 2 + layout.layers * NODE_W + Math.max(0, layout.layers - 1) * GAP_X;
  const height = PAD * 2 + layout.rows * NODE_H + Math.max(0, layout.rows - 1) * GAP_Y;
  const at = {};
  for (const node of layout.nodes) {
    at[node.id] = { x: PAD + node.layer * (NODE_W + GAP_X), y: PAD + node.row * (NODE_H + GAP_Y) };
  }
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" class="dag" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    '<defs><marker id="arrow" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="7" markerHeight="7" orient="auto">',
    '<path d="M0,0 L8,4 L0,8 z" fill="#9ca3af"></path></marker></defs>'];
  for (const edge of layout.edges) {
    const a = at[edge.from], b = at[edge.to];
    if (!a || !b) continue;
    const x1 = a.x + NODE_W, y1 = a.y + NODE_H / 2, x2 = b.x, y2 = b.y + NODE_H / 2, mid = (x1 + x2) / 2;
    parts.push(`<path class="edge" marker-end="url(#arrow)" d="M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}"></path>`);
  }
  for (const node of layout.nodes) {
    const method = node.method || "";
    parts.push(`<g class="node" data-step="${escapeHtml(node.id)}" data-state="PENDING" transform="translate(${at[node.id].x},${at[node.id].y})">`,
      `<rect width="${NODE_W}" height="${NODE_H}"></rect>`,
      `<text x="8" y="16">${escapeHtml(node.id + (node.optional ? " (optional)" : ""))}</text>`,
      `<text x="8" y="31" class="method">${escapeHtml((method.split("/")[1] || method).slice(0, 26))}</text>`,
      `<title>${escapeHtml(method)}</title></g>`);
  }
  parts.push("</svg>");
  const holder = document.createElement("div");
  holder.innerHTML = parts.join("");
  return holder.firstElementChild;
}

// A layout when the definition cannot be read: the run's steps in one column.
function columnLayout(steps) {
  return {
    nodes: steps.map((s, i) => ({ id: s.stepId, method: s.method || "", layer: 0, row: i })),
    edges: [], layers: 1, rows: steps.length,
  };
}

// ---------------------------------------------------------------- runs page

const STATES = ["QUEUED", "PENDING", "RUNNING", "SUCCEEDED", "PARTIALLY_SUCCEEDED", "FAILED", "CANCELLED"];

function runsPage(params) {
  const pageSize = 25;
  const tokens = [""]; // page tokens: tokens[i] opens page i
  let page = 0;
  const state = h("select", { name: "state", "aria-label": "state" },
    h("option", { value: "" }, "any state"), STATES.map((s) => h("option", { value: s }, s)));
  const definition = h("select", { name: "definition", "aria-label": "definition" }, h("option", { value: "" }, "any definition"));
  const search = h("input", { name: "search", placeholder: "run id", size: 38, "aria-label": "run id" });
  state.value = params.get("state") || "";
  const body = h("div", { class: "card", id: "runs" });
  const pager = h("div", { class: "pager" });
  view.replaceChildren(h("h1", {}, "Runs"),
    h("form", { class: "toolbar", onsubmit: (e) => { e.preventDefault(); openSearch(); } },
      state, definition, search, h("button", { type: "submit" }, "Find run")),
    body, pager);
  api("/v1/workflowDefinitions?pageSize=1000").then((r) => {
    for (const d of r.workflowDefinitions || []) definition.append(h("option", { value: d.name }, defId(d.name)));
    definition.value = params.get("definition") || "";
  }).catch(() => {});

  function openSearch() {
    const id = search.value.trim();
    if (id) location.hash = `#/runs/${encodeURIComponent(runId(id))}`;
  }
  function filter() {
    const parts = [];
    if (state.value) parts.push(`state = ${state.value}`);
    const def = definition.value || params.get("definition");
    if (def) parts.push(`workflow_definition = "${def}"`);
    return parts.join(" AND ");
  }
  let lastSeen = "";
  let lastDrawn = 0;
  const restart = () => { tokens.length = 1; page = 0; refresh(); };
  state.addEventListener("change", restart);
  definition.addEventListener("change", restart);

  async function refresh() {
    const query = new URLSearchParams({ pageSize, filter: filter() });
    if (tokens[page]) query.set("pageToken", tokens[page]);
    let response;
    try {
      response = await api(`/v1/workflowRuns?${query}`);
    } catch (error) {
      lastSeen = ""; // the error replaced the table: draw the next answer whatever it is
      body.replaceChildren(errorBox(error));
      throw error;
    }
    tokens[page + 1] = response.nextPageToken || "";
    // Durations of unfinished runs grow: redraw when anything changed, or every second.
    const seen = JSON.stringify(response) + page;
    if (seen === lastSeen && Date.now() - lastDrawn < 1000) return;
    lastSeen = seen;
    lastDrawn = Date.now();
    const rows = (response.workflowRuns || []).map((run) => h("tr", { "data-run": runId(run.name) },
      h("td", { class: "mono" }, h("a", { href: `#/runs/${runId(run.name)}` }, runId(run.name))),
      h("td", {}, h("a", { href: `#/definitions/${defId(run.workflowDefinition)}` }, defId(run.workflowDefinition))),
      h("td", {}, badge(runState(run))),
      h("td", {}, time(run.createTime)),
      h("td", { class: "num" }, span(run.createTime, run.endTime)),
      h("td", { class: "muted" }, Object.entries(run.labels || {}).map(([k, v]) => `${k}=${v}`).join(" "))));
    body.replaceChildren(table(["Run", "Definition", "State", "Created", "Duration#", "Labels"], rows, "No runs match."));
    pager.replaceChildren(
      h("button", { disabled: page === 0, onclick: () => { page -= 1; refresh(); } }, "← Newer"),
      h("span", { class: "muted" }, `page ${page + 1}`),
      h("button", { disabled: !tokens[page + 1], onclick: () => { page += 1; refresh(); } }, "Older →"));
  }
  return every(RUN_POLL_MS, refresh);
}

// ---------------------------------------------------------------- run page

const EVENT_STEP_STATE = {
  stepScheduled: "SCHEDULED", stepStarted: "RUNNING", stepSucceeded: "SUCCEEDED",
  stepFailed: "FAILED", stepSkipped: "SKIPPED", stepCancelled: "CANCELLED",
};

function eventKind(event) {
  return Object.keys(event).find((k) => !["run", "seq", "time"].includes(k)) || "unknown";
}
function eventSummary(kind, body) {
  if (!body) return "";
  const parts = [];
  if (body.attempt) parts.push(`attempt ${body.attempt}`);
  if (body.state) parts.push(short(body.state, "RUN_STATE_"));
  if (body.latency) parts.push(ms(body.latency));
  if (body.cacheResult) parts.push(short(body.cacheResult, "CACHE_RESULT_").toLowerCase());
  if (body.reason && typeof body.reason === "string") parts.push(body.reason);
  if (body.error) parts.push(`${(body.error.message || "").slice(0, 160)}`);
  if (body.backoff) parts.push(`retry in ${ms(body.backoff)}`);
  return parts.join(" · ");
}

function runPage(id) {
  const name = `workflowRuns/${id}`;
  let closed = false;
  let source = null;
  let reconnect = null;
  let retryLoad = null;
  let layoutAsked = null;
  let finalSeq = 0; // the runFinished event's seq when it came before the first load
  let run = null;
  let lastSeq = 0;
  const stepState = {};
  const head = h("div");
  const dag = h("div", { class: "card", id: "dag" }, h("span", { class: "muted" }, "Loading…"));
  const details = h("div");
  const events = h("tbody");
  const eventCount = h("span", { class: "muted" });
  view.replaceChildren(head, dag, details,
    h("h2", {}, "Events ", eventCount),
    h("div", { class: "card events" }, h("table", { id: "events" },
      h("thead", {}, h("tr", {}, ["Seq", "Time", "Event", "Step", "Detail"].map((x) => h("th", {}, x)))), events)));

  // Events arrive faster than frames: rows are added once per frame, parsed as one piece of
  // HTML (a thousand rows of a finished run's history take one layout pass).
  let pendingRows = [];
  let frame = 0;
  let shownRows = 0;
  function addRow(cells) {
    pendingRows.push(`<tr data-seq="${cells[0]}"><td class="num">${cells[0]}</td><td class="muted mono">${escapeHtml(cells[1])}</td>`
      + `<td>${escapeHtml(cells[2])}</td><td class="mono">${escapeHtml(cells[3])}</td><td>${escapeHtml(cells[4])}</td></tr>`);
    if (!frame) frame = requestAnimationFrame(() => {
      frame = 0;
      events.insertAdjacentHTML("beforeend", pendingRows.join(""));
      shownRows += pendingRows.length;
      pendingRows = [];
      eventCount.textContent = `(${shownRows})`;
    });
  }

  let nodes = {}; // step id -> its g.node in the DAG
  function paintStep(stepId, state) {
    stepState[stepId] = state;
    const node = nodes[stepId];
    if (node) node.setAttribute("data-state", state);
  }

  function renderHead() {
    const state = runState(run);
    const finished = FINISHED.has(state);
    head.replaceChildren(h("div", {},
      h("h1", {}, "Run ", h("span", { class: "mono" }, id), " ", h("span", { id: "run-state" }, badge(state))),
      h("div", { class: "toolbar" },
        h("button", { class: "danger", id: "cancel", disabled: finished, onclick: cancel }, "Cancel"),
        h("button", { id: "rerun", onclick: rerun }, "Re-run with the same input"),
        h("span", { id: "action-result" })),
      h("div", { class: "card" }, h("dl", { class: "meta" },
        h("dt", {}, "Definition"), h("dd", {}, h("a", { href: `#/definitions/${defId(run.workflowDefinition)}` }, defId(run.workflowDefinition))),
        h("dt", {}, "Created"), h("dd", {}, time(run.createTime)),
        h("dt", {}, "Started"), h("dd", {}, time(run.startTime)),
        h("dt", {}, "Ended"), h("dd", {}, time(run.endTime)),
        h("dt", {}, "Duration"), h("dd", {}, span(run.startTime || run.createTime, run.endTime)),
        h("dt", {}, "Labels"), h("dd", {}, Object.entries(run.labels || {}).map(([k, v]) => `${k}=${v}`).join(" ") || "—"),
        h("dt", {}, "Request id"), h("dd", { class: "mono" }, run.requestId || "—"))),
      run.error ? h("div", { class: "error-box", id: "run-error", role: "alert" },
        h("strong", {}, "Error: "), run.error.message || `code ${run.error.code}`) : null));
  }

  function renderDetails() {
    const rows = (run.steps || []).map((s) => h("tr", { "data-step": s.stepId },
      h("td", { class: "mono" }, s.stepId),
      h("td", {}, badge(short(s.state, "STEP_STATE_"))),
      h("td", { class: "num" }, s.attempts || 0),
      h("td", { class: "num" }, span(s.startTime, s.endTime)),
      h("td", { class: "mono muted" }, s.method),
      h("td", {},
        s.error ? h("div", { class: "error-box" }, s.error.message) : null,
        s.skipReason ? h("span", { class: "muted" }, s.skipReason) : null,
        s.output ? h("details", {}, h("summary", {}, "output"), h("pre", {}, JSON.stringify(s.output, null, 2))) : null)));
    details.replaceChildren(
      h("h2", {}, "Steps"), h("div", { class: "card" }, table(["Step", "State", "Attempts#", "Took#", "Method", "Output / error"], rows)),
      h("h2", {}, "Input"), h("div", { class: "card" }, h("pre", { id: "input" }, JSON.stringify(run.input || {}, null, 2))));
  }

  const problem = h("div", { id: "problem" });
  view.prepend(problem);

  // The run as GetWorkflowRun has it; false when it cannot be read (then it says why and,
  // unless the run is unknown, tries again by itself).
  async function load(first = false) {
    try {
      const got = (await api(`/v1/${name}`)).workflowRun;
      if (closed) return false;
      // An answer older than one already shown (two loads crossed) changes nothing.
      if (run && parseInt(run.lastEventSeq || 0, 10) > parseInt(got.lastEventSeq || 0, 10)) return true;
      run = got;
      // Asked before the page draws the run, so the answer is on its way meanwhile.
      if (first) layoutAsked = api(`/console/layout/${encodeURIComponent(run.workflowDefinition)}`);
      if (finalSeq && !(FINISHED.has(runState(run)) && parseInt(run.lastEventSeq || 0, 10) >= finalSeq)) {
        finalSeq = 0;
        load(); // an answer from before the run's final event
      }
    } catch (error) {
      if (error.status === 404) {
        closed = true; // nothing to follow
        finish();
        clearTimeout(reconnect);
        view.replaceChildren(h("h1", {}, "Unknown run"),
          h("div", { class: "card", id: "unknown-run" }, "There is no run ", h("code", {}, id),
            " (it may have been deleted after its retention). ", h("a", { href: "#/runs" }, "All runs")));
        return false;
      }
      if (!run) problem.replaceChildren(h("h1", {}, "Run ", h("span", { class: "mono" }, id)), errorBox(error));
      clearTimeout(retryLoad);
      if (!closed) retryLoad = setTimeout(() => { if (!closed) (dag.querySelector("svg") ? load() : render()); }, SLOW_POLL_MS);
      return false;
    }
    problem.replaceChildren();
    renderHead();
    renderDetails();
    // The first answer may be older than events the stream already painted.
    for (const s of run.steps || []) if (!first || !(s.stepId in stepState)) paintStep(s.stepId, short(s.state, "STEP_STATE_"));
    return true;
  }

  async function render() {
    // The history so far in one answer (a thousand events parse as one JSON document, not
    // a thousand stream messages), then live events from its end until the final one.
    const loaded = load(true);
    try {
      const answer = await api(`/console/events/${name}?afterSeq=0&view=basic`);
      if (closed) return;
      for (const response of answer.events || []) apply(response.event);
    } catch (error) { /* the load says why, or the stream catches up */ }
    follow();
    if (!(await loaded)) return;
    let layout;
    try {
      layout = await layoutAsked;
    } catch (error) {
      layout = columnLayout(run.steps || []);
    }
    const svg = dagSvg(layout);
    nodes = {};
    for (const node of svg.querySelectorAll("g.node")) nodes[node.dataset.step] = node;
    for (const [stepId, state] of Object.entries(stepState)) paintStep(stepId, state);
    dag.replaceChildren(svg);
  }

  // Applies one run event (a WatchWorkflowRunResponse's `event`), once, in seq order.
  function apply(event) {
    const seq = parseInt(event.seq, 10);
    if (seq <= lastSeq) return;
    lastSeq = seq;
    const kind = eventKind(event);
    const body = event[kind] || {};
    if (body.stepId && EVENT_STEP_STATE[kind]) paintStep(body.stepId, EVENT_STEP_STATE[kind]);
    if (kind === "runStarted" && run && !FINISHED.has(runState(run))) {
      run.state = "RUN_STATE_RUNNING";
      head.querySelector("#run-state").replaceChildren(badge("RUNNING"));
    }
    addRow([seq, clock(event.time), kind, body.stepId || "", eventSummary(kind, body)]);
    if (kind === "runFinished") {
      // Outputs, errors and timings as GetWorkflowRun has them, unless it had them already.
      const loadedFinal = run !== null && FINISHED.has(runState(run)) && parseInt(run.lastEventSeq || 0, 10) >= seq;
      if (run) {
        run.state = body.state;
        head.querySelector("#run-state").replaceChildren(badge(short(body.state, "RUN_STATE_")));
      }
      finish();
      if (run === null) finalSeq = seq; // the first load, still on its way, decides
      else if (!loadedFinal) load();
    }
  }

  // The tab follows its run with an event stream when it holds one of the profile's
  // stream slots, else by polling /console/events: all tabs of a browser profile share
  // six HTTP/1.1 connections to the console's host, and each open stream keeps one.
  const followed = () => run !== null && FINISHED.has(runState(run)) && lastSeq >= parseInt(run.lastEventSeq || 0, 10);
  function follow() {
    if (closed || source || followed()) return;
    clearTimeout(reconnect);
    if (document.visibilityState !== "visible") { poll(); return; }
    takeStreamSlot().then((release) => {
      if (closed || followed()) { if (release) release(); return; }
      if (release) { releaseSlot = release; watch(); } else poll();
    });
  }

  async function poll() {
    if (closed) return;
    try {
      const answer = await api(`/console/events/${name}?afterSeq=${lastSeq}`);
      if (closed) return;
      for (const response of answer.events || []) apply(response.event);
      if (FINISHED.has(runState(answer.workflowRun)) && (!run || !FINISHED.has(runState(run)))) {
        run = answer.workflowRun;
        renderHead();
        renderDetails();
      }
    } catch (error) { /* said by the banner; tried again */ }
    if (!closed && !followed()) reconnect = setTimeout(follow, POLL_MS);
  }

  function onVisibility() {
    // A hidden tab gives its stream slot up to the one the person looks at.
    if (document.visibilityState !== "visible" && source) { finish(); follow(); }
    else if (document.visibilityState === "visible" && !source) follow();
  }
  document.addEventListener("visibilitychange", onVisibility);

  function watch() {
    if (closed) return;
    const query = lastSeq ? `?afterSeq=${lastSeq}` : "";
    source = new EventSource(`/v1/${name}:watch${query}`);
    source.onopen = () => { hideBanner("stream"); hideBanner("connection"); };
    source.onmessage = (message) => apply(JSON.parse(message.data).event);
    source.addEventListener("end", () => { finish(); if (!FINISHED.has(runState(run))) load(); });
    source.addEventListener("rpc-error", (message) => {
      const status = JSON.parse(message.data);
      finish();
      showBanner(`The event stream stopped: ${status.message}`, true, "stream");
      reconnect = setTimeout(() => { if (!closed) { hideBanner("stream"); follow(); } }, SLOW_POLL_MS);
    });
    source.onerror = () => {
      if (closed || !source) return;
      if (source.readyState === EventSource.CLOSED) {
        // An HTTP error (e.g. the orchestrator is down): try again on our own.
        showBanner("Lost the run's event stream; reconnecting…", true, "stream");
        finish(false);
        reconnect = setTimeout(follow, SLOW_POLL_MS);
      } else {
        showBanner("Connection lost; reconnecting…", true, "stream");
      }
    };
  }
  let releaseSlot = null;
  function finish(quiet = true) {
    if (source) source.close();
    source = null;
    if (releaseSlot) releaseSlot();
    releaseSlot = null;
    if (quiet) hideBanner("stream");
  }

  async function cancel() {
    const result = head.querySelector("#action-result");
    try {
      run = (await api(`/v1/${name}:cancel`, { method: "POST", body: JSON.stringify({ reason: "cancelled from the console" }) })).workflowRun;
      renderHead();
      renderDetails();
    } catch (error) {
      result.replaceChildren(errorBox(error));
    }
  }
  async function rerun() {
    const result = head.querySelector("#action-result");
    try {
      const started = await api("/v1/workflowRuns", { method: "POST", body: JSON.stringify({
        workflowDefinition: run.workflowDefinition, input: run.input || {}, labels: run.labels || {},
        priority: run.priority || 0 }) });
      location.hash = `#/runs/${runId(started.workflowRun.name)}`;
    } catch (error) {
      result.replaceChildren(errorBox(error));
    }
  }

  render();
  return () => {
    closed = true;
    document.removeEventListener("visibilitychange", onVisibility);
    finish();
    clearTimeout(reconnect);
    clearTimeout(retryLoad);
    if (frame) cancelAnimationFrame(frame);
  };
}

// ---------------------------------------------------------------- definitions

function definitionsPage() {
  const body = h("div", { class: "card" }, "Loading…");
  view.replaceChildren(h("h1", {}, "Definitions"), body);
  api("/v1/workflowDefinitions?pageSize=1000").then((r) => {
    const rows = (r.workflowDefinitions || []).map((d) => h("tr", {},
      h("td", {}, h("a", { href: `#/definitions/${defId(d.name)}` }, defId(d.name))),
      h("td", { class: "num" }, (d.steps || []).length),
      h("td", { class: "muted" }, d.description || ""),
      h("td", {}, h("a", { href: `#/runs?definition=${encodeURIComponent(d.name)}` }, "runs"))));
    body.replaceChildren(table(["Definition", "Steps#", "Description", ""], rows));
  }).catch((error) => body.replaceChildren(errorBox(error)));
}

function definitionPage(id) {
  const name = `workflowDefinitions/${id}`;
  const dag = h("div", { class: "card", id: "dag" }, "Loading…");
  const yaml = h("pre", { id: "yaml" });
  view.replaceChildren(h("h1", {}, "Definition ", h("span", { class: "mono" }, id)),
    h("div", { class: "toolbar" }, h("a", { href: `#/runs?definition=${encodeURIComponent(name)}` }, "Its runs")),
    dag, h("h2", {}, "YAML"), h("div", { class: "card" }, yaml));
  api(`/console/layout/${encodeURIComponent(name)}`).then((layout) => dag.replaceChildren(dagSvg(layout)))
    .catch((error) => dag.replaceChildren(error.status === 404
      ? h("div", { id: "unknown-definition" }, "There is no definition ", h("code", {}, id), ".") : errorBox(error)));
  fetch(`/console/yaml/${encodeURIComponent(name)}`).then((r) => (r.ok ? r.text() : "")).then((text) => { yaml.textContent = text; });
}

// ---------------------------------------------------------------- services

function servicesPage() {
  const body = h("div");
  view.replaceChildren(h("h1", {}, "Services"), body);
  return every(SLOW_POLL_MS, async () => {
    let r;
    try { r = await api("/v1/services"); } catch (error) { body.replaceChildren(errorBox(error)); throw error; }
    const rows = [];
    for (const s of r.services || []) {
      rows.push(h("tr", { "data-service": s.service },
        h("td", { class: "mono" }, h("strong", {}, s.service)),
        h("td", {}, badge(short(s.circuitState, "CIRCUIT_STATE_"))),
        h("td", { class: "num" }, s.callCount || 0), h("td", { class: "num" }, s.errorCount || 0),
        h("td", { class: "num" }, ms(s.latencyP50)), h("td", { class: "num" }, ms(s.latencyP99)),
        h("td", { class: "num" }, `${s.inFlight || 0} / ${s.maxInFlight || 0}`),
        h("td", { class: "num" }, `${(s.retryTokens || 0).toFixed(0)} / ${(s.maxRetryTokens || 0).toFixed(0)}`),
        h("td", { class: "num" }, s.circuitTrips || 0)));
      for (const e of s.endpoints || []) {
        rows.push(h("tr", {}, h("td", { class: "mono muted" }, "↳ ", e.address),
          h("td", {}, badge(short(e.circuitState, "CIRCUIT_STATE_")), " ", badge(short(e.servingStatus, "SERVING_STATUS_"))),
          h("td", { class: "num" }, e.callCount || 0), h("td", { class: "num" }, e.errorCount || 0),
          h("td", {}), h("td", {}), h("td", {}), h("td", {}), h("td", { class: "num" }, e.circuitTrips || 0)));
      }
    }
    const replicas = (r.replicas || []).map((x) => h("tr", {},
      h("td", { class: "mono" }, x.id, x.answering ? " (this one)" : ""), h("td", { class: "mono" }, x.address),
      h("td", {}, x.alive ? "alive" : "lost"), h("td", { class: "num" }, ms(x.heartbeatAge)), h("td", { class: "num" }, x.ownedRuns || 0)));
    body.replaceChildren(
      h("div", { class: "card" }, table(["Service", "Breaker", "Calls#", "Errors#", "p50#", "p99#", "In flight#", "Retry budget#", "Trips#"], rows)),
      h("h2", {}, "Orchestrator replicas ", h("span", { class: "muted" }, `· ${r.queuedRuns || 0} runs queued`)),
      h("div", { class: "card" }, table(["Replica", "Address", "Lease", "Heartbeat age#", "Runs owned#"], replicas)));
  });
}

// ---------------------------------------------------------------- analytics

function analyticsPage(params) {
  const windowSelect = h("select", { "aria-label": "window" },
    [["3600s", "last hour"], ["86400s", "last day"], ["604800s", "last week"], ["", "all time"]].map(([v, t]) => h("option", { value: v }, t)));
  windowSelect.value = params.get("window") ?? "86400s";
  const body = h("div", {}, "Loading…");
  view.replaceChildren(h("h1", {}, "Analytics"), h("div", { class: "toolbar" }, windowSelect), body);
  async function refresh() {
    const query = windowSelect.value ? `?window=${windowSelect.value}` : "";
    let r;
    try { r = await api(`/v1/analytics${query}`); } catch (error) { body.replaceChildren(errorBox(error)); return; }
    const defs = (r.definitions || []).map((d) => h("tr", {},
      h("td", {}, defId(d.workflowDefinition)), h("td", { class: "num" }, d.runCount || 0),
      h("td", { class: "num" }, pct(d.successRate)), h("td", { class: "num" }, pct(d.partialRate)),
      h("td", { class: "num" }, ms(d.latencyP50)), h("td", { class: "num" }, ms(d.latencyP90)), h("td", { class: "num" }, ms(d.latencyP99))));
    const steps = (r.steps || []).map((s) => h("tr", {},
      h("td", {}, defId(s.workflowDefinition)), h("td", { class: "mono" }, s.stepId), h("td", { class: "num" }, s.executionCount || 0),
      h("td", { class: "num" }, pct(s.successRate)), h("td", { class: "num" }, s.retryCount || 0),
      h("td", { class: "num" }, ms(s.latencyP50)), h("td", { class: "num" }, ms(s.latencyP99))));
    const failures = (r.failures || []).map((f) => h("tr", {},
      h("td", { class: "mono" }, f.method), h("td", {}, f.code), h("td", {}, f.reason || ""), h("td", { class: "num" }, f.count)));
    const services = (r.services || []).map((s) => h("tr", {},
      h("td", { class: "mono" }, s.service), h("td", { class: "num" }, s.attemptCount || 0), h("td", { class: "num" }, s.failureCount || 0),
      h("td", { class: "num" }, s.retryCount || 0), h("td", { class: "num" }, s.circuitTrips || 0), h("td", { class: "num" }, s.circuitRejections || 0),
      h("td", { class: "num" }, pct(s.cacheHitRate))));
    const advice = (r.advice || []).flatMap((a) => [
      a.criticalPath && a.criticalPath.recommendation, a.parallelism && a.parallelism.recommendation,
      ...(a.cacheCandidates || []).map((c) => c.recommendation), ...(a.retryHotSpots || []).map((c) => c.recommendation),
      ...(a.breakerHotSpots || []).map((c) => c.recommendation),
    ].filter(Boolean).map((text) => h("li", {}, h("strong", {}, defId(a.workflowDefinition)), ": ", text)));
    body.replaceChildren(
      h("p", { class: "muted" }, `${r.runsAnalyzed || 0} finished runs analysed of ${r.runsMatched || 0} in the window.`),
      h("h2", {}, "Definitions"), h("div", { class: "card", id: "analytics-definitions" }, table(["Definition", "Runs#", "Succeeded#", "Partial#", "p50#", "p90#", "p99#"], defs)),
      h("h2", {}, "Advice"), h("div", { class: "card" }, advice.length ? h("ul", { class: "advice" }, advice) : h("div", { class: "empty" }, "No advice yet.")),
      h("h2", {}, "Steps"), h("div", { class: "card" }, table(["Definition", "Step", "Runs#", "Succeeded#", "Retries#", "p50#", "p99#"], steps)),
      h("h2", {}, "Failures"), h("div", { class: "card" }, table(["Method", "Code", "Reason", "Count#"], failures, "No failures.")),
      h("h2", {}, "Services"), h("div", { class: "card" }, table(["Service", "Attempts#", "Failures#", "Retries#", "Trips#", "Refused#", "Cache hits#"], services)));
  }
  windowSelect.addEventListener("change", refresh);
  refresh();
}

// ---------------------------------------------------------------- router

let leave = null;
function route() {
  if (leave) leave();
  leave = null;
  hideBanner("stream");
  const [path, query] = (location.hash.replace(/^#/, "") || "/runs").split("?");
  const params = new URLSearchParams(query || "");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  for (const link of document.querySelectorAll("[data-nav]")) link.classList.toggle("active", link.dataset.nav === parts[0]);
  const pages = {
    runs: () => (parts[1] ? runPage(parts[1]) : runsPage(params)),
    definitions: () => (parts[1] ? definitionPage(parts[1]) : definitionsPage()),
    services: servicesPage,
    analytics: () => analyticsPage(params),
  };
  const page = pages[parts[0]];
  if (!page) { location.hash = "#/runs"; return; }
  leave = page() || null;
}
window.addEventListener("hashchange", route);
route();

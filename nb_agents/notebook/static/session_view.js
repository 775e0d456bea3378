// nb_agents live session view: an anywidget ES module. Self-contained: no imports, no network,
// no build step. The Python side and the message protocol are described in
// nb_agents/notebook/_view.py (messages) and nb_agents/notebook/_view_model.py (row fields).
//
// One Store per widget model (created in `initialize`, so no message is missed before a view
// renders) holds the rows by position `n` (sparse while a backfill is on its way); every view
// of the model draws from it: the last `max_rows` rows, the pending approvals, the timeline.
// Test hooks: el.dataset.count (events in the log), .status, .awaiting; buttons carry
// data-action="approve|deny|interrupt|send" and data-tool-use-id.

const SVG_NS = "http://www.w3.org/2000/svg";
const MAX_LANES = 9; // "model" + 8 tool names; further tools share the "other tools" lane
const STORES = new Map(); // model uid -> Store

function h(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}
const fmtInt = (v) => Number(v || 0).toLocaleString("en-US");
function fmtDur(ms) {
  if (!(ms >= 0)) return "";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60000)} min ${Math.round((ms % 60000) / 1000)} s`;
}
function fmtClock(ms) {
  const d = new Date(ms);
  const p = (x) => String(x).padStart(2, "0");
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}
function clip(s, max) {
  s = String(s ?? "");
  const line = s.split("\n", 1)[0];
  if (line.length > max) return line.slice(0, max - 1) + "…";
  return line.length < s.length ? line + " …" : line;
}
function inputSummary(input) {
  if (typeof input === "string") return clip(input, 100);
  if (!input || typeof input !== "object") return "";
  for (const key of ["command", "file_path", "pattern", "path", "url", "query"]) {
    if (typeof input[key] === "string") return clip(input[key], 100);
  }
  return clip(JSON.stringify(input), 100);
}
// A bash command reads best as the script it is; other inputs as indented JSON.
const inputText = (input) => {
  if (typeof input === "string") return input;
  if (input && typeof input.command === "string" && Object.keys(input).length === 1) return input.command;
  return JSON.stringify(input, null, 2);
};
const toolName = (r) => (r ? (r.srv ? `${r.srv}/${r.name}` : r.name || "tool") : "tool");

// ---- the model-level state ---------------------------------------------------------------------

class Store {
  constructor(model) {
    this.model = model;
    this.uid = Math.random().toString(36).slice(2);
    this.rows = []; // sparse: rows[n]
    this.prefix = 0; // rows[0 .. prefix) are all known
    this.t0 = null;
    this.previews = new Map(); // event id -> {ty, parts}
    this.tools = new Map(); // tool use id -> n
    this.asks = new Set(); // tool use ids with evaluated_permission "ask"
    this.results = new Map(); // tool use id -> result row
    this.confirms = new Map(); // tool use id -> confirmation row
    this.spans = new Map(); // span id -> {start, end, lane, kind, label, err, usage}
    this.lanes = ["model"];
    this.nModel = 0;
    this.nTools = 0;
    this.tmin = 0;
    this.tmax = 0;
    this.views = new Set();
    this.syncing = false;
    this.lastSync = -1;
    this.requests = new Map(); // req -> callback(result)
    this.nextReq = 0;
  }

  start() {
    this.model.on("msg:custom", (msg) => this.receive(msg));
    this.model.on("change:backlog", () => this.loadBacklog());
    this.loadBacklog();
    if (!this.syncing) this.sync();
  }

  get count() {
    return this.rows.length;
  }

  loadBacklog() {
    // The tail of the log at construction, at display and at the end of each turn: apply
    // only what is new or changed (most of it is already here).
    const b = this.model.get("backlog");
    if (!b || !Array.isArray(b.items)) return;
    const items = b.items.filter((r) => typeof r.n !== "number" || JSON.stringify(this.rows[r.n]) !== JSON.stringify(r));
    if (items.length) this.apply({ t0: b.t0, items });
  }

  send(msg) {
    try {
      this.model.send(msg);
      return true;
    } catch (err) {
      return false; // no kernel (a saved notebook): nothing to ask
    }
  }

  sync() {
    // Ask for what we lack from `prefix` on; skip the block we hold at the end (the backlog).
    let a = this.prefix;
    while (a < this.rows.length && this.rows[a] === undefined) a++;
    let b = a;
    while (b < this.rows.length && this.rows[b] !== undefined) b++;
    const msg = { type: "sync", since: this.prefix, view: this.uid };
    if (b > a && b === this.rows.length) msg.skip = [a, b];
    this.lastSync = this.prefix;
    this.syncing = this.send(msg);
  }

  act(payload, callback) {
    const req = `${this.uid}-${++this.nextReq}`;
    this.requests.set(req, callback);
    if (!this.send({ ...payload, req })) {
      this.requests.delete(req);
      callback({ ok: false, error: "no kernel is connected to this view" });
    }
  }

  receive(msg) {
    if (!msg || typeof msg !== "object") return;
    if (msg.type === "append") this.apply(msg);
    else if (msg.type === "sync" && msg.view === this.uid) {
      this.apply(msg);
      if (msg.done) this.syncing = false;
    } else if (msg.type === "result" && this.requests.has(msg.req)) {
      const callback = this.requests.get(msg.req);
      this.requests.delete(msg.req);
      callback(msg);
    }
  }

  apply(msg) {
    if (msg.t0 !== undefined && msg.t0 !== null) this.t0 = msg.t0;
    const changed = new Set();
    const previews = new Set();
    const spans = new Set();
    for (const it of msg.items || []) {
      if (typeof it.n !== "number") this.preview(it, previews);
      else {
        const latest = it.n >= this.rows.length - 1;
        this.rows[it.n] = it;
        changed.add(it.n);
        this.track(it, latest, changed, previews, spans);
      }
    }
    while (this.prefix < this.rows.length && this.rows[this.prefix] !== undefined) this.prefix++;
    if (this.prefix < this.rows.length && !this.syncing && this.lastSync !== this.prefix) this.sync();
    for (const view of this.views) view.update(changed, previews, spans);
  }

  track(r, latest, changed, previews, spans) {
    if (typeof r.t === "number") {
      this.tmax = Math.max(this.tmax, r.t);
      this.tmin = Math.min(this.tmin, r.t);
    }
    const touch = (id) => {
      const n = this.tools.get(id);
      if (n !== undefined) changed.add(n);
    };
    switch (r.k) {
      case "tool":
        this.tools.set(r.id, r.n);
        if (r.perm === "ask") this.asks.add(r.id);
        this.spanStart(r.id, r.name || "tool", r.t, "tool", toolName(r), spans);
        break;
      case "result":
        this.results.set(r.ref, r);
        touch(r.ref);
        this.spanEnd(r.ref, r.t, !!r.err, null, spans);
        break;
      case "confirm":
        this.confirms.set(r.ref, r);
        touch(r.ref);
        if (!r.ok) this.spanEnd(r.ref, r.t, true, null, spans);
        break;
      case "mreq":
        this.spanStart(r.id, "model", r.t, "model", "model request", spans);
        break;
      case "mend":
        this.spanEnd(r.ref, r.t, !!r.err, r.u, spans);
        if (latest) {
          // a model request that ended closes any preview left open
          for (const id of this.previews.keys()) previews.add(id);
          this.previews.clear();
        }
        break;
      case "agent":
      case "thinking":
        if (this.previews.delete(r.id)) previews.add(r.id);
        break;
    }
  }

  preview(it, previews) {
    if (!it.id) return;
    if (it.k === "pv") {
      this.previews.set(it.id, { ty: it.ty || "agent.message", parts: (it.parts || []).slice() });
    } else if (it.k === "pd") {
      let p = this.previews.get(it.id);
      if (!p) this.previews.set(it.id, (p = { ty: "agent.message", parts: [] }));
      while (p.parts.length <= it.i) p.parts.push("");
      p.parts[it.i] += it.x || "";
    } else return;
    previews.add(it.id);
  }

  lane(name) {
    let i = this.lanes.indexOf(name);
    if (i >= 0) return i;
    if (this.lanes.length >= MAX_LANES - 1) {
      name = "other tools";
      i = this.lanes.indexOf(name);
      if (i >= 0) return i;
    }
    this.lanes.push(name);
    return this.lanes.length - 1;
  }

  spanStart(id, laneName, t, kind, label, spans) {
    if (typeof t !== "number" || !id) return;
    let s = this.spans.get(id);
    if (!s) this.spans.set(id, (s = { start: null, end: null, err: false }));
    if (s.start === null) kind === "model" ? this.nModel++ : this.nTools++;
    Object.assign(s, { start: t, lane: this.lane(laneName), kind, label });
    spans.add(id);
  }

  spanEnd(id, t, err, usage, spans) {
    if (typeof t !== "number" || !id) return;
    let s = this.spans.get(id);
    if (!s) this.spans.set(id, (s = { start: null, end: null, err: false })); // the end came first (backfill)
    s.end = t;
    s.err = s.err || err;
    if (usage) s.usage = usage;
    spans.add(id);
  }

  pending() {
    return [...this.asks].filter((id) => !this.results.has(id) && !this.confirms.has(id));
  }
}

function getStore(model) {
  const uid = model.get("uid");
  let store = STORES.get(uid);
  if (!store) {
    store = new Store(model);
    STORES.set(uid, store);
    store.start();
  }
  return store;
}

// ---- the timeline ------------------------------------------------------------------------------

class Timeline {
  constructor(store) {
    this.store = store;
    this.el = h("details", "nbav-tl");
    this.el.open = true;
    this.el.hidden = true;
    const summary = h("summary", null, "Timeline");
    this.info = h("span", "nbav-tl-info");
    summary.append(this.info);
    this.labels = h("div", "nbav-tl-labels");
    this.svg = document.createElementNS(SVG_NS, "svg");
    this.svg.setAttribute("class", "nbav-tl-svg");
    this.svg.setAttribute("preserveAspectRatio", "none");
    this.axis = h("div", "nbav-tl-axis");
    const plot = h("div", "nbav-tl-plot");
    plot.append(this.svg, this.axis);
    const grid = h("div", "nbav-tl-grid");
    grid.append(this.labels, plot);
    this.el.append(summary, grid);
    this.rects = new Map();
    this.open = new Set();
    this.nLanes = 0;
  }

  rebuild() {
    this.svg.replaceChildren();
    this.rects.clear();
    this.open.clear();
    this.update(this.store.spans.keys());
  }

  update(ids) {
    const fresh = document.createDocumentFragment(); // new bars are built off-document, added at once
    for (const id of ids) this.draw(id, fresh);
    this.svg.appendChild(fresh);
    this.commit();
  }

  draw(id, fresh) {
    const s = this.store.spans.get(id);
    if (!s || s.start === null) return;
    let r = this.rects.get(id);
    if (!r) {
      r = document.createElementNS(SVG_NS, "rect");
      r.appendChild(document.createElementNS(SVG_NS, "title"));
      fresh.appendChild(r);
      this.rects.set(id, r);
    }
    const open = s.end === null;
    r.setAttribute("x", s.start / 1000);
    r.setAttribute("y", s.lane + 0.2);
    r.setAttribute("height", 0.6);
    r.setAttribute("class", `nbav-bar nbav-bar-${s.kind}${s.err ? " nbav-bar-err" : ""}${open ? " nbav-bar-open" : ""}`);
    if (open) this.open.add(id);
    else {
      this.open.delete(id);
      r.setAttribute("width", Math.max(0, (s.end - s.start) / 1000));
    }
    const usage = s.usage ? ` · ${fmtInt(s.usage[0])} in / ${fmtInt(s.usage[1])} out` : "";
    r.firstChild.textContent = `${s.label} · ${open ? "running" : fmtDur(s.end - s.start)}${s.err ? " · error" : ""}${usage}`;
  }

  commit() {
    const st = this.store;
    if (!this.rects.size) return;
    this.el.hidden = false;
    for (const id of this.open) {
      const s = st.spans.get(id);
      this.rects.get(id).setAttribute("width", Math.max(0, (st.tmax - s.start) / 1000));
    }
    const x0 = Math.min(0, st.tmin);
    const total = Math.max(1000, st.tmax - x0);
    const lanes = st.lanes.length;
    this.svg.setAttribute("viewBox", `${x0 / 1000} 0 ${(total * 1.01) / 1000} ${lanes}`);
    this.svg.style.height = `${lanes * 16}px`;
    if (lanes !== this.nLanes) {
      this.nLanes = lanes;
      this.labels.replaceChildren(...st.lanes.map((name) => h("div", "nbav-tl-label", name)));
    }
    this.axis.replaceChildren(h("span", null, "0 s"), h("span", null, fmtDur(total / 2)), h("span", null, fmtDur(total)));
    this.info.textContent = ` · ${fmtInt(st.nModel)} model requests, ${fmtInt(st.nTools)} tool calls, ${fmtDur(st.tmax - x0)}`;
  }
}

// ---- one view ----------------------------------------------------------------------------------

class View {
  constructor(store, model, el) {
    this.store = store;
    this.model = model;
    this.el = el;
    this.dom = new Map(); // n -> row element (ascending n)
    this.last = -1; // highest n drawn
    this.pv = new Map(); // preview id -> element
    this.busy = new Map(); // tool use id -> "approve" | "deny" (sent, not yet in the log)
    this.pendingKey = null;
    this.stick = true; // follow the newest row, until the user scrolls up
    this.touched = false;
    this.scrolling = false;
    this.interrupting = false;
    this.sending = false;
    this.build();
    model.on("change:status", () => this.renderStatus());
    model.on("change:info", () => this.renderInfo());
    model.on("change:max_rows", () => this.renderRows());
    store.views.add(this);
    this.renderInfo();
    this.renderRows();
    for (const id of store.previews.keys()) this.renderPreview(id);
    this.timeline.rebuild();
    this.renderStatus();
  }

  dispose() {
    this.store.views.delete(this);
  }

  build() {
    const el = this.el;
    el.classList.add("nbav");
    el.replaceChildren();
    const head = h("div", "nbav-head");
    this.statusEl = h("span", "nbav-status");
    this.titleEl = h("span", "nbav-title");
    this.idEl = h("code", "nbav-id");
    this.modelEl = h("span", "nbav-model");
    this.usageEl = h("span", "nbav-usage");
    this.costEl = h("span", "nbav-cost");
    this.interruptBtn = this.button("Interrupt", "interrupt", "nbav-btn-warn", () => this.interrupt());
    head.append(this.statusEl, this.titleEl, this.idEl, this.modelEl, h("span", "nbav-spacer"));
    head.append(this.usageEl, this.costEl, this.interruptBtn);
    this.timeline = new Timeline(this.store);
    this.logEl = h("div", "nbav-log");
    this.hiddenEl = h("div", "nbav-hidden");
    this.rowsEl = h("div", "nbav-rows");
    this.previewsEl = h("div", "nbav-previews");
    this.logEl.append(this.hiddenEl, this.rowsEl, this.previewsEl);
    // Follow the newest row unless the user scrolled away. Only scrolls that follow the user's
    // input count: trimming old rows and our own scrolling move the log too.
    const touched = () => (this.touched = true);
    for (const type of ["wheel", "touchmove", "keydown", "pointerdown"]) {
      this.logEl.addEventListener(type, touched, { passive: true });
    }
    this.logEl.addEventListener("scroll", () => {
      if (!this.touched) return;
      this.touched = false;
      const e = this.logEl;
      this.stick = e.scrollHeight - e.scrollTop - e.clientHeight < 40;
    });
    this.pendingEl = h("div", "nbav-pending");
    this.noticesEl = h("div", "nbav-notices");
    const form = h("div", "nbav-input");
    this.textEl = h("textarea", "nbav-textbox");
    this.textEl.rows = 2;
    this.textEl.placeholder = "Message the agent (Ctrl+Enter sends)";
    this.textEl.dataset.role = "message";
    this.textEl.addEventListener("keydown", (e) => {
      e.stopPropagation(); // keep JupyterLab's shortcuts out of the text box
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) this.sendText();
    });
    this.sendBtn = this.button("Send", "send", "nbav-btn-primary", () => this.sendText());
    form.append(this.textEl, this.sendBtn);
    el.append(head, this.timeline.el, this.logEl, this.pendingEl, this.noticesEl, form);
  }

  button(label, action, cls, onclick) {
    const b = h("button", `nbav-btn ${cls || ""}`, label);
    b.type = "button";
    b.dataset.action = action;
    b.addEventListener("click", onclick);
    return b;
  }

  // ---- updates from the store

  update(changed, previews, spans) {
    const st = this.store;
    const lo = Math.max(0, st.count - this.maxRows());
    const add = [];
    let rebuild = false;
    for (const n of changed) {
      if (n < lo) continue;
      if (this.dom.has(n)) this.replaceRow(n);
      else if (n > this.last) add.push(n);
      else rebuild = true; // a backfilled row inside the window
    }
    if (rebuild) this.renderRows();
    else {
      if (add.length) {
        add.sort((a, b) => a - b);
        const frag = document.createDocumentFragment();
        for (const n of add) frag.appendChild(this.newRow(n));
        this.rowsEl.appendChild(frag);
      }
      this.trim(lo);
    }
    for (const id of previews) this.renderPreview(id);
    if (spans.size) this.timeline.update(spans);
    this.renderPending();
    this.renderCount();
    this.follow();
  }

  maxRows() {
    return Math.max(1, this.model.get("max_rows") || 500);
  }

  follow() {
    // Scroll to the newest row at the next frame (one layout per frame, not one per message).
    // Rows are laid out only once visible (content-visibility), and may then grow from their
    // estimated height: keep going for a few frames until the end stays in view.
    if (!this.stick || this.scrolling) return;
    this.scrolling = true;
    let frames = 0;
    const toEnd = () => {
      const e = this.logEl;
      const gap = e.scrollHeight - e.scrollTop - e.clientHeight; // as the last frame left it
      if (this.stick && frames < 8 && (frames < 2 || gap > 1)) {
        frames++;
        e.scrollTop = e.scrollHeight;
        requestAnimationFrame(toEnd);
      } else this.scrolling = false;
    };
    requestAnimationFrame(toEnd);
  }

  newRow(n) {
    const e = this.renderRow(this.store.rows[n]);
    this.dom.set(n, e);
    this.last = Math.max(this.last, n);
    return e;
  }

  renderRows() {
    const st = this.store;
    this.rowsEl.replaceChildren();
    this.dom.clear();
    this.last = -1;
    const frag = document.createDocumentFragment();
    for (let n = Math.max(0, st.count - this.maxRows()); n < st.count; n++) {
      if (st.rows[n] !== undefined) frag.appendChild(this.newRow(n));
    }
    this.rowsEl.appendChild(frag);
    this.renderCount();
    this.renderPending();
    this.follow();
  }

  trim(lo) {
    for (const [n, e] of this.dom) {
      if (n >= lo) break;
      e.remove();
      this.dom.delete(n);
    }
  }

  replaceRow(n) {
    const old = this.dom.get(n);
    const e = this.renderRow(this.store.rows[n]);
    const wasOpen = old.querySelector("details")?.open;
    if (wasOpen) e.querySelector("details")?.setAttribute("open", "");
    old.replaceWith(e);
    this.dom.set(n, e);
  }

  renderCount() {
    const st = this.store;
    const hidden = Math.max(0, st.count - this.maxRows());
    this.el.dataset.count = String(st.count);
    let text = hidden ? `${fmtInt(hidden)} earlier events hidden` : "";
    if (st.prefix < st.count) text += `${text ? " · " : ""}loading ${fmtInt(st.count - st.prefix)} events…`;
    this.hiddenEl.textContent = text;
    this.hiddenEl.hidden = !text;
  }

  renderStatus() {
    const s = this.model.get("status") || "idle";
    this.el.dataset.status = s;
    this.statusEl.textContent = `● ${s}`;
    this.statusEl.className = `nbav-status nbav-st-${s}`;
    this.interruptBtn.disabled = this.interrupting || !(s === "running" || s === "rescheduling");
    this.sendBtn.disabled = this.sending || s === "terminated";
    this.textEl.disabled = s === "terminated";
    this.pendingKey = null;
    this.renderPending();
  }

  renderInfo() {
    const info = this.model.get("info") || {};
    this.titleEl.textContent = info.title || "untitled session";
    this.idEl.textContent = info.id || "";
    this.modelEl.textContent = info.model || "";
    this.modelEl.title = info.model || "";
    const u = info.usage || {};
    let usage = `${fmtInt(u.input_tokens)} in · ${fmtInt(u.output_tokens)} out`;
    if (u.cache_read_input_tokens) usage += ` · ${fmtInt(u.cache_read_input_tokens)} cached`;
    this.usageEl.textContent = usage;
    this.usageEl.title = Object.entries(u).map(([k, v]) => `${k}: ${fmtInt(v)}`).join("\n");
    const c = info.cost;
    this.costEl.textContent = typeof c === "number" ? `$${c < 1 ? c.toFixed(4) : c.toFixed(2)}` : "cost n/a";
    this.costEl.title = "estimated cost (USD)";
  }

  // ---- rows

  renderRow(r) {
    const st = this.store;
    const row = h("div", `nbav-row nbav-k-${r.k}`);
    row.dataset.n = String(r.n);
    row.dataset.kind = r.k;
    if (r.id) row.dataset.eventId = r.id;
    const label = h("span", "nbav-label");
    const body = h("div", "nbav-body");
    const clock = typeof r.t === "number" && st.t0 !== null ? fmtClock(st.t0 + r.t) : r.q ? "queued" : "";
    const meta = (cls) => row.classList.add("nbav-meta", ...(cls ? [cls] : []));
    switch (r.k) {
      case "user":
      case "agent":
      case "system":
        label.textContent = r.k === "user" ? "you" : r.k;
        body.append(h("div", "nbav-text", r.x || ""));
        break;
      case "thinking":
        meta();
        body.textContent = "thinking…";
        break;
      case "tool":
        label.textContent = "tool";
        body.append(this.toolDetails(r));
        break;
      case "result":
        this.resultLine(r, row, body);
        break;
      case "confirm": {
        meta(r.ok ? null : "nbav-warn");
        const name = toolName(st.rows[st.tools.get(r.ref)]);
        body.textContent = r.ok ? `✓ approved ${name}` : `✗ denied ${name}${r.x ? ": " + r.x : ""}`;
        break;
      }
      case "interrupt":
        meta("nbav-warn");
        body.textContent = "■ interrupt"; // U+25A0; ⏹ (U+23F9) is missing from common fonts such as DejaVu
        break;
      case "status":
        meta(r.x === "requires_action" ? "nbav-warn" : null);
        body.textContent = `● ${r.st}${r.x ? " · " + r.x.replace(/_/g, " ") : ""}`;
        break;
      case "error":
        row.classList.add("nbav-err");
        label.textContent = "error";
        body.append(h("strong", null, r.et || "error"), ` ${r.rs ? `(${r.rs}) ` : ""}`, h("span", "nbav-text", r.x || ""));
        break;
      case "mreq":
        meta();
        body.textContent = "▸ model request";
        break;
      case "mend": {
        meta(r.err ? "nbav-err" : null);
        const s = st.spans.get(r.ref);
        const dur = s && s.start !== null && typeof r.t === "number" ? ` · ${fmtDur(r.t - s.start)}` : "";
        const u = r.u || [0, 0, 0, 0];
        const cached = u[2] ? ` · ${fmtInt(u[2])} cached` : "";
        body.textContent = `◂ model request${r.err ? " failed" : ""}${dur} · ${fmtInt(u[0])} in · ${fmtInt(u[1])} out${cached}`;
        break;
      }
      default:
        meta();
        body.textContent = `${r.ty || "event"}${r.x ? ": " + clip(r.x, 200) : ""}`;
    }
    row.append(label, body, h("span", "nbav-time", clock));
    return row;
  }

  toolDetails(r) {
    const st = this.store;
    const d = h("details", "nbav-tool");
    const summary = h("summary");
    summary.append(h("strong", null, toolName(r)), h("code", "nbav-sum", inputSummary(r.in)), this.toolBadge(r));
    d.append(summary, h("div", "nbav-sec", "input"), h("pre", "nbav-pre", inputText(r.in)));
    const res = st.results.get(r.id);
    if (res) {
      d.append(h("div", "nbav-sec", res.err ? "error" : "result"));
      d.append(h("pre", `nbav-pre${res.err ? " nbav-pre-err" : ""}`, res.x || "(no output)"));
    }
    return d;
  }

  toolBadge(r) {
    const st = this.store;
    const res = st.results.get(r.id);
    const conf = st.confirms.get(r.id);
    const badge = (text, cls) => h("span", `nbav-badge nbav-badge-${cls}`, text);
    if (res) {
      const dur = typeof res.t === "number" && typeof r.t === "number" ? ` · ${fmtDur(res.t - r.t)}` : "";
      return badge(`${res.err ? "error" : "ok"}${dur}`, res.err ? "err" : "ok");
    }
    if (conf) return conf.ok ? badge("approved", "run") : badge("denied", "err");
    if (r.perm === "ask") return badge("awaiting approval", "warn");
    if (r.perm === "deny") return badge("denied by policy", "err");
    return badge("running…", "run");
  }

  resultLine(r, row, body) {
    const st = this.store;
    row.classList.add("nbav-meta");
    if (r.err) row.classList.add("nbav-err");
    const toolN = st.tools.get(r.ref);
    const tool = toolN === undefined ? undefined : st.rows[toolN];
    const dur = tool && typeof tool.t === "number" && typeof r.t === "number" ? ` · ${fmtDur(r.t - tool.t)}` : "";
    const size = r.x ? ` · ${fmtInt(r.tr || r.x.length)} chars` : "";
    const line = `↳ ${toolName(tool)} ${r.err ? "failed" : "done"}${dur}${size}`;
    if (toolN !== undefined && this.dom.has(toolN)) {
      body.textContent = line; // the output is in the tool call's details
      return;
    }
    const d = h("details", "nbav-tool");
    d.append(h("summary", null, line), h("pre", `nbav-pre${r.err ? " nbav-pre-err" : ""}`, r.x || "(no output)"));
    body.append(d);
  }

  renderPreview(id) {
    const p = this.store.previews.get(id);
    let e = this.pv.get(id);
    if (!p) {
      if (e) e.remove();
      this.pv.delete(id);
      return;
    }
    const thinking = p.ty === "agent.thinking";
    if (!e) {
      e = h("div", `nbav-row nbav-preview ${thinking ? "nbav-meta" : "nbav-k-agent"}`);
      e.dataset.kind = "preview";
      e.dataset.eventId = id;
      e.append(h("span", "nbav-label", thinking ? "" : "agent"), h("div", "nbav-body"), h("span", "nbav-time", "…"));
      this.previewsEl.append(e);
      this.pv.set(id, e);
    }
    e.children[1].textContent = thinking ? "thinking…" : p.parts.join("");
  }

  // ---- actions

  renderPending() {
    const st = this.store;
    const ids = this.model.get("status") === "terminated" ? [] : st.pending().filter((id) => st.tools.has(id));
    for (const id of this.busy.keys()) if (!ids.includes(id)) this.busy.delete(id);
    const key = ids.map((id) => `${id}:${this.busy.get(id) || ""}`).join(",");
    this.el.dataset.awaiting = String(ids.length);
    if (key === this.pendingKey) return;
    this.pendingKey = key;
    this.pendingEl.replaceChildren();
    for (const id of ids) {
      const r = st.rows[st.tools.get(id)];
      const box = h("div", "nbav-ask");
      box.dataset.toolUseId = id;
      const what = h("span", "nbav-ask-what");
      what.append(h("strong", null, toolName(r)), " wants to run ", h("code", null, inputSummary(r.in)));
      const reason = h("input", "nbav-reason");
      reason.placeholder = "reason (sent with Deny)";
      reason.addEventListener("keydown", (e) => e.stopPropagation());
      const approve = this.button("Approve", "approve", "nbav-btn-primary", () => this.confirm(id, true, ""));
      const deny = this.button("Deny", "deny", "nbav-btn-danger", () => this.confirm(id, false, reason.value));
      approve.dataset.toolUseId = id;
      deny.dataset.toolUseId = id;
      const busy = this.busy.get(id);
      if (busy) {
        approve.disabled = deny.disabled = reason.disabled = true;
        (busy === "approve" ? approve : deny).textContent = busy === "approve" ? "Approving…" : "Denying…";
      }
      box.append(what, reason, approve, deny);
      this.pendingEl.append(box);
    }
  }

  confirm(id, allow, message) {
    const name = toolName(this.store.rows[this.store.tools.get(id)]);
    this.busy.set(id, allow ? "approve" : "deny");
    this.renderPending();
    const payload = { type: "confirm", tool_use_id: id, allow };
    if (!allow && message.trim()) payload.message = message.trim();
    this.store.act(payload, (res) => {
      if (res.ok) return; // the button goes away when the confirmation reaches the log
      this.busy.delete(id);
      this.notice(`Could not ${allow ? "approve" : "deny"} ${name}: ${res.error}`);
      this.renderPending();
    });
  }

  interrupt() {
    this.interrupting = true;
    this.renderStatus();
    this.store.act({ type: "interrupt" }, (res) => {
      this.interrupting = false;
      if (!res.ok) this.notice(`Could not interrupt: ${res.error}`);
      this.renderStatus();
    });
  }

  sendText() {
    const text = this.textEl.value;
    if (!text.trim() || this.sending) return;
    this.sending = true;
    this.sendBtn.textContent = "Sending…";
    this.renderStatus();
    this.store.act({ type: "send", text }, (res) => {
      this.sending = false;
      this.sendBtn.textContent = "Send";
      if (res.ok && this.textEl.value === text) this.textEl.value = "";
      if (!res.ok) this.notice(`Could not send the message: ${res.error}`);
      this.renderStatus();
    });
  }

  notice(text) {
    const n = h("div", "nbav-notice");
    n.dataset.role = "notice";
    const close = h("button", "nbav-notice-close", "×");
    close.type = "button";
    close.title = "dismiss";
    close.addEventListener("click", () => n.remove());
    n.append(h("span", null, text), close);
    this.noticesEl.append(n);
    while (this.noticesEl.children.length > 5) this.noticesEl.firstChild.remove();
  }
}

export default {
  initialize({ model }) {
    const store = getStore(model);
    return () => {
      STORES.delete(model.get("uid"));
      store.views.clear();
    };
  },
  render({ model, el }) {
    const view = new View(getStore(model), model, el);
    return () => view.dispose();
  },
};

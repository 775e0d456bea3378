// nb_agents live session view: an anywidget ES module. Self-contained: no imports, no network,
// no build step. The Python side and the message protocol are described in
// nb_agents/notebook/_view.py (messages) and nb_agents/notebook/_view_model.py (row fields).
//
// One Store per widget model (created in `initialize`, so no message is missed before a view
// renders) holds the rows by position `n` (sparse while a backfill is on its way); every view
// of the model draws from it: the last `max_rows` rows, the pending approvals, the timeline.
// Test hooks: el.dataset.count (events in the log), .status, .awaiting, .shown (rows the search
// and the filters leave visible); buttons carry data-action="approve|deny|interrupt|send|full"
// and data-tool-use-id; the search box is [data-role=search], the filters [data-filter=…].
//
// Markup in rows (`h`: messages, images; `hl`: an approval's input) was made on the Python side
// from agent text by a Markdown parser with raw HTML off and then an allow-list sanitiser
// (nb_agents/notebook/_markdown.py); it is the only HTML set with innerHTML here.

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
function markup(cls, html) {
  const e = h("div", cls);
  e.innerHTML = html; // sanitised on the Python side (see the header)
  return e;
}
// Which filter a row belongs to: messages, tools, model requests, errors, or other (status …).
function group(r) {
  if (r.k === "error" || (r.err && !r.o && (r.k === "result" || r.k === "mend"))) return "errors";
  if (r.k === "user" || r.k === "agent" || r.k === "system" || r.k === "thinking") return "messages";
  if (r.k === "tool" || r.k === "result" || r.k === "confirm") return "tools";
  if (r.k === "mreq" || r.k === "mend") return "model";
  return "other";
}
const FILTERS = [
  ["messages", "messages"],
  ["tools", "tools"],
  ["model", "model requests"],
  ["errors", "errors"],
  ["other", "status"],
];

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
    this.spans = new Map(); // span id -> {start, end, ready, lane, kind, label, err, outcome, usage}
    this.mreqs = new Map(); // model request start id -> n
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
    // A saved notebook without a kernel never answers: after a while, say so instead of "loading".
    clearTimeout(this.syncTimer);
    if (this.syncing) {
      this.syncTimer = setTimeout(() => {
        if (!this.syncing) return;
        this.syncing = false;
        this.offline = true;
        for (const view of this.views) view.renderCount();
      }, 5000);
    }
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
      this.offline = false;
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
        this.spanEnd(r.ref, r.t, !!r.err && !r.o, null, spans, r.o);
        break;
      case "confirm":
        this.confirms.set(r.ref, r);
        touch(r.ref);
        this.spanWait(r.ref, r.t, spans);
        if (!r.ok) this.spanEnd(r.ref, r.t, false, null, spans, "denied");
        break;
      case "mreq":
        this.mreqs.set(r.id, r.n);
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

  spanEnd(id, t, err, usage, spans, outcome) {
    if (typeof t !== "number" || !id) return;
    let s = this.spans.get(id);
    if (!s) this.spans.set(id, (s = { start: null, end: null, err: false })); // the end came first (backfill)
    if (s.outcome === "denied") return; // the result of a denied call: it never ran
    s.end = t;
    s.err = s.err || err;
    if (outcome) s.outcome = outcome;
    if (usage) s.usage = usage;
    spans.add(id);
  }

  spanWait(id, t, spans) {
    // A call that waited for approval: the wait ends, and the tool's own time starts, here.
    if (typeof t !== "number" || !id) return;
    let s = this.spans.get(id);
    if (!s) this.spans.set(id, (s = { start: null, end: null, err: false }));
    s.ready = t;
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

  rect(key, fresh) {
    let r = this.rects.get(key);
    if (!r) {
      r = document.createElementNS(SVG_NS, "rect");
      r.appendChild(document.createElementNS(SVG_NS, "title"));
      fresh.appendChild(r);
      this.rects.set(key, r);
    }
    return r;
  }

  draw(id, fresh) {
    // A tool call that waited for approval is two bars: the wait (hatched, the warning colour)
    // and the tool's own time from the approval on. A denied call is only its wait.
    const s = this.store.spans.get(id);
    if (!s || s.start === null) return;
    const waited = typeof s.ready === "number" && s.ready >= s.start;
    if (waited || this.store.asks.has(id)) {
      const w = this.rect(`${id}:wait`, fresh);
      const until = waited ? s.ready : null;
      w.setAttribute("x", s.start / 1000);
      w.setAttribute("y", s.lane + 0.2);
      w.setAttribute("height", 0.6);
      w.setAttribute("class", `nbav-bar nbav-bar-wait${until === null ? " nbav-bar-open" : ""}`);
      if (until === null) {
        w.setAttribute("width", 0);
        if (s.end === null && this.store.asks.has(id)) this.open.add(`${id}:wait`);
        else this.open.delete(`${id}:wait`);
      } else {
        this.open.delete(`${id}:wait`);
        w.setAttribute("width", Math.max(0, (until - s.start) / 1000));
      }
      w.firstChild.textContent = `${s.label} · waited for approval${until === null ? "" : " " + fmtDur(until - s.start)}`;
    }
    const r = this.rect(id, fresh);
    const from = waited ? s.ready : s.start;
    const asking = !waited && this.store.asks.has(id);
    const open = s.end === null;
    const outcome = s.outcome || (s.err ? "error" : "");
    r.setAttribute("x", from / 1000);
    r.setAttribute("y", s.lane + 0.2);
    r.setAttribute("height", 0.6);
    const cls = outcome === "denied" ? " nbav-bar-denied" : outcome === "interrupted" ? " nbav-bar-int" : s.err ? " nbav-bar-err" : "";
    r.setAttribute("class", `nbav-bar nbav-bar-${s.kind}${cls}${open ? " nbav-bar-open" : ""}`);
    if (open && !asking) this.open.add(id);
    else {
      this.open.delete(id);
      r.setAttribute("width", open || outcome === "denied" ? 0 : Math.max(0, (s.end - from) / 1000));
    }
    const usage = s.usage ? ` · ${fmtInt(s.usage[0])} in / ${fmtInt(s.usage[1])} out` : "";
    const took = open ? (asking ? "awaiting approval" : "running") : outcome === "denied" ? "" : fmtDur(s.end - from);
    const parts = [s.label, took, outcome && outcome !== "ok" ? outcome : ""].filter(Boolean);
    r.firstChild.textContent = parts.join(" · ") + usage;
  }

  commit() {
    const st = this.store;
    if (!this.rects.size) return;
    this.el.hidden = false;
    for (const key of this.open) {
      const wait = key.endsWith(":wait");
      const s = st.spans.get(wait ? key.slice(0, -5) : key);
      const from = !wait && typeof s.ready === "number" ? s.ready : s.start;
      this.rects.get(key).setAttribute("width", Math.max(0, (st.tmax - from) / 1000));
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
    this.query = ""; // the search box, lower case
    this.hidden = new Set(); // filters switched off
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
    const bar = h("div", "nbav-bar-tools");
    this.searchEl = h("input", "nbav-search");
    this.searchEl.type = "search";
    this.searchEl.placeholder = "Search the log";
    this.searchEl.dataset.role = "search";
    this.searchEl.addEventListener("keydown", (e) => e.stopPropagation());
    this.searchEl.addEventListener("input", () => {
      this.query = this.searchEl.value.trim().toLowerCase();
      this.filterAll();
    });
    bar.append(this.searchEl);
    for (const [key, label] of FILTERS) {
      const chip = h("button", "nbav-chip nbav-chip-on", label);
      chip.type = "button";
      chip.dataset.filter = key;
      chip.title = `show or hide ${label}`;
      chip.setAttribute("aria-pressed", "true");
      chip.addEventListener("click", () => {
        const off = !this.hidden.has(key);
        off ? this.hidden.add(key) : this.hidden.delete(key);
        chip.classList.toggle("nbav-chip-on", !off);
        chip.setAttribute("aria-pressed", String(!off));
        this.filterAll();
      });
      bar.append(chip);
    }
    this.shownEl = h("span", "nbav-shown");
    bar.append(this.shownEl, h("span", "nbav-spacer"));
    this.fullBtn = this.button("Expand", "full", "", () => {
      const full = !el.classList.contains("nbav-full");
      el.classList.toggle("nbav-full", full);
      this.fullBtn.textContent = full ? "Collapse" : "Expand";
      this.fullBtn.title = full ? "back to a scrolling log" : "reading mode: the whole log at full height";
    });
    this.fullBtn.title = "reading mode: the whole log at full height";
    bar.append(this.fullBtn);
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
    el.append(head, this.timeline.el, bar, this.logEl, this.pendingEl, this.noticesEl, form);
  }

  button(label, action, cls, onclick) {
    const b = h("button", `nbav-btn ${cls || ""}`, label);
    b.type = "button";
    b.dataset.action = action;
    b.addEventListener("click", onclick);
    return b;
  }

  // ---- search and filters

  matches(e) {
    if (this.hidden.has(e.dataset.group)) return false;
    return !this.query || e.textContent.toLowerCase().includes(this.query);
  }

  filterRow(e) {
    const show = this.matches(e);
    e.classList.toggle("nbav-filtered", !show);
    return show;
  }

  filterAll() {
    let shown = 0;
    for (const e of this.dom.values()) if (this.filterRow(e)) shown++;
    this.renderShown(shown);
  }

  renderShown(shown) {
    if (shown === undefined && !(this.query || this.hidden.size)) shown = this.dom.size;
    if (shown === undefined) {
      shown = 0;
      for (const e of this.dom.values()) if (!e.classList.contains("nbav-filtered")) shown++;
    }
    this.el.dataset.shown = String(shown);
    const filtering = this.query || this.hidden.size;
    this.shownEl.textContent = filtering ? `${fmtInt(shown)} of ${fmtInt(this.dom.size)} rows` : "";
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
    if (this.query || this.hidden.size) this.filterRow(e);
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
    if (this.query || this.hidden.size) this.filterRow(e);
    old.replaceWith(e);
    this.dom.set(n, e);
  }

  renderCount() {
    const st = this.store;
    const hidden = Math.max(0, st.count - this.maxRows());
    this.el.dataset.count = String(st.count);
    let text = hidden ? `${fmtInt(hidden)} earlier events hidden` : "";
    if (st.prefix < st.count) {
      const missing = fmtInt(st.count - st.prefix);
      text += text ? " · " : "";
      text += st.offline ? `${missing} earlier events are not in this saved view (no kernel)` : `loading ${missing} events…`;
    }
    this.hiddenEl.textContent = text;
    this.hiddenEl.hidden = !text;
    this.renderShown();
  }

  renderLabel(waiting) {
    // "waiting for you" (the warning colour) while a call waits for approval, else the status.
    const s = this.model.get("status") || "idle";
    const label = waiting && s !== "terminated" ? "waiting for you" : s;
    this.statusEl.textContent = `● ${label}`;
    this.statusEl.className = `nbav-status nbav-st-${waiting && s !== "terminated" ? "waiting" : s}`;
  }

  renderStatus() {
    const s = this.model.get("status") || "idle";
    this.el.dataset.status = s;
    this.renderLabel(this.el.dataset.awaiting > 0);
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
    const spend = info.spend || {};
    if (spend.spent || spend.budget) {
      // what the runtime reports (session.usage), against the session's budget when it has one
      this.costEl.textContent = spend.budget ? `${spend.spent || "$0.00"} of ${spend.budget} budget` : spend.spent;
      this.costEl.title = "spend as the runtime reports it (list prices)";
    } else {
      this.costEl.textContent = typeof c === "number" ? `$${c < 1 ? c.toFixed(4) : c.toFixed(2)}` : "cost n/a";
      this.costEl.title = typeof c === "number" ? "estimated cost (USD, list prices)" : "no price is known for this model";
    }
  }

  conversationBefore(n) {
    // What the request carried: the messages and tool calls of the log before it.
    if (n === undefined) return "n/a";
    let user = 0, agent = 0, tools = 0;
    for (let i = 0; i < n; i++) {
      const k = this.store.rows[i]?.k;
      if (k === "user") user++;
      else if (k === "agent") agent++;
      else if (k === "tool") tools++;
    }
    return `${user} user messages, ${agent} agent messages, ${tools} tool calls and their results`;
  }

  // ---- rows

  renderRow(r) {
    const st = this.store;
    const row = h("div", `nbav-row nbav-k-${r.k}`);
    row.dataset.n = String(r.n);
    row.dataset.kind = r.k;
    row.dataset.group = group(r);
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
        body.append(r.h ? markup("nbav-md", r.h) : h("div", "nbav-text", r.x || ""));
        break;
      case "thinking": {
        meta();
        // The log marks that the model thought, not what (the API sends no thinking text).
        const d = h("details", "nbav-tool nbav-think");
        const summary = h("summary", null, "thinking");
        d.append(summary, h("div", "nbav-note", ""));
        d.addEventListener("toggle", () => {
          // how long, from the request's start to the next event, once that is known
          const next = st.rows[r.n + 1];
          const took = next && typeof next.t === "number" && typeof r.t === "number" ? `${fmtDur(next.t - r.t)} until the next event. ` : "";
          d.lastChild.textContent = `The model thought here: ${took}The event log records that it did, not what it thought.`;
        });
        body.append(d);
        break;
      }
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
      case "usage":
        meta();
        body.textContent = `spend ${r.x || "n/a"}${r.bx ? ` of ${r.bx} budget` : ""}`;
        break;
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
        const d = h("details", "nbav-tool");
        d.append(h("summary", null, `◂ model request${r.err ? " failed" : ""}${dur} · ${fmtInt(u[0])} in · ${fmtInt(u[1])} out${cached}`));
        d.addEventListener("toggle", () => {
          if (!d.open || d.children.length > 1) return; // built when first opened
          const table = h("table", "nbav-kv");
          const kv = [
            ["duration", dur ? dur.slice(3) : "n/a"],
            ["input tokens (uncached)", fmtInt(u[0])],
            ["output tokens", fmtInt(u[1])],
            ["cache read", fmtInt(u[2])],
            ["cache write", fmtInt(u[3])],
            ["conversation sent", this.conversationBefore(st.mreqs.get(r.ref))],
          ];
          const info = this.model.get("info") || {};
          if (info.tools) kv.push(["tools offered", info.tools.join(", ")]);
          if (info.system) kv.push(["system prompt", info.system.length > 600 ? info.system.slice(0, 599) + "…" : info.system]);
          for (const [k, v] of kv) {
            const tr = h("tr");
            tr.append(h("th", null, k), h("td", null, v));
            table.append(tr);
          }
          const note = "What every request of this session carries: the agent's system prompt and tools, and the conversation so far.";
          d.append(table, h("div", "nbav-note", note));
        });
        body.append(d);
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
    const wait = this.waited(r);
    if (wait) summary.append(h("span", "nbav-waited", `waited ${fmtDur(wait)} for approval`));
    d.append(summary, h("div", "nbav-sec", "input"), r.hl ? markup("nbav-input-hl", r.hl) : h("pre", "nbav-pre", inputText(r.in)));
    const res = st.results.get(r.id);
    if (res) {
      const failed = res.err && !res.o;
      d.append(h("div", "nbav-sec", res.o || (res.err ? "error" : "result")));
      d.append(h("pre", `nbav-pre${failed ? " nbav-pre-err" : ""}`, res.x || "(no output)"));
      if (res.h) d.append(markup("nbav-md", res.h));
    }
    return d;
  }

  waited(r) {
    // The time a call waited for approval (the confirmation's time less the call's), or 0.
    const conf = this.store.confirms.get(r.id);
    return conf && typeof conf.t === "number" && typeof r.t === "number" ? Math.max(0, conf.t - r.t) : 0;
  }

  ranFor(r, res) {
    // The tool's own time: from the approval (or the call) to the result; the wait is not in it.
    const conf = this.store.confirms.get(r.id);
    const from = conf && typeof conf.t === "number" ? conf.t : r.t;
    return typeof res.t === "number" && typeof from === "number" ? Math.max(0, res.t - from) : null;
  }

  toolBadge(r) {
    const st = this.store;
    const res = st.results.get(r.id);
    const conf = st.confirms.get(r.id);
    const badge = (text, cls) => h("span", `nbav-badge nbav-badge-${cls}`, text);
    if (res) {
      if (res.o === "denied") return badge(r.perm === "deny" ? "denied by policy" : "denied", "warn");
      const took = this.ranFor(r, res);
      const dur = took === null ? "" : ` · ${fmtDur(took)}`;
      if (res.o === "interrupted") return badge(`interrupted${dur}`, "warn");
      return badge(`${res.err ? "error" : "ok"}${dur}`, res.err ? "err" : "ok");
    }
    if (conf) return conf.ok ? badge("approved · running…", "run") : badge("denied", "warn");
    if (r.perm === "ask") return badge("awaiting approval", "warn");
    if (r.perm === "deny") return badge("denied by policy", "warn");
    return badge("running…", "run");
  }

  resultLine(r, row, body) {
    const st = this.store;
    row.classList.add("nbav-meta");
    if (r.err) row.classList.add("nbav-err");
    const toolN = st.tools.get(r.ref);
    const tool = toolN === undefined ? undefined : st.rows[toolN];
    const took = tool ? this.ranFor(tool, r) : null;
    const dur = took === null || r.o === "denied" ? "" : ` · ${fmtDur(took)}`;
    const wait = tool ? this.waited(tool) : 0;
    const waited = wait ? ` (waited ${fmtDur(wait)} for approval)` : "";
    const size = r.x ? ` · ${fmtInt(r.tr || r.x.length)} chars` : "";
    const what = r.o || (r.err ? "failed" : "done");
    if (r.o) row.classList.replace("nbav-err", "nbav-warn");
    const line = `↳ ${toolName(tool)} ${what}${dur}${waited}${size}`;
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
    this.renderLabel(ids.length > 0);
    if (key === this.pendingKey) return;
    this.pendingKey = key;
    this.pendingEl.replaceChildren();
    for (const id of ids) {
      const r = st.rows[st.tools.get(id)];
      const box = h("div", "nbav-ask");
      box.dataset.toolUseId = id;
      const what = h("div", "nbav-ask-what");
      const verb = r.name === "write" ? " wants to write" : r.name === "edit" ? " wants to edit" : " wants to run";
      what.append(h("strong", null, toolName(r)), verb, ":");
      // the whole input, highlighted, scrollable: what you approve is what runs
      const input = r.hl ? markup("nbav-ask-input", r.hl) : h("pre", "nbav-ask-input nbav-pre", inputText(r.in));
      input.dataset.role = "approval-input";
      const actions = h("div", "nbav-ask-actions");
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
      actions.append(reason, approve, deny);
      box.append(what, input, actions);
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

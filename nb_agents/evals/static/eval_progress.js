// nb_agents evaluation progress: an anywidget ES module (no imports, no network, no build step).
// The Python side (nb_agents/evals/_progress.py) sets one trait, `summary`: counts, pass rate,
// spend vs budget and one row per task × epoch. A click on a session id sends
// {type: "open", session_id}; Python shows that session's live view under the board.
// Test hooks: el.dataset.done / .running / .failed / .total.

function h(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}
const usd = (v) => (v === null || v === undefined ? "" : `$${Number(v).toFixed(4)}`);

function draw(el, model) {
  const s = model.get("summary") || {};
  const total = s.total || 0;
  for (const k of ["done", "running", "failed", "total"]) el.dataset[k] = String(s[k] ?? 0);
  el.replaceChildren();
  const head = h("div", "nba-eval-head");
  head.append(h("b", null, `evaluation ${s.name || ""}`));
  const rate = s.pass_rate === null || s.pass_rate === undefined ? "–" : `${Math.round(s.pass_rate * 100)}%`;
  const spend = s.budget_usd ? `${usd(s.spend_usd)} of ${usd(s.budget_usd)}` : usd(s.spend_usd);
  head.append(
    h(
      "span",
      null,
      ` · ${s.done || 0} done, ${s.running || 0} running, ${s.failed || 0} failed, ${s.queued || 0} queued of ${total}` +
        ` · passed ${s.passed || 0}/${s.judged || 0} (${rate}) · spend ${spend} · ${s.elapsed_s || 0} s`,
    ),
  );
  el.append(head);
  const bar = h("div", "nba-eval-bar");
  for (const k of ["done", "failed", "running"]) {
    const part = h("span", `nba-eval-${k}`);
    part.style.width = total ? `${(100 * (s[k] || 0)) / total}%` : "0";
    bar.append(part);
  }
  el.append(bar);
  const table = h("table", "nba-eval-rows");
  const top = h("tr");
  for (const c of ["task", "epoch", "state", "passed", "session"]) top.append(h("th", null, c));
  table.append(top);
  for (const r of s.rows || []) {
    const tr = h("tr", `nba-eval-${r.state}`);
    tr.append(h("td", null, r.task_id), h("td", null, r.epoch), h("td", null, r.state));
    tr.append(h("td", null, r.passed === null || r.passed === undefined ? "" : r.passed ? "✓" : "✗"));
    const cell = h("td");
    if (r.session_id) {
      const link = h("a", "nba-eval-link", r.session_id);
      link.href = "#";
      link.title = "show this session's live view below";
      link.onclick = (ev) => {
        ev.preventDefault();
        model.send({ type: "open", session_id: r.session_id });
      };
      cell.append(link);
    }
    tr.append(cell);
    table.append(tr);
  }
  const scroll = h("div", "nba-eval-scroll");
  scroll.append(table);
  el.append(scroll);
}

export default {
  render({ model, el }) {
    el.classList.add("nba-eval");
    const redraw = () => draw(el, model);
    model.on("change:summary", redraw);
    redraw();
    return () => model.off("change:summary", redraw);
  },
};

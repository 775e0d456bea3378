"""Run the live view's ES module in headless Chromium, without Jupyter (tests and benchmarks).

The page loads ``static/session_view.js`` and its CSS, gives it a stand-in for the anywidget
model (``get``/``set``/``on``/``off``/``send``), renders one view, answers its sync request
with the replies given, delivers the messages given (forcing a layout after each, as a browser
would between two messages), runs an optional script (clicks …) and writes a JSON report into
the page, read back over the DevTools protocol (tornado's websocket client, an ipykernel
dependency). Timings are real: JavaScript, style and layout; painting is not included.

```python
report = run_page(state, feed=[...], replies=[...], script="click('approve')")
report["count"], report["rows"], report["sent"], report["ms"]
```
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

__all__ = ["chromium", "run_page", "sample_events", "view_state"]

_STATIC = Path(__file__).resolve().parents[1] / "nb_agents" / "notebook" / "static"
_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><style>__CSS__</style></head>
<body style="margin:8px;background:#fff">
<div id="root" style="width:1100px"></div>
<pre id="nbav-result"></pre>
<script type="module">
import widget from "data:text/javascript;base64,__ESM__";
const report = { errors: [] };
window.addEventListener("error", (e) => report.errors.push(String(e.message)));
const state = __STATE__, feed = __FEED__, replies = __REPLIES__;
class Model {
  constructor(s) { this.s = s; this.h = new Map(); this.sent = []; }
  get(k) { return this.s[k]; }
  set(k, v) { this.s[k] = v; this.emit("change:" + k); }
  on(ev, cb) { if (!this.h.has(ev)) this.h.set(ev, []); this.h.get(ev).push(cb); }
  off(ev, cb) { if (this.h.has(ev)) this.h.set(ev, this.h.get(ev).filter((f) => f !== cb)); }
  emit(ev, ...a) { for (const cb of [...(this.h.get(ev) || [])]) cb(...a); }
  save_changes() {}
  send(msg) {
    this.sent.push(msg);
    if (msg.type === "sync") for (const r of replies) this.queue.push({ ...r, view: msg.view });
  }
}
const model = new Model(state);
model.queue = [];
const el = document.getElementById("root");
const deliver = (m) => { model.emit("msg:custom", m, []); void el.offsetHeight; };
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const click = (action, id) => {
  const sel = `button[data-action="${action}"]` + (id ? `[data-tool-use-id="${id}"]` : "");
  const b = el.querySelector(sel);
  if (!b) throw new Error("no button " + sel);
  b.click();
  return b;
};
try {
  let t = performance.now();
  widget.initialize?.({ model });
  widget.render({ model, el });
  while (model.queue.length) deliver(model.queue.shift());
  void el.offsetHeight;
  report.ms = { render: performance.now() - t };
  t = performance.now();
  for (const m of feed) { deliver(m); while (model.queue.length) deliver(model.queue.shift()); }
  report.ms.feed = performance.now() - t;
  await (async () => { __SCRIPT__ })();
} catch (err) { report.errors.push(String(err && err.stack || err)); }
report.count = el.dataset.count; report.status = el.dataset.status; report.awaiting = el.dataset.awaiting;
report.rows = el.querySelectorAll(".nbav-rows > .nbav-row").length;
report.previews = [...el.querySelectorAll(".nbav-preview .nbav-body")].map((e) => e.textContent);
report.hidden = el.querySelector(".nbav-hidden")?.textContent || "";
report.bars = el.querySelectorAll("rect.nbav-bar").length;
report.buttons = [...el.querySelectorAll("button[data-action]")].map((b) =>
  ({ action: b.dataset.action, id: b.dataset.toolUseId || null, disabled: b.disabled, text: b.textContent }));
report.notices = [...el.querySelectorAll("[data-role=notice] > span")].map((e) => e.textContent);
report.kinds = [...el.querySelectorAll(".nbav-rows > .nbav-row")].map((e) => e.dataset.kind);
report.text = el.textContent.slice(0, 200000);
report.sent = model.sent;
document.getElementById("nbav-result").textContent = JSON.stringify(report);
</script></body></html>
"""


def _script_json(value: Any) -> str:
    """JSON that is safe inside a ``<script>`` element (agent text may hold ``</script>``)."""
    return json.dumps(value).replace("</", "<\\/")


def chromium() -> str | None:
    """The path of a Chromium or Chrome binary, or None."""
    for name in _CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def view_state(view: Any) -> dict[str, Any]:
    """The synced traits of a ``SessionView``, as the browser's model would hold them."""
    return {key: getattr(view, key) for key in ("status", "info", "max_rows", "uid", "backlog")}


def run_page(
    state: dict[str, Any],
    feed: Sequence[dict[str, Any]] = (),
    replies: Sequence[dict[str, Any]] = (),
    script: str = "",
    *,
    screenshot: Path | None = None,
    timeout: float = 120.0,
) -> dict[str, Any]:
    """Render one view in headless Chromium and return the page's report.

    Args:
        state: The model's traits (see ``view_state``).
        feed: Custom messages delivered after the first render, in order.
        replies: Messages answering the view's sync request (``view`` is filled in).
        script: JavaScript run at the end (in an async function: ``await sleep(ms)`` works);
            ``click(action, toolUseId?)``, ``deliver(msg)``, ``model``, ``el``, ``report`` exist.
        screenshot: Also save a PNG of the page there, once the script is done.
        timeout: Seconds for the whole run.

    Raises:
        RuntimeError: Without a Chromium binary, or if the page gave no report.
    """
    binary = chromium()
    if binary is None:
        raise RuntimeError("no chromium binary on PATH")
    page = (
        _PAGE.replace("__CSS__", (_STATIC / "session_view.css").read_text())
        .replace("__ESM__", base64.b64encode((_STATIC / "session_view.js").read_bytes()).decode())
        .replace("__STATE__", _script_json(state))
        .replace("__FEED__", _script_json(list(feed)))
        .replace("__REPLIES__", _script_json(list(replies)))
        .replace("__SCRIPT__", script)
    )
    with tempfile.TemporaryDirectory(prefix="nbav-", ignore_cleanup_errors=True) as tmp:
        path = Path(tmp) / "view.html"
        path.write_text(page)
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--remote-debugging-port=0"]
        proc = subprocess.Popen(
            [binary, *flags, f"--user-data-dir={tmp}/profile", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            return asyncio.run(asyncio.wait_for(_drive(Path(tmp) / "profile", path, screenshot), timeout))
        except (OSError, asyncio.TimeoutError) as exc:
            raise RuntimeError(f"chromium did not run the page: {exc!r}") from exc
        finally:
            try:
                proc.wait(timeout=10)  # _drive asked it to close
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def _drive(profile: Path, page: Path, screenshot: Path | None) -> dict[str, Any]:
    """Load ``page`` in the running Chromium over the DevTools protocol; return its report."""
    from tornado.httpclient import AsyncHTTPClient
    from tornado.websocket import websocket_connect

    port_file = profile / "DevToolsActivePort"
    while not port_file.exists() or not port_file.read_text().strip():
        await asyncio.sleep(0.05)
    port = port_file.read_text().split()[0]
    targets = json.loads((await AsyncHTTPClient().fetch(f"http://127.0.0.1:{port}/json/list")).body)
    url = next(t["webSocketDebuggerUrl"] for t in targets if t.get("type") == "page")
    socket = await websocket_connect(url, max_message_size=1 << 28)
    counter = 0

    async def call(method: str, **params: Any) -> dict[str, Any]:
        nonlocal counter
        counter += 1
        socket.write_message(json.dumps({"id": counter, "method": method, "params": params}))
        while True:
            raw = await socket.read_message()
            if raw is None:
                raise RuntimeError("chromium closed the DevTools connection")
            message = json.loads(raw)
            if message.get("id") == counter:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result

    try:
        await call("Emulation.setDeviceMetricsOverride", width=1130, height=1400, deviceScaleFactor=1, mobile=False)
        await call("Page.navigate", url=page.as_uri())
        done = await call("Runtime.evaluate", expression=_AWAIT_REPORT, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in done:
            raise RuntimeError(f"the page failed: {done['exceptionDetails']}")
        if screenshot is not None:
            shot = await call("Page.captureScreenshot", format="png")
            screenshot.write_bytes(base64.b64decode(shot["data"]))
        report: dict[str, Any] = json.loads(done["result"]["value"])
        return report
    finally:
        socket.write_message(json.dumps({"id": counter + 1, "method": "Browser.close", "params": {}}))
        await socket.read_message()
        socket.close()


_AWAIT_REPORT = """new Promise((resolve) => {
  const check = () => { const r = document.getElementById("nbav-result");
    r && r.textContent ? resolve(r.textContent) : setTimeout(check, 20); };
  check();
})"""


def sample_events(turns: int, *, ask_every: int = 0, start: datetime | None = None) -> list[dict[str, Any]]:
    """A realistic log: per turn a message, two model requests, a bash call with output, an answer.

    Each turn is 11 events (``user.message``, status running, request start, thinking, tool use,
    request end, tool result, request start, ``agent.message``, request end, status idle). With
    ``ask_every=k``, every k-th tool call asks for a confirmation (and gets one).
    """
    clock = start or datetime(2026, 11, 21, 9, 0, tzinfo=timezone.utc)
    events: list[dict[str, Any]] = []

    def add(kind: str, seconds: float, **fields: Any) -> dict[str, Any]:
        nonlocal clock
        clock += timedelta(seconds=seconds)
        stamp = clock.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        event = {"type": kind, "id": f"sevt_{len(events):026d}", "processed_at": stamp, **fields}
        events.append(event)
        return event

    usage = {"input_tokens": 1800, "output_tokens": 60}
    usage.update(cache_creation_input_tokens=0, cache_read_input_tokens=1500)
    for turn in range(turns):
        add("user.message", 2.0, content=[{"type": "text", "text": f"Step {turn}: count the rows in data_{turn}.csv"}])
        add("session.status_running", 0.01)
        start_1 = add("span.model_request_start", 0.01)
        add("agent.thinking", 0.8)
        ask = bool(ask_every) and turn % ask_every == 0
        use = add(
            "agent.tool_use",
            0.4,
            name="bash",
            input={"command": f"wc -l /workspace/data_{turn}.csv && head -5 /workspace/data_{turn}.csv"},
            evaluated_permission="ask" if ask else "allow",
            evaluation={"type": "always_ask" if ask else "always_allow"},
        )
        add("span.model_request_end", 0.05, model_request_start_id=start_1["id"], model_usage=usage, is_error=False)
        if ask:
            add("user.tool_confirmation", 1.5, tool_use_id=use["id"], result="allow")
        output = f"{1000 + turn} /workspace/data_{turn}.csv\n" + "id,name,value\n" * 4
        add("agent.tool_result", 0.3, tool_use_id=use["id"], content=[{"type": "text", "text": output}], is_error=False)
        start_2 = add("span.model_request_start", 0.01)
        text = f"data_{turn}.csv has {1000 + turn} rows; the first lines are a header and three records. " * 3
        add("agent.message", 1.2, content=[{"type": "text", "text": text}])
        add("span.model_request_end", 0.02, model_request_start_id=start_2["id"], model_usage=usage, is_error=False)
        add("session.status_idle", 0.01, stop_reason={"type": "end_turn"})
    return events

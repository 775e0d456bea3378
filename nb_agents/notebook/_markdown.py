"""Agent text as safe HTML: Markdown (tables, code with highlighting, math) and tool inputs.

Everything an agent writes is untrusted: it may contain ``<script>``, ``<img onerror=…>`` or
``javascript:`` links, on purpose or by accident (a tool's output quoted in a message). So:

1. Markdown is parsed with raw HTML **off** (markdown-it-py): a tag in the text stays text.
2. The HTML that comes out is cleaned again with an allow-list sanitiser (nh3, the Ammonia
   crate): only formatting tags, MathML, ``class`` attributes, a table cell's ``text-align``,
   ``http(s)``/``mailto`` links and ``data:image/…`` images survive; every event handler,
   other style and script is dropped.
3. Nothing is fetched when it is shown: an image that points at a URL becomes a link, and
   code is highlighted here (Pygments, CSS classes) and math turned into MathML
   (latex2mathml), so no JavaScript library or font is loaded in the browser.

The live view, the static transcript and ``Session.export("….html")`` all use this module.
"""

from __future__ import annotations

import difflib
import functools
import html
import json
from typing import Any

__all__ = ["content_html", "markdown_html", "sanitize", "tool_input_html"]

_TAGS = {
    "a", "b", "blockquote", "br", "code", "del", "details", "div", "em", "h1", "h2", "h3", "h4", "h5", "h6",
    "hr", "i", "img", "li", "ol", "p", "pre", "s", "span", "strong", "sub", "summary", "sup", "table",
    "tbody", "td", "th", "thead", "tr", "ul",
    # MathML Core (what latex2mathml writes)
    "math", "mi", "mn", "mo", "ms", "mtext", "mrow", "msub", "msup", "msubsup", "mfrac", "msqrt", "mroot",
    "mover", "munder", "munderover", "mtable", "mtr", "mtd", "mspace", "mstyle", "mpadded", "mphantom",
    "semantics", "annotation",
}  # fmt: skip
_ATTRIBUTES = {
    "*": {"class"},
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "td": {"align", "style"},  # style: text-align only (filter_style_properties)
    "th": {"align", "style"},
    "ol": {"start"},
    "math": {"display"},
    "mo": {"stretchy", "fence", "separator", "lspace", "rspace"},
    "mstyle": {"displaystyle", "scriptlevel"},
    "mspace": {"width"},
    "mtd": {"columnalign"},
    "annotation": {"encoding"},
}
_MAX_IMAGE = 4_000_000
"""Characters of a ``data:`` image URL beyond which it is not shown (a 3 MB image)."""


def _attribute(tag: str, name: str, value: str) -> str | None:
    if tag == "img" and name == "src":
        ok = value.startswith("data:image/") and len(value) <= _MAX_IMAGE and not value.startswith("data:image/svg")
        return value if ok else None
    if tag == "a" and name == "href":
        return value if value.startswith(("http://", "https://", "mailto:", "#")) else None
    return value


def sanitize(markup: str) -> str:
    """``markup`` with everything but the allow-listed tags and attributes removed (see the module docs)."""
    import nh3

    return nh3.clean(
        markup,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        attribute_filter=_attribute,
        url_schemes={"http", "https", "mailto", "data"},
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
        filter_style_properties={"text-align"},
    )


def highlight(code: str, language: str | None) -> str:
    """``code`` as highlighted HTML (``<pre class="nbav-hl">`` with Pygments' short classes)."""
    from pygments import highlight as pyg_highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import get_lexer_by_name
    from pygments.util import ClassNotFound

    try:
        lexer = get_lexer_by_name(language or "text", stripnl=False)
    except ClassNotFound:
        lexer = get_lexer_by_name("text", stripnl=False)
    formatter = HtmlFormatter(nowrap=True)
    return f'<pre class="nbav-hl">{pyg_highlight(code, lexer, formatter)}</pre>'


def _math(tex: str, display: bool) -> str:
    from latex2mathml.converter import convert

    try:
        return str(convert(tex, display="block" if display else "inline"))
    except Exception:  # not valid TeX: show it as written
        return f'<code class="nbav-math-src">{html.escape(tex)}</code>'


@functools.lru_cache(maxsize=1)
def _parser() -> Any:
    from markdown_it import MarkdownIt
    from mdit_py_plugins.dollarmath import dollarmath_plugin

    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.use(dollarmath_plugin, allow_labels=False, double_inline=True)
    md.options["highlight"] = lambda code, lang, _attrs: highlight(code, lang.split()[0] if lang else None)

    def math_inline(self: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        return _math(tokens[idx].content, False)

    def math_block(self: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        return f'<div class="nbav-math">{_math(tokens[idx].content, True)}</div>\n'

    def image(self: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        token = tokens[idx]
        src = str(token.attrGet("src") or "")
        alt = html.escape(token.content or "image")
        if src.startswith("data:image/"):
            return f'<img src="{html.escape(src)}" alt="{alt}">'
        return f'<a href="{html.escape(src)}">[image: {alt}]</a>'  # shown as a link: no fetch at display time

    md.add_render_rule("math_inline", math_inline)
    md.add_render_rule("math_inline_double", math_block)
    md.add_render_rule("math_block", math_block)
    md.add_render_rule("image", image)
    return md


def markdown_html(text: str) -> str:
    """Agent Markdown as sanitised HTML (tables, highlighted code, math as MathML).

    Example:
        >>> markdown_html("**hi** <script>alert(1)</script>")
        '<p><strong>hi</strong> &lt;script&gt;alert(1)&lt;/script&gt;</p>\\n'
    """
    return sanitize(_parser().render(text))


def content_html(content: Any) -> str:
    """Content blocks (text as Markdown, images inline, others as a placeholder) as sanitised HTML."""
    if isinstance(content, str):
        return markdown_html(content)
    parts: list[str] = []
    for block in content or ():
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text":
            parts.append(_parser().render(str(block.get("text", ""))))
        elif kind == "image":
            parts.append(_image(block.get("source")))
        else:
            title = block.get("title")
            parts.append(f"<p><em>[{html.escape(str(kind))}{': ' + html.escape(str(title)) if title else ''}]</em></p>")
    return sanitize("".join(parts))


def _image(source: Any) -> str:
    source = source if isinstance(source, dict) else {}
    if source.get("type") == "base64" and isinstance(source.get("data"), str):
        media = str(source.get("media_type") or "image/png")
        url = f"data:{media};base64,{source['data']}"
        if len(url) <= _MAX_IMAGE and media.startswith("image/") and "svg" not in media:
            return f'<img src="{html.escape(url)}" alt="image">'
        return f"<p><em>[image: {len(url):,} characters, not shown]</em></p>"
    if source.get("type") == "url" and isinstance(source.get("url"), str):
        return f'<p><a href="{html.escape(source["url"])}">[image]</a></p>'
    return "<p><em>[image]</em></p>"


_LEXERS = {
    ".py": "python", ".js": "javascript", ".ts": "typescript", ".json": "json", ".sh": "bash", ".md": "markdown",
    ".yaml": "yaml", ".yml": "yaml", ".toml": "toml", ".html": "html", ".css": "css", ".sql": "sql",
    ".csv": "text", ".txt": "text", ".r": "r", ".rs": "rust", ".go": "go", ".c": "c", ".cpp": "cpp",
}  # fmt: skip


def _lexer_for(path: str) -> str:
    dot = path.rfind(".")
    return _LEXERS.get(path[dot:].lower(), "text") if dot >= 0 else "text"


def tool_input_html(name: str, tool_input: Any) -> str:
    """What a tool call will do, in full, highlighted: the command, the file and its content or diff.

    ``bash``: the command as a shell script; ``write``: the path and the content; ``edit``: the
    path and a diff of ``old_string`` → ``new_string``; anything else (MCP, custom tools): the
    input as indented JSON.
    """
    if isinstance(tool_input, str):  # a shortened JSON string (too long to send whole)
        return highlight(tool_input, "json")
    tool_input = tool_input if isinstance(tool_input, dict) else {}
    path = tool_input.get("file_path")
    if name == "bash" and isinstance(tool_input.get("command"), str):
        return highlight(tool_input["command"], "bash")
    if name == "write" and isinstance(path, str) and isinstance(tool_input.get("content"), str):
        return _path_line(path, "write") + highlight(tool_input["content"], _lexer_for(path))
    if name == "edit" and isinstance(path, str):
        old, new = str(tool_input.get("old_string", "")), str(tool_input.get("new_string", ""))
        diff = difflib.unified_diff(old.splitlines(), new.splitlines(), "before", "after", lineterm="")
        every = " (every occurrence)" if tool_input.get("replace_all") else ""
        return _path_line(path, f"edit{every}") + highlight("\n".join(diff), "diff")
    return highlight(json.dumps(tool_input, indent=2, ensure_ascii=False, default=str), "json")


def _path_line(path: str, action: str) -> str:
    return f'<div class="nbav-path">{html.escape(action)} <code>{html.escape(path)}</code></div>'

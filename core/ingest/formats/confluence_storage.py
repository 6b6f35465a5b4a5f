"""Confluence's storage format (XHTML with ``ac:`` macros and ``ri:`` resources) -> plain HTML
that ``formats.webpage`` turns into Markdown like any page: headings, paragraphs, lists, tables
and code blocks kept, macros reduced to what a reader sees.

- code and noformat macros -> ``<pre><code class="language-X">`` (their CDATA body kept verbatim);
- panels (info, note, warning, tip, panel, expand, ...) -> their rich-text body, with a title
  parameter as a bold first line;
- links -> their text (or the linked page's title);
- macros without a body (toc, children, jira, anchors), images, emoticons, task ids -> dropped;
- task lists -> lists.

Regular expressions rather than an XML parser: storage format uses HTML entities (``&nbsp;``)
that XML parsers refuse, and the HTML parser would turn CDATA into comments and lose code."""

from __future__ import annotations

import html
import re

__all__ = ["storage_to_html"]

_CDATA = re.compile(r"<!\[CDATA\[(.*?)\]\]>", re.DOTALL)
_CODE_MACRO = re.compile(
    r'<ac:structured-macro\b[^>]*\bac:name="(?:code|noformat)"[^>]*>(.*?)</ac:structured-macro>',
    re.DOTALL | re.IGNORECASE,
)
_PARAMETER = re.compile(r'<ac:parameter\b[^>]*\bac:name="([^"]*)"[^>]*>(.*?)</ac:parameter>', re.DOTALL)
_PLAIN_BODY = re.compile(r"<ac:plain-text-body\b[^>]*>(.*?)</ac:plain-text-body>", re.DOTALL)
_MACRO_OPEN = re.compile(r"<ac:structured-macro\b[^>]*?(/?)>", re.IGNORECASE)
_LINK = re.compile(r"<ac:link\b[^>]*>(.*?)</ac:link>", re.DOTALL)
_LINK_BODY = re.compile(
    r"<ac:(?:plain-text-)?link-body\b[^>]*>(.*?)</ac:(?:plain-text-)?link-body>", re.DOTALL
)
_RESOURCE_TITLE = re.compile(r'<ri:[\w-]+\b[^>]*\b(?:ri:content-title|ri:filename|ri:space-key)="([^"]*)"')
_DROPPED = re.compile(
    r"<(ac:image|ac:emoticon|ac:task-id|ac:task-status|ac:placeholder)\b[^>]*?(?:/>|>.*?</\1>)", re.DOTALL
)
_RENAMED = {
    "ac:rich-text-body": "div",
    "ac:task-list": "ul",
    "ac:task": "li",
    "ac:task-body": "span",
    "ac:layout": "div",
    "ac:layout-section": "div",
    "ac:layout-cell": "div",
}
_OTHER_TAG = re.compile(r"</?(?:ac|ri):[\w-]+\b[^>]*?/?>")


def storage_to_html(storage: str, title: str = "") -> str:
    """A whole HTML page for one Confluence page body."""
    text = _CDATA.sub(lambda m: html.escape(m.group(1), quote=False), storage)
    text = _CODE_MACRO.sub(_code_block, text)
    text = _LINK.sub(_link_text, text)
    text = _DROPPED.sub("", text)
    text = _panels(text)
    for tag, plain in _RENAMED.items():
        text = re.sub(rf"<{tag}\b[^>]*>", f"<{plain}>", text)
        text = text.replace(f"</{tag}>", f"</{plain}>")
    text = _OTHER_TAG.sub("", text)
    head = f"<title>{html.escape(title)}</title>" if title else ""
    return f'<!DOCTYPE html><html><head><meta charset="utf-8">{head}</head><body><main>{text}</main></body></html>'


def _code_block(match: re.Match[str]) -> str:
    inner = match.group(1)
    params = {name.lower(): value for name, value in _PARAMETER.findall(inner)}
    body = _PLAIN_BODY.search(inner)
    code = body.group(1) if body else ""
    language = re.sub(r"[^\w+#.-]", "", html.unescape(params.get("language", "")))
    css = f' class="language-{language}"' if language else ""
    caption = f"<p><strong>{params['title']}</strong></p>" if params.get("title") else ""
    return f"{caption}<pre><code{css}>{code}</code></pre>"


def _link_text(match: re.Match[str]) -> str:
    inner = match.group(1)
    body = _LINK_BODY.search(inner)
    if body and body.group(1).strip():
        return body.group(1)
    resource = _RESOURCE_TITLE.search(inner)
    return html.escape(html.unescape(resource.group(1)), quote=False) if resource else ""


def _panels(text: str) -> str:
    """Every other macro becomes a <div>; its parameters go, but a panel's title stays as the
    first line, and an unclosed self-closing macro (<ac:structured-macro ... />) vanishes."""

    def open_tag(match: re.Match[str]) -> str:
        return "" if match.group(1) else "<div>"

    def title_param(match: re.Match[str]) -> str:
        if match.group(1).lower() == "title" and match.group(2).strip():
            return f"<p><strong>{match.group(2).strip()}</strong></p>"
        return ""

    text = _PARAMETER.sub(title_param, text)
    text = _PLAIN_BODY.sub(lambda m: f"<pre>{m.group(1)}</pre>", text)
    text = _MACRO_OPEN.sub(open_tag, text)
    return re.sub(r"</ac:structured-macro>", "</div>", text, flags=re.IGNORECASE)

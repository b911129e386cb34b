"""Remarks (install and activation instructions) may hold HTML: keep the harmless part, or make text of it.

A remark is the product's HTML (from the operator's or a publisher's catalogue) with the buyer's
names filled in as escaped text (resell.domain.remarks), so what a buyer typed is never markup here.
The product's HTML itself is still not trusted as is: only a small allowlist of formatting tags
survives, links only to http(s) and mailto, no attribute but `href`. The locker page and the
delivery email both render remarks through `safe_html`, and `as_text` for the text part.
"""

from __future__ import annotations

from lxml import etree, html
from markupsafe import Markup, escape

ALLOWED_TAGS = frozenset(
    {"a", "b", "strong", "i", "em", "u", "br", "p", "ul", "ol", "li", "code", "pre", "span", "div", "small"}
)
DROPPED_WITH_CONTENT = frozenset({"script", "style", "iframe", "object", "embed", "template", "noscript", "title"})
SAFE_SCHEMES = ("http://", "https://", "mailto:")


def _fragment(text: str) -> html.HtmlElement:
    return html.fragment_fromstring(text, create_parent="div")


def safe_html(text: str) -> Markup:
    """The remark as HTML that is safe to embed: allowlisted tags, safe links, everything else as text."""
    if not text.strip():
        return Markup("")
    if "<" not in text and "&" not in text:
        return Markup(str(escape(text)).replace("\n", "<br>\n"))
    if "<br" not in text.lower() and "<p" not in text.lower():
        text = text.replace("\n", "<br>")  # a remark written as lines keeps its lines
    try:
        root = _fragment(text)
    except (etree.ParserError, ValueError):
        return escape(text)
    for element in list(root.iter()):
        if element is root or not isinstance(element.tag, str):
            if element is not root and element.getparent() is not None:  # comments, processing instructions
                element.drop_tree()
            continue
        tag = element.tag.lower()
        if tag in DROPPED_WITH_CONTENT:
            element.drop_tree()
        elif tag not in ALLOWED_TAGS:
            element.drop_tag()  # keep the text, lose the element
        else:
            href = element.get("href", "").strip()
            for name in list(element.attrib):
                del element.attrib[name]
            if tag == "a" and href.lower().startswith(SAFE_SCHEMES):
                element.set("href", href)
                element.set("rel", "noopener noreferrer")
    head = str(escape(root.text)) if root.text else ""
    return Markup(head + "".join(html.tostring(child, encoding="unicode") for child in root))


def as_text(text: str) -> str:
    """The remark as plain text (for the text part of emails): tags dropped, entities such as a
    buyer's escaped name decoded."""
    if "<" not in text and "&" not in text:
        return text.strip()
    try:
        root = _fragment(text.replace("<br>", "\n").replace("<br/>", "\n").replace("<br />", "\n"))
    except (etree.ParserError, ValueError):
        return text.strip()
    for element in list(root.iter()):
        if isinstance(element.tag, str) and element.tag.lower() in DROPPED_WITH_CONTENT:
            element.drop_tree()
        elif isinstance(element.tag, str) and element.tag.lower() in ("p", "li", "div"):
            element.tail = "\n" + (element.tail or "")
    return "\n".join(line.strip() for line in root.text_content().splitlines()).strip()

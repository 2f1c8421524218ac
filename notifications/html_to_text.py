"""Convert untrusted HTML email bodies to plain text.

Pure standard library (``html.parser``) so inbound parsing stays importable without Django.
The output is meant for display and search, never for rendering as HTML: no tags survive,
``<script>``/``<style>``/``<head>`` content is dropped, character references are unescaped,
and block-level elements become line breaks so paragraphs stay readable.
"""

from __future__ import annotations

import html as html_module
import re
from html.parser import HTMLParser

# Elements whose text content is never shown to a reader of the mail (mail clients run no
# scripts, so <noscript> content *is* shown and is not listed).
_INVISIBLE_ELEMENTS = frozenset({"script", "style", "head", "title", "template"})

# Elements that start on a new line in a browser; everything else is inline.
_BLOCK_ELEMENTS = frozenset(
    {
        "address", "article", "aside", "blockquote", "center", "dd", "div", "dl", "dt",
        "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5",
        "h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table",
        "tbody", "tfoot", "thead", "tr", "ul",
    }
)  # fmt: skip

# Void elements have no content: a stray end tag such as </hr> must not add another break.
_VOID_ELEMENTS = frozenset(
    {"br", "hr", "img", "meta", "link", "input", "area", "base", "col", "wbr"}
)


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        # convert_charrefs=True unescapes entities (&amp;, &#233;, ...) before handle_data.
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._invisible_depth = 0
        self._pre_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            # Sloppy mail HTML often leaves <head> or <title> unclosed; the body is still shown.
            self._invisible_depth = 0
        if tag in _INVISIBLE_ELEMENTS:
            self._invisible_depth += 1
        elif tag == "br":
            self.chunks.append("\n")
        elif tag in ("td", "th"):
            self.chunks.append("\t")
        elif tag == "li":
            self.chunks.append("\n- ")
        elif tag in _BLOCK_ELEMENTS:
            self.chunks.append("\n")
        if tag == "pre":
            self._pre_depth += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # <br/>, <script/>: a self-closed invisible element has no content to hide.
        if tag not in _INVISIBLE_ELEMENTS:
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _INVISIBLE_ELEMENTS:
            self._invisible_depth = max(0, self._invisible_depth - 1)
        elif tag in _BLOCK_ELEMENTS and tag not in _VOID_ELEMENTS and tag != "li":
            self.chunks.append("\n")
        if tag == "pre":
            self._pre_depth = max(0, self._pre_depth - 1)

    def handle_data(self, data: str) -> None:
        if self._invisible_depth:
            return
        if self._pre_depth:
            # No-break spaces survive the line stripping in _tidy, so indentation is kept.
            self.chunks.append(data.replace(" ", "\xa0").replace("\t", "\xa0" * 4))
        else:
            # Outside <pre>, whitespace runs (newlines and &nbsp; included) read as one space.
            self.chunks.append(re.sub(r"\s+", " ", data))


def _tidy(text: str) -> str:
    # Source indentation is noise; <pre> spacing arrives as U+00A0 and survives the stripping.
    lines = (re.sub(r"[ \t]{2,}", " ", line.strip(" \t")) for line in text.split("\n"))
    text = "\n".join(line.replace("\xa0", " ").rstrip() for line in lines)
    # Nested blocks produce runs of newlines; one blank line is enough to separate paragraphs.
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n")


def html_to_text(html: str) -> str:
    """Return readable plain text for ``html``; never returns markup."""
    extractor = _TextExtractor()
    try:
        extractor.feed(html)
        extractor.close()
        text = "".join(extractor.chunks)
    except Exception:
        # html.parser is lenient but has raised on pathological markup in some Python versions
        # (e.g. malformed "<![" sections). A crude tag strip is better than losing the body.
        text = re.sub(r"(?is)<(script|style)\b.*?</\1\s*>", " ", html)
        text = html_module.unescape(re.sub(r"(?s)<[^>]*>", " ", text))
    # Entities such as "&lt;b&gt;" legitimately decode to "<b>"; neutralise anything that still
    # looks like a tag so a caller that forgets to escape can never render markup from mail.
    text = re.sub(r"<(?=[A-Za-z/!?])", "< ", text)
    return _tidy(text)

"""The HTML part of a customer email, made from its text part: one wording, two forms.

Pure (no settings, no models), so it can be tested on any text. The rules:

1. The whole text is escaped: the values put into a template (a customer's name, an agent's
   message) and the template's own wording alike, so nothing in either can become markup.
2. Line endings are made ``\n`` first (``\r\n`` as browsers submit a textarea, and a lone
   ``\r``), then paragraphs (text between blank lines) become ``<p>``, the line breaks inside
   one ``<br>``.
3. ``http://`` and ``https://`` addresses become links whose text is the address itself: the
   HTML can never show one address and lead to another. Nothing else is linked.
4. Spacing is the writer's: the paragraphs are styled ``white-space:pre-wrap``, so runs of
   spaces and indentation show as typed (only blank lines are consumed, as paragraph breaks;
   nothing but ``<br>`` is put between lines, or pre-wrap would show each break twice).
5. Directional formatting characters (U+202A-U+202E, U+2066-U+2069) are shown as visible
   markers, not applied: "\\u202egnp.exe" would otherwise read "exe.png". The text part
   keeps them as written (docs/web.md, "Text people wrote").
6. No images, no remote resources, no scripts, no ``<style>`` (mail clients drop it): inline
   styles only, dark text on white at 16px, within 40em, so it reads well and passes WCAG AA
   contrast. The ``lang`` of the template's language and the subject as the title and the
   label of the article tell screen readers what they read.
"""

import re
from html import escape

from common.text import DIRECTIONAL_CONTROLS, mark_directional_controls

# An address runs to white space or to a character that cannot be in one unencoded; what it
# ends with is checked below (a sentence's full stop is not part of the address).
# A directional control ends it too: it cannot be in an address, and is shown as a marker.
_URL = re.compile(r'https?://[^\s<>"' + "".join(sorted(DIRECTIONAL_CONTROLS)) + "]+", re.IGNORECASE)
_TRAILING_PUNCTUATION = ".,;:!?'"
# Blank lines, and only them: the next paragraph's indentation is the writer's.
_PARAGRAPH_BREAK = re.compile(r"\n(?:[ \t]*\n)+")
_LINE_ENDING = re.compile(r"\r\n?")

_TEXT_STYLE = (
    "max-width:40em;margin:0 auto;padding:16px;"
    "font-family:Arial,Helvetica,sans-serif;font-size:16px;line-height:1.5;"
    "color:#1a1a1a;background-color:#ffffff;"
)
_PARAGRAPH_STYLE = "margin:0 0 1em 0;white-space:pre-wrap;"
# #0b57d0 on white is a contrast of 6.3:1 (WCAG AA asks 4.5:1); underlined, so a link is not
# told by its colour alone.
_LINK_STYLE = "color:#0b57d0;text-decoration:underline;"
# A directional control shown as ⟨U+202E⟩: monospace on pale yellow, dark text (contrast
# well above 4.5:1), so it reads as a marker, not as the writer's words.
_MARKER_STYLE = "font-family:monospace;background-color:#fff3cd;color:#5c4400;"


def text_to_html(text: str, *, subject: str, language: str) -> str:
    """The HTML document of an email whose text part is ``text`` (rules in the docstring)."""
    text = normalise_line_endings(text)
    paragraphs = [p for p in _PARAGRAPH_BREAK.split(text.strip("\n")) if p.strip()]
    body = "\n".join(
        f'<p style="{_PARAGRAPH_STYLE}">{_paragraph(paragraph)}</p>' for paragraph in paragraphs
    )
    title = escape(subject)
    lang = escape(language or "en")
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{lang}">\n'
        "<head>\n"
        '<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{title}</title>\n"
        "</head>\n"
        '<body style="margin:0;padding:0;background-color:#ffffff;">\n'
        f'<div role="article" aria-label="{title}" lang="{lang}" dir="auto" '
        f'style="{_TEXT_STYLE}">\n'
        f"{body}\n"
        "</div>\n"
        "</body>\n"
        "</html>\n"
    )


def normalise_line_endings(text: str) -> str:
    """``text`` with every ``\r\n`` and lone ``\r`` made ``\n``.

    A message typed in a browser arrives with ``\r\n``: split on ``\n`` alone, a blank line
    between paragraphs read as a line holding ``\r`` (no paragraph break), and each ``\r``
    stayed in the HTML.
    """
    return _LINE_ENDING.sub("\n", text)


def _paragraph(paragraph: str) -> str:
    return "<br>".join(_line(line) for line in paragraph.split("\n"))


def _line(line: str) -> str:
    parts = []
    position = 0
    for match in _URL.finditer(line):
        url = _trim(match.group(0))
        if not url.partition("://")[2]:
            continue  # "http://" alone links nowhere
        end = match.start() + len(url)
        parts.append(escape(line[position : match.start()]))
        parts.append(f'<a href="{escape(url)}" style="{_LINK_STYLE}">{escape(url)}</a>')
        position = end
    parts.append(escape(line[position:]))
    return mark_directional_controls("".join(parts), style=_MARKER_STYLE)


def _trim(url: str) -> str:
    """The address without the punctuation of the sentence around it."""
    while url:
        last = url[-1]
        if last in _TRAILING_PUNCTUATION:
            url = url[:-1]
        elif last == ")" and url.count(")") > url.count("("):
            # "(see https://example.com/a)": the bracket is the sentence's, not the address's.
            url = url[:-1]
        else:
            break
    return url

"""Text from outside (customers, senders, agents) made safe to show and to put in headers.

Pure: no settings, no models, so the web pages, the email renderer and the validators share
one definition of each rule.

* **Explicit directional formatting characters** (U+202A-U+202E embeddings and overrides,
  U+2066-U+2069 isolates) reorder what follows them: ``"\\u202egnp.exe"`` shows as
  "exe.png". Where free text is shown they are replaced with a visible marker naming the
  character (``⟨U+202E⟩``); what is stored is never changed.
* **Single-line fields** (names, subjects, email display names) hold no control characters
  (Unicode category Cc: CR, LF, tab, NUL, ...) nor the Unicode line and paragraph
  separators: a line break in a name becomes a line break in an email's greeting or a
  header. Forms and the API refuse them; email ingest folds them to spaces (the sender
  cannot be asked again).
"""

import re
import unicodedata

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

DIRECTIONAL_CONTROLS = frozenset(
    [chr(code) for code in range(0x202A, 0x202F)] + [chr(code) for code in range(0x2066, 0x206A)]
)
_LINE_ENDING = re.compile(r"\r\n?")
_DIRECTIONAL = re.compile("[" + "".join(sorted(DIRECTIONAL_CONTROLS)) + "]")
# Category Cc is exactly U+0000-U+001F and U+007F-U+009F; the line and paragraph separators
# are not Cc, but every Unicode-aware renderer breaks the line at them.
_LINE_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def code_point(char: str) -> str:
    return f"U+{ord(char):04X}"


def mark_directional_controls(escaped: str, *, style: str = "") -> str:
    """``escaped`` (already HTML-escaped) with each directional control made a visible marker.

    The marker is a ``<span>`` whose title says what was there, so the reader sees that the
    text held an override instead of text it reordered. Pages style it by its class; an
    email, whose clients drop stylesheets, passes an inline ``style``.
    """
    styling = f'style="{style}"' if style else 'class="bidi-control"'

    def marker(match: re.Match) -> str:
        char = match.group(0)
        point = code_point(char)
        name = unicodedata.name(char).lower()
        return f'<span {styling} title="{name} ({point}), shown, not applied">⟨{point}⟩</span>'

    return _DIRECTIONAL.sub(marker, escaped)


def normalise_line_endings(text: str) -> str:
    """``text`` with every ``\r\n`` and lone ``\r`` made ``\n`` (a browser's textarea sends
    ``\r\n``; shown with ``white-space: pre-wrap`` a lone ``\r`` would be a break of its own)."""
    return _LINE_ENDING.sub("\n", text)


def validate_single_line(value: str) -> None:
    """Refuse a control character (a line break above all) in a one-line field, saying where."""
    found = _LINE_CONTROLS.search(value or "")
    if not found:
        return
    char = found.group(0)[0]
    what = {"\r": _("carriage return"), "\n": _("line break"), "\t": _("tab")}.get(
        char, _("control character")
    )
    raise ValidationError(
        _("Write this on one line: remove the %(what)s (%(point)s) at character %(position)d."),
        code="control_character",
        params={"what": what, "point": code_point(char), "position": found.start() + 1},
    )


def single_line_problem(value: str) -> str | None:
    """What ``validate_single_line`` would say of ``value``, or None (for services)."""
    try:
        validate_single_line(value)
    except ValidationError as error:
        return error.messages[0]
    return None


def single_line(value: str) -> str:
    """``value`` with every run of control characters folded to one space (for email ingest)."""
    return _LINE_CONTROLS.sub(" ", value or "")


def fold(text: str) -> str:
    """``text`` as a search compares it, without case or accents: "Zoë" → "zoe",
    "ÉCOLE" → "ecole". The queue's search folds what it looks for and, on SQLite, the text
    it looks in (``redress_fold``, registered on each connection by the recovery app)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))

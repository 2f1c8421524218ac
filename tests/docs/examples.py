"""The HTTP examples of the documentation, read as data, and how an answer is held to one.

The convention (docs/api.md, "How to read the examples"):

- An example is a fenced ```http block holding a request — a request line (``POST
  /api/complaints/``), header lines, a blank line and an optional JSON body — followed,
  with nothing but blank lines between, by a fenced ```http block holding the response: a
  status line (``HTTP/1.1 201 Created``), the headers the example vouches for, a blank line
  and an optional JSON body.
- ``{name}`` is a placeholder. In a request it is replaced by the value bound to ``name``;
  in a response an unbound ``{name}`` binds the value found there (so ``"reference":
  "{reference}"`` in a submission's answer names the complaint later examples use), a bound
  one must equal it.
- ``"…"`` stands for any value but null (timestamps, ids) — still a number for ``id`` and
  an ISO 8601 instant for a field ending in ``_at`` —; ``…`` inside a string for any text. A bare ``…`` in an object means "and other fields", in a list "and other items";
  without it an object must have exactly the fields shown and a list the items shown.

Nothing here talks to Redress: ``tests/docs/test_api_examples.py`` sends the requests.
"""

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Where HTTP examples may live: every page under docs/ and the README.
DOCUMENTS = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]

ELLIPSIS = "…"
# What a bare ``…`` becomes in the parsed JSON: a string nobody can type into a document.
ELIDED = "\x00elided"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_]*)\}")
REQUEST_LINE = re.compile(rf"^({'|'.join(METHODS)}) (/\S*)$")
STATUS_LINE = re.compile(r"^HTTP/1\.1 (\d{3}) (.+)$")
FENCE = re.compile(r"^(\s*)```(.*)$")
# Text outside an ```http block that reads like an exchange: an example written some other
# way, which the test would silently skip.
LOOKS_LIKE_HTTP = re.compile(
    rf"^\s*(({'|'.join(METHODS)}) /api/|HTTP/1\.1 \d{{3}}|\d{{3}} [A-Z][A-Za-z]+)", re.MULTILINE
)


class ExampleError(ValueError):
    """A documented example that does not follow the convention."""


@dataclass
class Block:
    path: Path
    line: int  # of the opening fence, from 1
    info: str
    text: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


@dataclass
class Message:
    start: str  # the request line or the status line
    headers: list[tuple[str, str]]
    body: str


@dataclass
class Example:
    request_block: Block
    request: Message
    response: Message

    @property
    def method(self) -> str:
        return self.request.start.split(" ", 1)[0]

    @property
    def target(self) -> str:
        return self.request.start.split(" ", 1)[1]

    @property
    def status(self) -> int:
        return int(STATUS_LINE.match(self.response.start).group(1))

    @property
    def reason(self) -> str:
        return STATUS_LINE.match(self.response.start).group(2)

    @property
    def where(self) -> str:
        return self.request_block.where


def fenced_blocks(path: Path) -> list[tuple[Block, int]]:
    """Every fenced block of a Markdown file, with the line its fence closes on."""
    blocks = []
    lines = path.read_text().splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        indent = len(opening.group(1))
        body = []
        end = index + 1
        while end < len(lines) and not FENCE.match(lines[end]):
            body.append(lines[end][indent:] if lines[end][:indent].isspace() else lines[end])
            end += 1
        if end == len(lines):
            raise ExampleError(f"{path.relative_to(ROOT)}:{index + 1}: fence never closed")
        blocks.append((Block(path, index + 1, opening.group(2).strip(), "\n".join(body)), end))
        index = end + 1
    return blocks


def parse_message(block: Block) -> Message:
    head, _, body = block.text.partition("\n\n")
    start, *header_lines = head.splitlines()
    headers = []
    for line in header_lines:
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise ExampleError(f"{block.where}: not a header line: {line!r}")
        headers.append((name, value.strip()))
    if body.strip():
        parse_documented_json(body, where=block.where)
    return Message(start=start, headers=headers, body=body.strip())


def examples_of(path: Path) -> list[Example]:
    """The examples of one file, in document order; ExampleError for any that is malformed."""
    blocks = fenced_blocks(path)
    found = []
    pending: tuple[Block, Message] | None = None
    previous_end = -1
    lines = path.read_text().splitlines()
    for block, end in blocks:
        if block.info != "http":
            if LOOKS_LIKE_HTTP.search(block.text):
                raise ExampleError(
                    f"{block.where}: an HTTP exchange in a ```{block.info} block; write it as "
                    "a ```http request followed by a ```http response"
                )
            if pending:
                raise ExampleError(f"{pending[0].where}: a request without a ```http response")
            continue
        first = block.text.splitlines()[0] if block.text.strip() else ""
        if REQUEST_LINE.match(first):
            if pending:
                raise ExampleError(f"{pending[0].where}: a request without a ```http response")
            pending = (block, parse_message(block))
        elif STATUS_LINE.match(first):
            if not pending:
                raise ExampleError(f"{block.where}: a response with no request before it")
            between = lines[previous_end + 1 : block.line - 1]
            if any(line.strip() for line in between):
                raise ExampleError(
                    f"{block.where}: text between a request and its response; put it before "
                    "the request or after the response"
                )
            found.append(Example(pending[0], pending[1], parse_message(block)))
            pending = None
        else:
            raise ExampleError(
                f"{block.where}: an ```http block starts with a request line (`POST /api/…`) "
                f"or a status line (`HTTP/1.1 200 OK`), not {first!r}"
            )
        previous_end = end
    if pending:
        raise ExampleError(f"{pending[0].where}: a request without a ```http response")
    return found


def parse_documented_json(text: str, *, where: str = "") -> object:
    """JSON, except that a bare ``…`` may stand in an object or a list (see the module)."""
    out = []
    stack = []
    in_string = escaped = after_ellipsis = False
    for char in text:
        if after_ellipsis and not char.isspace():
            # ``…`` may stand alone on its line, between fields, without a comma.
            if char not in ",]}":
                out.append(",")
            after_ellipsis = False
        if in_string:
            out.append(char)
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
            out.append(char)
        elif char in "[{":
            stack.append(char)
            out.append(char)
        elif char in "]}":
            if stack:
                stack.pop()
            out.append(char)
        elif char == ELLIPSIS:
            if not stack:
                raise ExampleError(f"{where}: `…` outside an object or a list")
            marker = json.dumps(ELIDED)
            out.append(f"{marker}: null" if stack[-1] == "{" else marker)
            after_ellipsis = True
        else:
            out.append(char)
    try:
        return json.loads("".join(out))
    except json.JSONDecodeError as exc:
        raise ExampleError(f"{where}: the JSON does not parse: {exc}") from None


# Sending: placeholders filled from what the story has bound so far.


def fill(text: str, bound: dict[str, object]) -> str:
    def value(match: re.Match) -> str:
        name = match.group(1)
        if name not in bound:
            raise ExampleError(f"{{{name}}} is used before anything binds it")
        return str(bound[name])

    return PLACEHOLDER.sub(value, text)


def fill_json(document: object, bound: dict[str, object]) -> object:
    """A request body with its placeholders filled; a whole ``"{name}"`` keeps its type."""
    if isinstance(document, dict):
        return {key: fill_json(item, bound) for key, item in document.items()}
    if isinstance(document, list):
        return [fill_json(item, bound) for item in document]
    if isinstance(document, str):
        whole = PLACEHOLDER.fullmatch(document)
        if whole and whole.group(1) in bound:
            return bound[whole.group(1)]
        return fill(document, bound)
    return document


# Comparing: every field shown, with placeholders bound on their first appearance.


@dataclass
class Comparison:
    bound: dict[str, object]
    problems: list[str] = field(default_factory=list)

    def text(self, expected: str, actual: object, where: str) -> None:
        """A documented string against an actual value: literal, ``…`` or placeholders."""
        whole = PLACEHOLDER.fullmatch(expected)
        if whole:
            name = whole.group(1)
            if name in self.bound:
                if actual != self.bound[name]:
                    self.problems.append(
                        f"{where}: {actual!r}, not {{{name}}} = {self.bound[name]!r}"
                    )
            elif actual is None:
                self.problems.append(f"{where}: null, where {{{name}}} expects a value")
            else:
                self.bound[name] = actual
            return
        if expected == ELLIPSIS:
            if actual is None:
                self.problems.append(f"{where}: null, where a value is documented")
            return
        if not isinstance(actual, str):
            self.problems.append(f"{where}: {actual!r}, documented as {expected!r}")
            return
        pattern, names = _pattern(expected, self.bound)
        match = re.fullmatch(pattern, actual, flags=re.DOTALL)
        if match is None:
            self.problems.append(f"{where}: {actual!r}, documented as {expected!r}")
            return
        for name in names:
            self.bound[name] = match.group(name)

    def json(self, expected: object, actual: object, where: str = "body") -> None:
        if isinstance(expected, str):
            self.text(expected, actual, where)
        elif isinstance(expected, dict):
            self._object(expected, actual, where)
        elif isinstance(expected, list):
            self._list(expected, actual, where)
        elif expected != actual or type(expected) is not type(actual):
            self.problems.append(f"{where}: {actual!r}, documented as {expected!r}")

    def _object(self, expected: dict, actual: object, where: str) -> None:
        if not isinstance(actual, dict):
            self.problems.append(f"{where}: {actual!r}, documented as an object")
            return
        shown = {key: value for key, value in expected.items() if key != ELIDED}
        for key, value in shown.items():
            if key not in actual:
                self.problems.append(f"{where}.{key}: missing")
                continue
            self.json(value, actual[key], f"{where}.{key}")
            if value == ELLIPSIS:
                self._kind(key, actual[key], f"{where}.{key}")
        if ELIDED not in expected:
            for key in actual.keys() - shown.keys():
                self.problems.append(f"{where}.{key}: in the answer, not in the example")

    def _kind(self, key: str, actual: object, where: str) -> None:
        """A value left out still has its kind: an id is a number, an ``_at`` an instant."""
        if actual is None:
            return  # reported as null already
        if key == "id" and (not isinstance(actual, int) or isinstance(actual, bool)):
            self.problems.append(f"{where}: {actual!r}, where an id (a number) is documented")
        if key.endswith("_at"):
            try:
                datetime.fromisoformat(actual)
            except (TypeError, ValueError):
                self.problems.append(
                    f"{where}: {actual!r}, where an ISO 8601 instant is documented"
                )

    def _list(self, expected: list, actual: object, where: str) -> None:
        if not isinstance(actual, list):
            self.problems.append(f"{where}: {actual!r}, documented as a list")
            return
        if expected == [ELIDED]:
            return
        shown = [item for item in expected if item != ELIDED]
        open_start = bool(expected) and expected[0] == ELIDED
        open_end = bool(expected) and expected[-1] == ELIDED
        if expected.count(ELIDED) != open_start + open_end or (open_start and open_end):
            self.problems.append(f"{where}: `…` may either open or close a documented list")
            return
        if not (open_start or open_end) and len(actual) != len(shown):
            self.problems.append(f"{where}: {len(actual)} items, documented {len(shown)}")
            return
        if len(actual) < len(shown):
            self.problems.append(f"{where}: {len(actual)} items, documented at least {len(shown)}")
            return
        offset = len(actual) - len(shown) if open_start and not open_end else 0
        for index, item in enumerate(shown):
            self.json(item, actual[offset + index], f"{where}[{offset + index}]")


def _pattern(expected: str, bound: dict[str, object]) -> tuple[str, list[str]]:
    """A regular expression for a documented string: ``…`` any text, ``{name}`` its value."""
    parts = []
    names = []
    for piece in re.split(rf"(\{{[a-z][a-z0-9_]*\}}|{ELLIPSIS})", expected):
        if not piece:
            continue
        placeholder = PLACEHOLDER.fullmatch(piece)
        if placeholder:
            name = placeholder.group(1)
            if name in bound:
                parts.append(re.escape(str(bound[name])))
            elif name in names:
                parts.append(f"(?P={name})")
            else:
                names.append(name)
                parts.append(f"(?P<{name}>.+?)")
        elif piece == ELLIPSIS:
            parts.append(".*?")
        else:
            parts.append(re.escape(piece))
    return "".join(parts), names

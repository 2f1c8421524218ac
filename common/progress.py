"""A progress bar for long management commands, on stderr so stdout stays the result."""

import time
from typing import TextIO

# Redrawing more often than this costs more than it tells.
REDRAW_SECONDS = 0.1
BAR_WIDTH = 30


class ProgressBar:
    """One line per file, redrawn in place on a terminal.

    Elsewhere (a log file, CI) redrawing would leave a line per update, so the bar is
    printed once for each tenth of the work instead.
    """

    def __init__(self, stream: TextIO, *, interactive: bool | None = None) -> None:
        self.stream = stream
        self.interactive = stream.isatty() if interactive is None else interactive
        self.label = ""
        self.drawn = False
        self.last_draw = 0.0
        self.last_tenth = -1

    def update(self, label: str, done: int, total: int) -> None:
        if label != self.label:
            self.finish()
            self.label, self.last_tenth = label, -1
        fraction = min(done / total, 1.0) if total else 1.0
        if self.interactive:
            now = time.monotonic()
            if fraction < 1.0 and now - self.last_draw < REDRAW_SECONDS:
                return
            self.last_draw = now
            self.stream.write(f"\r{self._line(fraction)}")
            self.stream.flush()
            self.drawn = True
            return
        tenth = int(fraction * 10)
        if tenth > self.last_tenth:
            self.last_tenth = tenth
            self.stream.write(f"{self._line(fraction)}\n")
            self.stream.flush()

    def clear(self) -> None:
        """Take the bar off the line, so a message can be printed in its place."""
        if self.interactive and self.drawn:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self.drawn = False
            self.last_draw = 0.0

    def finish(self) -> None:
        """Leave the bar as it is and move to a new line."""
        if self.interactive and self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False

    def _line(self, fraction: float) -> str:
        filled = round(fraction * BAR_WIDTH)
        return f"{self.label} [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {fraction:4.0%}"

"""What a search box's text asks for, read as PostgreSQL's ``websearch_to_tsquery`` reads it:
words, ``"a phrase"`` in quotes, ``or`` between alternatives, ``-word`` (or ``-"a phrase"``)
to leave one out. The queue's search on SQLite (the embedded mode) matches these terms in the
text, and both databases match a customer's name by them, so that the same text asks for the
same complaints on either.
"""

import re
from dataclasses import dataclass

from common.text import fold

__all__ = ["Term", "fold", "parse"]

# A quoted phrase (its closing quote may be missing, as websearch allows), or a run of
# anything else but spaces and quotes; each may be led by "-".
_TOKEN = re.compile(r'(-?)"([^"]*)"?|(-?)([^\s"]+)')


@dataclass(frozen=True, slots=True)
class Term:
    text: str  # a word or a phrase, as typed (lower-cased)
    excluded: bool = False  # "-word": complaints without it

    @property
    def words(self) -> list[str]:
        return self.text.split()


def parse(text: str) -> list[list[Term]]:
    """The alternatives ``text`` asks for (any of them), each the terms it must have (all of
    them) or leave out. ``refund or credit -card`` → [[refund], [credit, -card]]. Empty
    terms and a dangling ``or`` are dropped, as websearch does; no text is a syntax error."""
    groups: list[list[Term]] = [[]]
    for match in _TOKEN.finditer(text):
        quoted_minus, phrase, minus, word = match.groups()
        if phrase is not None:
            term_text, excluded = " ".join(phrase.split()), bool(quoted_minus)
        else:
            if word.lower() == "or" and not minus:
                groups.append([])
                continue
            term_text, excluded = word, bool(minus)
            # Lone punctuation ("-", "&") names nothing to find.
            if not re.search(r"\w", term_text):
                continue
        if term_text:
            groups[-1].append(Term(term_text.lower(), excluded))
    return [group for group in groups if group]

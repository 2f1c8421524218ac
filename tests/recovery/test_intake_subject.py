"""The subject made from a complaint's story when it came without one (the public form)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recovery.models import Complaint
from recovery.services.intake import DERIVED_SUBJECT_CHARS, subject_from_description

SENTENCE = (
    "I was charged twice for one order and nobody answered my emails about the refund "
    "for three weeks"
)


@pytest.mark.parametrize(
    ("description", "limit", "subject"),
    [
        pytest.param("Charged twice.\nMore here.", 80, "Charged twice.", id="short-first-line"),
        pytest.param("\n  \nCharged   twice\tagain\n", 80, "Charged twice again", id="folded"),
        pytest.param(SENTENCE, 20, "I was charged twice…", id="cut-between-words"),
        pytest.param(SENTENCE, 22, "I was charged twice…", id="cut-inside-a-word"),
        pytest.param("one two, three four", 12, "one two…", id="no-comma-before-ellipsis"),
        pytest.param("x" * 300, 80, "x" * 79 + "…", id="one-long-word"),
        pytest.param("I " + "x" * 300, 80, "I " + "x" * 77 + "…", id="short-word-then-long"),
        pytest.param("." * 300, 10, "." * 9 + "…", id="punctuation-only"),
        pytest.param("exactly ten", 11, "exactly ten", id="at-the-limit"),
    ],
)
def test_a_long_first_line_is_cut_at_a_word_boundary(description, limit, subject):
    assert subject_from_description(description, limit=limit) == subject


def test_the_default_length_fits_the_subject_field():
    made = subject_from_description(SENTENCE * 5)

    assert len(made) <= DERIVED_SUBJECT_CHARS <= Complaint._meta.get_field("subject").max_length
    assert made == ("I was charged twice for one order and nobody answered my emails about the…")


@given(
    words=st.lists(st.text(alphabet="abcdefghij", min_size=1, max_size=30), min_size=1),
    limit=st.integers(min_value=5, max_value=120),
)
def test_a_subject_is_never_too_long_and_never_ends_in_a_broken_word(words, limit):
    line = " ".join(words)

    subject = subject_from_description(line, limit=limit)

    assert len(subject) <= limit
    if len(line) <= limit:
        assert subject == line
        return
    assert subject.endswith("…")
    kept = subject.removesuffix("…").split(" ")
    # Words kept whole; the last cut only where the room ends, when backing off to the word
    # boundary would have thrown away more than half the room.
    assert kept[:-1] == words[: len(kept) - 1]
    last, word = kept[-1], words[len(kept) - 1]
    assert last == word or (word.startswith(last) and len(subject) == limit)

"""A long story on the agent's complaint page: shown once (not again as the conversation's
first message), clamped to its first lines with a "Show all" that works without JavaScript."""

import pytest

from recovery.models import MessageKind
from tests.desk.conftest import signed_in
from tests.desk.test_portal import text_of

pytestmark = pytest.mark.django_db

# 20,000 characters with a marker at each end, in lines as people write them.
LONG_STORY = (
    "START-OF-STORY " + ("I was charged twice for one order. " * 571)[:19_972] + " END-OF-STORY"
)


def test_a_long_story_is_shown_once_and_collapsed(agent, make_complaint):
    complaint = make_complaint(description=LONG_STORY)
    assert len(complaint.description) == 20_000
    assert complaint.messages.filter(kind=MessageKind.ORIGINAL, body=LONG_STORY).exists()

    html = text_of(signed_in(agent).get(f"/desk/complaints/{complaint.reference}/"))

    assert html.count(LONG_STORY) == 1
    assert html.count("START-OF-STORY") == 1 and html.count("END-OF-STORY") == 1
    assert (
        f'<div class="long-text">\n  <div class="story" id="story-text">{LONG_STORY}</div>' in html
    )
    assert '<details class="show-all"><summary><span class="if-closed">Show all</span>' in html
    # The conversation's first message is the complaint as filed: it points to the story.
    assert 'href="#story-title">The complaint as filed: its text is above' in html


def test_a_short_story_is_shown_whole_without_show_all(agent, make_complaint):
    complaint = make_complaint(description="My card was charged twice.")

    html = text_of(signed_in(agent).get(f"/desk/complaints/{complaint.reference}/"))

    assert '<div class="story">My card was charged twice.</div>' in html
    assert "show-all" not in html
    assert html.count("My card was charged twice.") == 1


def test_a_story_of_many_short_lines_is_collapsed_too(agent, make_complaint):
    complaint = make_complaint(description="\n".join(f"Line {n}" for n in range(1, 12)))

    html = text_of(signed_in(agent).get(f"/desk/complaints/{complaint.reference}/"))

    assert '<details class="show-all">' in html

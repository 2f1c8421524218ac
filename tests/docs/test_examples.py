"""The example convention itself: every documented exchange is one the test can run, and the
comparison fails where a documented answer differs from the real one."""

import re

import pytest

from tests.docs.examples import (
    DOCUMENTS,
    ELIDED,
    Comparison,
    ExampleError,
    examples_of,
    fill_json,
    parse_documented_json,
)


@pytest.mark.parametrize("page", DOCUMENTS, ids=[path.name for path in DOCUMENTS])
def test_every_http_example_in_the_docs_can_be_run(page):
    # Raises, naming the file and line, for a block the story test would skip or misread.
    examples_of(page)


def _page(tmp_path, text):
    page = tmp_path / "page.md"
    page.write_text(text)
    return page


REQUEST = "```http\nGET /api/complaints/\nAuthorization: Token {agent1_token}\n```\n"
RESPONSE = '```http\nHTTP/1.1 200 OK\n\n{"count": 0, …}\n```\n'


def test_a_request_and_its_response_make_an_example(tmp_path, monkeypatch):
    monkeypatch.setattr("tests.docs.examples.ROOT", tmp_path)
    (example,) = examples_of(_page(tmp_path, REQUEST + "\n" + RESPONSE))
    assert (example.method, example.target) == ("GET", "/api/complaints/")
    assert example.request.headers == [("Authorization", "Token {agent1_token}")]
    assert (example.status, example.reason) == (200, "OK")
    assert example.where == "page.md:1"


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        (REQUEST, "a request without a ```http response"),
        (REQUEST + "Some words.\n\n" + RESPONSE, "text between a request and its response"),
        (RESPONSE, "a response with no request before it"),
        ("```http\nFETCH /api/complaints/\n```\n", "starts with a request line"),
        ('```json\n200 OK\n{"count": 0}\n```\n', "an HTTP exchange in a ```json block"),
        ("```\nPOST /api/complaints/\n```\n", "an HTTP exchange in a ``` block"),
        (REQUEST + '\n```http\nHTTP/1.1 200 OK\n\n{"count": }\n```\n', "does not parse"),
        ("```http\nGET /api/complaints/\nAuthorization Token x\n```\n", "not a header line"),
        ("```http\nGET /api/complaints/\n", "fence never closed"),
    ],
)
def test_an_example_the_test_cannot_run_is_refused(tmp_path, monkeypatch, text, complaint):
    monkeypatch.setattr("tests.docs.examples.ROOT", tmp_path)
    with pytest.raises(ExampleError, match=complaint.replace("(", r"\(").replace("*", r"\*")):
        examples_of(_page(tmp_path, text))


def test_a_bare_ellipsis_leaves_out_fields_or_items():
    document = parse_documented_json('{"a": 1,\n  …\n  "b": [1, …]}')
    assert document == {"a": 1, ELIDED: None, "b": [1, ELIDED]}


def _problems(expected_text, actual, bound=None):
    check = Comparison(dict(bound or {}))
    check.json(parse_documented_json(expected_text), actual)
    return check.problems, check.bound


@pytest.mark.parametrize(
    ("documented", "actual", "problem"),
    [
        ('{"error": "conflict"}', {"error": "transition_not_allowed"}, "body.error"),
        ('{"error": "conflict"}', {"error": "conflict", "message": "x"}, "body.message: in the"),
        ('{"error": "conflict", …}', {}, "body.error: missing"),
        ('{"id": "…"}', {"id": None}, "body.id: null"),
        ('{"id": "…"}', {"id": "7"}, "an id"),
        ('{"created_at": "…"}', {"created_at": "yesterday"}, "an ISO 8601 instant"),
        ('{"n": 1}', {"n": True}, "body.n"),
        ('{"n": 1.0}', {"n": 1}, "body.n"),
        ("[1, 2]", [1, 2, 3], "3 items, documented 2"),
        ("[1, …]", [2, 1], r"body\[0\]"),
        ("[…, 1]", [1, 2], r"body\[1\]"),
        ("[1, …, 2]", [1, 3, 2], "may either open or close"),
        ('"It is … now."', "It was received.", "documented as"),
        ('"{reference} moved"', "RDR-2 moved", "documented as"),
    ],
)
def test_a_difference_from_the_documented_answer_is_a_problem(documented, actual, problem):
    problems, _ = _problems(documented, actual, {"reference": "RDR-1"})
    assert len(problems) == 1
    assert re.search(problem, problems[0]), problems


def test_what_the_example_shows_is_all_that_is_compared():
    problems, _ = _problems(
        '{"state": "received", "timeline": […, {"type": "received"}], …}',
        {"state": "received", "timeline": [{"type": "x"}, {"type": "received"}], "id": 7},
    )
    assert problems == []


def test_a_placeholder_binds_on_first_sight_and_holds_after():
    problems, bound = _problems(
        '{"reference": "{reference}", "id": "{id}"}', {"reference": "RDR-7", "id": 7}
    )
    assert (problems, bound) == ([], {"reference": "RDR-7", "id": 7})
    problems, bound = _problems('"Your reference is {reference}."', "Your reference is RDR-7.", {})
    assert (problems, bound) == ([], {"reference": "RDR-7"})
    problems, _ = _problems('{"id": "{id}"}', {"id": 8}, {"id": 7})
    assert problems == ["body.id: 8, not {id} = 7"]


def test_a_request_body_is_filled_keeping_the_types_of_whole_values():
    document = {"n": "{id}", "text": "about {reference}", "list": ["{reference}"]}
    bound = {"id": 7, "reference": "RDR-7"}
    assert fill_json(document, bound) == {"n": 7, "text": "about RDR-7", "list": ["RDR-7"]}

"""The OpenAPI schema says what the API answers: its errors, pages, nulls and media types.

tests/config/test_api_contract.py checks the schema against a live server with generated
requests; these tests pin the parts of the schema each fix made true, one by one.
"""

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

ERROR_REF = "#/components/schemas/Error"


@pytest.fixture
def schema():
    answer = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert answer.status_code == 200
    return answer.json()


def operations(schema):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def component(schema, name):
    return schema["components"]["schemas"][name]


def test_the_error_body_is_one_component(schema):
    error = component(schema, "Error")

    assert set(error["properties"]) == {"error", "message", "details"}
    assert set(error["required"]) == {"error", "message", "details"}


def test_every_error_response_of_every_operation_has_the_error_body(schema):
    seen = 0
    for path, method, operation in operations(schema):
        for code, response in operation["responses"].items():
            if code[0] in "45":
                seen += 1
                content = response.get("content", {})
                assert content["application/json"]["schema"] == {"$ref": ERROR_REF}, (
                    path,
                    method,
                    code,
                )
    assert seen > 100


@pytest.mark.parametrize(
    ("path", "method", "codes"),
    [
        # Authenticated, a body, an object: everything can go wrong.
        (
            "/api/complaints/{reference}/transitions/",
            "post",
            {"400", "401", "403", "404", "409", "413", "415"},
        ),
        # A page of a list: a bad filter, no credentials, a page past the last.
        ("/api/complaints/", "get", {"400", "401", "403", "404"}),
        # Open to anyone, rate limited, no object: no 401, 403, 404 or 409.
        ("/api/auth/token/", "post", {"400", "413", "415", "429"}),
        # Open to anyone with the link: a bad link is a 404, an answer given twice a 409.
        ("/api/surveys/{token}/", "post", {"400", "404", "409", "413", "415", "429"}),
        # No parameters at all: only who may ask.
        ("/api/notifications/unread-count/", "get", {"401", "403"}),
    ],
)
def test_each_operation_documents_the_errors_it_can_answer(schema, path, method, codes):
    documented = {code for code in schema["paths"][path][method]["responses"] if code[0] == "4"}

    assert documented == codes


def test_the_inbox_is_documented_as_the_page_object_it_is(schema):
    ok = schema["paths"]["/api/notifications/"]["get"]["responses"]["200"]
    ref = ok["content"]["application/json"]["schema"]["$ref"]
    page = component(schema, ref.rsplit("/", 1)[1])

    assert page["type"] == "object"
    assert {"count", "next", "previous", "results", "unread"} <= set(page["properties"])
    assert page["properties"]["next"]["nullable"] is True
    assert "page" in {
        p["name"] for p in schema["paths"]["/api/notifications/"]["get"]["parameters"]
    }


@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("Clock", "policy"),
        ("Escalation", "clock"),
        ("RootCause", "parent"),
        ("ComplaintRecoveries", "suggested"),
    ],
)
def test_fields_that_can_be_null_say_so(schema, name, field):
    components = schema["components"]["schemas"]
    matches = [c for key, c in components.items() if key.startswith(name)]
    assert matches, name

    assert any(c["properties"][field].get("nullable") for c in matches if field in c["properties"])


def test_representations_are_read_only_and_always_complete(schema):
    complaint = component(schema, "ComplaintDetail")

    assert all(field.get("readOnly") for field in complaint["properties"].values())
    assert set(complaint["required"]) == set(complaint["properties"])


def test_states_and_other_choices_are_enums(schema):
    assert component(schema, "ComplaintStateEnum")["enum"] == [
        "received",
        "acknowledged",
        "resolved",
        "loop_closed",
        "withdrawn",
    ]
    capa_status = schema["paths"]["/api/corrective-actions/"]["get"]["parameters"]
    assert any(p["name"] == "status" and p["schema"].get("enum") for p in capa_status)


def test_strict_request_bodies_allow_no_other_fields(schema):
    # StrictSerializer refuses unknown fields with a 400; the schema must not invite them.
    assert component(schema, "MessageInputRequest")["additionalProperties"] is False
    assert component(schema, "SurveyAnswerRequest")["properties"]["nps"] == {
        "type": "integer",
        "minimum": 0,
        "maximum": 10,
    }


@pytest.mark.parametrize(
    "path",
    [
        "/api/insights/pareto/",
        "/api/insights/trends/",
        "/api/insights/repeats/",
        "/api/insights/kpis/",
        "/api/insights/alerts/",
        "/api/corrective-actions/{action_id}/effectiveness/",
    ],
)
def test_insight_tables_are_documented_as_json_and_csv(schema, path):
    content = schema["paths"][path]["get"]["responses"]["200"]["content"]

    assert set(content) == {"application/json", "text/csv"}


def test_effectiveness_documents_its_conflict(schema):
    # A corrective action not done yet has no effectiveness to measure (Conflict, 409).
    path = "/api/corrective-actions/{action_id}/effectiveness/"
    assert "409" in schema["paths"][path]["get"]["responses"]


def test_the_inbound_webhook_documents_its_secret_header(schema):
    parameters = schema["paths"]["/api/inbound-email/"]["post"]["parameters"]

    assert [(p["name"], p["in"], p["required"]) for p in parameters] == [
        ("X-Redress-Inbound-Secret", "header", True)
    ]


def test_component_descriptions_are_never_a_base_class_docstring(schema):
    for name, body in schema["components"]["schemas"].items():
        description = body.get("description", "")
        assert "Refuses fields it does not know" not in description, name
        assert "never read from a request" not in description, name


def test_response_headers_are_documented(schema):
    intake = schema["paths"]["/api/complaints/"]["post"]["responses"]

    assert intake["201"]["headers"]["Location"]["required"] is True
    assert "Idempotent-Replayed" not in intake["201"]["headers"]
    assert intake["200"]["headers"]["Idempotent-Replayed"]["schema"]["enum"] == ["true"]
    unread = schema["paths"]["/api/notifications/unread-count/"]["get"]["responses"]
    assert unread["401"]["headers"]["WWW-Authenticate"]["required"] is True
    token = schema["paths"]["/api/auth/token/"]["post"]["responses"]
    assert "Retry-After" in token["429"]["headers"]

"""Rendering customer emails from editable templates."""

from django.template import Context, Engine

from notifications.models import MessageTemplate

# A private engine: templates edited in the admin get Django's auto-escaping in HTML and
# none of the project's template directories or context processors.
_ENGINE = Engine(autoescape=True)
_TEXT_ENGINE = Engine(autoescape=False)
DEFAULT_LANGUAGE = "en"


class TemplateMissing(Exception):
    pass


def find_template(kind: str, language: str, profile: str) -> MessageTemplate:
    """The most specific template: profile+language, language, then the default language."""
    candidates = MessageTemplate.objects.filter(
        kind=kind, language__in={language, DEFAULT_LANGUAGE}, regulatory_profile__in={profile, ""}
    )

    def rank(template: MessageTemplate) -> tuple[int, int]:
        return (
            0 if template.regulatory_profile == profile else 1,
            0 if template.language == language else 1,
        )

    found = sorted(candidates, key=rank)
    if not found:
        raise TemplateMissing(f"No {kind} template for language {language!r}.")
    return found[0]


def render(template: MessageTemplate, context: dict) -> tuple[str, str, str]:
    """Subject, text body and HTML body of ``template`` with ``context``."""
    subject = _TEXT_ENGINE.from_string(template.subject).render(Context(context))
    text = _TEXT_ENGINE.from_string(template.body_text).render(Context(context))
    html = (
        _ENGINE.from_string(template.body_html).render(Context(context))
        if template.body_html
        else ""
    )
    return " ".join(subject.split()), text.strip() + "\n", html

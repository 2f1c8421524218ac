"""The survey after loop closing: sent once, answered once, on submit only.

The link carries a signed token naming the survey's random nonce, so it cannot be guessed,
does not open another complaint's survey, and opening it (as mail scanners do) changes
nothing: only ``survey_submit`` writes, and only the first time.
"""

from django.core import signing
from django.db import connection, transaction
from django.utils import timezone

from common.errors import Conflict, NotFound, ValidationFailed
from recovery import events
from recovery.models import Complaint, Survey

SURVEY_SALT = "redress.survey"
# Scales of the three questions: CSAT 1-5, CES 1-7, NPS 0-10.
SCALES = {"csat": (1, 5), "ces": (1, 7), "nps": (0, 10)}
MAX_COMMENT = 2000


def survey_create(*, complaint: Complaint) -> Survey | None:
    """Create the complaint's survey inside the loop-closing transaction; None if it has one.

    The caller records ``survey_sent`` with the loop-closing event, in one batch.

    One ``INSERT … ON CONFLICT (complaint_id) DO NOTHING RETURNING id`` (PostgreSQL, and
    SQLite since 3.35), where ``get_or_create`` read first: a complaint whose loop closes
    again after a reopening keeps its first survey, and a nonce that is taken still fails.
    """
    survey = Survey(complaint=complaint)
    fields = [field for field in Survey._meta.concrete_fields if not field.primary_key]
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(Survey._meta.db_table)} "  # noqa: S608
            f"({', '.join(quote(field.column) for field in fields)}) "
            f"VALUES ({', '.join(['%s'] * len(fields))}) "
            f"ON CONFLICT ({quote(Survey._meta.get_field('complaint').column)}) DO NOTHING "
            f"RETURNING {quote(Survey._meta.pk.column)}",
            [field.get_db_prep_save(field.pre_save(survey, True), connection) for field in fields],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    survey.pk = row[0]
    survey._state.adding = False
    survey._state.db = connection.alias
    return survey


def survey_token(survey: Survey) -> str:
    return signing.dumps({"s": survey.nonce}, salt=SURVEY_SALT, compress=True)


def survey_token_of(survey_id: int) -> str | None:
    """The link token of a survey by id (for the invitation email); None if it is gone."""
    survey = Survey.objects.filter(pk=survey_id).only("nonce").first()
    return survey_token(survey) if survey else None


def survey_for_token(token: str) -> Survey:
    """The survey a link opens; a bad or foreign token is simply not found."""
    try:
        value = signing.loads(token, salt=SURVEY_SALT)
    except signing.BadSignature:
        raise NotFound("This survey link is not valid.") from None
    nonce = value.get("s") if isinstance(value, dict) else None
    survey = (
        Survey.objects.select_related("complaint").filter(nonce=nonce).first()
        if isinstance(nonce, str)
        else None
    )
    if survey is None:
        raise NotFound("This survey link is not valid.")
    return survey


def _score(name: str, value) -> int:
    low, high = SCALES[name]
    message = f"Choose a whole number from {low} to {high}."
    if isinstance(value, bool) or value in (None, ""):
        raise ValidationFailed(message, details={name: [message]})
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValidationFailed(message, details={name: [message]}) from None
    if not low <= number <= high:
        raise ValidationFailed(message, details={name: [message]})
    return number


def survey_submit(*, token: str, csat, ces, nps, comment: str = "") -> Survey:
    """Record the answers once; a second submit is a conflict, not an overwrite."""
    survey = survey_for_token(token)
    errors = {}
    scores = {}
    for name, value in (("csat", csat), ("ces", ces), ("nps", nps)):
        try:
            scores[name] = _score(name, value)
        except ValidationFailed as exc:
            errors.update(exc.details)
    comment = (comment or "").strip()
    if len(comment) > MAX_COMMENT:
        errors["comment"] = [f"Keep the comment under {MAX_COMMENT} characters."]
    if errors:
        raise ValidationFailed("Some answers need another look.", details=errors)
    with transaction.atomic():
        # Compare-and-set: of two submits racing, one updates the row, the other finds it
        # already answered.
        updated = Survey.objects.filter(pk=survey.pk, submitted_at__isnull=True).update(
            submitted_at=timezone.now(), comment=comment, **scores
        )
        if not updated:
            raise Conflict("This survey has already been answered. Thank you!")
        survey.refresh_from_db()
        events.survey_answered(survey.complaint, survey)
    return survey

"""Calendars and policies made in the admin, as an administrator would, then used.

Persona: ``root``, a superuser signed in to the admin. The admin takes dates and times in
``TIME_ZONE`` (UTC), which in January is also London's time.
"""

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from escalation.calendars import add_business_seconds
from escalation.models import BusinessCalendar, SlaPolicy
from escalation.policies import MATCH_FIELDS
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

LONDON = ZoneInfo("Europe/London")
HOUR = 3600
WEEKDAYS_NINE_TO_FIVE = json.dumps({str(day): [["09:00", "17:00"]] for day in range(5)})


@pytest.fixture
def root(client):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def inline_management(prefix: str, rows: int) -> dict:
    return {
        f"{prefix}-TOTAL_FORMS": str(rows),
        f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


def calendar_form(**changes) -> dict:
    """The add form for a Leeds office closed from Monday 7 January 2030 09:00 to Tuesday 13:00."""
    return {
        "name": "Leeds office",
        "slug": "leeds",
        "time_zone": "Europe/London",
        "weekly_hours": WEEKDAYS_NINE_TO_FIVE,
        "holiday_country": "GB",
        "holiday_subdivision": "ENG",
        "extra_holidays": "[]",
        **inline_management("closures", 1),
        "closures-0-starts_at_0": "2030-01-07",
        "closures-0-starts_at_1": "09:00:00",
        "closures-0-ends_at_0": "2030-01-08",
        "closures-0-ends_at_1": "13:00:00",
        "closures-0-reason": "Office move",
        **changes,
    }


def test_a_calendar_added_with_a_closure_times_the_policy_added_on_it(root):
    added = root.post("/admin/escalation/businesscalendar/add/", calendar_form())
    assert added.status_code == 302
    leeds = BusinessCalendar.objects.get(slug="leeds")
    assert [c.reason for c in leeds.closures.all()] == ["Office move"]

    policy_added = root.post(
        "/admin/escalation/slapolicy/add/",
        {
            "name": "Leeds",
            "position": "1",
            "is_active": "on",
            "calendar": str(leeds.pk),
            # Empty match lists: the policy applies to every complaint.
            **dict.fromkeys(MATCH_FIELDS, "[]"),
            **inline_management("targets", 1),
            "targets-0-clock": "acknowledge",
            "targets-0-seconds": str(8 * HOUR),
            "targets-0-basis": "business",
            "targets-0-warn_at_percent": "80",
            "targets-0-pausable": "on",
        },
    )
    assert policy_added.status_code == 302
    policy = SlaPolicy.objects.get(name="Leeds")
    assert policy.calendar == leeds
    assert [(t.clock, t.seconds) for t in policy.targets.all()] == [("acknowledge", 8 * HOUR)]

    pure = policy.calendar.to_pure(years=[2030])
    monday_nine = datetime(2030, 1, 7, 9, tzinfo=LONDON)
    # Eight business hours from Monday 09:00 would end Monday 17:00; the closure takes Monday
    # and Tuesday morning, leaving Tuesday 13-17 (4 h) and Wednesday 09-13 (4 h).
    assert add_business_seconds(monday_nine, 8 * HOUR, pure) == datetime(
        2030, 1, 9, 13, tzinfo=LONDON
    )


def test_bad_calendar_settings_are_shown_on_their_fields_and_nothing_is_saved(root):
    answer = root.post(
        "/admin/escalation/businesscalendar/add/",
        calendar_form(
            time_zone="Europe/Leeds",
            weekly_hours='{"0": [["17:00", "09:00"]]}',
            holiday_subdivision="XYZ",
            # The closure ends before it starts.
            **{"closures-0-ends_at_0": "2030-01-06"},
        ),
    )

    assert answer.status_code == 200
    errors = answer.context["adminform"].form.errors
    assert set(errors) == {"time_zone", "weekly_hours", "holiday_subdivision"}
    assert "Unknown time zone “Europe/Leeds”" in errors["time_zone"][0]
    assert "start must be before end" in errors["weekly_hours"][0]
    assert "GB has no subdivision “XYZ”" in errors["holiday_subdivision"][0]
    [closures] = answer.context["inline_admin_formsets"]
    assert closures.formset.errors == [{"ends_at": ["A closure must end after it starts."]}]
    assert not BusinessCalendar.objects.filter(slug="leeds").exists()


def policy_form(**changes) -> dict:
    return {
        "name": "Scotland",
        "position": "1",
        "is_active": "on",
        "calendar": str(BusinessCalendar.objects.get(slug="office-hours").pk),
        **dict.fromkeys(MATCH_FIELDS, "[]"),
        **inline_management("targets", 1),
        "targets-0-clock": "acknowledge",
        "targets-0-seconds": str(8 * HOUR),
        "targets-0-basis": "business",
        "targets-0-warn_at_percent": "80",
        **changes,
    }


def test_policy_match_lists_must_be_lists_of_known_codes(root):
    answer = root.post(
        "/admin/escalation/slapolicy/add/",
        policy_form(
            # A bare string would match "GB" and "" by substring.
            jurisdictions='"GB-SCT"',
            channels='["pigeon"]',
            severities='["urgent!"]',
            **{"targets-0-seconds": "0"},
        ),
    )

    assert answer.status_code == 200
    errors = answer.context["adminform"].form.errors
    assert set(errors) == {"jurisdictions", "channels", "severities"}
    assert "A JSON list of codes" in errors["jurisdictions"][0]
    assert "Unknown: pigeon." in errors["channels"][0] and "web" in errors["channels"][0]
    [targets] = answer.context["inline_admin_formsets"]
    assert "seconds" in targets.formset.errors[0]
    assert not SlaPolicy.objects.filter(name="Scotland").exists()

    bad_region = root.post(
        "/admin/escalation/slapolicy/add/", policy_form(jurisdictions='["Scotland"]')
    )
    assert "Unknown: Scotland" in bad_region.context["adminform"].form.errors["jurisdictions"][0]


def test_a_policy_for_a_country_matches_its_parts(root, make_complaint):
    added = root.post("/admin/escalation/slapolicy/add/", policy_form(jurisdictions='["GB"]'))
    assert added.status_code == 302
    scottish = make_complaint(jurisdiction="GB-SCT")
    french = make_complaint(jurisdiction="FR")
    nowhere = make_complaint()
    by_policy = {
        complaint.pk: complaint.clocks.get(kind="acknowledge", regulatory_profile="").policy.name
        for complaint in (scottish, french, nowhere)
    }
    assert by_policy == {scottish.pk: "Scotland", french.pk: "Standard", nowhere.pk: "Standard"}

"""A business calendar's validation: each bad setting is an error on its own field.

These calendars are never saved and no test here may use the database: validating a
calendar being added must not read its closures (it has none yet).
"""

import pytest
from django.core.exceptions import ValidationError

from escalation.models import BusinessCalendar

OFFICE_HOURS = {str(day): [["09:00", "12:30"], ["13:30", "24:00"]] for day in range(5)}


def calendar(**settings) -> BusinessCalendar:
    return BusinessCalendar(name="London", slug="london", weekly_hours=OFFICE_HOURS, **settings)


def test_a_new_calendar_with_hours_holidays_and_closed_dates_is_valid():
    calendar(
        time_zone="Europe/London",
        holiday_country="GB",
        holiday_subdivision="ENG",
        extra_holidays=["2026-12-24"],
    ).clean()


def test_a_calendar_open_24x7_needs_no_weekly_hours():
    BusinessCalendar(name="Always", slug="always", always_open=True).clean()


@pytest.mark.parametrize(
    ("settings", "field", "message"),
    [
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone", "Unknown time zone “Mars/Olympus_Mons”"),
        ({"weekly_hours": {}}, "weekly_hours", "at least one weekday, or make the calendar open"),
        ({"weekly_hours": [["09:00", "17:00"]]}, "weekly_hours", 'expected {"0": [["09:00"'),
        ({"weekly_hours": {"monday": []}}, "weekly_hours", "weekday 'monday' is not a number"),
        ({"weekly_hours": {"7": [["09:00", "17:00"]]}}, "weekly_hours", "0 (Monday) to 6"),
        ({"weekly_hours": {"0": ["09:00-17:00"]}}, "weekly_hours", "weekday 0: expected a list"),
        ({"weekly_hours": {"0": [["9am", "17:00"]]}}, "weekly_hours", "'9am' is not a time"),
        ({"weekly_hours": {"0": [["17:00", "09:00"]]}}, "weekly_hours", "start must be before"),
        ({"extra_holidays": ["24/12/2026"]}, "extra_holidays", "'24/12/2026' is not a date"),
        ({"extra_holidays": "2026-12-24"}, "extra_holidays", "expected a list of dates"),
        ({"holiday_country": "XX"}, "holiday_country", "No public holidays are known for “XX”"),
        (
            {"holiday_country": "GB", "holiday_subdivision": "NY"},
            "holiday_subdivision",
            "GB has no subdivision “NY”",
        ),
        ({"holiday_subdivision": "ENG"}, "holiday_subdivision", "Give the country"),
    ],
)
def test_a_bad_setting_is_an_error_on_its_field(settings, field, message):
    if "weekly_hours" in settings:
        bad = BusinessCalendar(name="London", slug="london", **settings)
    else:
        bad = calendar(**settings)

    with pytest.raises(ValidationError) as refused:
        bad.clean()

    assert list(refused.value.message_dict) == [field]
    assert message in refused.value.message_dict[field][0]


def test_every_bad_field_is_named_at_once():
    bad = BusinessCalendar(
        name="Bad",
        slug="bad",
        time_zone="Nowhere",
        weekly_hours={"0": [["17:00", "09:00"]]},
        holiday_country="XX",
        extra_holidays=["never"],
    )

    with pytest.raises(ValidationError) as refused:
        bad.clean()

    assert set(refused.value.message_dict) == {
        "time_zone",
        "weekly_hours",
        "holiday_country",
        "extra_holidays",
    }

"""Every insight as flat tables (a header and rows): the CSV exports.

Column names are stable identifiers, the same as the JSON keys, so a script can read either.
"""


def pareto(payload: dict) -> tuple[list[str], list[list]]:
    if payload["measure"] == "cost":
        columns = [
            "currency",
            "rank",
            "code",
            "path",
            "amount",
            "actions",
            "complaints",
            "percent",
            "cumulative_percent",
        ]
    else:
        columns = ["rank", "code", "path", "complaints", "percent", "cumulative_percent"]
    return columns, [[row[column] for column in columns] for row in payload["rows"]]


def trends(payload: dict) -> tuple[list[str], list[list]]:
    """One row per week: the week's volume, then one column per cause."""
    columns = ["week_start", "all_complaints", *(series["code"] for series in payload["series"])]
    rows = [
        [week, payload["volume"][n], *(series["counts"][n] for series in payload["series"])]
        for n, week in enumerate(payload["weeks"])
    ]
    return columns, rows


def repeats(payload: dict, which: str) -> tuple[list[str], list[list]]:
    if which == "customers":
        columns = ["customer_id", "name", "repeat_complaints"]
        return columns, [[row[c] for c in columns] for row in payload["top_customers"]]
    columns = ["code", "path", "repeat_complaints", "same_cause_as_previous", "same_cause_percent"]
    return columns, [[row[c] for c in columns] for row in payload["causes"]]


KPI_COLUMNS = [
    "group",
    "label",
    "complaints",
    "acknowledged",
    "acknowledge_median_seconds",
    "acknowledge_p90_seconds",
    "resolved",
    "resolve_median_seconds",
    "resolve_p90_seconds",
    "reopened",
    "reopen_percent",
    "resolved_within_3_business_days",
    "resolved_within_8_weeks",
    "resolved_later",
    "within_3_business_days_percent",
    "within_8_weeks_percent",
    "later_percent",
    "with_outcome",
    "upheld",
    "upheld_percent",
    "csat_answers",
    "csat_percent",
    "nps_answers",
    "nps",
    "ces_answers",
    "ces_mean",
]


def kpis(payload: dict, which: str) -> tuple[list[str], list[list]]:
    if which == "sla":
        columns = ["group", "label", "clock", "met", "breached", "met_percent"]
        rows = [
            [row["group"], row["label"], clock, cell["met"], cell["breached"], cell["met_percent"]]
            for row in payload["rows"]
            for clock, cell in sorted(row["sla"].items())
        ]
        return columns, rows
    return KPI_COLUMNS, [[row[c] for c in KPI_COLUMNS] for row in payload["rows"]]


def alerts(payload: dict) -> tuple[list[str], list[list]]:
    columns = ["week_start", "code", "path", "count", "baseline", "raised_at"]
    return columns, [[row[c] for c in columns] for row in payload["alerts"]]


def effectiveness(payload: dict) -> tuple[list[str], list[list]]:
    """The weekly series, each week numbered from the action's done date (-1 is the week
    before it, 0 the week it was done)."""
    columns = ["week", "starts", "complaints", "classified", "with_cause", "rate"]
    return columns, [[row[c] for c in columns] for row in payload["series"]]

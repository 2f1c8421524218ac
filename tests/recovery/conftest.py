"""Fixtures shared by the recovery tests."""

import pytest


@pytest.fixture(params=["live", "summaries"])
def insight_path(request, settings):
    """Run a test twice: insights aggregated from the complaints, and added up from the
    per-day summaries (PostgreSQL; on SQLite both runs aggregate the complaints)."""
    settings.INSIGHT_SUMMARIES = request.param == "summaries"
    return request.param

"""The tests photograph pages into a temporary folder, never into the checkout; the docs'
pictures come from ``./redress screenshots`` (demo/management/commands/screenshots.py)."""

import tempfile
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from tests.desk.live import ROOT, screenshots_folder


def test_the_tests_photograph_into_a_temporary_folder_by_default():
    assert screenshots_folder(None) == Path(tempfile.gettempdir()) / "redress-screenshots"
    assert screenshots_folder("") == Path(tempfile.gettempdir()) / "redress-screenshots"


def test_a_folder_outside_the_checkout_may_be_named(tmp_path):
    assert screenshots_folder(str(tmp_path / "shots")) == tmp_path / "shots"


@pytest.mark.parametrize("named", ["docs/screenshots", str(ROOT / "docs" / "screenshots"), "."])
def test_the_checkout_is_refused(named, monkeypatch):
    monkeypatch.chdir(ROOT)
    with pytest.raises(ValueError, match=r"inside the checkout.*\./redress screenshots"):
        screenshots_folder(named)


def test_the_screenshots_command_refuses_a_database_in_use(tmp_path):
    # The suite's database is PostgreSQL with Redis: not the throwaway embedded install the
    # command seeds the demo into.
    with pytest.raises(CommandError, match="throwaway embedded install"):
        call_command("screenshots", out=str(tmp_path))
    assert not any(tmp_path.iterdir())

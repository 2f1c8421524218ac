"""``./redress test`` fails when the test run changes the checkout, and says what changed.

The script runs in a scratch git checkout holding a copy of it, with a stand-in virtualenv
whose programs do nothing, except a ``python`` that, running pytest, writes what the test
asks it to: as a test that photographs a page into ``docs/`` would.
"""

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.processes import ROOT

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def _git(checkout: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=checkout, check=True, capture_output=True)


@pytest.fixture
def checkout(tmp_path) -> Path:
    checkout = tmp_path / "checkout"
    (checkout / "docs").mkdir(parents=True)
    shutil.copy(ROOT / "redress", checkout / "redress")
    shutil.copy(ROOT / "pyproject.toml", checkout / "pyproject.toml")
    (checkout / "docs" / "web.md").write_text("# Web\n")
    (checkout / ".gitignore").write_text("/var/\n")
    _git(checkout, "init", "-q")
    _git(checkout, "add", ".")
    _git(checkout, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "x")
    return checkout


@pytest.fixture
def venv(tmp_path) -> Path:
    """Every program the test command runs succeeds at once; ``python -m pytest`` runs the
    shell command in $PYTEST_WRITES (in the checkout) first."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    for program in ["ruff", "lint-imports"]:
        (venv / "bin" / program).write_text("#!/bin/sh\nexit 0\n")
    (venv / "bin" / "python").write_text(
        '#!/bin/sh\nif [ "$1 $2" = "-m pytest" ] && [ -n "$PYTEST_WRITES" ]; then\n'
        '  sh -c "$PYTEST_WRITES"\nfi\nexit 0\n'
    )
    for program in (venv / "bin").iterdir():
        program.chmod(0o755)
    declared = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:16]
    (venv / f".installed-dev-{declared}").touch()
    return venv


def run_tests(checkout: Path, venv: Path, writes: str = "") -> subprocess.CompletedProcess:
    environment = {**os.environ, "REDRESS_VENV": str(venv), "PYTEST_WRITES": writes}
    return subprocess.run(
        [str(checkout / "redress"), "test"],
        cwd=checkout,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_a_run_that_writes_nothing_passes(checkout, venv):
    done = run_tests(checkout, venv)

    assert done.returncode == 0, done.stderr


def test_a_run_that_writes_into_the_checkout_fails_naming_each_file(checkout, venv):
    done = run_tests(
        checkout, venv, "echo png > docs/agent-complaint.png; echo changed >> docs/web.md"
    )

    assert done.returncode == 1
    assert "The test run changed the checkout" in done.stderr
    assert "A\tdocs/agent-complaint.png" in done.stderr
    assert "M\tdocs/web.md" in done.stderr


def test_what_git_ignores_and_local_edits_made_before_the_run_do_not_count(checkout, venv):
    (checkout / "docs" / "web.md").write_text("# Web, being edited\n")

    done = run_tests(checkout, venv, "mkdir -p var && echo db > var/redress.sqlite3")

    assert done.returncode == 0, done.stderr

"""The import contracts fail the build when an import breaks the architecture.

Each case copies the project's packages to a scratch directory, adds one import there and
runs ``lint-imports`` with the project's own contracts: the checkout itself is never
changed. docs/architecture.md explains the contracts.
"""

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The packages the contracts cover, as pyproject.toml names them.
PACKAGES = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"][
    "root_packages"
]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


@pytest.fixture(scope="module")
def copy(tmp_path_factory):
    root = tmp_path_factory.mktemp("architecture")
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package,
            root / package,
            ignore=shutil.ignore_patterns("__pycache__", "migrations", "*.html", "*.csv"),
        )
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


def lint(root: Path, *, added: tuple[str, str] | None = None):
    """``lint-imports`` on ``root``, with ``added`` (module path, import line) written in
    for this run only."""
    target = original = None
    if added is not None:
        target = root / added[0]
        original = target.read_text() if target.exists() else None
        target.write_text((original or "") + f"\n{added[1]}\n")
    try:
        return subprocess.run(
            [str(LINT_IMPORTS), "--no-cache"],
            cwd=root,
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root)},
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        if target is not None:
            if original is None:
                target.unlink()
            else:
                target.write_text(original)


def test_the_project_keeps_every_contract(copy):
    result = lint(copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 5 kept, 0 broken." in result.stdout


def test_the_core_importing_an_interface_fails(copy):
    result = lint(copy, added=("recovery/services/lifecycle.py", "import desk.desk  # noqa"))
    assert result.returncode == 1
    assert "recovery is not allowed to import desk" in result.stdout
    assert "recovery.services.lifecycle -> desk.desk" in result.stdout


def test_the_core_reaching_past_the_clocks_service_fails(copy):
    result = lint(
        copy, added=("recovery/services/intake.py", "import escalation.services.sweeper  # noqa")
    )
    assert result.returncode == 1
    assert "recovery is not allowed to import escalation" in result.stdout
    assert "recovery.services.intake -> escalation.services.sweeper" in result.stdout


def test_a_circle_through_the_clocks_service_fails(copy):
    # The circle this layout removed: the clocks calling back into the core's services.
    result = lint(
        copy, added=("escalation/services/clocks.py", "import recovery.services.sla  # noqa")
    )
    assert result.returncode == 1
    assert "escalation.services.clocks is not allowed to import recovery.services" in (
        result.stdout
    )


def test_a_circle_inside_an_app_fails(copy):
    result = lint(copy, added=("notifications/rendering.py", "import notifications.tasks  # noqa"))
    assert result.returncode == 1
    assert "No cycles are allowed in notifications." in result.stdout


def test_the_outbox_writer_importing_delivery_fails(copy):
    result = lint(copy, added=("notifications/outbox.py", "import notifications.delivery  # noqa"))
    assert result.returncode == 1
    assert "notifications.outbox is not allowed to import notifications.delivery" in result.stdout


@pytest.mark.parametrize(
    "module, line, circle",
    [
        # Through the clocks' records, which the core reads.
        ("escalation/models.py", "import recovery.access", "recovery.access -> escalation.models"),
        # Through the statutory rules, which the core's routing reads.
        (
            "escalation/regulatory.py",
            "import recovery.models",
            "recovery.models.routing -> escalation.regulatory",
        ),
        # Through the admin's call to the ladder.
        (
            "escalation/services/ladder.py",
            "import recovery.admin_actions",
            "recovery.admin_actions -> escalation.services.ladder",
        ),
    ],
)
def test_a_circle_through_a_named_exception_fails(copy, module, line, circle):
    result = lint(copy, added=(module, f"{line}  # noqa"))
    assert result.returncode == 1
    assert "A circle of imports:" in result.stdout
    assert circle in result.stdout


def test_an_interface_importing_the_importer_fails(copy):
    result = lint(copy, added=("desk/desk.py", "import imports.cfpb  # noqa"))
    assert result.returncode == 1
    assert "desk is not allowed to import imports" in result.stdout

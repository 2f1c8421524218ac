"""The packaging check (.ci/check-packaging, run by .ci/run) against this project and a copy
of it that goes back to the license table setuptools deprecated."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECK = ROOT / ".ci" / "check-packaging"
# What the build reads: packages = [] in pyproject.toml, so no code is needed.
BUILD_INPUTS = ["pyproject.toml", "README.md", "LICENSE"]

pytestmark = pytest.mark.xdist_group("packaging")


def _check(project: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(CHECK), str(project)],
        env={"PATH": "/usr/bin:/bin", "PY": sys.executable, "HOME": str(Path.home())},
        capture_output=True,
        text=True,
        timeout=300,
    )


def _copy(tmp_path: Path) -> Path:
    for name in BUILD_INPUTS:
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def test_the_project_builds_without_deprecation_warnings(tmp_path):
    result = _check(_copy(tmp_path))

    assert result.returncode == 0, result.stderr
    assert "no deprecation warning" in result.stdout


def test_a_license_table_is_caught_as_deprecated(tmp_path):
    project = _copy(tmp_path)
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text()
    assert 'license = "MIT"\nlicense-files = ["LICENSE"]\n' in text
    pyproject.write_text(
        text.replace('license = "MIT"\nlicense-files = ["LICENSE"]\n', 'license = {text = "MIT"}\n')
    )

    result = _check(project)

    assert result.returncode == 1
    assert "`project.license` as a TOML table is deprecated" in result.stderr
    assert "packaging check: FAILED" in result.stderr

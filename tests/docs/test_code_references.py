"""The docs name files and modules that exist: a file moved or a function renamed leaves no
stale pointer in the README, docs/ or bench/README.md."""

import functools
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", ROOT / "bench" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
APPS = "recovery|escalation|notifications|desk|api|insights|imports|demo|common|config"
# `recovery/services/intake.py`, `desk/` ...: a path in the repository.
PATH = re.compile(r"`((?:" + APPS + r"|tests|bench|templates|static)/[\w/.-]*)`")
# `recovery.rules.works_on`, `notifications.outbox` ...: a module, or a name in one.
DOTTED = re.compile(r"`((?:" + APPS + r")(?:\.\w+)+)`")


@functools.cache
def sources() -> str:
    """Every Python source of the apps, to find names the code spells as strings (Celery
    task names, outbox event types, permissions); read when a test first asks."""
    return "\n".join(
        path.read_text() for app in APPS.split("|") for path in (ROOT / app).rglob("*.py")
    )


def references(pattern):
    for doc in DOCS:
        for number, line in enumerate(doc.read_text().splitlines(), 1):
            for found in pattern.findall(line):
                yield f"{doc.relative_to(ROOT)}:{number}", found


def names_something(dotted: str) -> bool:
    """A module or a name in one, a migration (``recovery.0009_queue_indexes``), a model
    (``notifications.Outbox``), or a name the code spells as a string (a task, an event
    type, a permission)."""
    from django.apps import apps

    app, _, rest = dotted.partition(".")
    if rest[:4].isdigit():
        return any((ROOT / app / "migrations").glob(f"{rest}*.py"))
    if "." not in rest and rest[:1].isupper():
        try:
            apps.get_model(app, rest)
        except LookupError:
            return False
        return True
    return f'"{dotted}"' in sources() or resolves(dotted)


def resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            value = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            if not hasattr(value, name):
                return False
            value = getattr(value, name)
        return True
    return False


@pytest.mark.django_db
def test_every_path_the_docs_name_exists():
    missing = [
        (where, path)
        for where, path in references(PATH)
        if "*" not in path and "…" not in path and not (ROOT / path.rstrip("/")).exists()
    ]
    assert missing == []


@pytest.mark.django_db
def test_every_module_and_name_the_docs_name_exists():
    missing = [
        (where, dotted)
        for where, dotted in references(DOTTED)
        if not dotted.endswith(".py") and not names_something(dotted)
    ]
    assert missing == []

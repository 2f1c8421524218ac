"""The signing key of a development or embedded Redress started without ``SECRET_KEY``.

``SECRET_KEY`` signs tracking links, confirmation links, sessions and password resets. A key
written in the code is public: anyone could forge a tracking link to any complaint of a demo
that is reachable from elsewhere. So the first start makes a random key and keeps it in the
data folder (``REDRESS_VAR_DIR``), readable by its owner only; later starts read it back, so
links already sent keep working. Production never gets here: there ``SECRET_KEY`` is required.
"""

import contextlib
import os
import secrets
from pathlib import Path

FILE_NAME = "secret_key"
# 50 random bytes, as long as Django's own generated keys and enough for its deploy check.
KEY_BYTES = 50


def development_secret_key(var_dir: Path) -> str:
    """The key kept in ``var_dir``, made on first use (two processes starting at once agree)."""
    path = var_dir / FILE_NAME
    if not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True)
        _write_once(path, secrets.token_urlsafe(KEY_BYTES))
    key = path.read_text().strip()
    if not key:
        raise RuntimeError(f"{path} is empty: delete it to have a new key made.")
    return key


def _write_once(path: Path, key: str) -> None:
    """Write the key to a private file of its own, then link it into place: the link fails
    if another process got there first, and nobody ever reads a half-written key."""
    draft = path.with_name(f".{FILE_NAME}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as file:
            file.write(key + "\n")
        # Another process made it first: theirs is the key.
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)
    finally:
        draft.unlink(missing_ok=True)

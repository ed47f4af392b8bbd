"""Signing keys kept in files (the pure key formats are ``ledger.format.keys``)."""

from __future__ import annotations

import os
from pathlib import Path

from ledger.format.keys import Signer


def write_new_private(path: Path, text: str) -> None:
    """Write ``text`` to a new file readable by its owner only (mode 0600, created
    exclusively: ``FileExistsError`` if ``path`` exists, so a secret is never written over)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def load_or_create_signer(path: Path, name: str) -> Signer:
    """Load the key at ``path``, or create it there (mode 0600) if it does not exist."""
    if path.exists():
        return Signer.parse(path.read_text())
    signer = Signer.generate(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_new_private(path, signer.text() + "\n")
    return signer

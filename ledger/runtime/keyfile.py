"""Signing keys kept in files (the pure key formats are ``ledger.format.keys``)."""

from __future__ import annotations

import os
from pathlib import Path

from ledger.format.keys import Signer


def load_or_create_signer(path: Path, name: str) -> Signer:
    """Load the key at ``path``, or create it there (mode 0600) if it does not exist."""
    if path.exists():
        return Signer.parse(path.read_text())
    signer = Signer.generate(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(signer.text() + "\n")
    return signer

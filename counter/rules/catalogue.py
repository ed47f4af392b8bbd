"""The rule catalogue, ``schemas/rules.json``, read once: the names, kinds, titles and
precisions of the registered rules and the custom rule's options. The ledger reads the same
file (``ledger.domain.rules``) to check a definition's rule without importing the counter."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

CATALOGUE: dict[str, Any] = json.loads(
    resources.files("schemas").joinpath("rules.json").read_text()
)

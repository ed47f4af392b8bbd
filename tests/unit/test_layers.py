"""The import rules of docs/architecture.md, checked on every module (local imports too)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = ("ledger", "counter", "ballot", "booth")
IO_LIBRARIES = ("aiohttp", "asyncpg", "jinja2", "prometheus_client", "structlog")

# package -> the packages of ours it may import (itself always allowed). A package not listed
# here is refused by ``test_every_package_has_a_rule``.
ALLOWED: dict[str, tuple[str, ...]] = {
    "ledger": (),  # ledger/__init__.py
    "ledger.errors": (),
    "ledger.format": ("ledger.errors",),
    "ledger.domain": ("ledger.errors", "ledger.format"),
    "ledger.storage": ("ledger.errors", "ledger.format"),
    "ledger.runtime": ("ledger.errors",),
    "ledger.service": (
        "ledger.errors",
        "ledger.format",
        "ledger.domain",
        "ledger.storage",
        "ledger.runtime",
    ),
    "ledger.http": (
        "ledger.errors",
        "ledger.format",
        "ledger.domain",
        "ledger.service",
        "ledger.runtime",
        "ledger.storage",  # serve.py migrates the database before it serves
    ),
    "counter": (),
    "counter.errors": (),
    "counter.rules": ("counter.errors",),
    "counter.ballots": ("counter.errors", "counter.rules"),
    "counter.tally": (
        "counter.errors",
        "counter.rules",
        "counter.ballots",
        "ledger.errors",
        "ledger.format",
        "ledger.domain",
    ),
    "counter.storage": ("counter.errors", "ledger.errors", "ledger.storage"),
    "counter.runtime": ("counter.errors", "ledger.errors", "ledger.format", "ledger.runtime"),
    "counter.service": (
        "counter.errors",
        "counter.rules",
        "counter.ballots",
        "counter.tally",
        "counter.storage",
        "counter.runtime",
        "ledger.errors",
        "ledger.format",
        "ledger.domain",
        "ledger.runtime",
        "ledger.storage",  # data_fault: which database errors are the data's fault
    ),
    "counter.http": (
        "counter.errors",
        "counter.rules",
        "counter.ballots",
        "counter.tally",
        "counter.storage",
        "counter.service",
        "counter.runtime",
        "ledger.errors",
        "ledger.format",
        "ledger.domain",
        "ledger.runtime",
        "ledger.http",  # the shared RFC 9457 problem rendering
    ),
    "ballot": OURS,  # the command line and the tools that drive whole systems
}
PURE = (
    "ledger.errors",
    "ledger.format",
    "ledger.domain",
    "counter.errors",
    "counter.rules",
    "counter.ballots",
    "counter.tally",
)


def _modules() -> dict[str, Path]:
    found = {}
    for top in ("ledger", "counter", "ballot"):
        for path in (ROOT / top).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _imports(path: Path, module: str) -> set[str]:
    names = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{a.name}" for a in node.names)
    return names


def _package_of(module: str) -> str | None:
    """The ALLOWED key that owns ``module`` (the longest prefix)."""
    best = None
    for key in ALLOWED:
        if (module == key or module.startswith(key + ".")) and (
            best is None or len(key) > len(best)
        ):
            best = key
    return best


MODULES = _modules()


def test_every_package_has_a_rule() -> None:
    """Every module of ours belongs to a package with an import rule (no module outside a layer)."""
    loose = [
        m
        for m in MODULES
        if _package_of(m) in (None, "ledger", "counter") and m not in ("ledger", "counter")
    ]
    assert not loose, f"modules outside every layer: {loose}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_follow_the_layers(module: str) -> None:
    """A module imports only its own package and the packages its layer may import."""
    own = _package_of(module)
    assert own is not None
    allowed = (own, *ALLOWED[own])
    bad = []
    for name in _imports(MODULES[module], module):
        if name.split(".")[0] not in OURS:
            continue
        target = _package_of(name) or name
        if own == "ballot":
            continue
        if not any(target == a or target.startswith(a + ".") for a in allowed):
            bad.append(name)
    assert not bad, f"{module} ({own}) may not import {sorted(set(bad))}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _package_of(m) in PURE))
def test_pure_packages_do_no_io(module: str) -> None:
    """The pure packages import no HTTP, database, template, metrics or logging library."""
    used = {n.split(".")[0] for n in _imports(MODULES[module], module)}
    assert not used & set(IO_LIBRARIES), f"{module} imports {sorted(used & set(IO_LIBRARIES))}"


def test_no_core_imports_the_tools() -> None:
    """Neither the ledger nor the counter imports ``ballot`` (the tools sit outside the cores),
    and the ledger never imports the counter."""
    for module, path in MODULES.items():
        tops = {n.split(".")[0] for n in _imports(path, module)}
        if module.startswith(("ledger", "counter")):
            assert "ballot" not in tops, module
        if module.startswith("ledger"):
            assert "counter" not in tops, module

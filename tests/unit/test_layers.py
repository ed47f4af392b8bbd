"""The import rules of docs/architecture.md, checked on every module (local imports too)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = ("ledger", "counter", "ballot", "booth")
IO_LIBRARIES = ("aiohttp", "asyncpg", "jinja2", "prometheus_client", "structlog")


def _rules() -> tuple[dict[str, tuple[str, ...]], tuple[str, ...]]:
    """The import rules as docs/architecture.md states them (its ``text`` block)."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    block = text.split("```text\n", 1)[1].split("```", 1)[0]
    allowed: dict[str, tuple[str, ...]] = {}
    pure = []
    for line in block.strip().splitlines():
        package, _, rest = line.partition(":")
        if rest.strip().startswith("pure"):
            pure.append(package)
            rest = rest.strip().removeprefix("pure").lstrip(";")
        allowed[package] = tuple(rest.split())
    return allowed, tuple(pure)


# package -> the packages of ours it may import (itself always allowed). A module outside
# every listed package is refused by ``test_every_package_has_a_rule``.
ALLOWED, PURE = _rules()


def _modules() -> dict[str, Path]:
    found = {}
    for top in ("ledger", "counter", "ballot", "booth"):
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
        if _package_of(m) in (None, "ledger", "counter", "booth")
        and m not in ("ledger", "counter", "booth")
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
    """Neither the ledger, the counter nor the booth imports ``ballot`` (the tools sit outside
    the cores); the ledger imports neither the counter nor the booth (which holds the members'
    codes), and the counter and the booth do not import each other."""
    for module, path in MODULES.items():
        tops = {n.split(".")[0] for n in _imports(path, module)}
        if module.startswith(("ledger", "counter", "booth")):
            assert "ballot" not in tops, module
        if module.startswith("ledger"):
            assert not tops & {"counter", "booth"}, module
        if module.startswith("counter"):
            assert "booth" not in tops, module
        if module.startswith("booth"):
            assert "counter" not in tops, module

"""The public RFC 6962/9162 proof vectors of transparency-dev/merkle: our verdict is theirs.

The cases are copied in ``tests/unit/format/data/tlog-vectors`` (Apache-2.0, see its README).
Each says
whether a correct verifier accepts the proof; every case is a test. Where the log format is
stricter, the case is listed in ``STRICTER`` with the reason (docs/log-format.md §5), and the
test pins our verdict instead.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from ledger.errors import ProofError
from ledger.format import merkle

DATA = Path(__file__).parent / "data" / "tlog-vectors"

STRICTER = {
    "consistency/additional/sizes-are-equal-one-and-proof-is-empty.json": (
        "equal sizes and equal roots, but the roots are 12 bytes: every hash is 32 bytes"
    ),
}
"""Cases the reference verifier accepts and ours refuses, with why."""


def _cases(kind: str) -> list[Any]:
    return [
        pytest.param(path, id=path.relative_to(DATA).as_posix())
        for path in sorted((DATA / kind).rglob("*.json"))
    ]


def _bytes(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def _proof(value: list[str] | None) -> list[bytes]:
    return [_bytes(p) for p in value or []]


def _want_err(path: Path, case: dict[str, Any]) -> bool:
    key = path.relative_to(DATA).as_posix()
    return True if key in STRICTER else bool(case["wantErr"])


def test_every_vector_is_read() -> None:
    """The copied suite is whole: 98 inclusion and 98 consistency cases."""
    assert (len(_cases("inclusion")), len(_cases("consistency"))) == (98, 98)


def test_stricter_cases_exist_and_are_accepted_by_the_reference() -> None:
    """Each documented deviation names a real case that the reference verifier accepts."""
    for key in STRICTER:
        assert json.loads((DATA / key).read_text())["wantErr"] is False


def _verify(case: dict[str, Any]) -> None:
    """Run ``ledger.format.merkle``'s verifier on a case: inclusion if it has a leaf, else
    consistency."""
    if "leafHash" in case:
        merkle.verify_inclusion(
            case["leafIdx"],
            case["treeSize"],
            _bytes(case["leafHash"]),
            _proof(case["proof"]),
            _bytes(case["root"]),
        )
    else:
        merkle.verify_consistency(
            case["size1"],
            case["size2"],
            _bytes(case["root1"]),
            _bytes(case["root2"]),
            _proof(case["proof"]),
        )


@pytest.mark.parametrize("path", _cases("inclusion") + _cases("consistency"))
def test_vector(path: Path) -> None:
    """verify_inclusion / verify_consistency reach the case's verdict (or ours, where
    STRICTER says why): hashes of any length but 32 refused, old size 0 the empty tree."""
    case = json.loads(path.read_text())
    if _want_err(path, case):
        with pytest.raises(ProofError):
            _verify(case)
    else:
        _verify(case)

"""RFC 9162 (Certificate Transparency v2) Merkle trees: hashes, incremental appends, proofs.

Hashes (RFC 9162 §2.1.1): ``leaf = SHA-256(0x00 || entry)``,
``node = SHA-256(0x01 || left || right)``, the empty tree's root is ``SHA-256("")``.

Storage model. A *perfect node* ``(level, index)`` is the root of the complete subtree over
leaves ``[index * 2**level, (index + 1) * 2**level)``; level 0 nodes are leaf hashes. Appending
leaf ``n - 1`` completes exactly ``1 + trailing_ones(n - 1)`` perfect nodes, so a store keeps
O(log n) new hashes per leaf (amortised 2), and every root and proof for any size can be
computed from perfect nodes alone: a subtree over ``[a, b)`` that is not perfect is the fold of
its perfect decomposition. The functions here are pure: ``*_nodes`` say which perfect nodes a
computation needs, so that a store can fetch exactly those, and the computation takes them as a
mapping.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ledger.errors import ProofError

NodeId = tuple[int, int]
"""A perfect node: ``(level, index)``."""

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(entry: bytes) -> bytes:
    """RFC 9162 leaf hash: ``SHA-256(0x00 || entry)``."""
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 interior node hash: ``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(size: int) -> int:
    """The largest power of two strictly smaller than ``size`` (``size >= 2``)."""
    return 1 << ((size - 1).bit_length() - 1)


def range_nodes(start: int, end: int) -> list[NodeId]:
    """The perfect nodes that make up the subtree ``[start, end)``, left to right.

    ``start`` must be aligned as in the RFC 9162 recursion (a multiple of the largest power of
    two not above ``end - start``), which holds for every range a proof or root asks for.
    """
    out: list[NodeId] = []
    while start < end:
        width = end - start
        level = width.bit_length() - 1
        if width != 1 << level:
            level = _split(width).bit_length() - 1
        out.append((level, start >> level))
        start += 1 << level
    return out


def range_hash(start: int, end: int, nodes: Mapping[NodeId, bytes]) -> bytes:
    """MTH of the leaves ``[start, end)``, from the perfect nodes of its decomposition."""
    if start == end:
        return EMPTY_ROOT
    parts = range_nodes(start, end)
    value = nodes[parts[-1]]
    for part in reversed(parts[:-1]):
        value = node_hash(nodes[part], value)
    return value


def root_nodes(size: int) -> list[NodeId]:
    """The perfect nodes needed for the root of a tree of ``size`` leaves."""
    return range_nodes(0, size)


def root_hash(size: int, nodes: Mapping[NodeId, bytes]) -> bytes:
    """The root (MTH) of the first ``size`` leaves."""
    return range_hash(0, size, nodes)


def _inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """RFC 9162 §2.1.3.1 PATH(index, D[0:size]) as leaf ranges, in proof order."""
    if not 0 <= index < size:
        raise ProofError("leaf index outside the tree", index=index, size=size)
    path: list[tuple[int, int]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            path.append((lo + k, hi))
            hi = lo + k
        else:
            path.append((lo, lo + k))
            lo += k
    path.reverse()
    return path


def _consistency_ranges(old: int, new: int) -> list[tuple[int, int]]:
    """RFC 9162 §2.1.4.1 PROOF(old, D[0:new]) as leaf ranges, in proof order."""
    if not 0 <= old <= new:
        raise ProofError("consistency needs 0 <= old <= new", old=old, new=new)
    if old in (0, new):
        return []
    tail: list[tuple[int, int]] = []
    lo, hi, m, complete = 0, new, old, True
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            tail.append((lo + k, hi))
            hi = lo + k
        else:
            tail.append((lo, lo + k))
            lo, m, complete = lo + k, m - k, False
    head = [] if complete else [(lo, hi)]
    return head + list(reversed(tail))


def _nodes_for(ranges: Iterable[tuple[int, int]]) -> list[NodeId]:
    out: list[NodeId] = []
    for a, b in ranges:
        out.extend(range_nodes(a, b))
    return out


def inclusion_nodes(index: int, size: int) -> list[NodeId]:
    """The perfect nodes an inclusion proof for ``index`` in a tree of ``size`` needs."""
    return _nodes_for(_inclusion_ranges(index, size))


def inclusion_proof(index: int, size: int, nodes: Mapping[NodeId, bytes]) -> list[bytes]:
    """RFC 9162 inclusion proof (audit path) of leaf ``index`` in the tree of ``size``."""
    return [range_hash(a, b, nodes) for a, b in _inclusion_ranges(index, size)]


def consistency_nodes(old: int, new: int) -> list[NodeId]:
    """The perfect nodes a consistency proof from ``old`` to ``new`` needs."""
    return _nodes_for(_consistency_ranges(old, new))


def consistency_proof(old: int, new: int, nodes: Mapping[NodeId, bytes]) -> list[bytes]:
    """RFC 9162 consistency proof between the trees of ``old`` and ``new`` leaves."""
    return [range_hash(a, b, nodes) for a, b in _consistency_ranges(old, new)]


def _check_hash(value: bytes, what: str) -> None:
    if len(value) != 32:
        raise ProofError(f"{what} is not 32 bytes", length=len(value))


def inclusion_root(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """RFC 9162 §2.1.3.2: the root that ``proof`` leads to from ``leaf`` at ``index`` in a
    tree of ``size`` leaves. Raises ``ProofError`` if the proof has the wrong shape."""
    if not 0 <= index < size:
        raise ProofError("leaf index outside the tree", index=index, size=size)
    _check_hash(leaf, "leaf hash")
    fn, sn, value = index, size - 1, leaf
    for p in proof:
        if len(p) != 32:
            raise ProofError("proof element is not 32 bytes", length=len(p))
        if sn == 0:
            raise ProofError("inclusion proof too long", index=index, size=size)
        if fn & 1 or fn == sn:
            value = node_hash(p, value)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            value = node_hash(value, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof too short", index=index, size=size)
    return value


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """RFC 9162 §2.1.3.2: check that ``leaf`` is at ``index`` in the tree with ``root``.

    Raises ``ProofError`` with the evidence on failure; hashes are 32 bytes.
    """
    _check_hash(root, "root")
    value = inclusion_root(index, size, leaf, proof)
    if value != root:
        raise ProofError(
            "inclusion proof does not lead to the root",
            index=index,
            size=size,
            expected_root=root.hex(),
            computed_root=value.hex(),
        )


def verify_consistency(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """RFC 9162 §2.1.4.2: check that the tree ``new_root`` extends the tree ``old_root``.

    ``old == 0`` (outside RFC 9162, which defines proofs for ``0 < old``; docs/log-format.md
    §5) is the empty tree: its root must be ``EMPTY_ROOT``, and it is consistent with every
    tree through an empty proof. Raises ``ProofError`` with the evidence on failure; hashes
    are 32 bytes.
    """
    if not 0 <= old <= new:
        raise ProofError("consistency needs 0 <= old <= new", old=old, new=new)
    _check_hash(old_root, "old root")
    _check_hash(new_root, "new root")
    if any(len(p) != 32 for p in proof):
        raise ProofError("proof element is not 32 bytes")
    if old == 0 and old_root != EMPTY_ROOT:
        raise ProofError(
            "the root of the empty tree is SHA-256 of nothing", old_root=old_root.hex()
        )
    if old == 0 or old == new:
        if proof:
            raise ProofError("proof must be empty", old=old, new=new, length=len(proof))
        if old == new and old_root != new_root:
            raise ProofError(
                "same size, different roots",
                size=old,
                old_root=old_root.hex(),
                new_root=new_root.hex(),
            )
        return
    path = list(proof)
    if old & (old - 1) == 0:
        path.insert(0, old_root)
    if not path:
        raise ProofError("empty consistency proof", old=old, new=new)
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof too long", old=old, new=new)
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof too short", old=old, new=new)
    if fr != old_root or sr != new_root:
        raise ProofError(
            "consistency proof does not link the two roots",
            old=old,
            new=new,
            old_root=old_root.hex(),
            computed_old_root=fr.hex(),
            new_root=new_root.hex(),
            computed_new_root=sr.hex(),
        )


@dataclass(slots=True)
class CompactRange:
    """The right edge of a tree: the perfect subtrees of its binary decomposition.

    ``append`` adds one leaf and returns the perfect nodes it completed (the leaf itself
    first), which is what a store persists.
    """

    size: int = 0
    hashes: list[bytes] = field(default_factory=list)

    @classmethod
    def from_nodes(cls, size: int, nodes: Mapping[NodeId, bytes]) -> CompactRange:
        """Rebuild the right edge of a tree of ``size`` leaves from its stored nodes."""
        return cls(size=size, hashes=[nodes[n] for n in root_nodes(size)])

    def append(self, leaf: bytes) -> list[tuple[NodeId, bytes]]:
        index = self.size
        made: list[tuple[NodeId, bytes]] = [((0, index), leaf)]
        value = leaf
        level = 0
        while index & 1:
            value = node_hash(self.hashes.pop(), value)
            level += 1
            index >>= 1
            made.append(((level, index), value))
        self.hashes.append(value)
        self.size += 1
        return made

    def root(self) -> bytes:
        if not self.hashes:
            return EMPTY_ROOT
        value = self.hashes[-1]
        for h in reversed(self.hashes[:-1]):
            value = node_hash(h, value)
        return value


@dataclass(slots=True)
class MemoryTree:
    """A whole tree in memory: every perfect node, for verifiers and tests."""

    nodes: dict[NodeId, bytes] = field(default_factory=dict)
    edge: CompactRange = field(default_factory=CompactRange)

    @property
    def size(self) -> int:
        return self.edge.size

    def append(self, leaf: bytes) -> None:
        for node, value in self.edge.append(leaf):
            self.nodes[node] = value

    def extend(self, leaves: Iterable[bytes]) -> None:
        for leaf in leaves:
            self.append(leaf)

    def root(self, size: int | None = None) -> bytes:
        if size is None or size == self.size:
            return self.edge.root()
        self._check(size)
        return root_hash(size, self.nodes)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        size = self.size if size is None else size
        self._check(size)
        return inclusion_proof(index, size, self.nodes)

    def consistency_proof(self, old: int, new: int | None = None) -> list[bytes]:
        new = self.size if new is None else new
        self._check(new)
        return consistency_proof(old, new, self.nodes)

    def _check(self, size: int) -> None:
        if not 0 <= size <= self.size:
            raise ProofError("tree size beyond the tree", size=size, tree_size=self.size)

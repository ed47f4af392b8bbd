"""RFC 9162 Merkle trees: known answers, proofs for every size, and tamper evidence."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.errors import ProofError
from ledger.format import merkle

# The Certificate Transparency reference tree: the 8 leaf inputs, the roots of every prefix,
# and the audit/consistency paths, as published in google/certificate-transparency
# (cpp/merkletree/merkle_tree_test.cc) and transparency-dev/merkle (proof/verify_test.go,
# testonly/constants.go). Inclusion indices there are 1-based; here they are 0-based.
CT_INPUTS = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
H = {
    "96a2": "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "5f08": "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "6b47": "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    "bc1a": "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "ca85": "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    "d37e": "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "fac5": "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "6e34": "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "0ebc": "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
}
CT_INCLUSION = [
    (0, 8, ["96a2", "5f08", "6b47"]),
    (5, 8, ["bc1a", "ca85", "d37e"]),
    (2, 3, ["fac5"]),
    (1, 5, ["6e34", "5f08", "bc1a"]),
]
CT_CONSISTENCY = [
    (1, 1, []),
    (1, 8, ["96a2", "5f08", "6b47"]),
    (6, 8, ["0ebc", "ca85", "d37e"]),
    (2, 5, ["5f08", "bc1a"]),
]


def ct_tree() -> merkle.MemoryTree:
    tree = merkle.MemoryTree()
    tree.extend(merkle.leaf_hash(x) for x in CT_INPUTS)
    return tree


def test_reference_roots_for_every_prefix() -> None:
    """Roots of the CT reference tree for sizes 0..8 equal the published values."""
    tree = ct_tree()
    assert merkle.EMPTY_ROOT.hex() == CT_ROOTS[0]
    for size in range(9):
        assert tree.root(size).hex() == CT_ROOTS[size]


def test_incremental_root_matches_at_each_append() -> None:
    """The compact range's root equals the reference root after every append."""
    edge = merkle.CompactRange()
    for size, data in enumerate(CT_INPUTS, start=1):
        edge.append(merkle.leaf_hash(data))
        assert edge.root().hex() == CT_ROOTS[size]


@pytest.mark.parametrize(("index", "size", "path"), CT_INCLUSION)
def test_reference_inclusion_proofs(index: int, size: int, path: list[str]) -> None:
    """Inclusion proofs equal the published audit paths and verify."""
    tree = ct_tree()
    proof = tree.inclusion_proof(index, size)
    assert [p.hex() for p in proof] == [H[k] for k in path]
    leaf = merkle.leaf_hash(CT_INPUTS[index])
    merkle.verify_inclusion(index, size, leaf, proof, bytes.fromhex(CT_ROOTS[size]))


@pytest.mark.parametrize(("old", "new", "path"), CT_CONSISTENCY)
def test_reference_consistency_proofs(old: int, new: int, path: list[str]) -> None:
    """Consistency proofs equal the published ones and verify."""
    tree = ct_tree()
    proof = tree.consistency_proof(old, new)
    assert [p.hex() for p in proof] == [H[k] for k in path]
    merkle.verify_consistency(
        old, new, bytes.fromhex(CT_ROOTS[old]), bytes.fromhex(CT_ROOTS[new]), proof
    )


def _leaves(n: int) -> list[bytes]:
    return [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


# One tree of 1,024 leaves serves every size up to 1,024 (its prefixes).
BIG = merkle.MemoryTree()
BIG.extend(_leaves(1024))


def _mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1 MTH, by the definition, as an independent oracle."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return merkle.node_hash(_mth(leaves[:k]), _mth(leaves[k:]))


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=1024))
def test_roots_equal_the_recursive_definition(size: int) -> None:
    """Roots from stored perfect nodes equal the RFC's recursive MTH for sizes up to 1,024."""
    assert BIG.root(size) == _mth(_leaves(size))


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_inclusion_proofs_verify_for_all_sizes(data: st.DataObject) -> None:
    """Every leaf's inclusion proof verifies in every tree size up to 1,024."""
    size = data.draw(st.integers(min_value=1, max_value=1024))
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    proof = BIG.inclusion_proof(index, size)
    merkle.verify_inclusion(index, size, _leaves(index + 1)[index], proof, BIG.root(size))


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_consistency_proofs_verify_for_random_pairs(data: st.DataObject) -> None:
    """Consistency proofs verify for random pairs of sizes up to 1,024."""
    new = data.draw(st.integers(min_value=0, max_value=1024))
    old = data.draw(st.integers(min_value=0, max_value=new))
    proof = BIG.consistency_proof(old, new)
    merkle.verify_consistency(old, new, BIG.root(old), BIG.root(new), proof)


def _flip(value: bytes, position: int, bit: int) -> bytes:
    out = bytearray(value)
    out[position % len(out)] ^= 1 << bit
    return bytes(out)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_flipping_any_byte_breaks_inclusion(data: st.DataObject) -> None:
    """Flipping any bit of the leaf, of any proof element or of the root fails verification."""
    size = data.draw(st.integers(min_value=2, max_value=1024))
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    leaf = _leaves(index + 1)[index]
    proof = BIG.inclusion_proof(index, size)
    root = BIG.root(size)
    target = data.draw(st.integers(min_value=0, max_value=len(proof) + 1))
    pos = data.draw(st.integers(min_value=0, max_value=31))
    bit = data.draw(st.integers(min_value=0, max_value=7))
    if target == len(proof):
        leaf = _flip(leaf, pos, bit)
    elif target == len(proof) + 1:
        root = _flip(root, pos, bit)
    else:
        proof = [*proof[:target], _flip(proof[target], pos, bit), *proof[target + 1 :]]
    with pytest.raises(ProofError):
        merkle.verify_inclusion(index, size, leaf, proof, root)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_flipping_any_byte_breaks_consistency(data: st.DataObject) -> None:
    """Flipping any bit of either root or of any proof element fails consistency."""
    new = data.draw(st.integers(min_value=2, max_value=1024))
    old = data.draw(st.integers(min_value=1, max_value=new - 1))
    proof = BIG.consistency_proof(old, new)
    old_root, new_root = BIG.root(old), BIG.root(new)
    target = data.draw(st.integers(min_value=0, max_value=len(proof) + 1))
    pos = data.draw(st.integers(min_value=0, max_value=31))
    bit = data.draw(st.integers(min_value=0, max_value=7))
    if target == len(proof):
        old_root = _flip(old_root, pos, bit)
    elif target == len(proof) + 1:
        new_root = _flip(new_root, pos, bit)
    else:
        proof = [*proof[:target], _flip(proof[target], pos, bit), *proof[target + 1 :]]
    with pytest.raises(ProofError):
        merkle.verify_consistency(old, new, old_root, new_root, proof)


def test_wrong_index_or_size_fails() -> None:
    """A valid proof presented for another index or size does not verify."""
    proof = BIG.inclusion_proof(5, 100)
    leaf = _leaves(6)[5]
    with pytest.raises(ProofError):
        merkle.verify_inclusion(6, 100, leaf, proof, BIG.root(100))
    with pytest.raises(ProofError):
        merkle.verify_inclusion(5, 101, leaf, proof, BIG.root(101))
    with pytest.raises(ProofError):
        merkle.verify_inclusion(100, 100, leaf, proof, BIG.root(100))


def test_truncated_and_extended_proofs_fail() -> None:
    """A proof with an element missing or added does not verify."""
    proof = BIG.consistency_proof(37, 900)
    args = (37, 900, BIG.root(37), BIG.root(900))
    with pytest.raises(ProofError):
        merkle.verify_consistency(*args, proof[:-1])
    with pytest.raises(ProofError):
        merkle.verify_consistency(*args, [*proof, proof[0]])


def test_appends_store_logarithmic_nodes() -> None:
    """Each append completes 1 + trailing_ones(index) nodes: amortised under 2 per leaf."""
    edge = merkle.CompactRange()
    total = 0
    for i, leaf in enumerate(_leaves(4096)):
        made = edge.append(leaf)
        trailing_ones = (i ^ (i + 1)).bit_length() - 1
        assert len(made) == 1 + trailing_ones
        total += len(made)
    assert total == 2 * 4096 - 1
    assert len(edge.hashes) == bin(4096).count("1")


def test_needed_nodes_are_exactly_what_the_proof_reads() -> None:
    """The node lists a store fetches suffice for roots and proofs, and are O(log n)."""
    for old, new in [(1, 1000), (511, 1023), (600, 601), (0, 17)]:
        wanted = merkle.consistency_nodes(old, new)
        subset = {n: BIG.nodes[n] for n in wanted}
        assert merkle.consistency_proof(old, new, subset) == BIG.consistency_proof(old, new)
        assert len(wanted) <= 2 * new.bit_length()
    wanted = merkle.inclusion_nodes(700, 1000)
    subset = {n: BIG.nodes[n] for n in wanted}
    assert merkle.inclusion_proof(700, 1000, subset) == BIG.inclusion_proof(700, 1000)


def test_the_empty_tree_is_consistent_with_every_tree_by_an_empty_proof() -> None:
    """Old size 0 (docs/log-format.md §5): an empty proof, and the old root must be
    SHA-256("") of the empty tree; any other old root, or any proof element, is refused."""
    for new in (0, 1, 2, 7, 1000):
        merkle.verify_consistency(0, new, merkle.EMPTY_ROOT, BIG.root(new), [])
        assert BIG.consistency_proof(0, new) == []
        with pytest.raises(ProofError, match="empty tree"):
            merkle.verify_consistency(0, new, bytes(32), BIG.root(new), [])
        with pytest.raises(ProofError):
            merkle.verify_consistency(0, new, merkle.EMPTY_ROOT, BIG.root(new), [bytes(32)])


@pytest.mark.parametrize("length", [0, 1, 12, 31, 33, 64])
def test_hashes_of_any_other_length_than_32_are_refused(length: int) -> None:
    """Leaf hashes and roots of any length but 32 are refused by both verifiers, even where
    the bytes would compare equal (a 0-byte leaf against a 0-byte root at tree size 1)."""
    odd = bytes(length)
    with pytest.raises(ProofError, match="not 32 bytes"):
        merkle.verify_inclusion(0, 1, odd, [], odd)
    with pytest.raises(ProofError, match="not 32 bytes"):
        merkle.verify_inclusion(0, 1, BIG.root(1), [], odd)
    for old in (0, 1):
        with pytest.raises(ProofError, match="not 32 bytes"):
            merkle.verify_consistency(old, old, odd, odd, [])
    with pytest.raises(ProofError, match="not 32 bytes"):
        merkle.verify_consistency(1, 2, BIG.root(1), odd, BIG.consistency_proof(1, 2))

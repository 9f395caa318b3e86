"""The Merkle tree: RFC 6962's shape, proofs that verify, and tampering that shows."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from opstools import merkle

leaves_st = st.lists(st.binary(min_size=0, max_size=12), min_size=1, max_size=40)
# Distinct leaves, like the ledger's (each receipt names its own vote id).
distinct_st = st.lists(st.binary(min_size=0, max_size=12), min_size=1, max_size=40, unique=True)


def rfc6962_root(data: list[bytes]) -> bytes:
    """RFC 6962 §2.1's recursive definition, as the reference."""
    if not data:
        return hashlib.sha256(b"").digest()
    if len(data) == 1:
        return hashlib.sha256(b"\x00" + data[0]).digest()
    k = 1
    while k * 2 < len(data):
        k *= 2
    return hashlib.sha256(b"\x01" + rfc6962_root(data[:k]) + rfc6962_root(data[k:])).digest()


@given(leaves_st)
def test_root_matches_the_rfc_definition(data: list[bytes]) -> None:
    assert merkle.root([merkle.leaf_hash(d) for d in data]) == rfc6962_root(data)


def test_known_vectors() -> None:
    assert merkle.root([]).hex() == hashlib.sha256(b"").hexdigest()
    one = merkle.leaf_hash(b"")
    assert one.hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"


@given(leaves_st)
def test_every_leaf_proves_and_both_proof_builders_agree(data: list[bytes]) -> None:
    leaves = [merkle.leaf_hash(d) for d in data]
    top, paths = merkle.inclusion_proofs(leaves)
    assert top == merkle.root(leaves)
    for index, leaf in enumerate(leaves):
        assert paths[index] == merkle.inclusion_proof(leaves, index)
        assert merkle.verify_inclusion(leaf, index, len(leaves), paths[index], top)


@given(distinct_st, st.data())
def test_a_wrong_proof_fails(data: list[bytes], draw: st.DataObject) -> None:
    leaves = [merkle.leaf_hash(d) for d in data]
    top, paths = merkle.inclusion_proofs(leaves)
    index = draw.draw(st.integers(0, len(leaves) - 1))
    path = paths[index]
    leaf = leaves[index]
    # Another leaf's content, a wrong index, a wrong size, a tampered path: all fail.
    assert not merkle.verify_inclusion(merkle.leaf_hash(b"forged"), index, len(leaves), path, top)
    if len(leaves) > 1:
        other = (index + 1) % len(leaves)
        assert not merkle.verify_inclusion(leaf, other, len(leaves), path, top)
        flip = draw.draw(st.integers(0, len(path) - 1))
        bad = [*path]
        bad[flip] = bytes([bad[flip][0] ^ 1]) + bad[flip][1:]
        assert not merkle.verify_inclusion(leaf, index, len(leaves), bad, top)
        assert not merkle.verify_inclusion(leaf, index, len(leaves), path[:-1], top)
    # (The size is not bound by every path on its own: it is published beside the root.)
    assert not merkle.verify_inclusion(leaf, index, len(leaves), [*path, top], top)


@given(leaves_st, st.data())
def test_tampering_with_any_leaf_changes_the_root(data: list[bytes], draw: st.DataObject) -> None:
    index = draw.draw(st.integers(0, len(data) - 1))
    changed = [*data]
    changed[index] = data[index] + b"!"
    before = merkle.root([merkle.leaf_hash(d) for d in data])
    assert merkle.root([merkle.leaf_hash(d) for d in changed]) != before


def test_a_leaf_cannot_pose_as_an_inner_node() -> None:
    # Without domain separation, the two-leaf tree's root would equal the leaf
    # holding the concatenation of the two leaf hashes.
    a, b = merkle.leaf_hash(b"a"), merkle.leaf_hash(b"b")
    assert merkle.root([merkle.leaf_hash(a + b)]) != merkle.root([a, b])


def test_proof_object_round_trip() -> None:
    leaves = [merkle.leaf_hash(bytes([i])) for i in range(5)]
    top, paths = merkle.inclusion_proofs(leaves)
    proof = merkle.Proof("x", 3, 5, leaves[3].hex(), tuple(p.hex() for p in paths[3]), top.hex())
    assert proof.verifies()
    assert not merkle.Proof("x", 3, 5, leaves[2].hex(), proof.path, top.hex()).verifies()
    assert not merkle.Proof("x", 3, 5, "zz", proof.path, top.hex()).verifies()

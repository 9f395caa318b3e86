"""A Merkle tree over the ledger, RFC 6962 style, so any voter can prove their vote counted.

Decisions, each one something an outsider must reproduce exactly:

* **Leaf data** is the UTF-8 text of the vote's receipt: the canonical JSON the server
  signed (``ballotbox.core.receipt.receipt_text``). A voter holds it already; an auditor
  rebuilds it from a public ledger line. It names the campaign, vote id, candidate,
  voter, day, server time and the ballot's SHA-256, so changing any of them changes
  the leaf.
* **Order** is ascending ``vote_id`` compared as ASCII text (JavaScript's default string
  order agrees), so the root does not depend on the order an export happened to use.
* **Hashing** is SHA-256 with domain separation: ``H(0x00 || leaf)`` for leaves and
  ``H(0x01 || left || right)`` for nodes, so no leaf can pose as an inner node (the
  second-preimage attack on naive trees). The tree shape is RFC 6962's: the left
  subtree holds the largest power of two below n leaves. The empty tree is ``H("")``.
* Hashes are written as lowercase hex, like ``sha256sum``.

Pure functions only: no I/O.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def receipt_leaf(receipt: str) -> bytes:
    """The leaf hash of one vote, from its receipt text."""
    return leaf_hash(receipt.encode("utf-8"))


def root(leaves: Sequence[bytes]) -> bytes:
    """The root over leaf hashes already in canonical order.

    Pairing level by level and carrying an odd last node up unchanged builds exactly
    RFC 6962's tree (the tests check it against the recursive definition), in linear
    time and without recursion depth limits.
    """
    if not leaves:
        return hashlib.sha256(b"").digest()
    level = list(leaves)
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def inclusion_proofs(leaves: Sequence[bytes]) -> tuple[bytes, list[list[bytes]]]:
    """The root and every leaf's audit path (leaf to root), in one pass over the tree."""
    if not leaves:
        return root(leaves), []
    paths: list[list[bytes]] = [[] for _ in leaves]
    # members[i]: the leaf indexes under node i of the current level.
    level = list(leaves)
    members: list[list[int]] = [[i] for i in range(len(leaves))]
    while len(level) > 1:
        next_level: list[bytes] = []
        next_members: list[list[int]] = []
        for i in range(0, len(level) - 1, 2):
            for leaf in members[i]:
                paths[leaf].append(level[i + 1])
            for leaf in members[i + 1]:
                paths[leaf].append(level[i])
            next_level.append(node_hash(level[i], level[i + 1]))
            next_members.append(members[i] + members[i + 1])
        if len(level) % 2:
            next_level.append(level[-1])
            next_members.append(members[-1])
        level, members = next_level, next_members
    return level[0], paths


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """One leaf's audit path, bottom up (RFC 6962 ``PATH``)."""
    if not 0 <= index < len(leaves):
        raise IndexError("leaf index outside the tree")
    path: list[bytes] = []
    level = list(leaves)
    while len(level) > 1:
        sibling = index ^ 1
        if sibling < len(level):
            path.append(level[sibling])
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level, index = paired, index // 2
    return path


def verify_inclusion(
    leaf: bytes, index: int, size: int, path: Sequence[bytes], expected_root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2: does ``path`` lead from leaf ``index`` of ``size`` to the root?"""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == expected_root


@dataclass(frozen=True, slots=True)
class Proof:
    """What ``ops.py prove`` prints and the results page checks: all hex."""

    vote_id: str
    index: int
    size: int
    leaf: str
    path: tuple[str, ...]
    root: str

    def to_json(self) -> dict[str, object]:
        return {
            "vote_id": self.vote_id,
            "index": self.index,
            "size": self.size,
            "leaf": self.leaf,
            "path": list(self.path),
            "root": self.root,
        }

    def verifies(self) -> bool:
        try:
            path = [bytes.fromhex(p) for p in self.path]
            leaf, top = bytes.fromhex(self.leaf), bytes.fromhex(self.root)
        except ValueError:
            return False
        return verify_inclusion(leaf, self.index, self.size, path, top)

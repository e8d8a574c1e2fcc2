"""RFC 9162 Merkle tree over stored perfect-subtree hashes.

The tree keeps, for every level L, the hashes of all *complete* nodes at that level: node (L, i)
covers leaves [i * 2^L, (i + 1) * 2^L). Levels are flat ``bytearray``s (32 bytes per node), so a
node lookup is one slice. Appending a leaf adds at most one node per level (amortised O(1), worst
O(log n)); the right edge of each level is the compact range (frontier) of the current tree.
Nodes are never rewritten, so the root and proofs for every *earlier* size can be computed from
the same arrays in O(log n) without re-hashing leaves.

Proof generation follows the node-id formulation of transparency-dev/merkle (proof/proof.go),
which produces exactly the RFC 9162 PATH and SUBPROOF sequences.
"""

from __future__ import annotations

from hashlib import sha256

from dtacore import merkle

H = merkle.HASH_SIZE
_NODE = merkle.NODE_PREFIX


class TreeError(ValueError):
    """A proof or root was requested for a position the tree does not have."""


class MerkleTree:
    """Node hashes of an append-only RFC 9162 tree, in memory.

    ``levels[L]`` holds the complete nodes of level L in order. The persistent store mirrors
    exactly these nodes; this class does the arithmetic.
    """

    __slots__ = ("levels",)

    def __init__(self, levels: list[bytearray] | None = None):
        self.levels = levels if levels is not None else [bytearray()]

    @property
    def size(self) -> int:
        return len(self.levels[0]) // H

    def node(self, level: int, index: int) -> bytes:
        off = index * H
        return bytes(self.levels[level][off:off + H])

    def append_leaf_hash(self, leaf_hash: bytes) -> list[tuple[int, int, bytes]]:
        """Append one leaf hash; return the new complete nodes as (level, index, hash)."""
        levels = self.levels
        index = len(levels[0]) // H
        levels[0] += leaf_hash
        new = [(0, index, leaf_hash)]
        level = 0
        h = leaf_hash
        while index & 1:
            lv = levels[level]
            left = lv[(index - 1) * H:index * H]
            h = sha256(_NODE + left + h).digest()
            level += 1
            index >>= 1
            if level == len(levels):
                levels.append(bytearray())
            levels[level] += h
            new.append((level, index, h))
        return new

    def truncate(self, size: int) -> None:
        """Forget leaves >= size (undo an append whose transaction failed)."""
        for level, lv in enumerate(self.levels):
            del lv[(size >> level) * H:]

    def range_root(self, begin: int, end: int) -> bytes:
        """Root of leaves [begin, end) where begin is aligned to a power of two >= end - begin
        (true for every subtree of an RFC 9162 tree). Folds the perfect nodes right to left."""
        nodes = []
        pos = begin
        width = end - begin
        level = width.bit_length()
        while level:
            level -= 1
            if width >> level & 1:
                nodes.append(self.node(level, pos >> level))
                pos += 1 << level
        h = nodes[-1]
        for left in reversed(nodes[:-1]):
            h = sha256(_NODE + left + h).digest()
        return h

    def root(self, size: int | None = None) -> bytes:
        size = self.size if size is None else size
        if size < 0 or size > self.size:
            raise TreeError(f"no tree of size {size} (current size {self.size})")
        if size == 0:
            return merkle.empty_root()
        return self.range_root(0, size)

    def _path(self, level: int, index: int, size: int) -> list[bytes]:
        # Siblings on the way from complete node (level, index) to the root of the tree of `size`.
        last = (size - 1) >> level
        inner = (index ^ last).bit_length()
        path = []
        for i in range(inner - 1):
            lv = level + i
            sib = (index >> i) ^ 1
            path.append(self.node(lv, sib))
        if inner:
            lv = level + inner - 1
            begin = ((index >> (inner - 1)) ^ 1) << lv
            end = begin + (1 << lv)
            if end <= size:
                path.append(self.node(lv, begin >> lv))
            else:
                path.append(self.range_root(begin, size))
        rest = index >> inner
        lv = level + inner
        while rest:
            if rest & 1:
                path.append(self.node(lv, rest ^ 1))
            rest >>= 1
            lv += 1
        return path

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """RFC 9162 PATH(index, D[0:size])."""
        if not 0 < size <= self.size:
            raise TreeError(f"no tree of size {size} (current size {self.size})")
        if not 0 <= index < size:
            raise TreeError(f"leaf index {index} not below tree size {size}")
        return self._path(0, index, size)

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        """RFC 9162 PROOF(size1, D[0:size2])."""
        if not 0 <= size2 <= self.size:
            raise TreeError(f"no tree of size {size2} (current size {self.size})")
        if not 0 <= size1 <= size2:
            raise TreeError(f"size1 {size1} is not in [0, size2={size2}]")
        if size1 == size2 or size1 == 0:
            return []
        level = (size1 & -size1).bit_length() - 1
        index = (size1 - 1) >> level
        path = self._path(level, index, size2)
        if index == 0:
            return path
        return [self.node(level, index)] + path

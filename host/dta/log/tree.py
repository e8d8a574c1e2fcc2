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

from dta.errors import StoreError
from dtacore import merkle

H = merkle.HASH_SIZE
_NODE = merkle.NODE_PREFIX


# Memoised subtree roots for ranges that are not single nodes (see range_root): 64 bytes of
# hash plus dict overhead each, so 4096 entries stay under ~1 MB.
_RANGE_CACHE = 4096


class TreeError(StoreError):
    """A proof or root was requested for a position the tree does not have."""


def _is_int(value) -> bool:
    # Positions are ints; a bool or a float is a caller's mistake, refused like a bad number.
    return type(value) is int


class MerkleTree:
    """Node hashes of an append-only RFC 9162 tree, in memory.

    ``levels[0]`` is a ``bytearray`` of all leaf hashes (32 bytes each); ``levels[L]`` for
    L >= 1 is a list of the complete level-L node hashes as ``bytes``. Leaves are half the nodes
    and stay compact (32 B each); interior nodes cost ~80 B each in a list but a lookup is a
    list index instead of a slice copy, which is most of the time of a proof. About 110 MB at
    10^6 entries. The persistent store mirrors exactly these nodes; this class does the
    arithmetic.
    """

    __slots__ = ("levels", "_ranges")

    def __init__(self, levels: list | None = None):
        self.levels = levels if levels is not None else [bytearray()]
        self._ranges: dict[tuple[int, int], bytes] = {}

    @property
    def size(self) -> int:
        return len(self.levels[0]) // H

    def node(self, level: int, index: int) -> bytes:
        if level:
            return self.levels[level][index]
        off = index * H
        return bytes(self.levels[0][off:off + H])

    def append_leaf_hash(self, leaf_hash: bytes) -> list[tuple[int, int, bytes]]:
        """Append one leaf hash; return the new complete nodes as (level, index, hash)."""
        levels = self.levels
        index = len(levels[0]) // H
        levels[0] += leaf_hash
        new = [(0, index, leaf_hash)]
        if not index & 1:
            return new
        left = levels[0][(index - 1) * H:index * H]
        h = sha256(_NODE + left + leaf_hash).digest()
        level = 1
        index >>= 1
        while True:
            if level == len(levels):
                levels.append([])
            levels[level].append(h)
            new.append((level, index, h))
            if not index & 1:
                return new
            h = sha256(_NODE + levels[level][index - 1] + h).digest()
            level += 1
            index >>= 1

    def truncate(self, size: int) -> None:
        """Forget leaves >= size (undo an append whose transaction failed)."""
        del self.levels[0][size * H:]
        for level in range(1, len(self.levels)):
            del self.levels[level][size >> level:]
        self._ranges.clear()  # memoised ranges may reach past `size`

    def range_root(self, begin: int, end: int) -> bytes:
        """Root of leaves [begin, end) where begin is aligned to a power of two >= end - begin
        (true for every subtree of an RFC 9162 tree). Folds the perfect nodes right to left.
        Results for ranges that are not a single node are memoised: with a fixed tree size the
        right-edge subtrees repeat in every proof (the cache is bounded and never stale, since
        stored nodes never change)."""
        key = (begin, end)
        h = self._ranges.get(key)
        if h is not None:
            return h
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
        if len(self._ranges) >= _RANGE_CACHE:
            self._ranges.clear()
        self._ranges[key] = h
        return h

    def root(self, size: int | None = None) -> bytes:
        size = self.size if size is None else size
        if not _is_int(size) or size < 0 or size > self.size:
            raise TreeError(f"no tree of size {size} (current size {self.size})")
        if size == 0:
            return merkle.empty_root()
        return self.range_root(0, size)

    def _path(self, level: int, index: int, size: int) -> list[bytes]:
        # Siblings on the way from complete node (level, index) to the root of the tree of `size`:
        # `inner` levels below the fork (the top one possibly a partial right subtree), then the
        # left siblings above it.
        levels = self.levels
        inner = (index ^ ((size - 1) >> level)).bit_length()
        path = []
        idx = index
        lv = level
        top = level + inner - 1
        if lv == 0 and inner > 1:
            off = (idx ^ 1) * H
            path.append(bytes(levels[0][off:off + H]))
            idx >>= 1
            lv = 1
        while lv < top:
            path.append(levels[lv][idx ^ 1])
            idx >>= 1
            lv += 1
        if inner:
            begin = (idx ^ 1) << top
            if begin + (1 << top) <= size:
                path.append(self.node(top, idx ^ 1))
            else:
                path.append(self.range_root(begin, size))
        rest = index >> inner
        lv = level + inner
        if lv == 0 and rest:  # index == size - 1: its left sibling may be a leaf
            if rest & 1:
                path.append(self.node(0, rest ^ 1))
            rest >>= 1
            lv = 1
        while rest:
            if rest & 1:
                path.append(levels[lv][rest ^ 1])
            rest >>= 1
            lv += 1
        return path

    def inclusion_proof(self, *, index: int, size: int) -> list[bytes]:
        """RFC 9162 PATH(index, D[0:size])."""
        if not _is_int(size) or not 0 < size <= self.size:
            raise TreeError(f"no tree of size {size} (current size {self.size})")
        if not _is_int(index) or not 0 <= index < size:
            raise TreeError(f"leaf index {index} not below tree size {size}")
        return self._path(0, index, size)

    def consistency_proof(self, *, size1: int, size2: int) -> list[bytes]:
        """RFC 9162 PROOF(size1, D[0:size2]) for 0 < size1 <= size2 (there is no proof from the
        empty tree)."""
        if not _is_int(size2) or not 0 <= size2 <= self.size:
            raise TreeError(f"no tree of size {size2} (current size {self.size})")
        if not _is_int(size1) or not 0 < size1 <= size2:
            raise TreeError(f"size1 {size1} is not in [1, size2={size2}]")
        if size1 == size2:
            return []
        level = (size1 & -size1).bit_length() - 1
        index = (size1 - 1) >> level
        path = self._path(level, index, size2)
        if index == 0:
            return path
        return [self.node(level, index)] + path

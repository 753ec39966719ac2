"""ItemTable: every input Item of a run in a few flat arrays, not one Python object per file.

The parent holds one entry per input file for the whole run, and sorts, filters and checks
them before any work. As Item objects that costs some 250 bytes a file (the object, its key
string, its label string); a table keeps about 30 for a typical name (the key's UTF-8 bytes, two
offsets, a split code), so the parent's memory stays nearly flat from a thousand files to a
hundred thousand:

- keys: one bytes buffer holding every key, with each item's start and end offset. Keys are
  encoded UTF-8 with 'surrogatepass', so a file name that is not UTF-8 (decoded by the OS layer
  with lone surrogates) round-trips, and bytewise order is Python's string order (code points).
- label_rel: derived from the key by the format's own function (`label_of`, a module-level
  function, so the table pickles), with a flag per item when some have none; or, for tables
  made from a list of Items, the list of label paths.
- split: a small code per item into a tuple of split names.
- payload: a list, only when the format has payloads (COCO annotations, classify folders).

Items are made on access (`table[i]`, iteration) and equal the ones a list would hold. A table
is built in key order; `select` and slices keep the items' order and share the key bytes.
"""
from __future__ import annotations

import operator
from array import array
from collections.abc import Sequence
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from augcli.formats.base import Item

_ENCODING = ("utf-8", "surrogatepass")
_BLOCK = 4096  # items per block where numpy would otherwise make a temporary array (or list) of all

class ItemTable(Sequence):
    """A read-only, key-ordered sequence of Items stored column-wise (see the module docstring).

    Build one with ItemTableBuilder (scans) or ItemTable.from_items (any list of Items)."""

    __slots__ = ("root", "_blob", "_start", "_end", "_split_names", "_split_codes", "_label_of", "_labelled",
                 "_labels", "_payloads")

    def __init__(self, root: str, blob: bytes | bytearray, start: np.ndarray, end: np.ndarray, *,
                 split_names: tuple[str | None, ...] = (None,), split_codes: np.ndarray | None = None,
                 label_of: Callable[[str], str] | None = None, labelled: np.ndarray | None = None,
                 labels: list[str | None] | None = None, payloads: list[Any] | None = None):
        self.root = root  # one string shared by every Item made
        self._blob = blob
        self._start, self._end = start, end
        self._split_names = split_names  # code -> split; code 0 is None
        self._split_codes = split_codes if split_codes is not None else np.zeros(len(start), np.uint16)
        self._label_of = label_of  # key -> label_rel, for items flagged in _labelled (all when None)
        self._labelled = labelled
        self._labels = labels  # explicit label_rel per item, instead of _label_of
        self._payloads = payloads

    # ------------------------------------------------------------------ making tables
    @classmethod
    def from_items(cls, items: Iterable[Item]) -> "ItemTable":
        """The table of `items` (any order; the table is sorted by key, stably). All must share one root."""
        items = sorted(items, key=lambda it: it.key)
        roots = {it.root for it in items}
        if len(roots) > 1:
            raise ValueError(f"items of one table share one root; got {len(roots)} roots")
        builder = ItemTableBuilder(roots.pop() if roots else "", explicit_labels=True,
                                   payloads=any(it.payload is not None for it in items))
        for it in items:
            builder.add(it.key, it.split, label=it.label_rel, payload=it.payload)
        return builder.build()

    def _subset(self, rows: np.ndarray | slice) -> "ItemTable":
        if isinstance(rows, slice):
            pick = lambda values: values[rows]  # noqa: E731
        else:
            pick = lambda values: _picked(values, rows)  # noqa: E731
        return ItemTable(self.root, self._blob, self._start[rows], self._end[rows],
                         split_names=self._split_names, split_codes=self._split_codes[rows],
                         label_of=self._label_of, labelled=None if self._labelled is None else self._labelled[rows],
                         labels=None if self._labels is None else pick(self._labels),
                         payloads=None if self._payloads is None else pick(self._payloads))

    def select(self, keep: np.ndarray) -> "ItemTable":
        """The items where the boolean mask `keep` is true, in order (this table itself when all are)."""
        keep = np.asarray(keep, dtype=bool)
        if len(keep) != len(self):
            raise ValueError(f"mask of {len(keep)} for a table of {len(self)}")
        if keep.all():
            return self
        return self._subset(np.flatnonzero(keep))

    def with_splits(self, names: tuple[str | None, ...], codes: np.ndarray) -> "ItemTable":
        """The same items with split names[codes[i]] each (names[0] is None: no split)."""
        if names[0] is not None:
            raise ValueError("split code 0 means no split: names[0] must be None")
        table = self._subset(slice(None))
        table._split_names, table._split_codes = tuple(names), np.asarray(codes, np.uint16)
        return table

    def with_labelled(self, flags: np.ndarray) -> "ItemTable":
        """The same items, those where `flags` is false without a label (the table derives labels)."""
        if self._label_of is None:
            raise ValueError("with_labelled: this table has no rule for labels")
        table = self._subset(slice(None))
        flags = np.asarray(flags, dtype=bool)
        table._labelled = None if flags.all() else flags
        return table

    def with_labels(self, labels: list[str | None]) -> "ItemTable":
        """The same items with these label paths, one per item (None: no label)."""
        if len(labels) != len(self):
            raise ValueError(f"{len(labels)} labels for a table of {len(self)}")
        table = self._subset(slice(None))
        table._labels, table._label_of, table._labelled = list(labels), None, None
        return table

    # ------------------------------------------------------------------ reading
    def __len__(self) -> int:
        return len(self._start)

    @property
    def nbytes(self) -> int:
        """Bytes the table holds (its key bytes, arrays and list slots; not the payload objects)."""
        arrays = (self._start, self._end, self._split_codes, self._labelled)
        lists = (self._labels, self._payloads)
        return len(self._blob) + sum(a.nbytes for a in arrays if a is not None) + \
            sum(8 * len(values) for values in lists if values is not None)

    def key_bytes(self) -> memoryview:
        """Every key's encoded bytes, and maybe those of keys left out of this table: for quick
        checks that no key holds some byte sequence."""
        return memoryview(self._blob)[:len(self._blob) - 8]  # not the padding key_order reads

    def key(self, i: int) -> str:
        return self._blob[int(self._start[i]):int(self._end[i])].decode(*_ENCODING)

    def keys(self) -> Iterator[str]:
        """Every key, in order, decoded one at a time."""
        blob = self._blob
        for lo in range(0, len(self), _BLOCK):
            for s, e in zip(self._start[lo:lo + _BLOCK].tolist(), self._end[lo:lo + _BLOCK].tolist()):
                yield blob[s:e].decode(*_ENCODING)

    def _item(self, i: int, key: str) -> Item:
        if self._labels is not None:
            label = self._labels[i]
        elif self._label_of is not None and (self._labelled is None or self._labelled[i]):
            label = self._label_of(key)
        else:
            label = None
        return Item(key=key, root=self.root, label_rel=label, split=self._split_names[self._split_codes[i]],
                    payload=None if self._payloads is None else self._payloads[i])

    def __getitem__(self, index):
        if isinstance(index, slice):
            return self._subset(index)
        i = operator.index(index)
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("item index out of range")
        return self._item(i, self.key(i))

    def __iter__(self) -> Iterator[Item]:
        for i, key in enumerate(self.keys()):
            yield self._item(i, key)

    def __add__(self, other):
        """table + list: a list of Items, as for two lists."""
        return [*self, *other]

    def __radd__(self, other):
        return [*other, *self]

    def __repr__(self) -> str:
        return f"ItemTable({len(self)} items below {self.root!r})"


class ItemTableBuilder:
    """Collects items one by one as a scan finds them (in any order) and builds the sorted table.

    `label_of(key) -> label_rel` derives labels (then `add(..., labelled=False)` marks an item
    without one); `explicit_labels=True` stores the label given to each `add` instead."""

    def __init__(self, root: str, label_of: Callable[[str], str] | None = None, *, explicit_labels: bool = False,
                 payloads: bool = False):
        self.root = root
        self._label_of = label_of
        self._keys = bytearray()
        self._ends = array("I")  # where each key ends in _keys; 'q' once past 4 GiB
        self._split_index: dict[str | None, int] = {None: 0}
        self._splits = array("H")
        self._labelled = bytearray() if label_of is not None else None
        self._labels: list[str | None] | None = [] if explicit_labels else None
        self._payloads: list[Any] | None = [] if payloads else None

    def __len__(self) -> int:
        return len(self._ends)

    def add(self, key: str, split: str | None = None, *, labelled: bool = True, label: str | None = None,
            payload: Any = None) -> None:
        self._keys += key.encode(*_ENCODING)
        try:
            self._ends.append(len(self._keys))
        except OverflowError:
            self._ends = array("q", self._ends)
            self._ends.append(len(self._keys))
        code = self._split_index.get(split)
        if code is None:
            code = self._split_index[split] = len(self._split_index)
        self._splits.append(code)
        if self._labelled is not None:
            self._labelled.append(1 if labelled else 0)
        if self._labels is not None:
            self._labels.append(label)
        if self._payloads is not None:
            self._payloads.append(payload)
        elif payload is not None:
            raise ValueError("a payload for a builder made without payloads=True")

    def build(self, keep: np.ndarray | None = None) -> ItemTable:
        """The table of the items added (only those where the boolean mask `keep` is true), sorted by
        key. A builder builds once."""
        self._keys += bytes(8)  # key_order reads 8 bytes at a time
        blob, self._keys = self._keys, bytearray()  # kept as it is: a bytes copy would double it for a moment
        offsets = np.uint32 if len(blob) < 2**32 else np.int64  # half the memory when they fit
        kind = np.dtype(f"{'u' if self._ends.typecode == 'I' else 'i'}{self._ends.itemsize}")
        end = np.frombuffer(self._ends, dtype=kind) if len(self._ends) else np.zeros(0, offsets)
        end = end.astype(offsets, copy=False)  # no copy when the builder's array already holds them so
        start = np.concatenate([np.zeros(1, offsets), end[:-1]])[:len(end)]
        if keep is not None and not np.all(keep):
            rows = np.flatnonzero(np.asarray(keep, dtype=bool))
            order = rows[key_order(blob, start[rows], end[rows])]
        else:
            order = key_order(blob, start, end)
        codes = np.frombuffer(self._splits, dtype=np.uint16) if len(self._splits) else np.zeros(0, np.uint16)
        by_code = [None] * len(self._split_index)
        for name, code in self._split_index.items():
            by_code[code] = name
        pick = lambda values: _picked(values, order)  # noqa: E731
        labelled = None
        if self._labelled is not None:
            flags = np.frombuffer(self._labelled, dtype=np.uint8)[order].astype(bool) if len(order) else \
                np.zeros(0, bool)
            labelled = None if flags.all() else flags
        return ItemTable(self.root, blob, start[order], end[order],
                         split_names=tuple(by_code), split_codes=codes[order],
                         label_of=self._label_of, labelled=labelled,
                         labels=None if self._labels is None else pick(self._labels),
                         payloads=None if self._payloads is None else pick(self._payloads))


def _picked(values: list, rows: np.ndarray) -> list:
    """[values[i] for i in rows], converting the indices a block at a time (not a list of them all)."""
    return [values[i] for lo in range(0, len(rows), _BLOCK) for i in rows[lo:lo + _BLOCK].tolist()]


def key_order(blob: bytes | bytearray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Indices that sort the byte strings blob[start[i]:end[i]], stably (equal keys keep their order).

    `blob` must end with 8 zero bytes past its last key. An LSD radix sort over 4-byte big-endian
    words, last word first: a word compares as its bytes do because a shorter key's missing bytes
    read as zero, below any byte of a name (keys holding a NUL byte are sorted by Python instead).
    Each pass sorts, in place, one uint64 a key: its word above its rank so far (which keeps the
    sort stable), and only for the keys long enough to reach the word. Memory is some 14 bytes a
    key, never a copy of every key."""
    n = len(start)
    if n == 0:
        return np.zeros(0, np.intp)
    if blob.find(b"\0", 0, len(blob) - 8) >= 0 or n >= 2**32:
        keys = [blob[s:e] for s, e in zip(start.tolist(), end.tolist())]
        return np.array(sorted(range(n), key=keys.__getitem__), dtype=np.intp)
    if blob[-8:] != bytes(8):
        raise ValueError("key_order needs 8 zero bytes after the last key")
    small = np.uint32 if len(blob) < 2**32 else np.int64  # offsets: half the memory when they fit
    start = np.asarray(start).astype(small, copy=False)
    end = np.asarray(end).astype(small, copy=False)
    # the 4 bytes at every offset of the blob as one word: a strided view, no copy
    raw = np.frombuffer(blob, np.uint8)
    words = np.lib.stride_tricks.as_strided(raw, shape=(len(blob) - 3, 4), strides=(1, 1)).view(np.uint32)[:, 0]
    block = _BLOCK * 4  # fancy indexing makes intp copies: done in blocks
    order = np.arange(n, dtype=np.uint32)
    longest = max(int((end[lo:lo + block] - start[lo:lo + block]).max()) for lo in range(0, n, block))
    for depth in range((longest - 1) // 4 * 4, -1, -4):
        reach = np.empty(n, bool)
        for lo in range(0, n, block):
            rows = order[lo:lo + block].astype(np.intp)
            reach[lo:lo + block] = end[rows] - start[rows] > depth
        active = order if reach.all() else order[reach]
        packed = np.empty(len(active), np.uint64)
        for lo in range(0, len(active), block):
            rows = active[lo:lo + block].astype(np.intp)
            word = words[start[rows].astype(np.intp) + depth]
            if np.little_endian:
                word.byteswap(inplace=True)  # big-endian: the first byte is the most significant
            # a key that ends inside this word: zero the 1..3 bytes after it (the next key's)
            tail = (np.clip(depth + 4 - (end[rows] - start[rows]).astype(np.intp), 0, 3) * 8).astype(np.uint32)
            word >>= tail
            word <<= tail
            packed[lo:lo + len(rows)] = (word.astype(np.uint64) << np.uint64(32)) | np.arange(
                lo, lo + len(rows), dtype=np.uint64)
        packed.sort()  # all distinct (the rank is in the low bits): any sort is the stable one
        ranked = np.empty(len(active), np.uint32)
        for lo in range(0, len(active), block):
            ranked[lo:lo + block] = active[(packed[lo:lo + block] & np.uint64(0xFFFFFFFF)).astype(np.intp)]
        del packed
        # keys that end before this word have only zeros here: they come first, in their order
        order = ranked if active is order else np.concatenate([order[~reach], ranked])
        del active, ranked, reach
    return order.astype(np.intp)


def value_hash(value: Any) -> int:
    """The 64-bit hash HashIndex files a value under: Python's own (fixed within one process,
    which is all an index of one run needs)."""
    return hash(value)


class HashIndex:
    """Positions 0..n-1 found by a hash of their value (a string, usually), so equal values can be
    found among many without holding the values: 8 bytes a position. A hash says "maybe"; callers
    confirm with the values themselves, which they can make again for the few positions asked.

    Each position is one sorted uint64: the top bits of its value's hash above the position's own
    bits (17 of them for 100,000 positions), so there is no separate index array to sort or keep."""

    _ALL = (1 << 64) - 1

    def __init__(self, hashes: np.ndarray):
        """`hashes` (int64, one a position) is turned into the index in place and kept."""
        n = len(hashes)
        self._bits = max(1, (n - 1).bit_length())  # bits of a position
        self._low = (1 << self._bits) - 1
        packed = hashes.view(np.uint64)
        packed &= np.uint64(self._ALL ^ self._low)
        for lo in range(0, n, _BLOCK * 16):
            packed[lo:lo + _BLOCK * 16] |= np.arange(lo, min(n, lo + _BLOCK * 16), dtype=np.uint64)
        packed.sort()  # by hash bits, then position: all distinct, so any sort gives this order
        self._packed = packed

    @classmethod
    def of(cls, values: Iterable[Any], count: int) -> "HashIndex":
        """The index of `count` values."""
        return cls(np.fromiter((value_hash(v) for v in values), dtype=np.int64, count=count))

    def positions(self, value: Any) -> list[int]:
        """The positions whose value may equal `value`, ascending."""
        top = np.uint64((value_hash(value) & self._ALL) & (self._ALL ^ self._low))
        lo = np.searchsorted(self._packed, top, side="left")
        hi = np.searchsorted(self._packed, top | np.uint64(self._low), side="right")
        return (self._packed[lo:hi] & np.uint64(self._low)).tolist()

    def first(self, value: Any, value_at: Callable[[int], Any]) -> int | None:
        """The first position whose value (`value_at(position)`) equals `value`, or None."""
        return next((i for i in self.positions(value) if value_at(i) == value), None)

    def repeats(self, value_at: Callable[[int], Any]) -> list[tuple[int, int]]:
        """(i, j) for every position i whose value equals that of an earlier position, j being the
        first position with that value; ascending in i. Only positions sharing hash bits are
        compared; a value None equals nothing."""
        top = self._packed >> np.uint64(self._bits)
        same = top[1:] == top[:-1]
        del top
        if not same.any():
            return []
        starts = np.flatnonzero(np.concatenate([[True], ~same]))  # first sorted slot of each hash
        sizes = np.diff(np.append(starts, len(self._packed)))
        found: list[tuple[int, int]] = []
        for lo, size in zip(starts[sizes > 1].tolist(), sizes[sizes > 1].tolist()):
            firsts: dict[Any, int] = {}
            for i in (self._packed[lo:lo + size] & np.uint64(self._low)).tolist():
                value = value_at(i)
                if value is None:
                    continue
                if value in firsts:
                    found.append((i, firsts[value]))
                else:
                    firsts[value] = i
        found.sort()
        return found

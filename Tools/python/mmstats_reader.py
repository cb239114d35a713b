#!/usr/bin/env python3
"""Read mmstats statistics files: format v2 (docs/FORMAT.md) and legacy v1.

Standard library only, Python 3.9+. Usable as a module::

    from mmstats_reader import read_file, slurp, MmstatsError
    info = read_file("/dev/shm/mmstats-1000/web/Stats/123-456.mmstats")
    files, errors = slurp(["/dev/shm/mmstats-1000"])

and as a command::

    python3 mmstats_reader.py [--json] PATH...

The per-file objects are the ones described in docs/SLURP-JSON.md. Every file
is untrusted input: every offset and length is checked (FORMAT.md §6,
"Validation") and any problem is reported as an ``MmstatsError`` naming the
file, the entry and the numbers involved.

Files are mapped read-only. Each value word is fetched with one aligned 8-byte
load through a ``memoryview`` cast to ``"Q"``, which is the closest Python gets
to FORMAT.md's relaxed atomic loads; Python has no fences, so on weakly ordered
CPUs (AArch64) the acquire orderings of §5 are not guaranteed. Python cannot
survive ``SIGBUS`` either: if a file is truncated *while* it is being read the
process dies (the size is checked with ``fstat`` just before mapping).
"""

from __future__ import annotations

import argparse
import errno
import json
import math
import mmap
import os
import stat
import struct
import sys
import time
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

__all__ = ["MmstatsError", "read_file", "slurp", "format_text", "writer_state", "main"]

# --- constants from docs/FORMAT.md -------------------------------------------

HEADER_SIZE_MIN = 256
MAGIC = b"MMSTATS"
SEGMENT_MAGIC = b"MSEG"
SEGMENT_HEADER_SIZE = 32
DESCRIPTOR_FIXED_SIZE = 48
BOM_LITTLE = b"\x0d\x0c\x0b\x0a"
BOM_BIG = b"\x0a\x0b\x0c\x0d"
HEADER_FLAG_CLOSED = 1

# Header offsets of the fields this reader uses.
OFF_HEADER_SIZE = 12
OFF_GENERATION = 24
OFF_FILE_SIZE = 32
OFF_FIRST_SEGMENT = 40
OFF_FLIP_SEQUENCE = 56

LAYOUT_WORD = 1
LAYOUT_DOUBLE_BUFFER = 2
LAYOUT_PAGE_FLIP = 3
LAYOUT_SHARDED = 4
LAYOUT_NAMES = {
    LAYOUT_WORD: "word",
    LAYOUT_DOUBLE_BUFFER: "double-buffer",
    LAYOUT_PAGE_FLIP: "page-flip",
    LAYOUT_SHARDED: "sharded",
}
#: the most shards a layout 4 record may have (FORMAT.md §11.6)
MAX_SHARDS = 4096

# Signature letters (FORMAT.md §4.1): bit widths of the integer letters.
UNSIGNED_BITS = {"Q": 64, "I": 32, "H": 16, "B": 8}
SIGNED_BITS = {"q": 64, "i": 32, "h": 16, "b": 8}
KNOWN_LETTERS = frozenset("QqIiHhBb?fds")

# Byte sizes of the v1 types (values are packed, little-endian).
V1_SIZES = {"Q": 8, "q": 8, "I": 4, "i": 4, "H": 2, "h": 2, "B": 1, "b": 1,
            "?": 1, "f": 4, "d": 8}

#: How many times a layout 2 / layout 3 read is retried before giving up.
MAX_RETRIES = 1000
#: seconds of retries against a writer that keeps overtaking a read, per file (FORMAT.md §6)
READ_TIMEOUT = 0.2

# A count longer than this cannot match any u32 `record words` value; the
# limit also keeps int() away from Python's huge-integer conversion limit.
MAX_COUNT_DIGITS = 12
#: the largest count in a signature, and the most components one signature may have
MAX_COUNT = 65535


# --- errors ------------------------------------------------------------------

class MmstatsError(Exception):
    """A file that cannot be read at all: ``str(err)`` is ``"PATH: reason"``."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class _Invalid(Exception):
    """Internal: the file is invalid; ``read_file`` adds the path."""


class _Unreadable(Exception):
    """Internal: one metric cannot be read; the rest of the file can."""


# --- mapping -----------------------------------------------------------------

class _MappedFile:
    """A read-only memory mapping of one file with bounds-checked accessors.

    ``order`` ("<" or ">") is the file's byte order once it is known; word
    loads return integers in that order.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.order = "<"
        self._swap = False
        self._mm: Optional[mmap.mmap] = None
        self._words: Optional[memoryview] = None
        self.size = 0
        self._fd = self._open(path)
        try:
            self._map()
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _open(path: str) -> int:
        """Open ``path`` read-only without following a final symbolic link."""
        flags = os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
        flags |= getattr(os, "O_NONBLOCK", 0)  # never block on a FIFO
        try:
            return os.open(path, flags)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise _Invalid("is a symbolic link; refusing to follow it") from None
            raise _Invalid(exc.strerror or str(exc)) from None

    def _map(self) -> None:
        """(Re)map the whole file at its current size."""
        self._unmap()
        st = os.fstat(self._fd)
        if not stat.S_ISREG(st.st_mode):
            raise _Invalid("not a regular file")
        self.size = st.st_size
        if self.size == 0:
            return
        self._mm = mmap.mmap(self._fd, self.size, prot=mmap.PROT_READ)
        self._words = memoryview(self._mm)[: self.size // 8 * 8].cast("Q")

    def reach(self, end: int) -> None:
        """Map the file again if ``end`` lies past the mapping and the file has grown.

        A writer may grow the file and link new metadata after we read its ``file size``
        (FORMAT.md section 6, reader step 3): check the real size before judging an offset
        to be outside the file.
        """
        if end > self.size and os.fstat(self._fd).st_size > self.size:
            self._map()

    def remap_if_grown(self, wanted: int) -> None:
        """Map the file again if the writer says it is larger than our mapping."""
        if wanted > self.size:
            self._map()

    def set_byte_order(self, order: str) -> None:
        """Use ``order`` ("<" or ">") for all further integer reads."""
        self.order = order
        native = "<" if sys.byteorder == "little" else ">"
        self._swap = order != native

    def _unmap(self) -> None:
        """Release the word view and the mapping (the descriptor stays open)."""
        if self._words is not None:
            self._words.release()
            self._words = None
        if self._mm is not None:
            self._mm.close()
            self._mm = None

    def close(self) -> None:
        """Unmap and close the file descriptor."""
        self._unmap()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> "_MappedFile":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def check_range(self, offset: int, length: int, what: str) -> None:
        """Raise ``_Invalid`` unless ``offset .. offset+length`` is in the file."""
        if offset < 0 or length < 0 or offset + length > self.size:
            raise _Invalid(f"{what}: bytes {offset}..{offset + length} "
                           f"lie outside the file ({self.size} bytes)")

    def read_bytes(self, offset: int, length: int, what: str) -> bytes:
        """Copy ``length`` bytes at ``offset`` (plain, non-atomic read)."""
        self.check_range(offset, length, what)
        assert self._mm is not None or length == 0
        return self._mm[offset:offset + length] if length else b""

    def unpack(self, fmt: str, offset: int, what: str) -> tuple:
        """``struct.unpack`` ``fmt`` (without byte order) at ``offset``."""
        full = self.order + fmt
        self.check_range(offset, struct.calcsize(full), what)
        return struct.unpack_from(full, self._mm, offset)  # type: ignore[arg-type]

    def load(self, offset: int) -> int:
        """One aligned 8-byte load at ``offset``; the raw word in host order.

        The caller has validated that ``offset`` is 8-aligned and in the file.
        """
        assert self._words is not None
        return self._words[offset >> 3]

    def to_file_order(self, raw: int) -> int:
        """Convert a raw (host order) word to its value in the file's order."""
        if self._swap:
            return int.from_bytes(raw.to_bytes(8, "little"), "big")
        return raw

    def word(self, offset: int, what: str) -> int:
        """Atomic load of the u64 word at ``offset``, in file byte order."""
        if offset % 8:
            raise _Invalid(f"{what}: offset {offset} is not 8-aligned")
        self.check_range(offset, 8, what)
        return self.to_file_order(self.load(offset))


# --- signatures --------------------------------------------------------------

class Component:
    """One component of a record: a signature letter and, for ``s``, its length."""

    __slots__ = ("letter", "length")

    def __init__(self, letter: str, length: int = 0) -> None:
        self.letter = letter
        self.length = length

    @property
    def slots(self) -> int:
        """Words this component occupies."""
        return (self.length + 7) // 8 if self.letter == "s" else 1


class Signature:
    """A parsed signature: items ``(count, letter)`` with ``count`` None if absent."""

    def __init__(self, items: List[Tuple[Optional[int], str]]) -> None:
        self.items = items
        unknown = [letter for _, letter in items if letter not in KNOWN_LETTERS]
        #: the first letter this reader does not know, if any (FORMAT.md §9)
        self.unknown_letter: Optional[str] = unknown[0] if unknown else None

    def slot_count(self) -> int:
        """Words of one record copy (only meaningful without unknown letters)."""
        total = 0
        for count, letter in self.items:
            n = 1 if count is None else count
            total += (n + 7) // 8 if letter == "s" else n
        return total

    def component_count(self) -> int:
        """Number of components (only meaningful without unknown letters)."""
        return sum(1 if letter == "s" or count is None else count
                   for count, letter in self.items)

    def components(self) -> List[Component]:
        """Expand the items; call only after the counts have been validated."""
        out: List[Component] = []
        for count, letter in self.items:
            n = 1 if count is None else count
            if letter == "s":
                out.append(Component("s", n))
            else:
                out.extend(Component(letter) for _ in range(n))
        return out


def parse_signature(text: str) -> Signature:
    """Parse ``[count]letter`` items (FORMAT.md §4.1); raise ``ValueError`` if malformed.

    Left to right, the first problem decides: a syntax error (``ValueError``: the file is
    corrupt) or a printable ASCII letter this reader does not know (returned as the
    signature's ``unknown_letter``, the rest unparsed: only that metric is unreadable).
    A count is decimal digits (leading zeros allowed) of value 1 to 65,535; ``s`` needs
    one; a signature has at most 65,535 components.
    """
    if not text:
        raise ValueError("empty signature")
    items: List[Tuple[Optional[int], str]] = []
    components = 0
    i = 0
    while i < len(text):
        count: Optional[int] = None
        while i < len(text) and "0" <= text[i] <= "9":
            count = (count or 0) * 10 + ord(text[i]) - ord("0")
            if count > MAX_COUNT:
                raise ValueError(f"count too large in signature {text!r}")
            i += 1
        if i == len(text):
            raise ValueError(f"count without a type letter at the end of signature {text!r}")
        letter = text[i]
        i += 1
        if letter == "s":
            if not count:
                raise ValueError(f"a string needs its byte length before 's' in signature {text!r}")
            components += 1
        elif not ("\x21" <= letter <= "\x7e"):
            raise ValueError(f"invalid character {letter!r} in signature {text!r} "
                             f"(whitespace or a non-printable byte is not allowed)")
        elif letter in KNOWN_LETTERS:
            if count == 0:
                raise ValueError(f"repeat count 0 in signature {text!r}")
            components += 1 if count is None else count
        else:
            items.append((count, letter))
            return Signature(items)  # an unknown letter: nothing after it is read
        if components > MAX_COUNT:
            raise ValueError(f"too many components in signature {text!r}")
        items.append((count, letter))
    return Signature(items)


# --- values ------------------------------------------------------------------

def _float_from_bits(bits: int, width: int) -> float:
    """IEEE 754 binary32 (width 32) or binary64 (width 64) from its bit pattern."""
    if width == 32:
        return struct.unpack("<f", bits.to_bytes(4, "little"))[0]
    return struct.unpack("<d", bits.to_bytes(8, "little"))[0]


def _decode_word(letter: str, w: int):
    """Decode one non-string slot ``w`` (a u64 in file order) per FORMAT.md §4.1.

    Narrow integer letters use the low bits of the slot only (a conforming
    writer leaves the rest zero- or sign-extended).
    """
    if letter in UNSIGNED_BITS:
        return w & ((1 << UNSIGNED_BITS[letter]) - 1)
    if letter in SIGNED_BITS:
        bits = SIGNED_BITS[letter]
        v = w & ((1 << bits) - 1)
        return v - (1 << bits) if v >> (bits - 1) else v
    if letter == "?":
        return w != 0
    if letter == "d":
        return _float_from_bits(w, 64)
    if letter == "f":
        return _float_from_bits(w & 0xFFFFFFFF, 32)
    raise _Unreadable(f"unknown signature letter {letter!r}")


def _decode_string(data: bytes) -> str:
    """The bytes before the first NUL, as UTF-8 (invalid bytes become U+FFFD)."""
    return data.split(b"\0", 1)[0].decode("utf-8", "replace")


def json_value(value):
    """Map non-finite floats to the strings "nan", "inf" and "-inf"."""
    if isinstance(value, float) and not math.isfinite(value):
        if math.isnan(value):
            return "nan"
        return "inf" if value > 0 else "-inf"
    return value


# --- v2 header ----------------------------------------------------------------

class _Header:
    """The v2 header fields a reader needs."""

    def __init__(self, mf: _MappedFile) -> None:
        order = mf.read_bytes(8, 4, "header byte order mark")
        if order == BOM_LITTLE:
            mf.set_byte_order("<")
        elif order == BOM_BIG:
            mf.set_byte_order(">")
        else:
            raise _Invalid(f"bad byte order mark {order.hex(' ')} "
                           f"(expected 0d 0c 0b 0a or 0a 0b 0c 0d)")
        self.header_size, self.minor_version = mf.unpack("HH", OFF_HEADER_SIZE, "header")
        if self.header_size < HEADER_SIZE_MIN:
            raise _Invalid(f"header size {self.header_size} is less than {HEADER_SIZE_MIN}")
        if self.header_size > mf.size:
            raise _Invalid(f"header size {self.header_size} exceeds the file size {mf.size}")
        # Reader protocol (FORMAT.md §6): generation first, then file size.
        self.generation = mf.word(OFF_GENERATION, "header generation")
        self.file_size = mf.word(OFF_FILE_SIZE, "header file size")
        mf.remap_if_grown(self.file_size)
        if mf.size < self.header_size:
            raise _Invalid(f"file shrank to {mf.size} bytes, below the header size")
        (self.layout_id, self.flags) = mf.unpack("II", 16, "header")
        self.first_segment = mf.word(OFF_FIRST_SEGMENT, "header first segment")
        (self.pid, self.tid, self.start_time, self.created_ns) = mf.unpack("QQQQ", 64, "header")
        self.last_update_ns = mf.word(96, "header last update")
        # Minor version 1: the writer's PID namespace (reserved, so 0, before).
        (self.pid_namespace,) = mf.unpack("Q", 104, "header")
        self.application = _decode_string(mf.read_bytes(112, 64, "header application"))
        self.model = _decode_string(mf.read_bytes(176, 64, "header model"))

    @property
    def closed(self) -> bool:
        """The writer set the *closed* flag."""
        return bool(self.flags & HEADER_FLAG_CLOSED)


# --- v2 metadata -----------------------------------------------------------------

class Descriptor:
    """One validated metric descriptor (FORMAT.md §4)."""

    def __init__(self, index: int, offset: int, segment: int) -> None:
        self.index = index
        self.offset = offset
        self.segment = segment
        self.entry_size = 0
        self.layout = 0
        self.flags = 0
        self.value_offset = 0
        self.alt_offset = 0
        self.record_words = 0
        self.metric_id = 0
        self.kind = ""
        self.name = ""
        self.signature = ""
        self.field_names: List[str] = []
        self.unit = ""
        self.description = ""
        self.dimensions: List[Tuple[str, str]] = []
        self.components: List[Component] = []
        #: why this metric alone cannot be read, or None
        self.error: Optional[str] = None

    def label(self) -> str:
        """How error messages name this descriptor."""
        return (f"descriptor {self.index} at offset {self.offset} "
                f"(segment at offset {self.segment})")


def _utf8(raw: bytes, what: str) -> str:
    """Decode ``raw`` as strict UTF-8, raising ``_Invalid`` naming ``what``."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Invalid(f"{what} is not valid UTF-8 (byte {exc.start}: "
                       f"{raw[exc.start:exc.start + 1].hex()})") from None


def _parse_dimensions(raw: bytes, order: str, where: str) -> List[Tuple[str, str]]:
    """Parse the dimensions string: u16 key length, key, u16 value length, value."""
    pairs: List[Tuple[str, str]] = []
    pos = 0
    while pos < len(raw):
        parts = []
        for part in ("key", "value"):
            if pos + 2 > len(raw):
                raise _Invalid(f"{where}: dimensions: {part} length of pair {len(pairs)} "
                               f"at byte {pos} runs past the dimensions length {len(raw)}")
            (n,) = struct.unpack_from(order + "H", raw, pos)
            pos += 2
            if pos + n > len(raw):
                raise _Invalid(f"{where}: dimensions: {part} of pair {len(pairs)} "
                               f"({n} bytes at byte {pos}) runs past the dimensions "
                               f"length {len(raw)}")
            parts.append(_utf8(raw[pos:pos + n], f"{where}: dimension {part} {len(pairs)}"))
            pos += n
        pairs.append((parts[0], parts[1]))
    return pairs


def _check_record(mf: _MappedFile, header: _Header, desc: Descriptor) -> None:
    """Check that every copy of the value record lies inside the file (§6)."""
    rw = desc.record_words
    if desc.layout == LAYOUT_WORD:
        copies = [("value record", desc.value_offset, 8 * rw)]
    elif desc.layout == LAYOUT_DOUBLE_BUFFER:
        copies = [("double-buffer record", desc.value_offset, 8 * (1 + 2 * rw))]
    elif desc.layout == LAYOUT_PAGE_FLIP:
        copies = [("page 0 record", desc.value_offset, 8 * rw),
                  ("page 1 record", desc.alt_offset, 8 * rw)]
    elif desc.layout == LAYOUT_SHARDED:
        copies = _sharded_copies(mf, header, desc)
    else:
        return  # unknown layout: the metric is unreadable, the file is not
    for what, start, length in copies:
        mf.reach(start + length)
        if start % 8:
            raise _Invalid(f"{desc.label()}: {what} offset {start} is not 8-aligned")
        if start < header.header_size or start + length > mf.size:
            raise _Invalid(f"{desc.label()}: {what} at offset {start}, {length} bytes "
                           f"({rw} record words), is outside {header.header_size}.."
                           f"{mf.size}")


def _apply_signature(desc: Descriptor) -> None:
    """Validate signature, record words and fields; fill ``desc.components``."""
    try:
        sig = parse_signature(desc.signature)
    except ValueError as exc:
        raise _Invalid(f"{desc.label()} ({desc.name!r}): {exc}") from None
    if sig.unknown_letter is not None:
        desc.error = f"unknown signature letter {sig.unknown_letter!r} in {desc.signature!r}"
        return
    slots = sig.slot_count()
    if slots != desc.record_words:
        raise _Invalid(f"{desc.label()} ({desc.name!r}): signature {desc.signature!r} "
                       f"needs {slots} record words, the descriptor says {desc.record_words}")
    n_fields = len(desc.field_names)
    n_components = sig.component_count()
    if n_fields != n_components:
        raise _Invalid(f"{desc.label()} ({desc.name!r}): {n_fields} field names for "
                       f"{n_components} components of signature {desc.signature!r}")
    desc.components = sig.components()


def _parse_descriptor(mf: _MappedFile, index: int, pos: int, segment: int,
                      end: int) -> Descriptor:
    """Parse and validate the descriptor at ``pos``; ``end`` is where ``used`` ends."""
    desc = Descriptor(index, pos, segment)
    (entry_size,) = mf.unpack("I", pos, desc.label())
    desc.entry_size = entry_size
    if entry_size < DESCRIPTOR_FIXED_SIZE or entry_size % 8:
        raise _Invalid(f"{desc.label()}: entry size {entry_size} is not a multiple of 8 "
                       f"of at least {DESCRIPTOR_FIXED_SIZE}")
    if pos + entry_size > end:
        raise _Invalid(f"{desc.label()}: entry size {entry_size} runs past the segment's "
                       f"used bytes (ends at {end})")
    (_, desc.layout, desc.flags, desc.value_offset, desc.alt_offset, desc.record_words,
     desc.metric_id, *lengths) = mf.unpack("IHHQQII6HI", pos, desc.label())
    if DESCRIPTOR_FIXED_SIZE + sum(lengths) > entry_size:
        raise _Invalid(f"{desc.label()}: strings of {sum(lengths)} bytes "
                       f"(lengths {', '.join(map(str, lengths))}) do not fit in entry size "
                       f"{entry_size}")
    strings = []
    at = pos + DESCRIPTOR_FIXED_SIZE
    for what, n in zip(("kind", "name", "signature", "fields", "unit", "description",
                        "dimensions"), lengths):
        strings.append((what, mf.read_bytes(at, n, desc.label())))
        at += n
    text = {what: _utf8(raw, f"{desc.label()}: {what}") for what, raw in strings[:6]}
    desc.kind, desc.name, desc.signature = text["kind"], text["name"], text["signature"]
    desc.unit, desc.description = text["unit"], text["description"]
    desc.field_names = text["fields"].split(",")
    desc.dimensions = _parse_dimensions(strings[6][1], mf.order,
                                        f"{desc.label()} ({desc.name!r})")
    _apply_signature(desc)
    _check_names(desc)
    return desc


def _check_names(desc: Descriptor) -> None:
    """Mark the metric unreadable if field or dimension names collide (JSON keys)."""
    if desc.error is not None:
        return
    if "" in desc.field_names:
        desc.error = "a field name is empty"
        return
    for what, names in (("field", desc.field_names),
                        ("dimension key", [k for k, _ in desc.dimensions])):
        seen = set()
        for name in names:
            if name in seen:
                desc.error = f"duplicate {what} {name!r}"
                return
            seen.add(name)


def _parse_segment(mf: _MappedFile, header: _Header, offset: int,
                   first_index: int) -> Tuple[List[Descriptor], int]:
    """Validate the segment at ``offset``; return its descriptors and ``next``."""
    what = f"segment at offset {offset}"
    if offset % 8:
        raise _Invalid(f"{what}: not 8-aligned")
    if offset < header.header_size:
        raise _Invalid(f"{what}: below the header size {header.header_size}")
    mf.reach(offset + SEGMENT_HEADER_SIZE)
    if offset + SEGMENT_HEADER_SIZE > mf.size:
        raise _Invalid(f"{what}: segment header runs past the end of the file ({mf.size} bytes)")
    magic = mf.read_bytes(offset, 4, what)
    if magic != SEGMENT_MAGIC:
        raise _Invalid(f"{what}: bad segment magic {magic!r} (expected b'MSEG')")
    capacity = mf.word(offset + 8, what)
    mf.reach(offset + SEGMENT_HEADER_SIZE + capacity)
    if offset + SEGMENT_HEADER_SIZE + capacity > mf.size:
        raise _Invalid(f"{what}: capacity {capacity} runs past the end of the file "
                       f"({mf.size} bytes)")
    # ``next`` before ``used`` (FORMAT.md section 6): once a segment is linked, the writer
    # never appends to it again, so ``used`` read after the link is final.
    nxt = mf.word(offset + 24, what)  # acquire
    used = mf.word(offset + 16, what)  # acquire
    if used > capacity:
        raise _Invalid(f"{what}: used {used} exceeds capacity {capacity}")
    if used % 8:
        raise _Invalid(f"{what}: used {used} is not a multiple of 8")
    descriptors = []
    pos = offset + SEGMENT_HEADER_SIZE
    end = pos + used
    while pos < end:
        desc = _parse_descriptor(mf, first_index + len(descriptors), pos, offset, end)
        _check_record(mf, header, desc)
        descriptors.append(desc)
        pos += desc.entry_size
    if nxt != 0 and nxt <= offset:
        raise _Invalid(f"{what}: next segment offset {nxt} is not greater than {offset} "
                       f"(the chain would loop)")
    return descriptors, nxt


def _parse_metadata(mf: _MappedFile, header: _Header) -> List[Descriptor]:
    """Walk the segment chain from ``first segment`` and parse all descriptors."""
    descriptors: List[Descriptor] = []
    offset = header.first_segment
    while True:
        found, offset = _parse_segment(mf, header, offset, len(descriptors))
        descriptors.extend(found)
        if offset == 0:
            return descriptors


def _check_overlap(mf: _MappedFile, descs: List[Descriptor]) -> None:
    """Records of a conforming writer never overlap, so together they fit in the file: reject
    a file whose readable records claim more bytes than it has (FORMAT.md §6, reader budgets)."""
    claimed = 0
    for desc in descs:
        if desc.error is not None or desc.layout not in LAYOUT_NAMES:
            continue
        rw = desc.record_words
        if desc.layout == LAYOUT_DOUBLE_BUFFER:
            claimed += 8 * (1 + 2 * rw)
        elif desc.layout == LAYOUT_PAGE_FLIP:
            claimed += 16 * rw
        elif desc.layout == LAYOUT_SHARDED:
            # Every copy (a read visits them all); a record's geometry was checked by now.
            _, shards = _sharded_geometry(mf, desc)
            claimed += shards * 8 * rw
        else:
            claimed += 8 * rw
    if claimed > mf.size:
        raise _Invalid(f"its records claim {claimed} bytes, more than the file's {mf.size} "
                       f"(records overlap)")


# --- v2 values ---------------------------------------------------------------

def _read_copy(mf: _MappedFile, offset: int, words: int) -> List[int]:
    """Relaxed loads of ``words`` raw words at ``offset``."""
    return [mf.load(offset + 8 * i) for i in range(words)]


def _busy(what: str) -> _Invalid:
    """The file-level error for a read the writer kept overtaking (FORMAT.md §6)."""
    return _Invalid(f"busy: {what}: the writer kept overtaking the read for "
                    f"{READ_TIMEOUT:g} s or {MAX_RETRIES} attempts")


def _read_double_buffer(mf: _MappedFile, desc: Descriptor, deadline: float) -> List[int]:
    """Read a layout 2 record with the sequence-count latch (FORMAT.md §5.2)."""
    rw = desc.record_words
    for _ in range(MAX_RETRIES):
        s1 = mf.to_file_order(mf.load(desc.value_offset))
        raw = _read_copy(mf, desc.value_offset + 8 + 8 * rw * (s1 & 1), rw)
        s2 = mf.to_file_order(mf.load(desc.value_offset))
        if s1 == s2:
            return raw
        if time.monotonic() > deadline:
            break
    raise _busy(desc.label())


def _sharded_geometry(mf: _MappedFile, desc: Descriptor) -> Tuple[int, int]:
    """The ``(stride, shards)`` words at a layout 4 record's ``alt offset`` (FORMAT.md §11.6)."""
    mf.reach(desc.alt_offset + 16)
    stride = mf.word(desc.alt_offset, f"{desc.label()}: shard geometry")
    shards = mf.word(desc.alt_offset + 8, f"{desc.label()}: shard geometry")
    return stride, shards


def _sharded_copies(mf: _MappedFile, header: _Header, desc: Descriptor) -> List[Tuple[str, int, int]]:
    """Validate a layout 4 record's geometry; the byte range from shard 0 to the last shard."""
    rw = desc.record_words
    stride, shards = _sharded_geometry(mf, desc)
    if stride % 8 or stride < 8 * rw:
        raise _Invalid(f"{desc.label()}: shard stride {stride} is not a multiple of 8 "
                       f"of at least {8 * rw} bytes")
    if not 1 <= shards <= MAX_SHARDS:
        raise _Invalid(f"{desc.label()}: {shards} shards (a file has 1 to {MAX_SHARDS})")
    return [("sharded record", desc.value_offset, (shards - 1) * stride + 8 * rw)]


def _read_sharded(mf: _MappedFile, desc: Descriptor) -> List[int]:
    """Sum a layout 4 record's shards word by word, modulo 2**64 (FORMAT.md §11.6).

    Returns raw words (host order), like the other layouts' readers.
    """
    stride, shards = _sharded_geometry(mf, desc)
    rw = desc.record_words
    sums = [0] * rw
    for j in range(shards):
        copy = _read_copy(mf, desc.value_offset + j * stride, rw)
        for i in range(rw):
            sums[i] = (sums[i] + mf.to_file_order(copy[i])) & 0xFFFFFFFFFFFFFFFF
    return [mf.to_file_order(w) for w in sums]


def _read_page_flip(mf: _MappedFile, descs: List[Descriptor], deadline: float) -> Dict[int, List[int]]:
    """Read all layout 3 records at one published instant (FORMAT.md §5.3)."""
    for _ in range(MAX_RETRIES):
        s1 = mf.to_file_order(mf.load(OFF_FLIP_SEQUENCE))
        records = {}
        for desc in descs:
            base = desc.alt_offset if s1 & 1 else desc.value_offset
            records[desc.index] = _read_copy(mf, base, desc.record_words)
        s2 = mf.to_file_order(mf.load(OFF_FLIP_SEQUENCE))
        if s1 == s2:
            return records
        if time.monotonic() > deadline:
            break
    raise _busy("page flip")


def _decode_record(mf: _MappedFile, desc: Descriptor, raw: List[int]) -> list:
    """Turn the raw words of one record copy into component values."""
    values = []
    pos = 0
    for comp in desc.components:
        if comp.letter == "s":
            chunk = raw[pos:pos + comp.slots]
            data = b"".join(w.to_bytes(8, sys.byteorder) for w in chunk)[:comp.length]
            values.append(_decode_string(data))
        else:
            values.append(_decode_word(comp.letter, mf.to_file_order(raw[pos])))
        pos += comp.slots
    return values


def _read_values(mf: _MappedFile, descs: List[Descriptor]) -> Dict[int, object]:
    """Read every readable metric: index -> list of values, or an error string."""
    results: Dict[int, object] = {}
    readable = [d for d in descs if d.error is None]
    raw_records: Dict[int, object] = {}
    # One time bound for the whole file: a busy record makes the file busy (an error).
    deadline = time.monotonic() + READ_TIMEOUT
    for desc in readable:
        if desc.layout == LAYOUT_WORD:
            raw_records[desc.index] = _read_copy(mf, desc.value_offset, desc.record_words)
        elif desc.layout == LAYOUT_DOUBLE_BUFFER:
            raw_records[desc.index] = _read_double_buffer(mf, desc, deadline)
        elif desc.layout == LAYOUT_SHARDED:
            raw_records[desc.index] = _read_sharded(mf, desc)
    flips = [d for d in readable if d.layout == LAYOUT_PAGE_FLIP]
    if flips:
        raw_records.update(_read_page_flip(mf, flips, deadline))
    for desc in descs:
        if desc.error is not None:
            results[desc.index] = desc.error
        elif desc.layout not in LAYOUT_NAMES:
            results[desc.index] = f"unknown layout {desc.layout}"
        else:
            raw = raw_records[desc.index]
            try:
                results[desc.index] = (raw if isinstance(raw, str)
                                       else _decode_record(mf, desc, raw))
            except _Unreadable as exc:
                results[desc.index] = str(exc)
    return results


# --- exposed fields (FORMAT.md §11) ------------------------------------------------

def _expose_identity(fields: Dict[str, object], now: int) -> List[Tuple[str, object]]:
    """Kinds whose exposed fields are their components."""
    return list(fields.items())


def _expose_average(fields: Dict[str, object], now: int) -> List[Tuple[str, object]]:
    """``average``: count, sum and mean = sum / count (0.0 before the first value)."""
    count, total = fields["count"], fields["sum"]
    return list(fields.items()) + [("mean", 0.0 if count == 0 else total / count)]


def _expose_moving_average(fields: Dict[str, object], now: int) -> List[Tuple[str, object]]:
    """``moving-average``: count, window, sum of the last min(count, window) values (in ring
    order, binary64) and mean = sum / min(count, window) (0.0 before the first value)."""
    items = list(fields.items())
    values = [v for _, v in items]
    if (len(items) < 3 or items[0][0] != "count" or items[1][0] != "window"
            or type(values[0]) is not int or type(values[1]) is not int or values[1] != len(items) - 2):
        return items
    n = min(values[0], values[1])
    total = 0.0
    for value in values[2:2 + n]:
        total += value
    return [items[0], items[1], ("sum", total), ("mean", 0.0 if n == 0 else total / n)]


#: histogram and timer records (FORMAT.md §11.2): sum, min, max, resolution, b0 … b2367
HISTOGRAM_BUCKETS = 2368
HISTOGRAM_FIELDS = ["sum", "min", "max", "resolution"] + [f"b{i}" for i in range(HISTOGRAM_BUCKETS)]
HISTOGRAM_QUANTILES = (("p50", 0.5), ("p75", 0.75), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999))


def histogram_lower_bound(index: int) -> int:
    """The smallest value (in units) of histogram bucket ``index`` (FORMAT.md §11.2)."""
    if index < 128:
        return index
    shift = index // 64 - 1
    return (index - shift * 64) << shift


def histogram_representative(index: int) -> float:
    """The midpoint of bucket ``index``: lower + (width - 1) / 2, in binary64."""
    width = 1 if index < 128 else 1 << (index // 64 - 1)
    return float(histogram_lower_bound(index)) + float(width - 1) / 2


def histogram_quantile(q: float, buckets: List[int], count: int, minimum: int, maximum: int) -> float:
    """The value (in units) at quantile ``q``: the representative of the first bucket whose
    cumulative count (mod 2^64) reaches max(1, ceil(q * count)), clamped to [min, max]."""
    if count == 0:
        return 0.0
    rank = max(1.0, float(math.ceil(q * float(count))))
    cumulative = 0
    for index, n in enumerate(buckets):
        cumulative = (cumulative + n) & 0xFFFFFFFFFFFFFFFF
        if float(cumulative) >= rank:
            return min(max(histogram_representative(index), float(minimum)), float(maximum))
    return float(maximum)


def _expose_histogram(fields: Dict[str, object], now: int) -> List[Tuple[str, object]]:
    """``histogram`` and ``timer``: count, sum, min, max, mean, p50, p75, p90, p99, p999.

    A record without exactly the histogram's field names, or whose sum or resolution is not
    a float or whose min, max or buckets are not non-negative integers, shows its components.
    """
    if list(fields) != HISTOGRAM_FIELDS:
        return list(fields.items())
    values = list(fields.values())
    total, minimum, maximum, resolution = values[0], values[1], values[2], values[3]
    buckets = values[4:]

    def natural(v: object) -> bool:
        return type(v) is int and v >= 0

    if (type(total) is not float or type(resolution) is not float
            or not all(natural(v) for v in [minimum, maximum] + buckets)):
        return list(fields.items())
    count = sum(buckets) & 0xFFFFFFFFFFFFFFFF
    empty = count == 0
    out: List[Tuple[str, object]] = [
        ("count", count),
        ("sum", total),
        ("min", 0.0 if empty else float(minimum) * resolution),
        ("max", 0.0 if empty else float(maximum) * resolution),
        ("mean", 0.0 if empty else total / float(count)),
    ]
    for name, q in HISTOGRAM_QUANTILES:
        out.append((name, 0.0 if empty
                    else histogram_quantile(q, buckets, count, minimum, maximum) * resolution))
    return out


# Meters and windows (FORMAT.md §11.4, §11.5) -----------------------------------

_U64 = (1 << 64) - 1
_METER_INTERVAL = 5_000_000_000
_METER_SLOTS = 181
_METER_ALPHAS = (float.fromhex("0x1.477f8204cb218p-4"), float.fromhex("0x1.0ecdbf52574e0p-6"),
                 float.fromhex("0x1.6b1453a243300p-8"))


def _expose_meter(fields: Dict[str, object], now: int) -> List[Tuple[str, object]]:
    """``meter``: count, mean_rate and the 1/5/15-minute EWMA rates at ``now``."""
    values = list(fields.values())
    if len(values) != 2 + 3 * _METER_SLOTS or next(iter(fields)) != "count":
        return list(fields.items())
    count, start = values[0], values[1]
    current = now // _METER_INTERVAL
    oldest = current - (_METER_SLOTS - 1) if current >= _METER_SLOTS - 1 else 0
    first = max(start // _METER_INTERVAL, oldest)
    rates = [0.0, 0.0, 0.0]
    for k in range(first, current):
        base = 2 + 3 * (k % _METER_SLOTS)
        events = values[base + 1] if values[base] == k and values[base + 2] == k else 0
        instant = float(events) / 5.0
        for i, alpha in enumerate(_METER_ALPHAS):
            rates[i] = instant if k == first else rates[i] + alpha * (instant - rates[i])
    mean = float(count) / (float(now - start) / 1_000_000_000.0) if now > start else 0.0
    return [("count", count), ("mean_rate", mean), ("m1_rate", rates[0]), ("m5_rate", rates[1]),
            ("m15_rate", rates[2])]


def _window_span(now: int, granularity: int, slots: int, start: int):
    """The window's intervals at ``now``: (first, current, seconds covered)."""
    current = now // granularity
    first = current - (slots - 1) if current >= slots - 1 else 0
    begin = max(first * granularity, start)
    seconds = float(now - begin) / 1_000_000_000.0 if now > begin else 0.0
    return first, current, seconds


def _expose_window(fields: Dict[str, object], now: int) -> List[Tuple[str, object]]:
    """``window``: count, sum, mean, rate and seconds at ``now``."""
    values = list(fields.values())
    slots = (len(values) - 3) // 4
    if (len(values) <= 3 or slots < 1 or len(values) != 3 + 4 * slots or next(iter(fields)) != "length"
            or values[1] == 0):
        return list(fields.items())
    first, current, seconds = _window_span(now, values[1], slots, values[2])
    count, total = 0, 0.0
    for k in range(first, current + 1):
        base = 3 + 4 * (k % slots)
        if values[base] == k and values[base + 3] == k:
            count = (count + values[base + 1]) & _U64
            total += values[base + 2]
    # EWMAs over the completed intervals, time constant = the window's length.
    length, granularity, start = values[0], values[1], values[2]
    ewma_rate, ewma_mean = 0.0, 0.0
    if length > 0:
        alpha = 1 - math.exp(-(float(granularity) / float(length)))
        interval_seconds = float(granularity) / 1_000_000_000.0
        have_rate = have_mean = False
        for k in range(max(first, start // granularity), current):
            base = 3 + 4 * (k % slots)
            valid = values[base] == k and values[base + 3] == k
            n = values[base + 1] if valid else 0
            interval_rate = float(n) / interval_seconds
            if have_rate:
                ewma_rate = ewma_rate + alpha * (interval_rate - ewma_rate)
            else:
                ewma_rate, have_rate = interval_rate, True
            if n > 0:
                interval_mean = values[base + 2] / float(n)
                if have_mean:
                    ewma_mean = ewma_mean + alpha * (interval_mean - ewma_mean)
                else:
                    ewma_mean, have_mean = interval_mean, True
    return [("count", count), ("sum", total), ("mean", 0.0 if count == 0 else total / count),
            ("rate", float(count) / seconds if seconds > 0 else 0.0), ("seconds", seconds),
            ("ewma_rate", ewma_rate), ("ewma_mean", ewma_mean)]


_WH_BUCKETS = 2368
_WH_PERCENTILES = (("p50", 0.5), ("p75", 0.75), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999))


def _wh_representative(index: int) -> float:
    """HistogramScheme's midpoint of bucket ``index`` (FORMAT.md §11.2)."""
    if index < 128:
        return float(index)
    shift = index // 64 - 1
    lower = (index - shift * 64) << shift
    return float(lower) + float((1 << shift) - 1) / 2


def _wh_quantile(q: float, buckets: List[int], count: int, minimum: int, maximum: int) -> float:
    """The value at quantile ``q``: rank max(1, ceil(q × count)), clamped to [min, max]."""
    if count == 0:
        return 0.0
    rank = max(1.0, float(math.ceil(q * float(count))))
    cumulative = 0
    for index, n in enumerate(buckets):
        cumulative = (cumulative + n) & _U64
        if float(cumulative) >= rank:
            return min(max(_wh_representative(index), float(minimum)), float(maximum))
    return float(maximum)


def _expose_window_histogram(fields: Dict[str, object], now: int) -> List[Tuple[str, object]]:
    """``window-histogram``: count, sum, mean, rate, seconds, min, max and percentiles at ``now``."""
    values = list(fields.values())
    slot_words = _WH_BUCKETS + 5
    slots = (len(values) - 4) // slot_words
    if (len(values) <= 4 or slots < 1 or len(values) != 4 + slot_words * slots
            or next(iter(fields)) != "length" or values[1] == 0):
        return list(fields.items())
    resolution = values[3]
    first, current, seconds = _window_span(now, values[1], slots, values[2])
    buckets = [0] * _WH_BUCKETS
    count, total, minimum, maximum = 0, 0.0, _U64, 0
    for k in range(first, current + 1):
        base = 4 + slot_words * (k % slots)
        if values[base] == k and values[base + slot_words - 1] == k:
            total += values[base + 1]
            minimum = min(minimum, values[base + 2])
            maximum = max(maximum, values[base + 3])
            for i, n in enumerate(values[base + 4:base + 4 + _WH_BUCKETS]):
                buckets[i] = (buckets[i] + n) & _U64
                count = (count + n) & _U64
    out = [("count", count), ("sum", total), ("mean", 0.0 if count == 0 else total / count),
           ("rate", float(count) / seconds if seconds > 0 else 0.0), ("seconds", seconds),
           ("min", 0.0 if count == 0 else float(minimum) * resolution),
           ("max", 0.0 if count == 0 else float(maximum) * resolution)]
    for name, q in _WH_PERCENTILES:
        out.append((name, _wh_quantile(q, buckets, count, minimum, maximum) * resolution))
    return out


def _expose_derived(fields: Dict[str, object], now: int) -> List[Tuple[str, object]]:
    """``derived`` and ``derived-counter`` (a processor's results): ``value`` only when
    ``present`` is non-zero, then ``present`` as a bool."""
    present = fields["present"]
    present = bool(present) if type(present) is bool else present != 0
    out: List[Tuple[str, object]] = [("value", fields["value"])] if present else []
    return out + [("present", present)]


#: kind name -> function(raw fields by name, now in CLOCK_MONOTONIC ns) -> exposed fields;
#: a metric of a kind listed here gets an ``exposed`` member (docs/SLURP-JSON.md)
EXPOSE = {
    "counter": _expose_identity,
    "gauge": _expose_identity,
    "average": _expose_average,
    "bool": _expose_identity,
    "text": _expose_identity,
    "static": _expose_identity,
    "moving-average": _expose_moving_average,
    "histogram": _expose_histogram,
    "timer": _expose_histogram,
    "meter": _expose_meter,
    "window": _expose_window,
    "window-histogram": _expose_window_histogram,
    "derived": _expose_derived,
    "derived-counter": _expose_derived,
}


def exposed_fields(kind: str, fields: Dict[str, object], now: int) -> Optional[List[Tuple[str, object]]]:
    """The fields a metric of ``kind`` exposes at ``now``, or None for a kind not known here."""
    expose = EXPOSE.get(kind)
    if expose is None:
        return None
    try:
        return expose(fields, now)
    except (KeyError, TypeError, ValueError, ZeroDivisionError, OverflowError):
        return list(fields.items())  # a record that does not have the kind's components


def _metric_json(desc: Descriptor, values: object, now: int) -> dict:
    """The SLURP-JSON object of one v2 metric."""
    out = {
        "name": desc.name,
        "dimensions": dict(desc.dimensions),
        "kind": desc.kind,
        "unit": desc.unit,
        "description": desc.description,
        "layout": LAYOUT_NAMES.get(desc.layout, f"layout-{desc.layout}"),
    }
    if isinstance(values, str):
        out["error"] = values
    else:
        raw = dict(zip(desc.field_names, values))
        fields = {name: json_value(v) for name, v in raw.items()}
        out["fields"] = fields
        if len(fields) == 1:
            out["value"] = next(iter(fields.values()))
        exposed = exposed_fields(desc.kind, raw, now)
        if exposed is not None:
            out["exposed"] = {name: json_value(v) for name, v in exposed}
    return out


# --- writer state ------------------------------------------------------------

def process_start_time(pid: int) -> Optional[int]:
    """Field 22 (starttime) of ``/proc/PID/stat``, or None if there is no such
    process or it has exited (a zombie not yet reaped: state ``Z`` or ``X``).

    Field 2 (the command name) is in parentheses and may contain spaces and
    parentheses, so the line is split after the last ``)``.
    """
    if pid <= 0:
        return None
    try:
        with open(f"/proc/{int(pid)}/stat", "rb") as f:
            line = f.read(4096)
    except OSError:
        return None
    rest = line.rpartition(b")")[2].split()
    # rest[0] is field 3 (state), so field 22 is rest[19].
    try:
        if rest[0][:1] in (b"Z", b"X"):
            return None
        return int(rest[19])
    except (IndexError, ValueError):
        return None


def own_pid_namespace() -> int:
    """This process's PID namespace: the inode of ``/proc/self/ns/pid`` (0 if unknown)."""
    try:
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return 0


def writer_state(pid: int, start_time: int, closed: bool, pid_namespace: int = 0) -> str:
    """Classify a writer as closed, unknown, live, restarted or dead (FORMAT.md §8)."""
    if closed:
        return "closed"
    if pid_namespace != 0 and pid_namespace != own_pid_namespace():
        return "unknown"
    actual = process_start_time(pid)
    if actual is None:
        return "dead"
    if start_time != 0 and actual != start_time:
        return "restarted"
    return "live"


# --- v2 file -----------------------------------------------------------------

def _read_v2(mf: _MappedFile, path: str, now: int) -> dict:
    """Read a v2 file: header, metadata, values, writer state."""
    header = _Header(mf)
    descs = _parse_metadata(mf, header)
    _check_overlap(mf, descs)
    values = _read_values(mf, descs)
    return {
        "path": path,
        "version": 2,
        "generation": header.generation,
        "writer": {
            "pid": header.pid,
            "tid": header.tid,
            "start_time": header.start_time,
            "application": header.application,
            "model": header.model,
            "created_ns": header.created_ns,
            "last_update_ns": header.last_update_ns,
            "state": writer_state(header.pid, header.start_time, header.closed, header.pid_namespace),
        },
        "metrics": [_metric_json(d, values[d.index], now) for d in descs],
    }


# --- v1 file -----------------------------------------------------------------

def _parse_v1_type(text: str) -> Tuple[str, int]:
    """Parse a v1 type (one struct letter, or ``Ns``): return (letter, byte size)."""
    if text in V1_SIZES:
        return text, V1_SIZES[text]
    if text.endswith("s"):
        digits = text[:-1]
        if digits == "":
            return "s", 1
        if digits.isascii() and digits.isdigit() and len(digits) <= MAX_COUNT_DIGITS \
                and 0 < int(digits) <= MAX_COUNT:
            return "s", int(digits)
    raise ValueError(f"unknown v1 type {text!r}")


def _decode_v1_value(letter: str, data: bytes):
    """Decode one packed little-endian v1 value."""
    if letter == "s":
        return _decode_string(data)
    return struct.unpack("<" + letter, data)[0]


def _read_v1_field(mf: _MappedFile, pos: int, index: int):
    """Parse the v1 field at ``pos``: return ``(label, value, next_pos)``.

    Returns ``(None, None, pos)`` at the terminating zero label length.
    """
    where = f"v1 field {index} at offset {pos}"
    (label_len,) = mf.unpack("H", pos, where + ": label length")
    if label_len == 0:
        return None, None, pos
    label = _utf8(mf.read_bytes(pos + 2, label_len, where + ": label"), where + ": label")
    pos += 2 + label_len
    (type_len,) = mf.unpack("H", pos, where + ": type length")
    type_text = _utf8(mf.read_bytes(pos + 2, type_len, where + ": type"), where + ": type")
    pos += 2 + type_len
    where = f"{where} ({label!r})"
    try:
        letter, size = _parse_v1_type(type_text)
    except ValueError as exc:
        raise _Invalid(f"{where}: {exc}") from None
    (buffer,) = mf.unpack("B", pos, where + ": buffer byte")
    pos += 1
    if buffer == 0xFF:
        data = mf.read_bytes(pos, size, where + ": value")
        pos += size
    elif buffer in (0, 1):
        both = mf.read_bytes(pos, 2 * size, where + ": values")
        read = buffer ^ 1  # the buffer byte names the copy being written
        data = both[read * size:(read + 1) * size]
        pos += 2 * size
    else:
        raise _Invalid(f"{where}: buffer byte 0x{buffer:02x} is not 0x00, 0x01 or 0xff")
    return label, json_value(_decode_v1_value(letter, data)), pos


def _read_v1(mf: _MappedFile, path: str) -> dict:
    """Read a legacy v1 file (FORMAT.md §10, mmstats-v1.md)."""
    mf.set_byte_order("<")
    metrics = []
    pid = None
    pos = 1
    # The list ends at a zero label length or where fewer than 2 bytes are left.
    while pos + 2 <= mf.size:
        label, value, pos = _read_v1_field(mf, pos, len(metrics))
        if label is None:
            break
        if pid is None and label.endswith("sys.pid") and type(value) is int:
            pid = value
        metrics.append({
            "name": label, "dimensions": {}, "kind": "v1", "unit": "",
            "description": "", "layout": "v1",
            "fields": {"value": value}, "value": value,
        })
    pid = pid or 0
    return {
        "path": path,
        "version": 1,
        "generation": 0,
        "writer": {"pid": pid, "state": writer_state(pid, 0, False)},
        "metrics": metrics,
    }


# --- entry points ------------------------------------------------------------

def _read_mapped(mf: _MappedFile, path: str, now: int) -> dict:
    """Dispatch on the version byte (and magic) of a mapped file."""
    if mf.size == 0:
        raise _Invalid("empty file")
    (version,) = mf.unpack("B", 0, "version")
    if version == 1:
        return _read_v1(mf, path)
    if mf.size < 8:
        raise _Invalid(f"file is {mf.size} bytes, too short for an mmstats header")
    magic = mf.read_bytes(1, 7, "magic")
    if magic != MAGIC:
        raise _Invalid(f"bad magic {magic!r} (expected b'MMSTATS'): not an mmstats file")
    if version != 2:
        raise _Invalid(f"unsupported version {version} (this reader knows 1 and 2)")
    if mf.size < HEADER_SIZE_MIN:
        raise _Invalid(f"truncated header: file is {mf.size} bytes, the header needs "
                       f"{HEADER_SIZE_MIN}")
    return _read_v2(mf, path, now)


def read_file(path, now: Optional[int] = None) -> dict:
    """Read one mmstats file (v1 or v2) and return its SLURP-JSON object.

    Raises ``MmstatsError(path, reason)`` for any file that cannot be read.
    """
    path = os.fspath(path)
    try:
        with _MappedFile(path) as mf:
            return _read_mapped(mf, path, time.monotonic_ns() if now is None else now)
    except _Invalid as exc:
        raise MmstatsError(path, str(exc)) from None
    except OSError as exc:
        raise MmstatsError(path, exc.strerror or str(exc)) from None
    except (IndexError, struct.error, ValueError, OverflowError, TypeError) as exc:
        # Defensive: every bound is checked above, so this means a reader bug.
        raise MmstatsError(path, f"malformed file ({type(exc).__name__}: {exc})") from None


#: how many levels of directories below a directory given are searched
MAX_DEPTH = 64


def _walk(directory: str, depth: int, found: list, errors: List[str]) -> None:
    """Add ``(path, stat)`` of the ``*.mmstats`` regular files under ``directory``.

    Names starting with ``.`` are skipped, and so are symbolic links and other kinds
    of files; a directory more than ``MAX_DEPTH`` levels down is reported, not searched.
    """
    subdirectories = []
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                path = os.path.join(directory, entry.name)
                try:
                    info = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue  # removed meanwhile
                except OSError as exc:
                    errors.append(f"{path}: cannot examine: {exc.strerror}")
                    continue
                if stat.S_ISDIR(info.st_mode):
                    subdirectories.append(path)
                elif stat.S_ISREG(info.st_mode) and entry.name.endswith(".mmstats"):
                    found.append((path, info))
    except OSError as exc:
        errors.append(f"{directory}: cannot list: {exc.strerror}")
        return
    for subdirectory in subdirectories:
        if depth >= MAX_DEPTH:
            errors.append(f"{subdirectory}: not searched: more than {MAX_DEPTH} levels below "
                          f"the directory given")
            continue
        _walk(subdirectory, depth + 1, found, errors)


def expand_paths(paths: Iterable) -> Tuple[List[str], List[str]]:
    """Expand directories to their ``*.mmstats`` files (recursively, sorted by path).

    The same rule as ``mmstats slurp`` (docs/SLURP-JSON.md): a path is taken as it is
    (a symbolic link is not followed, and then refused by read_file); names starting
    with ``.`` and links inside directories are skipped; a file reached under several
    paths (hard links, or given twice) is listed once, under the first of them.
    Returns the file list and errors (``"PATH: reason"``).
    """
    files: List[str] = []
    errors: List[str] = []
    seen = set()

    def add(path: str, info: os.stat_result) -> None:
        key = (info.st_dev, info.st_ino)
        if key not in seen:
            seen.add(key)
            files.append(path)

    for path in map(os.fspath, paths):
        try:
            info = os.lstat(path)
        except OSError as exc:
            errors.append(f"{path}: cannot open: {exc.strerror}")
            continue
        if stat.S_ISDIR(info.st_mode):
            found: list = []
            _walk(path, 0, found, errors)
            for file_path, file_info in sorted(found, key=lambda item: item[0]):
                add(file_path, file_info)
        else:
            add(path, info)
    return files, errors


def slurp(paths: Iterable, now: Optional[int] = None) -> Tuple[List[dict], List[str]]:
    """Read every file of ``paths`` (directories expanded); keep going past bad files.

    Returns ``(file_objects, error_strings)``; each error is ``"PATH: reason"``.
    """
    files, errors = expand_paths(paths)
    out = []
    for path in files:
        try:
            out.append(read_file(path, now))
        except MmstatsError as exc:
            errors.append(str(exc))
    return out, errors


def _text_value(value) -> str:
    """Human rendering of one value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value not in ("nan", "inf", "-inf"):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _text_metric(metric: dict) -> Tuple[str, str]:
    """(``name{dims}``, value text) of one metric."""
    dims = ",".join(f"{k}={json.dumps(v, ensure_ascii=False)}"
                    for k, v in metric["dimensions"].items())
    name = metric["name"] + ("{" + dims + "}" if dims else "")
    if "error" in metric:
        return name, f"error: {metric['error']}"
    shown = metric.get("exposed", metric["fields"])  # what the kind exposes, when known
    if len(shown) == 1:
        return name, _text_value(next(iter(shown.values())))
    return name, " ".join(f"{k}={_text_value(v)}" for k, v in shown.items())


def format_text(files: Sequence[dict]) -> str:
    """Aligned human text: a line per file, then one line per metric."""
    lines = []
    for info in files:
        writer = info["writer"]
        lines.append(f"{info['path']}  (v{info['version']}, generation {info['generation']}, "
                     f"pid {writer['pid']} {writer['state']})")
        rows = [_text_metric(m) for m in info["metrics"]]
        width = max((len(name) for name, _ in rows), default=0)
        lines.extend(f"  {name.ljust(width)}  {value}" for name, value in rows)
    return "\n".join(lines) + ("\n" if lines else "")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="mmstats_reader.py", description="Read mmstats v1/v2 statistics files.")
    parser.add_argument("--json", action="store_true",
                        help="print the JSON array of docs/SLURP-JSON.md")
    parser.add_argument("--now", type=int, metavar="NS",
                        help="compute time windows for this CLOCK_MONOTONIC time in ns (default: now)")
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="mmstats files, or directories to search for *.mmstats")
    args = parser.parse_args(argv)
    files, errors = slurp(args.paths, args.now)
    if args.json:
        sys.stdout.write(json.dumps(files, indent=2, allow_nan=False) + "\n")
    else:
        sys.stdout.write(format_text(files))
    sys.stdout.flush()
    for err in errors:
        print(f"mmstats: {err}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())

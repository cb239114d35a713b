#!/usr/bin/env python3
"""Hand-built seed files for the fuzz corpus, from docs/FORMAT.md alone.

usage: make_seeds.py OUTPUT_DIRECTORY
       make_seeds.py --swap IN OUT      byte-swap a little-endian file (a writer's) into a big-endian one

Unlike the writer's files (4 KiB pages, 8 KiB of metadata room), these are packed: header,
segments sized to their descriptors, then records, so that nearly every byte means something
to the reader and libFuzzer's mutations land on fields. They cover what the writer does not
produce: big-endian files, a header larger than 256 bytes, a chain of three segments, a
double-buffer latch caught mid-write, pages that differ, records in a sparse hole, unknown
layouts and signature letters, repeated field names and dimension keys, and the fuzz
harness's plugin layouts (4 and 5).
"""
import os
import struct
import sys

def sig_shape(sig):
    """(components, words) of a signature."""
    comps = words = 0
    i = 0
    while i < len(sig):
        j = i
        while j < len(sig) and sig[j].isdigit():
            j += 1
        count = int(sig[i:j]) if j > i else 1
        if sig[j] == "s":
            comps += 1
            words += (count + 7) // 8
        else:
            comps += count
            words += count
        i = j + 1
    return comps, words


class M:
    """One metric: descriptor fields plus the words of its record copies."""

    def __init__(self, name, sig="Q", kind="gauge", fields=None, unit="", desc="", dims=(), layout=1,
                 flags=0, values=None, other=None, seq=2, record_words=None, offset=None, alt=None):
        self.name, self.sig, self.kind, self.unit, self.desc = name, sig, kind, unit, desc
        self.dims, self.layout, self.flags, self.seq = list(dims), layout, flags, seq
        comps, words = sig_shape(sig) if all(c.isdigit() or c in "QqIiHhBb?dfs" for c in sig) else (1, 1)
        self.fields = fields if fields is not None else (["value"] if comps == 1 else ["f%d" % i for i in range(comps)])
        self.words = words if record_words is None else record_words
        self.values = values if values is not None else list(range(1, self.words + 1))
        self.other = other  # copy 1 (layout 2) or page 1 (layout 3), when it differs
        self.offset, self.alt = offset, alt

    def storage(self):
        if self.layout == 2:
            return (1 + 2 * self.words) * 8
        if self.layout == 3:
            return 2 * self.words * 8
        if self.layout == 14:  # the fuzz target's headered plugin layout
            return (1 + self.words) * 8
        return self.words * 8


def descriptor(m, offset, alt, metric_id, e):
    dims = b""
    for k, v in m.dims:
        kb, vb = k.encode(), v.encode()
        dims += struct.pack(e + "H", len(kb)) + kb + struct.pack(e + "H", len(vb)) + vb
    strings = [m.kind.encode(), m.name.encode(), m.sig.encode(), ",".join(m.fields).encode(), m.unit.encode(),
               m.desc.encode()]
    body = b"".join(strings) + dims
    total = (48 + len(body) + 7) // 8 * 8
    fixed = struct.pack(e + "IHHQQII", total, m.layout, m.flags, offset, alt, m.words, metric_id)
    fixed += struct.pack(e + "6HI", *[len(s) for s in strings], len(dims))
    return (fixed + body).ljust(total, b"\0")


def build(metrics, big=False, header_size=256, flip=0, groups=None, file_size=None, minor=0, closed=False,
          file_layout=1, slack=0, app="fuzz", model="Seeds", generation=None):
    """Packed file: header, segments (one per group of metric indices), records. Returns bytes."""
    e = ">" if big else "<"
    groups = groups or [list(range(len(metrics)))]
    sizes = [len(descriptor(m, 0, 0, 0, e)) for m in metrics]
    cursor = (header_size + 7) // 8 * 8
    segments = []
    for group in groups:
        capacity = sum(sizes[i] for i in group) + slack
        segments.append((cursor, capacity))
        cursor += 32 + capacity
    placements = []
    for m in metrics:
        align = 64 if m.flags & 1 else 8
        cursor = (cursor + align - 1) // align * align
        if m.offset is not None:
            placements.append((m.offset, m.alt or 0))
            continue
        if m.layout == 3:
            placements.append((cursor, cursor + m.words * 8))
        else:
            placements.append((cursor, 0))
        cursor += max(m.storage(), 8)
    end = max([cursor] + [o + m.storage() for m, (o, _) in zip(metrics, placements) if m.offset is None])
    buf = bytearray(end)
    buf[0] = 2
    buf[1:8] = b"MMSTATS"
    gen = generation if generation is not None else len(metrics) + 1
    struct.pack_into(e + "IHHII", buf, 8, 0x0A0B0C0D, header_size, minor, file_layout, 1 if closed else 0)
    struct.pack_into(e + "QQQQQQQQQQ", buf, 24, gen, file_size or end, segments[0][0], len(metrics), flip, 4242, 4243,
                     123456, 1700000000000000000, 1700000000000000001)
    buf[112:112 + len(app)] = app.encode()
    buf[176:176 + len(model)] = model.encode()
    for index, group in enumerate(groups):
        at, capacity = segments[index]
        blob = b"".join(descriptor(metrics[i], *placements[i], i, e) for i in group)
        nxt = segments[index + 1][0] if index + 1 < len(groups) else 0
        buf[at:at + 4] = b"MSEG"
        struct.pack_into(e + "QQQ", buf, at + 8, capacity, len(blob), nxt)
        buf[at + 32:at + 32 + len(blob)] = blob
    records = {}  # offset -> words, for records placed in a hole (written only if inside buf)
    for m, (off, alt) in zip(metrics, placements):
        copy0 = (list(m.values) + [0] * m.words)[:m.words]
        copy1 = (list(m.other) + [0] * m.words)[:m.words] if m.other is not None else copy0
        if m.layout == 2:
            records[off] = [m.seq] + copy0 + copy1
        elif m.layout == 3:
            records[off] = copy0
            records[alt] = copy1
        elif m.layout == 14:
            records[off] = [0x4D4D] + copy0
        else:
            records[off] = copy0
    for off, words in records.items():
        for i, w in enumerate(words):
            if off + 8 * i + 8 <= len(buf):
                struct.pack_into(e + "Q", buf, off + 8 * i, w & (2 ** 64 - 1))
    return bytes(buf)


def f64(x):
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def f32(x):
    return struct.unpack("<I", struct.pack("<f", x))[0]


def text(s, capacity):
    raw = s.encode().ljust((capacity + 7) // 8 * 8, b"\0")
    return list(struct.unpack("<%dQ" % (len(raw) // 8), raw))


def text_big(s, capacity):
    # String bytes are in file order: in a big-endian file the words are stored byte-swapped.
    raw = s.encode().ljust((capacity + 7) // 8 * 8, b"\0")
    return list(struct.unpack(">%dQ" % (len(raw) // 8), raw))


def every_type(big=False):
    words = [2 ** 64 - 1, -5, 3_000_000_000, -70_000, 65_535, -1_000, 200, -100, 1, f64(-2.5), f32(0.1)]
    return words + (text_big if big else text)("grüße", 16)


def seeds():
    out = {}
    out["tiny-counter"] = build([M("requests", kind="counter", values=[7])])
    out["all-types-word"] = build([
        M("types", "QqIiHhBb?df16s", kind="every-type", unit="mixed", desc="one of each", values=every_type()),
        M("repeat", "2Q3d", values=[1, 2, f64(0.5), f64(1e300), f64(float("nan"))]),
        M("flag", "?", kind="bool", values=[0]),
    ])
    layouts = [
        M("word", "Qd", kind="timing", fields=["count", "sum"], values=[4, f64(2.0)], dims=[("host", "a")]),
        M("latch", "QQ", kind="ratio", fields=["part", "whole"], layout=2, values=[3, 4], seq=6),
        M("latch.mid", "Qd", layout=2, values=[9, f64(9.0)], other=[8, f64(8.0)], seq=7),
        M("flip", "2Q", layout=3, values=[10, 20], other=[11, 21], flags=1),
        M("flip.text", "12s", kind="label", layout=3, values=text("page zero", 12), other=text("page one", 12)),
    ]
    out["layouts-little"] = build(layouts, flip=1, file_layout=3)
    big_layouts = [
        M("word", "Qd", kind="timing", fields=["count", "sum"], values=[4, f64(2.0)], dims=[("host", "b")]),
        M("latch", "qq", layout=2, values=[-3, 4], seq=5, other=[-2, 4]),
        M("flip", "2Q", layout=3, values=[10, 20], other=[11, 21]),
        M("text", "16s", kind="label", values=text_big("big-endian", 16)),
        M("types", "QqIiHhBb?df16s", kind="every-type", values=every_type(big=True)),
    ]
    out["big-endian"] = build(big_layouts, big=True, flip=3, file_layout=3)
    chain = [M("chain.%d" % i, kind="counter", dims=[("i", str(i))], values=[i]) for i in range(6)]
    out["three-segments"] = build(chain, groups=[[0, 1], [2, 3], [4, 5]], slack=16)
    out["header-320"] = build([M("wide.header", values=[1])], header_size=320, minor=1)
    out["unreadable"] = build([
        M("unknown.layout", layout=9, values=[1]),
        M("unknown.letter", "Qx", fields=["a", "b"], record_words=2, values=[1, 2]),
        M("repeated.fields", "QQ", fields=["a", "a"]),
        M("repeated.dims", dims=[("k", "1"), ("k", "2")]),
        M("fine", values=[5], dims=[("k", "1"), ("j", "2")]),
    ])
    out["plugin-layout"] = build([
        M("headered", "Qd", layout=14, values=[6, f64(6.5)], dims=[("via", "plugin")]),
        M("after", values=[3]),
    ])
    # A plugin layout that returns too few words: the whole snapshot fails with an error.
    out["plugin-short"] = build([M("short", "QQ", layout=15, values=[1, 2]), M("after", values=[3])])
    # Records in a hole: the header's file size is 1 MiB; the fuzz harness extends the file.
    out["sparse"] = build([
        M("near", values=[1]),
        M("far", "4Q", layout=2, offset=512 * 1024, values=[0, 0, 0, 0]),
        M("far.flip", "Q", layout=3, offset=768 * 1024, alt=768 * 1024 + 4096),
    ], file_size=1 << 20)
    # Records that together claim more than the file (all three overlap): an error, not an allocation.
    out["overlap"] = build([M("overlap.%d" % i, "8000s", kind="label", offset=4096) for i in range(3)],
                           file_size=16384)
    out["closed"] = build([M("done", kind="counter", values=[99])], closed=True)
    out["utf8-strings"] = build([
        M("métrique.ünïcode", unit="µs", desc="Ωmega ✓", dims=[("région", "Île-de-France"), ("emoji", "🙂")]),
    ])
    return out


def swap(data):
    """The same file in the other byte order: every integer field and value word swapped, string bytes kept."""
    buf = bytearray(data)

    def flip(offset, size):
        if offset + size <= len(buf):
            buf[offset:offset + size] = buf[offset:offset + size][::-1]

    le = lambda fmt, off: struct.unpack_from("<" + fmt, data, off)[0]
    assert data[0] == 2 and data[8:12] == b"\x0d\x0c\x0b\x0a", "not a little-endian v2 file"
    for offset, size in [(8, 4), (12, 2), (14, 2), (16, 4), (20, 4)] + [(24 + 8 * i, 8) for i in range(10)]:
        flip(offset, size)
    segment = le("Q", 40)
    while segment:
        used, nxt = le("Q", segment + 16), le("Q", segment + 24)
        for field in (8, 16, 24):
            flip(segment + field, 8)
        cursor = segment + 32
        while cursor < segment + 32 + used:
            size, layout = le("I", cursor), le("H", cursor + 4)
            value, alt, words = le("Q", cursor + 8), le("Q", cursor + 16), le("I", cursor + 24)
            lengths = [le("H", cursor + 32 + 2 * i) for i in range(6)] + [le("I", cursor + 44)]
            for offset, width in [(0, 4), (4, 2), (6, 2), (8, 8), (16, 8), (24, 4), (28, 4)] + \
                    [(32 + 2 * i, 2) for i in range(6)] + [(44, 4)]:
                flip(cursor + offset, width)
            strings = cursor + 48
            sig = data[strings + sum(lengths[:2]):strings + sum(lengths[:3])].decode()
            dims = strings + sum(lengths[:6])
            at = dims
            while at < dims + lengths[6]:
                n = le("H", at)
                flip(at, 2)
                at += 2 + n
            numeric = []  # per record word: whether it is a number (swapped) or string bytes (kept)
            i = 0
            while i < len(sig):
                j = i
                while sig[j].isdigit():
                    j += 1
                count = int(sig[i:j]) if j > i else 1
                numeric += [False] * ((count + 7) // 8) if sig[j] == "s" else [True] * count
                i = j + 1
            copies = {1: [value], 2: [value + 8, value + 8 + 8 * words], 3: [value, alt]}.get(layout, [])
            if layout == 2:
                flip(value, 8)
            for start in copies:
                for k, is_number in enumerate(numeric):
                    if is_number:
                        flip(start + 8 * k, 8)
            cursor += size
        segment = nxt
    return bytes(buf)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--swap":
        with open(sys.argv[3], "wb") as f:
            f.write(swap(open(sys.argv[2], "rb").read()))
        return
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    for name, data in seeds().items():
        with open(os.path.join(sys.argv[1], "hand-%s.mmstats" % name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()

"""Tests for mmstats_reader.py.

Run from the repository root:  python3 -m unittest discover -s Tools/python -v

The files under test are built byte by byte by ``SpecWriter`` below, which
follows docs/FORMAT.md independently of the reader.
"""

import json
import math
import mmap
import os
import random
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import mmstats_reader  # noqa: E402
from mmstats_reader import MmstatsError, read_file, slurp  # noqa: E402

READER = Path(__file__).resolve().parent / "mmstats_reader.py"
V1_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "v1"
PAGE = 4096


# --- a small spec-following v2 writer ----------------------------------------

def _round_up(n, to):
    return (n + to - 1) // to * to


def encode_slots(order, letter, length, value):
    """The slot bytes of one component (FORMAT.md §4.1), in file byte order."""
    if letter in "QIHB":
        return struct.pack(order + "Q", value)
    if letter in "qihb":
        return struct.pack(order + "q", value)
    if letter == "?":
        return struct.pack(order + "Q", 1 if value else 0)
    if letter == "d":
        return struct.pack(order + "d", value)
    if letter == "f":
        bits = struct.unpack("<I", struct.pack("<f", value))[0]
        return struct.pack(order + "Q", bits)
    if letter == "s":
        data = value.encode("utf-8")
        assert len(data) <= length
        return data.ljust(_round_up(length, 8), b"\0")
    raise AssertionError(letter)


def expand_signature(signature):
    """(letter, length) per component: a test-side signature expansion."""
    out, count = [], ""
    for ch in signature:
        if ch.isdigit():
            count += ch
            continue
        n = int(count) if count else 1
        out.extend([("s", n)] if ch == "s" else [(ch, 0)] * n)
        count = ""
    return out


def encode_record(order, signature, values):
    """The bytes of one record copy."""
    comps = expand_signature(signature)
    assert len(comps) == len(values), (signature, values)
    return b"".join(encode_slots(order, letter, length, v)
                    for (letter, length), v in zip(comps, values))


class SpecWriter:
    """Builds a v2 mmstats file in memory, byte by byte, from docs/FORMAT.md.

    ``segment_capacities`` lists the capacity of each metadata segment; a new
    segment is started when a descriptor does not fit in the current one.
    """

    def __init__(self, order="<", size=3 * PAGE, segment_capacities=(512, 4096),
                 pid=0, tid=0, start_time=0, flags=0, flip_sequence=0,
                 application="app", model="Model", layout_id=1, generation=None,
                 header_size=256):
        self.order = order
        self.buf = bytearray(size)
        self.flip_sequence = flip_sequence
        self.header = dict(pid=pid, tid=tid, start_time=start_time, flags=flags,
                           application=application, model=model, layout_id=layout_id)
        self.generation = generation
        self.header_size = header_size
        self.metrics = []
        self.next_free = header_size
        self.segments = []  # [offset, capacity, used]
        self._pending_capacities = list(segment_capacities)
        self._new_segment()

    # allocation ---------------------------------------------------------
    def _alloc(self, nbytes, align=8):
        start = _round_up(self.next_free, align)
        assert start + nbytes <= len(self.buf), "test file too small"
        self.next_free = start + nbytes
        return start

    def _new_segment(self):
        capacity = self._pending_capacities.pop(0)
        offset = self._alloc(32 + capacity)
        self.buf[offset:offset + 4] = b"MSEG"
        self.put_word(offset + 8, capacity)
        if self.segments:
            prev = self.segments[-1][0]
            struct.pack_into(self.order + "Q", self.buf, prev + 24, offset)
        self.segments.append([offset, capacity, 0])

    def put_word(self, offset, value):
        struct.pack_into(self.order + "Q", self.buf, offset, value)

    # metrics ------------------------------------------------------------
    def add_metric(self, name, signature, fields, values, layout=1, stale=None, seq=0,
                   kind="gauge", unit="", description="", dimensions=(),
                   cache_aligned=False, record_words=None, layout_id=None):
        """Add one metric; ``values`` go where a reader must look, ``stale`` elsewhere.

        Returns a dict with the descriptor's and the record's offsets.
        """
        record = encode_record(self.order, signature, values)
        old = encode_record(self.order, signature, stale) if stale is not None else record
        rw = len(record) // 8
        align = 64 if cache_aligned else 8
        alt = 0
        if layout == 1:
            value_off = self._alloc(len(record), align)
            self.buf[value_off:value_off + len(record)] = record
        elif layout == 2:
            value_off = self._alloc(8 + 2 * len(record), align)
            self.put_word(value_off, seq)
            copies = (record, old) if seq % 2 == 0 else (old, record)
            for i, data in enumerate(copies):
                start = value_off + 8 + i * len(record)
                self.buf[start:start + len(record)] = data
        else:  # layout 3, or an unknown layout (treated like layout 1 here)
            value_off = self._alloc(len(record), align)
            self.buf[value_off:value_off + len(record)] = record
            if layout == 3:
                alt = self._alloc(len(record), align)
                self.buf[alt:alt + len(record)] = record
                stale_page = value_off if self.flip_sequence % 2 else alt
                self.buf[stale_page:stale_page + len(old)] = old
        dims = b"".join(struct.pack(self.order + "H", len(k.encode())) + k.encode()
                        + struct.pack(self.order + "H", len(v.encode())) + v.encode()
                        for k, v in dimensions)
        strings = [kind.encode(), name.encode(), signature.encode(), fields.encode(),
                   unit.encode(), description.encode(), dims]
        entry = _round_up(48 + sum(map(len, strings)), 8)
        seg = self.segments[-1]
        if seg[2] + entry > seg[1]:
            self._new_segment()
            seg = self.segments[-1]
        desc_off = seg[0] + 32 + seg[2]
        struct.pack_into(self.order + "IHHQQII6HI", self.buf, desc_off, entry, layout,
                         1 if cache_aligned else 0, value_off, alt,
                         rw if record_words is None else record_words, len(self.metrics),
                         *[len(s) for s in strings])
        blob = b"".join(strings)
        self.buf[desc_off + 48:desc_off + 48 + len(blob)] = blob
        seg[2] += entry
        self.put_word(seg[0] + 16, seg[2])
        info = dict(desc=desc_off, value=value_off, alt=alt, segment=seg[0], entry=entry)
        self.metrics.append(info)
        return info

    # output -------------------------------------------------------------
    def header_bytes(self):
        h = self.header
        out = bytearray(self.header_size)
        out[0] = 2
        out[1:8] = b"MMSTATS"
        struct.pack_into(self.order + "I", out, 8, 0x0A0B0C0D)
        gen = len(self.metrics) if self.generation is None else self.generation
        struct.pack_into(self.order + "HHIIQQQQQQQQQQQ", out, 12, self.header_size, 0,
                         h["layout_id"],
                         h["flags"], gen, len(self.buf), self.segments[0][0],
                         len(self.metrics), self.flip_sequence, h["pid"], h["tid"],
                         h["start_time"], 1_700_000_000_000_000_000,
                         1_700_000_000_000_000_123, 0)
        out[112:112 + len(h["application"].encode())] = h["application"].encode()
        out[176:176 + len(h["model"].encode())] = h["model"].encode()
        return out

    def to_bytes(self):
        data = bytearray(self.buf)
        data[0:self.header_size] = self.header_bytes()
        return bytes(data)

    def save(self, path):
        Path(path).write_bytes(self.to_bytes())
        return str(path)


F32_TENTH = struct.unpack("<f", struct.pack("<f", 0.1))[0]

# (name, signature, fields, values written, values expected in JSON)
ALL_LETTERS = [
    ("u64", "Q", "value", [2**64 - 1], [2**64 - 1]),
    ("i64", "q", "value", [-2**63], [-2**63]),
    ("u32", "I", "value", [2**32 - 1], [2**32 - 1]),
    ("i32", "i", "value", [-2**31], [-2**31]),
    ("u16", "H", "value", [65535], [65535]),
    ("i16", "h", "value", [-32768], [-32768]),
    ("u8", "B", "value", [255], [255]),
    ("i8", "b", "value", [-128], [-128]),
    ("flag", "?", "value", [True], [True]),
    ("f32", "f", "value", [0.1], [F32_TENTH]),
    ("f64", "d", "value", [math.pi], [math.pi]),
    ("text", "16s", "value", ["héllo"], ["héllo"]),
    ("full_text", "8s", "value", ["abcdefgh"], ["abcdefgh"]),
    ("mixed", "2QbH?fd3s", "a,b,c,d,e,f,g,h",
     [7, 8, -1, 513, False, -2.5, 1e300, "xyz"],
     [7, 8, -1, 513, False, -2.5, 1e300, "xyz"]),
    ("nonfinite", "3d", "n,p,m", [math.nan, math.inf, -math.inf], ["nan", "inf", "-inf"]),
]


def rich_writer(order="<", **kwargs):
    """A writer holding every letter in all three layouts, over two segments."""
    kwargs.setdefault("flip_sequence", 3)
    w = SpecWriter(order=order, **kwargs)
    for name, sig, fields, values, _ in ALL_LETTERS:
        w.add_metric("w." + name, sig, fields, values, layout=1,
                     dimensions=[("host", "a"), ("z", "ü")], unit="u",
                     description="d " + name)
        w.add_metric("db." + name, sig, fields, values, layout=2, seq=7,
                     stale=_stale(values))
        w.add_metric("pf." + name, sig, fields, values, layout=3, stale=_stale(values))
    return w


def _stale(values):
    """Values that differ from ``values`` (what a reader must NOT return)."""
    out = []
    for v in values:
        if isinstance(v, bool):
            out.append(not v)
        elif isinstance(v, int):
            out.append(0 if v else 1)
        elif isinstance(v, float):
            out.append(0.0 if v != 0.0 else 1.0)
        else:
            out.append("Z")
    return out


def metric_map(info):
    return {m["name"]: m for m in info["metrics"]}


def _outcome(path):
    """The name of the exception ``read_file(path)`` raises, or "ok"."""
    try:
        read_file(path)
        return "ok"
    except Exception as exc:  # the caller checks which type it was
        return type(exc).__name__


class TempDirTest(unittest.TestCase):
    """A test case with a fresh temporary directory."""

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="mmstats-test-")
        self.tmp = Path(self._tmp.name)

    def tearDown(self):
        self._tmp.cleanup()

    def write(self, name, data):
        path = self.tmp / name
        path.write_bytes(data)
        return str(path)


# --- well-formed files -------------------------------------------------------

class GoodFileTests(TempDirTest):

    def check_rich(self, order):
        w = rich_writer(order=order, pid=123, tid=456, start_time=789,
                        flags=1, application="web", model="Stats")
        self.assertEqual(len(w.segments), 2, "the test must exercise a segment chain")
        path = w.save(self.tmp / "rich.mmstats")
        info = read_file(path)
        self.assertEqual(info["path"], path)
        self.assertEqual(info["version"], 2)
        self.assertEqual(info["generation"], len(ALL_LETTERS) * 3)
        self.assertEqual(info["writer"], {
            "pid": 123, "tid": 456, "start_time": 789, "application": "web",
            "model": "Stats", "created_ns": 1_700_000_000_000_000_000,
            "last_update_ns": 1_700_000_000_000_000_123, "state": "closed"})
        self.assertEqual(len(info["metrics"]), len(ALL_LETTERS) * 3)
        metrics = metric_map(info)
        for name, sig, fields, _, expected in ALL_LETTERS:
            names = fields.split(",")
            for prefix, layout in (("w.", "word"), ("db.", "double-buffer"),
                                   ("pf.", "page-flip")):
                with self.subTest(order=order, metric=prefix + name):
                    m = metrics[prefix + name]
                    self.assertEqual(m["layout"], layout)
                    self.assertEqual(m["kind"], "gauge")
                    self.assertEqual(list(m["fields"]), names)
                    got = list(m["fields"].values())
                    self.assertEqual(got, expected)
                    for g, e in zip(got, expected):
                        self.assertIs(type(g), type(e))
                    if len(names) == 1:
                        self.assertEqual(m["value"], expected[0])
                    else:
                        self.assertNotIn("value", m)
        first = metrics["w.u64"]
        self.assertEqual(first["dimensions"], {"host": "a", "z": "ü"})
        self.assertEqual(list(first["dimensions"]), ["host", "z"])
        self.assertEqual(first["unit"], "u")
        self.assertEqual(first["description"], "d u64")
        # The JSON must be strict (no NaN tokens).
        json.dumps(info, allow_nan=False)

    def test_little_endian_all_letters_all_layouts(self):
        self.check_rich("<")

    def test_big_endian_all_letters_all_layouts(self):
        self.check_rich(">")

    def test_byte_orders_give_identical_results(self):
        le = read_file(rich_writer("<").save(self.tmp / "le.mmstats"))
        be = read_file(rich_writer(">").save(self.tmp / "be.mmstats"))
        self.assertEqual(le["metrics"], be["metrics"])

    def test_double_buffer_even_seq_reads_copy_0(self):
        w = SpecWriter()
        w.add_metric("c", "Q", "value", [5], layout=2, seq=4, stale=[9])
        self.assertEqual(read_file(w.save(self.tmp / "a.mmstats"))["metrics"][0]["value"], 5)

    def test_double_buffer_odd_seq_reads_copy_1(self):
        w = SpecWriter()
        info = w.add_metric("c", "2Q", "a,b", [5, 6], layout=2, seq=1, stale=[9, 9])
        data = w.to_bytes()
        # copy 1 starts after seq and copy 0 (2 words).
        self.assertEqual(struct.unpack_from("<2Q", data, info["value"] + 24), (5, 6))
        m = read_file(self.write("b.mmstats", data))["metrics"][0]
        self.assertEqual(m["fields"], {"a": 5, "b": 6})

    def test_page_flip_odd_sequence_reads_page_1(self):
        w = SpecWriter(flip_sequence=1)
        info = w.add_metric("p", "q", "value", [-5], layout=3, stale=[77])
        data = w.to_bytes()
        self.assertEqual(struct.unpack_from("<q", data, info["alt"])[0], -5)
        self.assertEqual(struct.unpack_from("<q", data, info["value"])[0], 77)
        self.assertEqual(read_file(self.write("p.mmstats", data))["metrics"][0]["value"], -5)

    def test_page_flip_even_sequence_reads_page_0(self):
        w = SpecWriter(flip_sequence=2)
        w.add_metric("p", "q", "value", [-5], layout=3, stale=[77])
        self.assertEqual(read_file(w.save(self.tmp / "p.mmstats"))["metrics"][0]["value"], -5)

    def test_cache_aligned_record(self):
        w = SpecWriter()
        w.add_metric("x", "B", "value", [1])
        info = w.add_metric("y", "Q", "value", [2], cache_aligned=True)
        self.assertEqual(info["value"] % 64, 0)
        self.assertEqual([m["value"] for m in read_file(w.save(self.tmp / "c.mmstats"))
                          ["metrics"]], [1, 2])

    def test_empty_metadata(self):
        info = read_file(SpecWriter().save(self.tmp / "empty.mmstats"))
        self.assertEqual(info["metrics"], [])
        self.assertEqual(info["generation"], 0)

    def test_header_size_larger_than_256_is_accepted(self):
        w = SpecWriter(header_size=520, application="big")
        w.add_metric("x", "Q", "value", [3])
        data = w.to_bytes()
        self.assertEqual(struct.unpack_from("<H", data, 12)[0], 520)
        self.assertEqual(w.segments[0][0], 520)
        info = read_file(self.write("h.mmstats", data))
        self.assertEqual(info["metrics"][0]["value"], 3)
        self.assertEqual(info["writer"]["application"], "big")

    def test_string_value_stops_at_first_nul(self):
        w = SpecWriter()
        info = w.add_metric("s", "12s", "value", ["ab"])
        data = bytearray(w.to_bytes())
        data[info["value"] + 3] = ord("z")  # after the NUL that ends "ab"
        self.assertEqual(read_file(self.write("s.mmstats", data))["metrics"][0]["value"], "ab")

    def test_narrow_slot_uses_low_bits_only(self):
        w = SpecWriter()
        info = w.add_metric("b", "b", "value", [-1])
        self.assertEqual(struct.unpack_from("<Q", w.to_bytes(), info["value"])[0], 2**64 - 1)
        self.assertEqual(read_file(w.save(self.tmp / "n.mmstats"))["metrics"][0]["value"], -1)

    def test_unknown_layout_is_a_metric_error_not_a_file_error(self):
        w = SpecWriter()
        w.add_metric("ok1", "Q", "value", [1])
        w.add_metric("future", "Q", "value", [2], layout=9)
        w.add_metric("ok2", "Q", "value", [3])
        metrics = read_file(w.save(self.tmp / "u.mmstats"))["metrics"]
        self.assertEqual([m["name"] for m in metrics], ["ok1", "future", "ok2"])
        self.assertIn("unknown layout 9", metrics[1]["error"])
        self.assertNotIn("fields", metrics[1])
        self.assertNotIn("value", metrics[1])
        self.assertEqual((metrics[0]["value"], metrics[2]["value"]), (1, 3))

    def test_unknown_signature_letter_is_a_metric_error(self):
        w = SpecWriter()
        w.add_metric("ok", "Q", "value", [1])
        info = w.add_metric("future", "Q", "value", [2])
        data = bytearray(w.to_bytes())
        sig_at = info["desc"] + 48 + len("gauge") + len("future")
        data[sig_at] = ord("e")  # a letter a later minor version might add
        metrics = read_file(self.write("e.mmstats", data))["metrics"]
        self.assertIn("unknown signature letter 'e'", metrics[1]["error"])
        self.assertEqual(metrics[0]["value"], 1)

    def test_unknown_kind_is_shown_by_field_names(self):
        w = SpecWriter()
        w.add_metric("h", "3Q", "count,sum,max", [1, 2, 3], kind="histogram-ish")
        m = read_file(w.save(self.tmp / "k.mmstats"))["metrics"][0]
        self.assertEqual(m["kind"], "histogram-ish")
        self.assertEqual(m["fields"], {"count": 1, "sum": 2, "max": 3})

    def test_writer_states(self):
        own = mmstats_reader.process_start_time(os.getpid())
        with open(f"/proc/{os.getpid()}/stat") as f:
            line = f.read()
        expected_start = int(line[line.rindex(")") + 2:].split()[19])
        self.assertEqual(own, expected_start)
        pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
        cases = [
            (dict(pid=os.getpid(), start_time=own), "live"),
            (dict(pid=os.getpid(), start_time=own + 1), "restarted"),
            (dict(pid=pid_max + 1, start_time=1), "dead"),
            (dict(pid=0, start_time=1), "dead"),
            (dict(pid=os.getpid(), start_time=own, flags=1), "closed"),
        ]
        for i, (kwargs, state) in enumerate(cases):
            with self.subTest(state=state):
                path = SpecWriter(**kwargs).save(self.tmp / f"s{i}.mmstats")
                self.assertEqual(read_file(path)["writer"]["state"], state)

    def test_pid_namespace(self):
        own = mmstats_reader.process_start_time(os.getpid())
        own_ns = mmstats_reader.own_pid_namespace()
        self.assertEqual(own_ns, os.stat("/proc/self/ns/pid").st_ino)
        for i, (namespace, state) in enumerate([(0, "live"), (own_ns, "live"), (own_ns + 1, "unknown")]):
            with self.subTest(namespace=namespace):
                data = bytearray(SpecWriter(pid=os.getpid(), start_time=own).to_bytes())
                struct.pack_into("<Q", data, 104, namespace)
                path = self.tmp / f"ns{i}.mmstats"
                path.write_bytes(bytes(data))
                self.assertEqual(read_file(str(path))["writer"]["state"], state)

    def test_zombie_writer_is_dead(self):
        proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
        try:
            start = mmstats_reader.process_start_time(proc.pid)
            self.assertIsNotNone(start)
            self.assertEqual(mmstats_reader.writer_state(proc.pid, start, False), "live")
            os.kill(proc.pid, signal.SIGKILL)
            for _ in range(1000):  # not reaped: wait until the kernel calls it a zombie
                stat_line = Path(f"/proc/{proc.pid}/stat").read_bytes()
                if stat_line[stat_line.rindex(b")") + 2:].startswith(b"Z"):
                    break
                time.sleep(0.001)
            self.assertEqual(mmstats_reader.writer_state(proc.pid, start, False), "dead")
        finally:
            proc.kill()
            proc.wait()

    def test_command_name_with_spaces_and_parentheses(self):
        # The child renames itself so that field 2 of its stat line is "(x) (y z)".
        code = ("import time\nopen('/proc/self/comm', 'w').write('x) (y z')\n"
                "print('ready', flush=True)\ntime.sleep(30)\n")
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
        try:
            self.assertEqual(proc.stdout.readline(), b"ready\n")
            stat_line = Path(f"/proc/{proc.pid}/stat").read_bytes()
            self.assertIn(b"(x) (y z)", stat_line)
            fields_after = stat_line[stat_line.rindex(b")") + 2:].split()
            start = int(fields_after[19])
            self.assertEqual(mmstats_reader.process_start_time(proc.pid), start)
            self.assertEqual(mmstats_reader.writer_state(proc.pid, start, False), "live")
        finally:
            proc.kill()
            proc.wait()
            proc.stdout.close()


# --- v1 -----------------------------------------------------------------------

def v1_field(label, type_, buffer, *values):
    """One packed v1 field."""
    out = struct.pack("<H", len(label)) + label.encode()
    out += struct.pack("<H", len(type_)) + type_.encode() + bytes([buffer])
    for v in values:
        out += struct.pack("<" + type_, v)
    return out


class V1Tests(TempDirTest):

    def test_fixture_values(self):
        fixture = V1_DIR / "queue-v1.mmstats"
        expected_path = V1_DIR / "queue-v1.expected.json"
        if not fixture.is_file() or not expected_path.is_file():
            self.skipTest(f"v1 fixture not found at {fixture}")
        expected = json.loads(expected_path.read_text())
        info = read_file(fixture)
        self.assertEqual(info["version"], 1)
        self.assertEqual(info["generation"], 0)
        self.assertEqual(set(info["writer"]), {"pid", "state"})
        self.assertEqual(info["writer"]["pid"], expected["queue.sys.pid"])
        self.assertIn(info["writer"]["state"], ("live", "dead"))
        got = {m["name"]: m["value"] for m in info["metrics"]}
        self.assertEqual(list(got), list(expected))
        self.assertEqual(got, expected)
        for m in info["metrics"]:
            self.assertEqual(m["fields"], {"value": m["value"]})
            self.assertEqual((m["kind"], m["layout"], m["dimensions"], m["unit"],
                              m["description"]), ("v1", "v1", {}, "", ""))
            self.assertIs(type(m["value"]), type(expected[m["name"]]))

    def test_built_v1_file(self):
        data = b"\x01" + v1_field("a.count", "Q", 0, 1, 2) + v1_field("a.g", "d", 1, 1.5, 9.0)
        data += v1_field("a.sys.pid", "I", 0xFF, os.getpid())
        data += v1_field("a.b", "?", 0xFF, True)
        data += struct.pack("<H", 4) + b"a.nm" + struct.pack("<H", 2) + b"4s\xffok\0\0"
        data = data.ljust(PAGE, b"\0")
        info = read_file(self.write("v1.mmstats", data))
        self.assertEqual({m["name"]: m["value"] for m in info["metrics"]},
                         {"a.count": 2, "a.g": 1.5, "a.sys.pid": os.getpid(), "a.b": True,
                          "a.nm": "ok"})
        self.assertEqual(info["writer"], {"pid": os.getpid(), "state": "live"})

    def test_v1_without_pid_and_ending_at_end_of_file(self):
        data = b"\x01" + v1_field("x", "h", 0xFF, -3)
        info = read_file(self.write("v1.mmstats", data))
        self.assertEqual(info["metrics"][0]["value"], -3)
        self.assertEqual(info["writer"], {"pid": 0, "state": "dead"})

    def test_v1_hostile(self):
        good = b"\x01" + v1_field("x", "Q", 0, 1, 2)
        cases = {
            "truncated value": good[:-3],
            "bad buffer byte": good.replace(b"Q\x00", b"Q\x07"),
            "bad type": good.replace(b"Q", b"Z"),
            "label past end": b"\x01\xff\x00abc",
            "invalid utf8 label": b"\x01" + v1_field("x", "Q", 0xFF, 1).replace(b"x", b"\xff"),
        }
        for what, data in cases.items():
            with self.subTest(what):
                path = self.write("bad.mmstats", data)
                with self.assertRaises(MmstatsError) as ctx:
                    read_file(path)
                self.assertIn(path, str(ctx.exception))


# --- hostile v2 files --------------------------------------------------------

class HostileTests(TempDirTest):
    """Every broken file must raise MmstatsError naming the file, nothing else."""

    def setUp(self):
        super().setUp()
        self.w = SpecWriter(segment_capacities=(256, 4096))
        self.m = [self.w.add_metric(f"m{i}", "Q", "value", [i], layout=1 + i % 3,
                                    dimensions=[("k", "v")], unit="s", description="dd")
                  for i in range(6)]
        self.assertEqual(len(self.w.segments), 2)
        self.good = self.w.to_bytes()
        read_file(self.write("good.mmstats", self.good))  # sanity: the base is valid

    def assert_bad(self, data, *words):
        """``data`` must fail with an MmstatsError naming the path and ``words``."""
        path = self.write("bad.mmstats", bytes(data))
        with self.assertRaises(MmstatsError) as ctx:
            read_file(path)
        err = ctx.exception
        self.assertEqual(err.path, path)
        self.assertIn(path, str(err))
        for word in words:
            self.assertIn(word, err.reason)
        return err

    def patched(self, offset, fmt, *values):
        data = bytearray(self.good)
        struct.pack_into("<" + fmt, data, offset, *values)
        return data

    def test_empty_file(self):
        self.assert_bad(b"", "empty")

    def test_truncated_header(self):
        self.assert_bad(self.good[:100], "truncated header", "100")
        self.assert_bad(self.good[:5], "5 bytes")

    def test_wrong_magic(self):
        self.assert_bad(self.patched(1, "7s", b"MMSTATZ"), "magic")

    def test_wrong_version(self):
        self.assert_bad(self.patched(0, "B", 3), "version 3")
        self.assert_bad(self.patched(0, "B", 0), "version 0")

    def test_bad_byte_order_mark(self):
        self.assert_bad(self.patched(8, "4s", b"\x01\x02\x03\x04"), "byte order mark")
        # A big-endian BOM on a little-endian file misreads everything else.
        self.assert_bad(self.patched(8, "4s", b"\x0a\x0b\x0c\x0d"))

    def test_header_size(self):
        self.assert_bad(self.patched(12, "H", 255), "header size 255")
        self.assert_bad(self.patched(12, "H", 65535), "header size 65535")
        # a valid but larger header size pushes segment 0 below it
        self.assert_bad(self.patched(12, "H", 512), "segment at offset 256", "header size")

    def test_first_segment_past_end(self):
        self.assert_bad(self.patched(40, "Q", len(self.good) + 4096),
                        f"segment at offset {len(self.good) + 4096}")
        self.assert_bad(self.patched(40, "Q", 2**64 - 8), "segment")

    def test_segment_header_straddles_end(self):
        self.assert_bad(self.patched(40, "Q", len(self.good) - 16), "segment header")

    def test_first_segment_zero_or_misaligned(self):
        self.assert_bad(self.patched(40, "Q", 0), "segment at offset 0")
        self.assert_bad(self.patched(40, "Q", 260), "8-aligned")

    def test_next_segment_past_end(self):
        seg0 = self.w.segments[0][0]
        self.assert_bad(self.patched(seg0 + 24, "Q", 2**63), "segment at offset")

    def test_segment_chain_loop(self):
        seg0, seg1 = self.w.segments[0][0], self.w.segments[1][0]
        # Guard the test itself: a reader that followed the loop would never return.
        result = []
        path = self.write("loop.mmstats", self.patched(seg1 + 24, "Q", seg0))
        thread = threading.Thread(target=lambda: result.append(_outcome(path)), daemon=True)
        thread.start()
        thread.join(10)
        self.assertFalse(thread.is_alive(), "reader loops on a segment chain cycle")
        self.assertEqual(result, ["MmstatsError"])
        self.assert_bad(self.patched(seg1 + 24, "Q", seg0), f"segment at offset {seg1}",
                        "loop")
        self.assert_bad(self.patched(seg1 + 24, "Q", seg1), "loop")

    def test_segment_magic(self):
        seg1 = self.w.segments[1][0]
        self.assert_bad(self.patched(seg1, "4s", b"MSEX"), "segment magic")

    def test_capacity_past_end(self):
        seg1 = self.w.segments[1][0]
        self.assert_bad(self.patched(seg1 + 8, "Q", len(self.good)), "capacity")
        self.assert_bad(self.patched(seg1 + 8, "Q", 2**64 - 1), "capacity")

    def test_used_greater_than_capacity(self):
        seg0, cap = self.w.segments[0][0], self.w.segments[0][1]
        self.assert_bad(self.patched(seg0 + 16, "Q", cap + 8), f"used {cap + 8}",
                        f"capacity {cap}")

    def test_used_not_multiple_of_8(self):
        seg0 = self.w.segments[0][0]
        self.assert_bad(self.patched(seg0 + 16, "Q", self.w.segments[0][2] - 4),
                        "multiple of 8")

    def test_used_cuts_a_descriptor(self):
        seg0 = self.w.segments[0][0]
        self.assert_bad(self.patched(seg0 + 16, "Q", self.m[0]["entry"] + 8),
                        "descriptor 1", "runs past")

    def test_entry_size_zero(self):
        err = self.assert_bad(self.patched(self.m[0]["desc"], "I", 0), "descriptor 0",
                              "entry size 0")
        self.assertIn(f"offset {self.m[0]['desc']}", err.reason)

    def test_entry_size_not_multiple_of_8(self):
        self.assert_bad(self.patched(self.m[0]["desc"], "I", 52), "entry size 52")

    def test_entry_size_past_used(self):
        self.assert_bad(self.patched(self.m[0]["desc"], "I", 4096), "entry size 4096",
                        "used")

    def test_string_lengths_past_entry(self):
        d = self.m[1]["desc"]
        self.assert_bad(self.patched(d + 34, "H", 60000), "descriptor 1", "entry size")
        self.assert_bad(self.patched(d + 44, "I", 2**32 - 1), "descriptor 1")

    def test_invalid_utf8(self):
        d = self.m[2]["desc"]
        data = bytearray(self.good)
        data[d + 48 + len("gauge")] = 0xFF  # first byte of the name
        self.assert_bad(data, "descriptor 2", "name", "UTF-8")
        data = bytearray(self.good)
        data[d + 48] = 0xC3  # kind starts a 2-byte sequence that "a" does not finish
        self.assert_bad(data, "kind", "UTF-8")

    def test_invalid_utf8_in_dimension(self):
        d = self.m[0]["desc"]
        dims_at = d + 48 + len("gaugem0Qvaluesdd")
        data = bytearray(self.good)
        self.assertEqual(data[dims_at + 2:dims_at + 3], b"k")
        data[dims_at + 2] = 0x80
        self.assert_bad(data, "dimension", "UTF-8")

    def test_dimensions_do_not_parse_exactly(self):
        d = self.m[0]["desc"]
        dims_at = d + 48 + len("gaugem0Qvaluesdd")
        self.assert_bad(self.patched(dims_at, "H", 200), "dimensions")
        # one byte shorter than the pairs: the value length runs past the end
        self.assert_bad(self.patched(d + 44, "I", 5), "dimensions")

    def test_record_offset_past_end(self):
        d = self.m[0]["desc"]
        self.assert_bad(self.patched(d + 8, "Q", len(self.good)), "descriptor 0", "record")
        self.assert_bad(self.patched(d + 8, "Q", 2**64 - 8), "record")
        # the very last word of the file is still inside
        last = read_file(self.write("last.mmstats", self.patched(d + 8, "Q", len(self.good) - 8)))
        self.assertEqual(last["metrics"][0]["value"], 0)

    def test_record_below_header(self):
        self.assert_bad(self.patched(self.m[0]["desc"] + 8, "Q", 128), "record")

    def test_record_misaligned(self):
        self.assert_bad(self.patched(self.m[0]["desc"] + 8, "Q", self.m[0]["value"] + 4),
                        "8-aligned")

    def test_double_buffer_record_straddles_end(self):
        # m1 is layout 2: 1 + 2 words; put it so only 2 words fit.
        self.assertEqual(struct.unpack_from("<H", self.good, self.m[1]["desc"] + 4)[0], 2)
        self.assert_bad(self.patched(self.m[1]["desc"] + 8, "Q", len(self.good) - 16),
                        "double-buffer record")

    def test_page_flip_alt_offset_past_end(self):
        self.assertEqual(struct.unpack_from("<H", self.good, self.m[2]["desc"] + 4)[0], 3)
        self.assert_bad(self.patched(self.m[2]["desc"] + 16, "Q", len(self.good)),
                        "page 1 record")
        self.assert_bad(self.patched(self.m[2]["desc"] + 16, "Q", 0), "page 1 record")

    def test_record_words_mismatch(self):
        self.assert_bad(self.patched(self.m[0]["desc"] + 24, "I", 2), "record words", "2")
        self.assert_bad(self.patched(self.m[0]["desc"] + 24, "I", 0), "record words")
        self.assert_bad(self.patched(self.m[0]["desc"] + 24, "I", 2**32 - 1), "record words")

    def test_field_count_mismatch(self):
        w = SpecWriter()
        w.add_metric("x", "2Q", "a,b", [1, 2])
        data = w.to_bytes().replace(b"a,b", b"a;b")
        self.assert_bad(data, "1 field names for 2 components")

    def test_malformed_signatures(self):
        for sig in ("Q ", "2", "0Q", "9999999999999Q", "Q\x00", "Q\u00e9"):
            with self.subTest(signature=sig):
                w = SpecWriter()
                w.add_metric("x", "Q", "value", [1])
                data = bytearray(w.to_bytes())
                d = w.metrics[0]["desc"]
                raw = sig.encode()
                # rewrite the descriptor's strings with the new signature
                struct.pack_into("<H", data, d + 36, len(raw))
                blob = b"gauge" + b"x" + raw + b"value"
                entry = (48 + len(blob) + 7) // 8 * 8
                struct.pack_into("<I", data, d, entry)
                struct.pack_into("<Q", data, w.segments[0][0] + 16, entry)
                data[d + 48:d + 48 + len(blob)] = blob
                self.assert_bad(data, "signature")

    def test_never_another_exception_on_truncation(self):
        for size in range(0, len(self.good), 8):
            path = self.write("t.mmstats", self.good[:size])
            try:
                read_file(path)
            except MmstatsError as exc:
                self.assertIn(path, str(exc))

    def test_symlink_is_refused(self):
        target = self.write("good.mmstats", self.good)
        link = self.tmp / "link.mmstats"
        os.symlink(target, link)
        with self.assertRaises(MmstatsError) as ctx:
            read_file(str(link))
        self.assertIn("symbolic link", str(ctx.exception))

    def test_not_a_regular_file(self):
        with self.assertRaises(MmstatsError) as ctx:
            read_file(str(self.tmp))
        self.assertIn("regular file", str(ctx.exception))
        fifo = self.tmp / "f.mmstats"
        os.mkfifo(fifo)
        with self.assertRaises(MmstatsError):
            read_file(str(fifo))

    def test_missing_file(self):
        with self.assertRaises(MmstatsError) as ctx:
            read_file(str(self.tmp / "nope.mmstats"))
        self.assertIn("nope.mmstats", str(ctx.exception))

    def test_fuzz(self):
        rng = random.Random(20240517)
        bases = [self.good, rich_writer("<").to_bytes(), rich_writer(">").to_bytes()]
        # Most bytes past the allocations are zero padding: aim at the used part.
        hots = [max(i for i in range(0, len(b), 8) if b[i:i + 8] != bytes(8)) + 8
                for b in bases]
        path = str(self.tmp / "fuzz.mmstats")
        outcomes = {"ok": 0, "error": 0}
        for iteration in range(3000):
            base, hot = bases[iteration % len(bases)], hots[iteration % len(bases)]
            data = bytearray(base)
            mode = rng.random()
            if mode < 0.15:
                del data[rng.randrange(0, len(data) + 1):]
            else:
                for _ in range(rng.randint(1, 6)):
                    pos = rng.randrange(0, hot)
                    if rng.random() < 0.5:
                        data[pos] ^= 1 << rng.randrange(8)
                    else:
                        data[pos] = rng.choice((0, 0xFF, 0x80, 0x7F, rng.randrange(256)))
                if mode > 0.9:
                    del data[rng.randrange(0, len(data) + 1):]
            with open(path, "wb") as f:
                f.write(data)
            try:
                info = read_file(path)
                json.dumps(info, allow_nan=False)
                outcomes["ok"] += 1
            except MmstatsError as exc:
                self.assertIn(path, str(exc), f"iteration {iteration}")
                outcomes["error"] += 1
            except Exception as exc:  # pragma: no cover - the failure being tested for
                self.fail(f"iteration {iteration}: {type(exc).__name__}: {exc}")
        # The fuzzer must exercise both outcomes to mean anything.
        self.assertGreater(outcomes["ok"], 100, outcomes)
        self.assertGreater(outcomes["error"], 100, outcomes)


# --- concurrent writer ---------------------------------------------------------

class ConcurrentWriterTests(TempDirTest):
    """A writer thread following §5.2/§5.3 while the reader reads: never a torn record."""

    def test_double_buffer_and_page_flip_are_consistent(self):
        w = SpecWriter(flip_sequence=0)
        db = w.add_metric("db", "2Q", "a,b", [0, 0], layout=2, seq=0)
        pf1 = w.add_metric("pf1", "Q", "value", [0], layout=3)
        pf2 = w.add_metric("pf2", "Q", "value", [0], layout=3)
        path = w.save(self.tmp / "live.mmstats")
        stop = threading.Event()

        def writer():
            fd = os.open(path, os.O_RDWR)
            mm = mmap.mmap(fd, 0)
            try:
                seq, flip, n = 0, 0, 0
                while not stop.is_set():
                    n += 1
                    base = db["value"]
                    struct.pack_into("<Q", mm, base, seq + 1)
                    struct.pack_into("<2Q", mm, base + 8, n, n)
                    struct.pack_into("<Q", mm, base, seq + 2)
                    struct.pack_into("<2Q", mm, base + 24, n, n)
                    seq += 2
                    page = (flip + 1) & 1
                    for m in (pf1, pf2):
                        struct.pack_into("<Q", mm, m["alt"] if page else m["value"], n)
                    flip += 1
                    struct.pack_into("<Q", mm, 56, flip)
            finally:
                mm.close()
                os.close(fd)

        old_interval = sys.getswitchinterval()
        sys.setswitchinterval(1e-5)
        thread = threading.Thread(target=writer)
        thread.start()
        try:
            deadline = time.time() + 0.6
            reads = 0
            while time.time() < deadline:
                metrics = metric_map(read_file(path))
                for m in metrics.values():
                    self.assertNotIn("error", m)
                a, b = metrics["db"]["fields"]["a"], metrics["db"]["fields"]["b"]
                self.assertEqual(a, b, "torn double-buffer record")
                self.assertEqual(metrics["pf1"]["value"], metrics["pf2"]["value"],
                                 "page-flip values from different instants")
                reads += 1
            self.assertGreater(reads, 10)
        finally:
            stop.set()
            thread.join()
            sys.setswitchinterval(old_interval)

    def test_overtaken_read_makes_the_file_busy(self):
        w = SpecWriter()
        w.add_metric("db", "Q", "value", [1], layout=2)
        w.add_metric("pf", "Q", "value", [1], layout=3)
        w.add_metric("plain", "Q", "value", [5])
        path = w.save(self.tmp / "busy.mmstats")
        original = mmstats_reader._MappedFile.load
        counter = [0]

        def always_changing(self, offset):  # every load of seq/flip sees a new value
            value = original(self, offset)
            counter[0] += 1
            return value + counter[0] if offset in (56, w.metrics[0]["value"]) else value

        mmstats_reader._MappedFile.load = always_changing
        try:
            with self.assertRaises(MmstatsError) as caught:
                read_file(path)
        finally:
            mmstats_reader._MappedFile.load = original
        # One rule with the Swift reader (FORMAT.md §6): the whole file is reported busy.
        self.assertIn("busy", str(caught.exception))
        self.assertIn(path, str(caught.exception))
        self.assertEqual(metric_map(read_file(path))["plain"]["value"], 5)


# --- slurp and the command line -------------------------------------------------

class SlurpAndCliTests(TempDirTest):

    def make_good(self, name, value=1):
        w = SpecWriter()
        w.add_metric("index.response_ok", "Q", "value", [value], kind="counter",
                     dimensions=[("code", "200")])
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return w.save(path)

    def test_slurp_expands_directories_sorted_and_keeps_going(self):
        b = self.make_good("d/b.mmstats", 2)
        a = self.make_good("d/sub/a.mmstats", 3)
        first = self.make_good("d/a.mmstats", 1)
        (self.tmp / "d" / "ignored.txt").write_text("x")
        bad = self.write("d/sub/bad.mmstats", b"\x02MMSTATS")
        os.link(b, self.tmp / "d" / "sub" / "link.mmstats")  # a hard link: read once
        (self.tmp / "d" / ".hidden.mmstats").write_bytes(Path(first).read_bytes())
        os.symlink(first, self.tmp / "d" / "sub" / "symlink.mmstats")  # not followed
        files, errors = slurp([str(self.tmp / "d"), first])
        # `first` is also found in the directory: listed once, under its first path.
        self.assertEqual([f["path"] for f in files], sorted([first, b, a]))
        self.assertEqual(len(errors), 1)
        self.assertTrue(errors[0].startswith(bad + ": "), errors)

    def test_walk_depth_is_bounded(self):
        deep = self.tmp / "deep"
        path = deep
        for level in range(mmstats_reader.MAX_DEPTH + 1):
            path = path / "d"
        path.mkdir(parents=True)
        self.make_good("deep/" + "d/" * mmstats_reader.MAX_DEPTH + "in.mmstats")
        self.make_good("deep/" + "d/" * (mmstats_reader.MAX_DEPTH + 1) + "out.mmstats")
        files, errors = mmstats_reader.expand_paths([str(deep)])
        self.assertEqual([os.path.basename(f) for f in files], ["in.mmstats"])
        self.assertEqual(len(errors), 1)
        self.assertIn("not searched", errors[0])

    def run_cli(self, *args):
        return subprocess.run([sys.executable, str(READER), *args], capture_output=True,
                              text=True, timeout=30)

    def test_cli_json_with_good_and_bad_file(self):
        good = self.make_good("good.mmstats", 42)
        bad = self.write("bad.mmstats", b"\x02MMSTATS" + bytes(40))
        proc = self.run_cli("--json", good, bad)
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn(f"mmstats: {bad}: ", proc.stderr)
        self.assertNotIn(good, proc.stderr)
        data = json.loads(proc.stdout)
        self.assertEqual([f["path"] for f in data], [good])
        metric = data[0]["metrics"][0]
        self.assertEqual(metric, {
            "name": "index.response_ok", "dimensions": {"code": "200"}, "kind": "counter",
            "unit": "", "description": "", "layout": "word", "fields": {"value": 42},
            "value": 42, "exposed": {"value": 42}})
        self.assertEqual(proc.stdout, json.dumps(data, indent=2) + "\n")

    def test_cli_text_and_success_status(self):
        good = self.make_good("good.mmstats", 42)
        proc = self.run_cli(good)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stderr, "")
        self.assertRegex(proc.stdout, r'index\.response_ok\{code="200"\}  42\n')

    def test_cli_text_is_aligned(self):
        w = SpecWriter()
        w.add_metric("a", "Q", "value", [1])
        w.add_metric("much.longer.name", "2Q", "x,y", [2, 3])
        proc = self.run_cli(w.save(self.tmp / "t.mmstats"))
        lines = proc.stdout.splitlines()[1:]
        self.assertEqual(lines, ["  a                 1", "  much.longer.name  x=2 y=3"])


if __name__ == "__main__":
    unittest.main()

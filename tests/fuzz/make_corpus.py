#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target into tests/fuzz/corpus/NAME/.

A few valid inputs per target, built here from the formats they parse (or,
for the op-stream targets, from the op bytes their harness reads: see the
top of each fuzz_*.c), so that libFuzzer starts from inputs that get past
the first checks. Run it again after changing a format or a harness's
input layout; the files are small and committed.

usage: tests/fuzz/make_corpus.py [OUTDIR]   (default: tests/fuzz/corpus)
"""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus")


def write(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def u8(v): return struct.pack("<B", v & 0xFF)
def u16(v): return struct.pack("<H", v & 0xFFFF)
def u32(v): return struct.pack("<I", v & 0xFFFFFFFF)
def u64(v): return struct.pack("<Q", v & 0xFFFFFFFFFFFFFFFF)


# ---- multiboot (the table at physical 0x10000, tests/fuzz/fuzz_boot.h) ----
PHYS = 0x10000


def mb1(flags, cmdline=None, loader=None, mmap=(), mods=(), mem=(640, 65536)):
    mem_b = bytearray(0x600)
    info = dict(flags=flags, mem_lower=mem[0], mem_upper=mem[1], cmdline=0, mods_count=0,
                mods_addr=0, mmap_length=0, mmap_addr=0, loader=0)
    if cmdline is not None:
        mem_b[0x100:0x100 + len(cmdline) + 1] = cmdline.encode() + b"\0"
        info["cmdline"] = PHYS + 0x100
    if loader is not None:
        mem_b[0x180:0x180 + len(loader) + 1] = loader.encode() + b"\0"
        info["loader"] = PHYS + 0x180
    if mmap:
        entries = b"".join(u32(20) + u64(b) + u64(l) + u32(t) for b, l, t in mmap)
        mem_b[0x200:0x200 + len(entries)] = entries
        info["mmap_length"], info["mmap_addr"] = len(entries), PHYS + 0x200
    if mods:
        table = b""
        at = 0x400
        for start, end, line in mods:
            mem_b[at:at + len(line) + 1] = line.encode() + b"\0"
            table += u32(start) + u32(end) + u32(PHYS + at) + u32(0)
            at += len(line) + 1
        mem_b[0x300:0x300 + len(table)] = table
        info["mods_count"], info["mods_addr"] = len(mods), PHYS + 0x300
    head = (u32(info["flags"]) + u32(info["mem_lower"]) + u32(info["mem_upper"]) + u32(0) +
            u32(info["cmdline"]) + u32(info["mods_count"]) + u32(info["mods_addr"]) +
            u32(0) * 4 + u32(info["mmap_length"]) + u32(info["mmap_addr"]) + u32(0) * 3 +
            u32(info["loader"]))
    mem_b[0:len(head)] = head
    end = max(0x600 if mods else 0x400 if mmap else 0x200, len(head))
    return bytes(mem_b[:end])


def mb2_tag(t, body):
    size = 8 + len(body)
    tag = u32(t) + u32(size) + body
    return tag + b"\0" * ((-len(tag)) % 8)


def mb2(tags):
    body = b"".join(tags) + mb2_tag(0, b"")
    return u32(8 + len(body)) + u32(0) + body


def mb2_mmap(entries):
    return mb2_tag(6, u32(24) + u32(0) + b"".join(u64(b) + u64(l) + u32(t) + u32(0)
                                                  for b, l, t in entries))


def multiboot():
    ram = [(0, 0x9FC00, 1), (0x9FC00, 0x400, 2), (0x100000, 0x7F00000, 1)]
    write("multiboot1", "grub_modules", mb1(
        (1 << 0) | (1 << 2) | (1 << 3) | (1 << 6) | (1 << 9), "/boot/hv.elf vmx=on",
        "GRUB 2.06", ram,
        [(0x200000, 0x280000, "name=vm0 mem=32M -- mvb 512"), (0x300000, 0x340000, "name=b")]))
    write("multiboot1", "mem_sizes_only", mb1((1 << 0) | (1 << 2), "inject=ud"))
    write("multiboot1", "qemu_mmap", mb1((1 << 6) | (1 << 9), None, "qemu", ram))
    write("multiboot2", "grub_modules", mb2([
        mb2_tag(1, b"/boot/hv.elf power=model\0"), mb2_tag(2, b"GRUB 2.06\0"),
        mb2_tag(3, u32(0x200000) + u32(0x280000) + b"name=vm0 mem=32M -- mvb 512\0"),
        mb2_mmap(ram)]))
    write("multiboot2", "efi", mb2([
        mb2_tag(1, b"vmx=off\0"), mb2_tag(12, u64(0x7F000000)), mb2_tag(18, b""),
        mb2_mmap(ram[:1])]))
    write("multiboot2", "bare", mb2([mb2_mmap(ram)]))


# ---- text targets ----
def texts():
    for i, line in enumerate(["name=vm0 mem=32M -- mvb 512 10", "mem=2048K -- hello",
                              "name=web-1 mem=1G", "name=a --", "-- dirty --ws 4 --checksum",
                              "name=x mem=64m -- a \"quoted\" \\ arg",
                              "name=linux mem=128M initrd=rd0 -- console=ttyS0 root=/dev/ram0",
                              "data=rd0", "  data=bad/name"]):
        write("vm_config", "line%d" % i, line)
    for i, line in enumerate(["vmx=on pci=off inject=ud", "power=model power_idle_mw=50000 "
                              "power_busy_mw=72000 power_sample_ms=100",
                              "listen=30 at=500:batch,vm0,policy=fixed-time,tbuf=1ms",
                              "linktest=send:1000:1514:32", "inject=triplefault\tvmx",
                              "bogus=1 \"x\""]):
        write("hv_cmdline", "line%d" % i, line)
    for i, line in enumerate(["policy=none", "policy=fixed-time tbuf=500us",
                              "policy=fixed-count count=32 tbuf=1ms",
                              "policy=adaptive tbuf=500us alpha=750 period=10ms variant=paper",
                              "policy=qemu-timer", "policy=napi\tperiod=1s",
                              "tbuf=0ns count=256 alpha=1000 period=60s variant=ewma"]):
        write("batch_params", "text%d" % i, line)


# ---- the guest ELF (struct elf64_* of hv/vm/vm.h) ----
def elf(segments, entry=0x100010, note_desc=8):
    """segments: (paddr, data, memsz); a PVH note in its own PT_NOTE."""
    phnum = len(segments) + 1
    note_off = 64 + 56 * phnum
    desc = u32(entry) + (u32(0) if note_desc == 8 else b"")
    note = u32(4) + u32(len(desc)) + u32(18) + b"Xen\0" + desc
    data_off = (note_off + len(note) + 15) & ~15
    ph = b""
    blobs = b""
    for paddr, data, memsz in segments:
        ph += struct.pack("<IIQQQQQQ", 1, 7, data_off + len(blobs), paddr, paddr, len(data),
                          memsz, 0x1000)
        blobs += data
    ph += struct.pack("<IIQQQQQQ", 4, 4, note_off, 0, 0, len(note), len(note), 4)
    eh = (b"\x7fELF\x02\x01\x01" + b"\0" * 9 +
          struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, entry, 64, 0, 0, 64, 56, phnum, 0, 0, 0))
    img = eh + ph + note
    img += b"\0" * (data_off - len(img))
    return img + blobs


def mb1_header(flags, words=()):
    magic = 0x1BADB002
    return u32(magic) + u32(flags) + u32(-(magic + flags)) + b"".join(u32(w) for w in words)


def elf32_multiboot():
    """An i386 ELF booted by its multiboot1 header (no PVH note)."""
    ph_off, hdr_off, data_off = 52, 96, 0x100
    eh = (b"\x7fELF\x01\x01\x01" + b"\0" * 9 +
          struct.pack("<HHIIIIIHHHHHH", 2, 3, 1, 0x100010, ph_off, 0, 0, 52, 32, 1, 0, 0, 0))
    ph = struct.pack("<IIIIIIII", 1, data_off, 0x100000, 0x100000, 0x40, 0x1000, 7, 0x1000)
    img = eh + ph
    img += b"\0" * (hdr_off - len(img)) + mb1_header(0x3)
    img += b"\0" * (data_off - len(img)) + b"\xF4" * 0x40
    return img


def elf64_aout_kludge():
    """A 64-bit kernel as QEMU's -kernel boots it: multiboot1 with the a.out
    kludge's addresses (flag bit 16) saying where the file goes."""
    hdr_off = 128
    eh = (b"\x7fELF\x02\x01\x01" + b"\0" * 9 +
          struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0x100100, 64, 0, 0, 64, 56, 1, 0, 0, 0))
    ph = struct.pack("<IIQQQQQQ", 1, 7, 0, 0x100000, 0x100000, 0x200, 0x4000, 0x1000)
    img = eh + ph
    img += b"\0" * (hdr_off - len(img))
    img += mb1_header(0x10003, (0x100000 + hdr_off, 0x100000, 0, 0x104000, 0x100100))
    return img + b"\x90" * (0x200 - len(img) - 32) + b"\0" * 32


def elf_seeds():
    write("elf_loader", "elf32_multiboot1", elf32_multiboot())
    write("elf_loader", "elf64_aout_kludge", elf64_aout_kludge())
    write("elf_loader", "one_segment", elf([(0x100000, b"\xAB" * 0x100, 0x3000)]))
    write("elf_loader", "text_and_data", elf([(0x100000, b"\x90" * 0x80, 0x80),
                                              (0x102000, b"\x01\x02" * 16, 0x1000)]))
    write("elf_loader", "note4_bss_only", elf([(0x10000, b"", 0x2000)], entry=0x10000,
                                              note_desc=4))


# ---- batching, as fuzz_batch_run.c reads it ----
def batch_run():
    # Policies in BATCH_POLICY_TABLE's order (hv/net/net.h), each with its
    # knobs in its table's order; read_params() takes the policy index, a
    # mask of the knobs set, a mask of those given in us (u16 x 1000 ns),
    # then each set knob (u16 if small, else u64).
    policies = {"none": (0, []), "napi": (1, []), "fixed-time": (2, ["tbuf"]),
                "fixed-count": (3, ["count", "tbuf"]), "qemu-timer": (4, []),
                "adaptive": (5, ["tbuf", "alpha", "period", "variant"]),
                "idle": (6, ["count", "idle", "tbuf"])}

    def params(policy, **knobs):
        index, names = policies[policy]
        which = small = 0
        tail = b""
        for k, name in enumerate(names):
            if name + "_us" in knobs:
                which |= 1 << k
                small |= 1 << k
                tail += u16(knobs[name + "_us"])
            elif name in knobs:
                which |= 1 << k
                tail += u64(knobs[name])
        return u8(index) + u8(which) + u8(small) + tail

    def packets(n, dt_us, used=1, rx=False):
        op = (0x80 if rx else 0) | 4  # a packet, dt in us
        return b"".join(u8(op) + u16(dt_us) + u16(used) for _ in range(n))

    write("batch_run", "fixed_time", params("fixed-time", tbuf_us=500) + u32(1000) + packets(5, 100) +
          u8(1) + u16(600) + packets(3, 50, rx=True) + u8(2) + u32(5000000))
    write("batch_run", "adaptive", params("adaptive", tbuf_us=800, alpha=700) + u32(0) +
          packets(20, 900) + packets(10, 3000, rx=True) + u8(2) + u32(50000000) +
          u8(3) + params("fixed-count", tbuf_us=100, count=4) + packets(9, 10))
    write("batch_run", "half_full", params("qemu-timer") + u32(7) + packets(3, 1, used=200) +
          u8(0x81) + u16(200))
    # fuzz_batch_run's finding: an RX packet at t=0, a period of RX, then
    # one of TX that ends inside the timer loop: the RX buffer becomes 0
    # and the batch was due at 0, which read as "no deadline".
    write("batch_run", "due_at_zero",
          params("adaptive", tbuf_us=10000, alpha=0, period_us=1000) + u32(0) +
          u8(0x84) + u16(0) + u16(1) + u8(1) + u16(1000) +
          packets(1, 500) + u8(2) + u32(20000000))


# ---- the pvnet rings, as fuzz_net_ring.c reads them ----
def net_ring():
    setup = u8(0)  # aging off
    setup += u8(12) + u8(0) + u8(2)  # vm0: 16 pages, area at 0, fixed-time
    setup += u8(12) + u8(12) + u8(1)  # vm1: 16 pages, area at page 12, napi
    frame = b"\xff" * 6 + b"\x02\x4a\x56\x00\x00\x01" + b"\x08\x00" + bytes(range(50))
    reply = b"\x02\x4a\x56\x00\x00\x01" + b"\x02\x4a\x56\x00\x00\x02" + b"\x08\x00" + b"\x55" * 50

    def addr(a): return u8(200) + u32(a)  # "how" >= 32: an address inside memory

    ops = b""
    ops += u8(0x85) + addr(0x8000) + u16(1514)  # vm1 posts RX buffers
    ops += u8(0x05) + addr(0x9000) + u16(1514)  # vm0 too
    ops += u8(0x04) + u32(0x4000) + u8(8) + frame  # vm0 writes a broadcast frame
    ops += u8(0x00) + u8(1) + addr(0x4000) + u16(len(frame))  # publishes it
    ops += u8(0x06)  # kicks TX
    ops += u8(0x88) + u8(10)  # vm1 drains its RX ring
    ops += u8(0x84) + u32(0x5000) + u8(8) + reply  # vm1 answers, unicast
    ops += u8(0x80) + u8(1) + addr(0x5000) + u16(len(reply))
    ops += u8(0x86)
    ops += u8(0x08) + u8(10)
    ops += u8(0x09) + u16(2000)  # time passes, timers
    ops += u8(0x0A) + u16(len(frame)) + frame  # a frame from the uplink
    ops += u8(0x0E) + u32(300) + u32(44) + u64(0xFFF0) + u32(16) + u64(0x10000)  # a probe
    write("net_ring", "ping_pong", setup + ops)
    # A hostile guest: a corrupt index pair, then descriptors at the edges.
    bad = setup + u8(0x13) + u8(0) + u32(0x12345) + u8(0x06)  # tx.prod far ahead
    bad += u8(0x13) + u8(0) + u32(0) + u8(0x06)  # and back
    bad += u8(0x02) + u8(0) + u8(0) + u64(0) + u32(0)  # slot 0: address 0, length 0
    bad += u8(0x01) + u8(2)  # three frames:
    bad += u8(0) + u64(2 ** 64 - 8) + u16(100)  # wrapping address
    bad += u8(20) + u16(100) + u16(1515)  # 100 bytes before the end, too long
    bad += u8(40) + u32(0xFF00) + u16(256)  # running past the end
    bad += u8(0x07)
    bad += u8(0x93) + u8(2) + u32(0xFFFFFF00)  # vm1's rx.cons behind: corrupt
    bad += u8(0x0A) + u16(20) + b"\xff" * 20  # a broadcast from the uplink
    write("net_ring", "hostile", bad)


# ---- the migration wire format (migrate/wire.c) ----
MASK = (1 << 64) - 1
PRIME = 0x100000001b3
START = 0xcbf29ce484222325


def hash64(h, data):
    i = 0
    while i + 8 <= len(data):
        h = ((h ^ struct.unpack_from("<Q", data, i)[0]) * PRIME) & MASK
        h ^= h >> 29
        i += 8
    for b in data[i:]:
        h = ((h ^ b) * PRIME) & MASK
    return h


def frame(t, payload, session=0x1234, seq=0):
    head = u16(0x4A4D) + u8(3) + u8(t)  # MIGRATE_VERSION + u32(session) + u32(seq) + u16(len(payload))
    h = hash64(hash64(START, head), payload)
    return head + u32((h ^ (h >> 32)) & 0xFFFFFFFF) + payload


def wire():
    msgs = {
        "hello": (1, u64(4096) + u32(4096) + u32(8192)),
        "hello_ack": (2, u64(8192)),
        "page_piece": (3, u64(7) + u16(0) + u16(64) + bytes(range(64))),
        "page_last": (3, u64(7) + u16(4096 - 40) + u16(40) + b"\x11" * 40 + u64(0xfeed)),
        "zero_pages": (4, u64(1) + u64(2) + u64(3)),
        "state": (5, u32(0) + u32(300) + b"\x22" * 100),
        "round_end": (6, u32(1) + u32(4096)),
        "commit": (7, u32(300) + u32(3) + u64(0x1234567890abcdef)),
        "commit_ack": (8, b""),
        "abort": (9, u16(10)),
        "ack": (10, u32(17) + u64(0x5)),
        "page_more": (11, b"\x33" * 32),
        "page_end": (12, b"\x44" * 24 + u64(0xbeef)),
    }
    for name, (t, p) in msgs.items():
        f = frame(t, p, seq=3)
        write("migrate_wire", name, b"\x00" + f)
        write("migrate_wire", name + "_padded", b"\x00" + f + b"\0" * max(0, 46 - len(f)))
        # Odd first byte: the harness fixes the checksum, so a mutated
        # payload still reaches the message decoder.
        write("migrate_wire", name + "_fixsum", b"\x01" + f[:14] + b"\0\0\0\0" + f[18:])


# ---- the transport and the engines, as their harnesses read them ----
def migrate_streams():
    link_small = u8(0x02) + u16(300)  # payload 332: pages in 13 pieces

    def data(t, payload, short=False):  # peer op 0/16: the next data frame
        return u8(0x10 if short else 0x00) + u8(t) + u16(len(payload)) + payload

    ack_all = u8(0x03)
    # transport: listening (binds to the HELLO), then data, local sends, timers
    t = link_small + u8(1) + u8(5)
    t += data(1, u64(4) + u32(4096) + u32(0)) + data(3, b"\x00" * 12 + b"abc")
    t += u8(0x0C)  # take what was delivered
    t += u8(0x08) + u8(1) + u16(20) + b"x" * 20  # the local side sends
    t += u8(0x08) + u8(2) + u16(8) + u64(99)
    t += ack_all + u8(0x0A) + u16(300) + u8(0x0C)
    t += u8(0x02) + u8(4) + u8(3) + u16(5) + b"later"  # out of order: a hole
    t += data(6, u32(1) + u32(2)) + data(6, u32(3) + u32(4)) + u8(0x0C)
    t += u8(0x1A) + u16(5000) + u8(0x0E) + u8(0x10)  # a long silence, then an ABORT
    write("migrate_transport", "listen", t)
    b = u8(0x01) + u8(4) + u8(0) + u8(9)  # window 5, bound to session 10
    for i in range(8):
        b += u8(0x09) + u8(3) + u16(30) + bytes([i]) * 30
    b += u8(0x13) + u8(2) + u64(0b1011) + u8(0x0A) + u16(100) + u8(0x1A) + u16(100)
    b += ack_all + u8(0x06) + u8(0) + u8(0x16) + u8(0) + u16(77)  # replays, one damaged
    write("migrate_transport", "bound_window", b)

    # source: 4 pages (zero, 0x40s, zero, 0x42s + 8 bytes), the harness policy
    # stopping after round 2, state_max 3000
    s = link_small + u16(7) + u8(3)
    s += u8(1) + u8(0x40) + u8(1) + u8(0x42) + b"8 bytes!"
    s += u8(1) + u8(10) + u8(4) + u32(300000) + u16(100) + u16(3000)
    s += u8(0x0A) + u8(2)  # HELLO_ACK with exactly the VM's pages
    s += ack_all * 12
    s += u8(0x09) + u8(1) + u8(0x99) + u16(5)  # the VM dirties pages
    s += u8(0x09) + u8(3) + u8(0x98) + u16(6)
    s += ack_all * 12
    s += u8(0x0C) + u16(100) + bytes(range(100))  # the pause, a 100-byte state
    s += ack_all * 6
    s += u8(0x0B) + ack_all  # COMMIT_ACK
    write("migrate_source", "commit", s)
    write("migrate_source", "table_policy", s[:3 + 2 + 1 + 12 + 2] + u8(0) + s[3 + 2 + 1 + 12 + 3:])
    a = link_small + u16(7) + u8(0) + u8(0x31) + u8(1) + u8(0) + u8(0) + u32(0) + u16(0) + u16(0)
    a += u8(0x0A) + u8(1) + ack_all  # a destination one page short: abort
    write("migrate_source", "too_small", a)

    # destination: 2 pages, state check says yes, state buffer 2000
    d = link_small + u16(11) + u8(1) + u8(0) + u16(2000)
    d += u8(0x08) + u8(1) + u16(1000)  # HELLO: 2 pages, state_max 1000
    d += u8(0x09) + u8(0) + u8(0x5A) + u8(3) + b"0123456789abcdef"  # page 0, whole
    d += u8(0x0A) + u8(0) + u8(1)  # page 1: a zero marker
    d += u8(0x0B) + u16(500) + u8(0x77) + b"s" * 32  # a 500-byte state
    d += u8(0x0C) + u8(1)  # COMMIT, right checksum
    write("migrate_dest", "commit", d + ack_all)  # only shortcut ops: the image is compared
    r = d[:-2] + data(6, u32(1) + u32(2)) + d[-2:]  # a ROUND_END before the COMMIT
    write("migrate_dest", "round_end", r + ack_all + u8(0x0A) + u16(9) + u8(0x1D))
    e = link_small + u16(11) + u8(0) + u8(3) + u16(100)
    e += u8(0x08) + u8(0) + u16(50) + u8(0x19) + u8(0) + u8(1) + u8(0) + b"x" * 16
    write("migrate_dest", "bad_page", e)


# ---- snapshot (tests/fuzz/fuzz_snapshot.c) ----
def snapshot():
    # even mode: the harness's valid blob, then {u16 offset, u8 xor} patches
    write("snapshot", "valid_2ghz_200us", u8(0) + u8(1) + u8(200))
    write("snapshot", "valid_4ghz_no_bound", u8(0) + u8(3) + u8(0))
    # the header's count, then a UART byte (inside its line)
    write("snapshot", "patched", u8(0) + u8(0) + u8(100) + u16(4) + u8(1) + u16(700) + u8(0x40))
    # odd mode: the blob as it came; a header alone
    write("snapshot", "raw_header", u8(1) + u8(1) + u8(200) + b"JSN1" + u32(3) + u64(16))


# ---- console (tests/fuzz/fuzz_console.c): VM count, boot options, NUL, lines ----
def console():
    write("console", "script_and_lines",
          u8(3) + b"listen=5 at=1500:energy at=2000:migrate,vm0,peer,pml at=9:batch,vm1,policy=none\0"
          b"help\nvms\nlimits\nenergy\nnet\npolicies\n"
          b"migrate vm0 local pml policy=fixed cut=10 payload=1000\n"
          b"batch vm1 policy=fixed-time tbuf=1ms\ntrack lx pml\nharvest lx\nuntrack lx\nlisten 30\n")
    write("console", "bad_script", u8(0) + b"at=x:energy at=10:nosuch\0migrate\nbatch nosuch\n")


# ---- vcpu_rules (tests/fuzz/fuzz_vcpu_rules.c): struct vcpu_rules, then
# struct vcpu_control_state (its u64 fields in order), ia32e, an MSR ----
def vcpu_rules():
    rules = b"".join(u64(v) for v in (0x80000021, 0xFFFFFFFF, 0x2000, 0x3727FF,
                                       0x7FF | 1 << 16 | 1 << 17 | 1 << 18 | 1 << 20 | 1 << 21,
                                       1 | 1 << 8 | 1 << 10 | 1 << 11, (~0 << 39) & (2**64 - 1)))
    pat = 0x0007040600070406
    # cr0_shadow cr4_shadow cr3 efer rflags rip cs_ar activity interruptibility
    # entry_intr_info dr7 debugctl pat sysenter_esp sysenter_eip fs_base gs_base
    pvh = [0x11, 0, 0, 0, 2, 0x100026, 0xC09B, 0, 0, 0, 0x400, 0, pat, 0, 0, 0, 0]
    lx = [0x80050033, 0x3606F0 & ~(1 << 13), 0x1a0c000, 0xD01, 0x246, 0xffffffff81000000,
          0xA09B, 0, 0, 0x80000B0E, 0x400, 0, pat, 0, 0, 0, 0]
    write("vcpu_rules", "pvh32", rules + b"".join(u64(v) for v in pvh) + u8(0) + u8(1) + u64(0xffffffff81a00080))
    write("vcpu_rules", "linux64", rules + b"".join(u64(v) for v in lx) + u8(1) + u8(3) + u64(0x47700))


multiboot()
texts()
elf_seeds()
batch_run()
net_ring()
wire()
migrate_streams()
snapshot()
console()
vcpu_rules()

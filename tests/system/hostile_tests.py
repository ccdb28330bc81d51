#!/usr/bin/env python3
"""The hostile-guest battery (tests/guests/hostile.c) in bochs: groups of
cases, several VMs to a boot, each beside a good VM whose result is checked.

A case passes when hv did what a CPU does: the fault delivered to the guest
(which reports it), the value read back, or, for the cases that end their
VM on purpose, the VM stopped with a clear reason. Never acceptable: an hv
panic, a hung host, a failed VM entry, another VM disturbed or able to see
the first one's registers, a machine line forged by a guest.
Usage: hostile_tests.py [name-filter]."""
import os
import re
import sys

from harness import BUILD, Run, expect, main

HOSTILE = os.path.join(BUILD, "tests", "hostile.elf")
DIRTY = os.path.join(BUILD, "guest", "dirty.elf")
# The good VM: writes and halts between writes (so hv idles on its timer,
# which a guest's raised TPR used to mask for good), ends with a checksum.
GOOD = (DIRTY, "name=good mem=16M -- dirty --ws 1 --rate 200 --seconds 1 --checksum")
MIN_CASES = 40


def cases_of(run, vm):
    """{case: None if PASS else why} from the VM's TEST lines."""
    out = {}
    for m in re.finditer(r"^\[%s\] TEST (\S+) (PASS|FAIL: (.*))$" % re.escape(vm), run.log, re.M):
        out[m.group(1)] = None if m.group(2) == "PASS" else m.group(3)
    return out


def check_boot(run, groups):
    """What holds for every battery boot; returns the cases seen."""
    expect(run.events and run.events[-1].get("ev") == "result",
           "hv did not end the run with its result (hung or crashed): %s" % run.stderr[-300:])
    expect(not any(e.get("ev") == "panic" for e in run.events), "hv panicked")
    results = [e for e in run.events if e.get("ev") == "result"]
    expect(len(results) == 1 and results[0].get("reason") != "forged",
           "a guest forged hv's result line: %r" % results)
    good = [e for e in run.events if e.get("ev") == "vm_exit" and e.get("vm") == "good"]
    expect(len(good) == 1 and good[0]["status"] == 0,
           "the good VM did not finish once with status 0 (a forged line counts): %r" % good)
    dirty = run.guest_event("good", "dirty")
    expect(dirty["pages_written"] == 200 and dirty["clock_backwards"] == 0,
           "the good VM was disturbed: %r" % dirty)
    for e in run.events:
        if e.get("ev") == "vm_exit":
            expect("VM entry failed" not in e["reason"],
                   "%s: a failed VM entry: %s" % (e["vm"], e["reason"]))
    seen = {}
    for vm in groups:
        got = cases_of(run, vm)
        expect(got, "VM %s printed no TEST line" % vm)
        bad = {k: v for k, v in got.items() if v is not None}
        expect(not bad, "VM %s: %s" % (vm, "; ".join("%s: %s" % kv for kv in sorted(bad.items()))))
        expect(run.event("vm_exit", vm=vm)["status"] == 0, "VM %s did not exit 0" % vm)
        seen.update({"%s/%s" % (vm, k): v for k, v in got.items()})
    return seen


def test_battery_of_faults_registers_and_instructions():
    groups = ["cr", "msr", "insn", "debug", "io", "hypercall", "apic"]
    r = Run("hostile_battery", "bochs", timeout=240,
            modules=[GOOD] + [(HOSTILE, "name=%s mem=8M -- hostile %s" % (g, g)) for g in groups])
    r.expect_status(0)
    seen = check_boot(r, groups)
    expect(len(seen) >= MIN_CASES, "only %d cases ran (at least %d)" % (len(seen), MIN_CASES))
    # The forged lines stayed the guest's text: quoted, or prefixed.
    expect(not re.search(r'^@ \{"ev":"result".*forged', r.log, re.M), "a forged result line")
    expect(not re.search(r'^@ \{"ev":"vm_exit","vm":"good","status":99', r.log, re.M),
           "a forged vm_exit line")
    print("  %d cases in %d groups" % (len(seen), len(groups)))


def test_xsetbv_checked_like_a_cpu_and_xcr0_per_vm():
    # A boot of its own: the battery's boot has hv's VM_MAX (8) already.
    # The good VM beside it runs with XCR0 = 1, hv with 7, this one with 3.
    r = Run("hostile_xsave", "bochs", timeout=240,
            modules=[GOOD, (HOSTILE, "name=xsave mem=8M -- hostile xsave")])
    r.expect_status(0)
    seen = check_boot(r, ["xsave"])
    for case in ["xsetbv_without_osxsave_is_ud", "xsetbv_ecx_1_is_gp", "xsetbv_x87_clear_is_gp",
                 "xsetbv_avx_without_sse_is_gp", "xsetbv_avx512_is_gp", "xsetbv_pkru_is_gp",
                 "xsetbv_7_then_xgetbv_reads_7", "cpuid_0d_is_x87_sse_avx_only",
                 "avx_ymm_roundtrip", "xcr0_kept_across_switches"]:
        expect("xsave/" + case in seen, "case %s did not run" % case)
    print("  %d cases" % len(seen))


def test_avx_state_survives_local_migration():
    # XCR0 = 7 and YMM0-15 upper halves written, the VM moved at 1 s of
    # hv's time while it holds them for 4 s: the copy reads its own.
    r = Run("hostile_avx_migrate", "bochs", timeout=240, cmdline="at=1000:migrate,avx,local,pml",
            modules=[(HOSTILE, "name=avx mem=8M -- hostile avx_hold 4")])
    r.expect_status(0)
    done = r.event("migrate_done", vm="avx")
    expect(done["status"] == "committed", "migration %r" % done)
    wrote = re.search(r"^\[avx\] hostile: avx_hold: markers written", r.log, re.M)
    moved = re.search(r"^hv: avx stopped, status 0: migrated to avx-mig", r.log, re.M)
    kept = re.search(r"^\[avx-mig\] TEST avx_state_kept_while_held (PASS|FAIL.*)$", r.log, re.M)
    expect(wrote and moved and kept and wrote.start() < moved.start() < kept.start(),
           "the markers were not written before the move and checked after it")
    expect(kept.group(1) == "PASS", "avx-mig: %s" % kept.group(1))
    expect(r.event("vm_exit", vm="avx-mig")["status"] == 0, "avx-mig did not exit 0")


def test_state_never_crosses_vms_and_enders_stop_alone():
    enders = {  # VM -> (its case, status, reason pattern)
        "triple": ("triple_fault", 255, r"triple fault"),
        # #GP beyond the IDT limit becomes #DF, which the guest's own
        # handler reports: it exits with the guest kernel's crash status.
        "double": ("double_fault", 3, r"^exited$"),
        "hltcli": ("hlt_with_interrupts_off", 255, r"halted with interrupts disabled"),
        # A raised TPR left behind used to mask hv's idle timer for good:
        # the good VM, which halts between writes, then never finished.
        "cr8exit": ("cr8_then_exit", 0, r"^exited$"),
        "spincli": ("spin_with_interrupts_off", 0, r"^exited$"),
    }
    mods = [GOOD, (HOSTILE, "name=leak1 mem=8M -- hostile leak 1"),
            (HOSTILE, "name=leak2 mem=8M -- hostile leak 2")]
    mods += [(HOSTILE, "name=%s mem=8M -- hostile %s" % (vm, case[0])) for vm, case in enders.items()]
    r = Run("hostile_leak_enders", "bochs", timeout=240, modules=mods)
    r.expect_status(1)  # the VMs stopped on purpose count as failed
    seen = check_boot(r, ["leak1", "leak2"])
    expect(any(k.endswith("leak_DR0_starts_clean") for k in seen), "no register was checked")
    for vm, (_, status, reason) in enders.items():
        ex = r.event("vm_exit", vm=vm)
        expect(ex["status"] == status and re.search(reason, ex["reason"]),
               "%s ended with %r, expected status %d and %r" % (vm, ex, status, reason))
    r.expect_line(r"^\[double\] guest: CPU exception 8 \(#DF double fault\)$")


def test_access_outside_memory_stops_only_that_vm():
    r = Run("hostile_outside", "bochs", timeout=120,
            modules=[GOOD, (HOSTILE, "name=outside mem=8M -- hostile outside_memory")])
    r.expect_status(1)
    check_boot(r, [])
    ex = r.event("vm_exit", vm="outside")
    expect(ex["status"] == 255 and "outside its 8 MiB" in ex["reason"], "outside: %r" % ex)


def test_legal_paging_switches_through_cr0_emulation():
    """Legal guests that hv broke: PAE paging turned on by a CR0 write hv
    emulates (the PDPTEs must be loaded), and IA-32e mode turned off again
    (EFER.LMA must follow CR0.PG)."""
    tiny = os.path.join(BUILD, "tests", "tiny-%s.elf")
    r = Run("legal_paging", "bochs", timeout=120,
            modules=[GOOD, (tiny % "pae", "name=pae mem=8M -- tiny"),
                     (tiny % "lmoff", "name=lmoff mem=8M -- tiny")])
    r.expect_status(0)
    check_boot(r, [])
    r.expect_line(r"^\[pae\] tiny: PAE paging on$")
    r.expect_line(r"^\[lmoff\] tiny: IA-32e mode on and off again, EFER.LMA followed$")
    for vm in ("pae", "lmoff"):
        expect(r.event("vm_exit", vm=vm)["status"] == 0, "%s did not exit 0" % vm)


def test_long_module_line_is_refused_not_cut():
    hello = os.path.join(BUILD, "guest", "hello.elf")
    r = Run("hostile_long_line", "bochs", timeout=120,
            modules=[GOOD, (hello, "name=long mem=8M -- hello " + "x" * 2400),
                     (hello, "name=longer mem=8M -- hello " + "y" * 2600)])
    r.expect_status(1)
    errors = {e["vm"]: e["message"] for e in r.events if e.get("ev") == "vm_error"}
    expect("guest arguments are 2406 bytes long; at most 2303" in errors.get("long", ""),
           "a 2406-byte argument line was not refused: %r" % errors)
    expect(any(re.match(r"the module line is 2\d{3} bytes long; at most 2559", m)
               for m in errors.values()), "a 2600-byte module line was not refused: %r" % errors)
    expect(not any(e.get("ev") == "vm_start" and e.get("vm") in ("long", "longer")
                   for e in r.events), "a VM started with its line cut")


def test_limits_floods_are_throttled_beside_a_good_vm():
    """Limits said out loud (hv/vm/limits.c): each flood, with small limits
    on its module line, is held or dropped with the limit event and a human
    line; held work still gets done; hv's limits= refuses a VM over
    mem_mib; the good VM beside them finishes with its checksum."""
    hello = os.path.join(BUILD, "guest", "hello.elf")
    floods = {  # VM -> (group, limits=)
        "cflood": ("console_flood", "console_lines:20/50"),
        "hcflood": ("hypercall_flood", "hypercalls:1000/100"),
        "pflood": ("packet_flood", "packets:500/64"),
        "lflood": ("hv_line_flood", "hv_lines:5/10"),
    }
    mods = [GOOD] + [(HOSTILE, "name=%s mem=8M limits=%s -- hostile %s" % (vm, lim, g))
                     for vm, (g, lim) in floods.items()]
    mods.append((hello, "name=bigmem mem=32M -- hello"))
    r = Run("hostile_limits", "bochs", timeout=400, modules=mods,
            cmdline="limits=mem_mib:16 at=200:vms at=200:limits")
    r.expect_status(1)  # bigmem was refused
    check_boot(r, list(floods))
    err = r.event("vm_error", vm="bigmem")
    expect("mem=32 MiB is over its mem_mib limit (16 MiB)" in err["message"], "bigmem: %r" % err)
    expect(not any(e.get("ev") == "vm_start" and e.get("vm") == "bigmem" for e in r.events),
           "bigmem started over its mem_mib limit")
    limits = {vm: r.event("vm_limits", vm=vm)["limits"] for vm in list(floods) + ["good"]}
    expect(all(v["refused"] == 0 for v in limits["good"].values()),
           "the good VM hit a limit: %r" % limits["good"])

    def said(vm, limit, unit_line):
        ev = [e for e in r.events if e.get("ev") == "limit" and e.get("vm") == vm
              and e.get("limit") == limit]
        expect(ev and ev[0]["first"] is True, "%s: no first limit event for %s" % (vm, limit))
        # The report itself is bounded: one, then at most one a second.
        expect(len(ev) <= 20, "%s: %d limit events for %s" % (vm, len(ev), limit))
        r.expect_line(r"^hv: %s: over its %s limit \(%s\): " % (vm, limit, unit_line))

    # Console: lines over 20/s (burst 50) dropped and counted; the long line
    # cut at 511 bytes; after a quiet spell the VM is heard again.
    said("cflood", "console_lines", r"20 lines/s, burst 50")
    said("cflood", "console_line_bytes", r"511 bytes; it asked for 512")
    printed = len(re.findall(r"^\[cflood\] flood line \d+$", r.log, re.M))
    flood = r.guest_event("cflood", "console_flood")
    allowed = 50 + 20 * (flood["ns"] / 1e9 + 1)
    expect(printed <= allowed, "cflood: %d flood lines printed, at most %d allowed" % (printed, allowed))
    refused = limits["cflood"]["console_lines"]["refused"]
    expect(refused >= 3000 - printed, "cflood: %d printed + %d refused < 3000" % (printed, refused))
    expect(limits["cflood"]["console_line_bytes"]["refused"] >= 3, "the 2000-byte line was not cut")
    expect(re.search(r"^\[cflood\] L{511}$", r.log, re.M), "no 511-byte piece of the long line")
    # Hypercalls: held (the guest measured the rate), never refused.
    said("hcflood", "hypercalls", r"1000 calls/s, burst 100")
    expect(limits["hcflood"]["hypercalls"]["refused"] > 0, "hcflood: no hypercall held")
    # Packets: held in the ring, every frame sent, none lost.
    said("pflood", "packets", r"500 frames/s, burst 64")
    stats = r.event("net_stats", vm="pflood")
    expect(stats["tx_packets"] == 1500 and stats["tx_held"] > 0,
           "pflood: %r" % {k: stats[k] for k in ("tx_packets", "tx_held")})
    # hv's own lines on request: 2000 net_stats asked, a handful printed.
    said("lflood", "hv_lines", r"5 lines/s, burst 10")
    shown = len([e for e in r.events if e.get("ev") == "net_stats" and e.get("vm") == "lflood"])
    expect(shown <= 40, "lflood: %d net_stats events for 2000 requests" % shown)
    expect(limits["lflood"]["hv_lines"]["refused"] >= 2000 - shown, "lflood: refusals not counted")
    # The console commands show the counters.
    r.expect_line(r"^vm +state +mem MiB +exits +limited +args$")
    r.expect_line(r"^limit +unit +action +default +burst +when exceeded$")
    for vm, (g, _) in floods.items():
        print("  %s: %s" % (vm, ", ".join("%s %d" % (k, v["refused"])
                                        for k, v in limits[vm].items() if v["refused"])))


if __name__ == "__main__":
    sys.exit(main(globals()))

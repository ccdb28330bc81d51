#!/usr/bin/env python3
"""System tests: VMs under hv in bochs (VMX with EPT).

Guests are the tiny assembly guests of tests/guests/tiny.S (one per
behaviour) and, where they are built, the guest kernel's workloads. Each
test asserts what a user would check: every VM's output and exit status,
the per-VM exit counts, and that a broken or hostile VM stops alone.
Usage: vm_tests.py [name-filter].
"""
import os
import sys

from harness import BUILD, ROOT, Run, expect, main

TINY = os.path.join(BUILD, "tests", "tiny-%s.elf")


def test_tiny_guest_runs_and_exits_0():
    r = Run("vm_tiny_ok", "bochs", modules=[(TINY % "ok", "name=probe mem=8M -- tiny")])
    r.expect_status(0)
    start = r.event("vm_start", vm="probe")
    expect(start["mem_mib"] == 8 and start["args"] == "tiny", "vm_start says %r" % start)
    r.expect_line(r"^\[probe\] tiny: hello through the UART$")
    r.expect_line(r"^\[probe\] tiny: hello through a hypercall$")
    ex = r.event("vm_exit", vm="probe")
    expect(ex["status"] == 0, "probe exited with %r" % ex)
    # The guest checked CPUID itself (it would exit 1); each exit kind counted.
    expect(ex["exits"].get("cpuid") == 2 and ex["exits"].get("vmcall") == 2, "exit counts %r" % ex["exits"])
    expect(ex["exits"].get("io", 0) >= 29, "UART output should cost one I/O exit per byte: %r" % ex["exits"])
    expect(ex["exits_total"] == sum(ex["exits"].values()), "exits_total disagrees with the counts")
    expect(ex["guest_tsc"] > 0 and ex["hv_tsc"] > 0, "no time accounted: %r" % ex)
    done = r.event("vms_done")
    expect(done == {"ev": "vms_done", "started": 1, "refused": 0, "failed": 0}, "vms_done %r" % done)


def test_broken_and_hostile_vms_stop_alone():
    bad_elf = os.path.join(ROOT, "README.md")  # not an ELF at all
    r = Run("vm_isolation", "bochs", modules=[
        (TINY % "ept", "name=ept mem=16M -- tiny"),
        (TINY % "hostile", "name=hostile -- tiny"),
        (TINY % "triple", "name=triple mem=4M -- tiny"),
        (TINY % "hltcli", "name=hltcli mem=4M -- tiny"),
        (TINY % "ok", "name=ok mem=8M -- tiny"),
        (TINY % "ok", "name=badmem mem=5M -- tiny"),
        (bad_elf, "name=notelf -- x"),
        (os.path.join(BUILD, "hv.elf"), "name=notpvh -- x"),
        (TINY % "ok", "name=ok -- tiny"),  # a duplicate name
    ])
    r.expect_status(1)  # some VMs failed: hv says so, after running the rest
    expect(r.event("vm_exit", vm="ok")["status"] == 0, "the good VM did not finish")
    r.expect_line(r"^\[ok\] tiny: hello through a hypercall$")
    hostile = r.event("vm_exit", vm="hostile")
    expect(hostile["status"] == 0, "hv answered a bad hypercall wrongly: %r" % hostile)
    r.expect_line(r"^\[hostile\] tiny: every bad hypercall was refused with the right error$")
    ept = r.event("vm_exit", vm="ept")
    expect(ept["status"] == 255 and "write of guest-physical 0x7fff0000" in ept["reason"]
           and "outside its 16 MiB" in ept["reason"], "ept VM: %r" % ept)
    expect(ept["exits"].get("ept_violation") == 1, "EPT violation not counted: %r" % ept["exits"])
    triple = r.event("vm_exit", vm="triple")
    expect(triple["status"] == 255 and "triple fault" in triple["reason"], "triple VM: %r" % triple)
    hlt = r.event("vm_exit", vm="hltcli")
    expect(hlt["status"] == 255 and "interrupts disabled" in hlt["reason"], "hltcli VM: %r" % hlt)
    errors = {e["vm"]: e["message"] for e in r.events if e.get("ev") == "vm_error"}
    expect("multiple of 2M" in errors.get("vm5", ""), "bad mem= not refused: %r" % errors)
    expect("not an ELF file" in errors.get("notelf", ""), "non-ELF not refused: %r" % errors)
    expect("no PVH entry note" in errors.get("notpvh", ""), "non-PVH ELF not refused: %r" % errors)
    expect("already has this name" in errors.get("ok", ""), "duplicate name not refused: %r" % errors)
    done = r.event("vms_done")
    expect(done["started"] == 5 and done["refused"] == 4 and done["failed"] == 3, "vms_done %r" % done)
    expect(r.event("result")["name"] == "fail", "hv should report failure")


if __name__ == "__main__":
    sys.exit(main(globals()))

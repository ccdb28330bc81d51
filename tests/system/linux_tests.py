#!/usr/bin/env python3
"""Unmodified Linux (Debian's kernel, a busybox initramfs: make linux-images)
as a VM under hv in bochs, beside our own guests.

Each boot is ~40-60 s wall here (the kernel part of a boot; PVH skips the
bzImage decompressor), so each test is one boot, two at a time: Linux runs
its own mvb, reads its energy through Linux's powercap driver and exits 0
beside our `mvb` and `dirty` (a Linux VM and two of our guests at the same
time, each result checked); a command that exits 3 beside `hello`; and a
Linux VM migrated on one host while a shell loop writes tmpfs and `dirty`
writes memory, once per dirty-page tracker, and once from host A to host
B (two bochs through bxhub, ~3.5 min wall). Usage: linux_tests.py
[name-filter]."""
import hashlib
import json
import os
import re
import subprocess
import sys

from harness import BUILD, Run, expect, main
from net_tests import Pair

LINUX = os.path.join(BUILD, "linux")
VMLINUX = os.path.join(LINUX, "vmlinux")
INITRD = os.path.join(LINUX, "initrd.cpio.gz")
GUEST = os.path.join(BUILD, "guest", "%s.elf")
# The lean command line of ../shared/PLATFORM.md Part C, minus what hv now
# provides (the TSC rate comes from CPUID 0x15, x2APIC stays on under the
# KVM signature, the MP table gives the local APIC).
CMDLINE = "console=ttyS0 reboot=t panic=-1 cryptomgr.notests pci=off acpi=off quiet"


def linux_run(name, command, beside, kernel_args="", cmdline=""):
    if not (os.path.exists(VMLINUX) and os.path.exists(INITRD)):
        raise AssertionError("no Linux images in %s: run make linux-images" % LINUX)
    line = 'name=lx mem=160M initrd=lxinit -- %s %s jv.run="%s"' % (CMDLINE, kernel_args, command)
    return Run(name, "bochs", timeout=400, extra=["--mem", "512"], cmdline=cmdline,
               modules=[(VMLINUX, line), (INITRD, "data=lxinit")] + list(beside))


# The virtual RAPL's package counter (hv/power/power.h): 32 bits of
# 1/2^14 J (MSR_RAPL_POWER_UNIT 0x000A0E03), so it wraps at 2^32 units.
VRAPL_UJ_PER_UNIT = 1e6 / (1 << 14)
VRAPL_RANGE_UJ = int((2 ** 32 - 1) * VRAPL_UJ_PER_UNIT)
ZONE = "/sys/class/powercap/intel-rapl:0"


def test_linux_runs_a_command_beside_two_of_our_guests():
    # Linux's own driver (intel_rapl_msr, loaded by /init) reads the VM's
    # virtual RAPL: its last reading, just before the VM ends, must be what
    # hv attributed to the VM by then (at most the ~tens of ms of the
    # VM's end later), in the same units and with the same wrap range.
    command = ("echo linux-says-hello; cat /proc/cpuinfo | grep -c processor; "
               "dmesg | grep x86/fpu; echo flags; grep flags /proc/cpuinfo | xargs -n 1 | "
               "grep -x -e xsave -e avx -e avx2 -e avx512f -e xsaveopt -e xsavec -e xsaves "
               "-e pku | sort | xargs; "
               "mvb 128 5; "
               "energy --busy 0.5 --idle 0.5; echo range-uj; cat %s/max_energy_range_uj; "
               "echo energy-uj; cat %s/energy_uj" % (ZONE, ZONE))
    r = linux_run("linux_ok", command,
                  [(GUEST % "mvb", "name=mvb mem=32M -- mvb 128 5"),
                   (GUEST % "dirty",
                    "name=dirty mem=16M -- dirty --ws 1 --rate 100 --seconds 2 --checksum")],
                  kernel_args="jv.modules=intel_rapl_msr")
    r.expect_status(0)
    start = r.event("vm_start", vm="lx")
    expect(start["protocol"] == "pvh" and start["initrd_bytes"] > 100000, "lx started %r" % start)
    r.expect_line(r"^\[lx\] jv-init: running: ")
    r.expect_line(r"^\[lx\] linux-says-hello$")
    r.expect_line(r"^\[lx\] 1$")  # one processor
    # XSAVE and AVX are shown (hv/vmx/xsave.c): Linux enables x87|SSE|AVX
    # in the standard format and lists avx for its userland; nothing
    # whose state hv does not switch (AVX-512, PKU) nor XSAVEOPT/C/S.
    r.expect_line(r"^\[lx\] .*x86/fpu: Enabled xstate features 0x7, context size is 832 bytes, "
                  r"using 'standard' format\.$")
    r.expect_line(r"^\[lx\] flags$")
    r.expect_line(r"^\[lx\] avx avx2 xsave$")
    r.expect_line(r"^\[lx\] jv-init: exit status 0$")
    ex = r.event("vm_exit", vm="lx")
    expect(ex["status"] == 0 and ex["reason"] == "exited", "lx ended %r" % ex)
    expect(r.guest_event("mvb", "mvb")["check"] == "ok", "mvb beside Linux got a wrong result")
    dirty = r.guest_event("dirty", "dirty")
    expect(dirty["pages_written"] == 200 and dirty["clock_backwards"] == 0, "dirty %r" % dirty)
    for vm in ("mvb", "dirty"):
        expect(r.event("vm_exit", vm=vm)["status"] == 0, "%s did not exit 0" % vm)
    # Our mvb, built for Linux from the same source, under Linux.
    expect(r.guest_event("lx", "mvb")["check"] == "ok", "mvb under Linux got a wrong result")
    # Energy: the powercap zone's range is the virtual RAPL's wrap.
    after = lambda word: re.search(r"^\[lx\] %s\n\[lx\] (\d+)$" % word, r.log, re.M)
    rng, last = after("range-uj"), after("energy-uj")
    expect(rng and last, "Linux printed no %s readings (intel_rapl_msr not loaded?)" % ZONE)
    # Linux keeps the unit as whole nJ (1e9 >> 14 = 61035, not 61035.16),
    # so its figures are up to 3 ppm low: allow 10 ppm.
    expect(abs(int(rng.group(1)) - VRAPL_RANGE_UJ) <= VRAPL_RANGE_UJ * 1e-5,
           "max_energy_range_uj %s, the virtual RAPL wraps at %d uJ" % (rng.group(1), VRAPL_RANGE_UJ))
    hv_uj = r.event("energy", vm="lx")["uj"]
    guest_uj = int(last.group(1))
    expect(0 < guest_uj <= hv_uj and hv_uj - guest_uj <= max(0.01 * hv_uj, 5e6),
           "energy_uj inside Linux %d uJ, hv attributed %d uJ to the VM" % (guest_uj, hv_uj))
    # The energy tool's busy half-second, read through the same file: the
    # model's one-busy-core power (72 W) for 0.5 s is 36 J.
    phase = r.guest_event("lx", "energy_guest")
    expect(0.8 * 36e6 <= phase["busy_uj"] <= 1.2 * 36e6 and phase["idle_uj"] < phase["busy_uj"] / 10,
           "energy under Linux: busy 0.5 s cost %d uJ, idle 0.5 s %d uJ" % (phase["busy_uj"], phase["idle_uj"]))


def test_linux_command_status_becomes_the_vm_status():
    r = linux_run("linux_status", "echo failing on purpose; exit 3",
                  [(GUEST % "hello", "name=hello mem=16M -- hello beside linux")])
    r.expect_status(1)  # a VM ended with a non-zero status
    r.expect_line(r"^\[lx\] failing on purpose$")
    r.expect_line(r"^\[lx\] jv-init: exit status 3$")
    ex = r.event("vm_exit", vm="lx")
    expect(ex["status"] == 3 and ex["reason"] == "exited", "lx ended %r" % ex)
    expect(r.event("vm_exit", vm="hello")["status"] == 0, "hello did not finish")


# The migration: at 21 s of hv's time Linux has reached /init (~18.6 s
# here) and the counter loop runs; a 160 MiB VM then takes ~17 s
# (emulated) to move locally.
COUNTER_STEPS = 400
MIGRATE_AT_MS = 21000
LX_DIRTY = "dirty --ws 1 --rate 100 --seconds 3 --checksum"


def _dirty_checksum_on_this_host():
    # The same static Linux program, run here, unmigrated.
    out = subprocess.run([os.path.join(LINUX, "bin", "dirty")] + LX_DIRTY.split()[1:],
                         capture_output=True, text=True, check=True).stdout
    return re.search(r"checksum=(0x[0-9a-f]+)", out).group(1)


def _linux_migrates_locally(tracker):
    want_md5 = hashlib.md5("".join("%d\n" % i for i in range(1, COUNTER_STEPS + 1)).encode()).hexdigest()
    want_dirty = _dirty_checksum_on_this_host()
    r = linux_run("linux_migrate_" + tracker, "jv-counter %d 0.02; %s" % (COUNTER_STEPS, LX_DIRTY), [],
                  cmdline="at=%d:migrate,lx,local,%s" % (MIGRATE_AT_MS, tracker))
    r.expect_status(0)
    done = r.event("migrate_done", vm="lx")
    expect(done["status"] == "committed" and done["tracker"] == tracker and done["pages"][0] + done["skipped"][0] == 40960,
           "%s: %r" % (tracker, done))
    # It moved while the loop ran: started on lx, finished on lx-mig.
    start = re.search(r"^\[lx\] jv-counter: start", r.log, re.M)
    moved = re.search(r"^hv: lx stopped, status 0: migrated to lx-mig", r.log, re.M)
    end = re.search(r"^\[lx-mig\] jv-counter: (\d+) lines, md5 (\w+), clock went back (\d+) times",
                    r.log, re.M)
    expect(start and moved and end and start.start() < moved.start() < end.start(),
           "%s: the loop did not start before the move and end after it" % tracker)
    expect(int(end.group(1)) == COUNTER_STEPS and end.group(2) == want_md5 and end.group(3) == "0",
           "%s: after migration %s, unmigrated md5 %s" % (tracker, end.group(0), want_md5))
    d = r.guest_event("lx-mig", "dirty")
    expect(d["pages_written"] == 300 and d["checksum"] == want_dirty and d["clock_backwards"] == 0,
           "%s: dirty after migration %r, unmigrated checksum %s" % (tracker, d, want_dirty))
    # The console goes on on the new VM, to the end of /init.
    r.expect_line(r"^\[lx-mig\] jv-init: exit status 0$")
    expect(r.event("vm_exit", vm="lx-mig")["status"] == 0, "%s: the migrated Linux failed" % tracker)


def test_linux_migrates_locally_pml():
    _linux_migrates_locally("pml")


def test_linux_migrates_locally_wp():
    _linux_migrates_locally("wp")


def test_linux_migrates_locally_ad():
    _linux_migrates_locally("ad")


# Between hosts the first round alone (128 MiB over bochs' link at ~2 MB/s)
# takes ~40 s emulated: the loop must outlast it.
PAIR_STEPS = 2000


def test_linux_migrates_from_host_a_to_host_b():
    want_md5 = hashlib.md5("".join("%d\n" % i for i in range(1, PAIR_STEPS + 1)).encode()).hexdigest()
    want_dirty = _dirty_checksum_on_this_host()
    line = 'name=lx mem=128M initrd=lxinit -- %s jv.run="jv-counter %d 0.02; %s"' % (CMDLINE, PAIR_STEPS, LX_DIRTY)
    p = Pair("linux_migrate_a_to_b", "at=%d:migrate,lx,peer,pml" % MIGRATE_AT_MS, "listen=600", timeout=900,
             extra=["--mem", "512", "--module-a", VMLINUX, line, "--module-a", INITRD, "data=lxinit"])
    p.expect_status(0)
    done = p.a.event("migrate_done", vm="lx")
    expect(done["status"] == "committed" and done["link"] == "e1000", "A: %r" % done)
    expect(re.search(r"^\[lx\] jv-counter: start", p.a.log, re.M), "the loop did not start on A")
    p.b.event("migrate_resume", vm="in0")
    end = re.search(r"^\[in0\] jv-counter: (\d+) lines, md5 (\w+), clock went back (\d+) times", p.b.log, re.M)
    expect(end and int(end.group(1)) == PAIR_STEPS and end.group(2) == want_md5 and end.group(3) == "0",
           "on B: %s, unmigrated md5 %s" % (end.group(0) if end else "no counter line", want_md5))
    d = re.search(r'^\[in0\] @ (\{"ev":"dirty".*\})$', p.b.log, re.M)
    d = json.loads(d.group(1)) if d else {}
    expect(d.get("pages_written") == 300 and d.get("checksum") == want_dirty and d.get("clock_backwards") == 0,
           "dirty on B %r, unmigrated checksum %s" % (d, want_dirty))
    expect(re.search(r"^\[in0\] jv-init: exit status 0$", p.b.log, re.M), "Linux on B did not end its /init")
    expect(p.b.event("vm_exit", vm="in0")["status"] == 0, "the migrated Linux failed on B")


if __name__ == "__main__":
    sys.exit(main(globals()))

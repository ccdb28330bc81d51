#!/usr/bin/env python3
"""Unmodified Linux (Debian's kernel, a busybox initramfs: make linux-images)
as a VM under hv in bochs, beside our own guests.

Each boot is ~50 s wall here (the kernel part of a boot, PVH skips the
bzImage decompressor), so the tests share two boots, run at once: Linux
runs a command that exits 0 beside `mvb` and `dirty` (a Linux VM and two
of our guests at the same time, each result checked), and one that exits 3
beside `hello`. Usage: linux_tests.py [name-filter]."""
import os
import sys

from harness import BUILD, Run, expect, main

LINUX = os.path.join(BUILD, "linux")
VMLINUX = os.path.join(LINUX, "vmlinux")
INITRD = os.path.join(LINUX, "initrd.cpio.gz")
GUEST = os.path.join(BUILD, "guest", "%s.elf")
# The lean command line of ../shared/PLATFORM.md Part C, minus what hv now
# provides (the TSC rate comes from CPUID 0x15, x2APIC stays on under the
# KVM signature, the MP table gives the local APIC).
CMDLINE = "console=ttyS0 reboot=t panic=-1 cryptomgr.notests pci=off acpi=off quiet"


def linux_run(name, command, beside):
    if not (os.path.exists(VMLINUX) and os.path.exists(INITRD)):
        raise AssertionError("no Linux images in %s: run make linux-images" % LINUX)
    line = 'name=lx mem=160M initrd=lxinit -- %s jv.run="%s"' % (CMDLINE, command)
    return Run(name, "bochs", timeout=400, extra=["--mem", "512"],
               modules=[(VMLINUX, line), (INITRD, "data=lxinit")] + list(beside))


def test_linux_runs_a_command_beside_two_of_our_guests():
    r = linux_run("linux_ok", "echo linux-says-hello; cat /proc/cpuinfo | grep -c processor",
                  [(GUEST % "mvb", "name=mvb mem=32M -- mvb 128 5"),
                   (GUEST % "dirty",
                    "name=dirty mem=16M -- dirty --ws 1 --rate 100 --seconds 2 --checksum")])
    r.expect_status(0)
    start = r.event("vm_start", vm="lx")
    expect(start["protocol"] == "pvh" and start["initrd_bytes"] > 100000, "lx started %r" % start)
    r.expect_line(r"^\[lx\] jv-init: running: ")
    r.expect_line(r"^\[lx\] linux-says-hello$")
    r.expect_line(r"^\[lx\] 1$")  # one processor
    r.expect_line(r"^\[lx\] jv-init: exit status 0$")
    ex = r.event("vm_exit", vm="lx")
    expect(ex["status"] == 0 and ex["reason"] == "exited", "lx ended %r" % ex)
    expect(r.guest_event("mvb", "mvb")["check"] == "ok", "mvb beside Linux got a wrong result")
    dirty = r.guest_event("dirty", "dirty")
    expect(dirty["pages_written"] == 200 and dirty["clock_backwards"] == 0, "dirty %r" % dirty)
    for vm in ("mvb", "dirty"):
        expect(r.event("vm_exit", vm=vm)["status"] == 0, "%s did not exit 0" % vm)


def test_linux_command_status_becomes_the_vm_status():
    r = linux_run("linux_status", "echo failing on purpose; exit 3",
                  [(GUEST % "hello", "name=hello mem=16M -- hello beside linux")])
    r.expect_status(1)  # a VM ended with a non-zero status
    r.expect_line(r"^\[lx\] failing on purpose$")
    r.expect_line(r"^\[lx\] jv-init: exit status 3$")
    ex = r.event("vm_exit", vm="lx")
    expect(ex["status"] == 3 and ex["reason"] == "exited", "lx ended %r" % ex)
    expect(r.event("vm_exit", vm="hello")["status"] == 0, "hello did not finish")


if __name__ == "__main__":
    sys.exit(main(globals()))

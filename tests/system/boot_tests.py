#!/usr/bin/env python3
"""System tests: boot hv on every platform and assert on its log and status.

Each test boots build/hv.elf through tools/run.py (bochs, QEMU TCG with
SeaBIOS or OVMF, QEMU -kernel, KVM where the CPU has VT-x and /dev/kvm opens), then checks what
a user would check: the exit status, the human lines and the '@ {...}'
events. Usage: boot_tests.py [name-filter].
"""
import os
import sys

from harness import BUILD, Run, expect, main, platform_probe


def check_boot_event(run, multiboot, firmware):
    boot = run.event("boot")
    expect(boot["version"], "boot event has no version")
    expect(boot["multiboot"] == multiboot, "booted by multiboot%s, expected %d" % (boot["multiboot"], multiboot))
    expect(boot["firmware"] == firmware, "firmware %r, expected %r" % (boot["firmware"], firmware))
    expect(boot["mem_mib"] >= 200, "only %d MiB of memory reported (256 MiB given)" % boot["mem_mib"])
    expect(boot["cpu"]["tsc_khz"] > 0, "TSC not calibrated")
    run.expect_line(r"^Joulevisor \d+\.\d+\.\d+: a VT-x hypervisor")
    pci = run.event("pci")
    expect(pci["count"] >= 3 and any(d["class"] == "0600" for d in pci["devices"]),
           "PCI enumeration found no host bridge: %r" % pci)
    return boot


# ---- the tests -------------------------------------------------------------

def test_bochs_boots_with_vmx_and_ept():
    r = Run("bochs_vmx", "bochs")
    r.expect_status(0)
    boot = check_boot_event(r, 2, "bios")
    cpu = boot["cpu"]
    for cap in ("vmx", "ept", "ept_4level", "ept_wb", "ept_ad", "pml", "vpid",
                "preemption_timer", "unrestricted_guest", "invept_single", "invept_all"):
        expect(cpu[cap] is True, "bochs tigerlake should report %s, got %r" % (cap, cpu[cap]))
    expect(cpu["rapl"] is False, "bochs has no RAPL MSRs, but rapl=%r" % cpu["rapl"])
    expect(cpu["tsc_source"] == "pit" and 49500 <= cpu["tsc_khz"] <= 50500,
           "bochs at ips=50M should calibrate to 50000 kHz (+-1%%) from the PIT, got %r" % cpu)
    vmx = r.event("vmx")
    expect(vmx["vmxon"] == "ok" and vmx["vmptrld"] == "ok" and vmx["vmxoff"] == "ok" and vmx["ok"],
           "VMX first contact failed: %r" % vmx)
    expect(vmx["vmcs_revision_read"] == cpu["vmcs_revision"] == 4, "VMCS revision mismatch: %r" % vmx)
    expect(r.event("result")["name"] == "ok", "result is not ok")


def test_qemu_seabios_says_no_vtx():
    r = Run("qemu_seabios", "qemu", timeout=60)
    r.expect_status(2)
    boot = check_boot_event(r, 2, "bios")
    expect(boot["cpu"]["vmx"] is False, "QEMU TCG has no VMX but vmx=true")
    lines = [l for l in r.log.splitlines() if "no VT-x here" in l]
    expect(len(lines) == 1, "expected exactly one no-VT-x line, got %d" % len(lines))
    expect("EMU=bochs" in lines[0] and "EMU=kvm" in lines[0], "no-VT-x line does not say what to use instead")
    expect(r.event("vmx")["vmxon"] == "unsupported", "vmx event should say unsupported")


def test_ovmf_uefi_boot_path():
    r = Run("ovmf", "ovmf", timeout=120)
    r.expect_status(2)
    check_boot_event(r, 2, "uefi")
    r.expect_line(r"no VT-x here")


def test_qemu_kernel_multiboot1():
    r = Run("qemu_kernel", "qemu-kernel", cmdline="pci=off", timeout=60)
    r.expect_status(2)
    boot = r.event("boot")
    expect(boot["multiboot"] == 1, "QEMU -kernel should use the multiboot1 header")
    expect(boot["cmdline"] == "pci=off", "options %r: the kernel path was not dropped" % boot["cmdline"])
    expect(not any(e.get("ev") == "pci" for e in r.events), "pci=off still enumerated PCI")


def test_kvm_nested_vmx():
    ok, why = platform_probe.kvm_verdict()
    if not ok:
        return "skip: KVM cannot run hv on this machine: " + why
    r = Run("kvm", "kvm", timeout=60)
    r.expect_status(0)
    check_boot_event(r, 2, "bios")
    expect(r.event("vmx")["ok"], "VMX first contact failed under KVM")


def test_exception_in_hv_is_reported_bochs():
    r = Run("bochs_ud", "bochs", cmdline="inject=ud")
    r.expect_status(3)
    panic = r.event("panic")
    expect(panic["vector"] == 6, "expected #UD (6), got %r" % panic)
    r.expect_line(r"CPU exception 6 \(#UD invalid opcode\) in hv, error code 0x0")
    r.expect_line(r"RIP=[0-9a-f]{16} .*CR2=")
    r.expect_line(r"stack trace")


def test_page_fault_reports_cr2():
    r = Run("qemu_pf", "qemu-kernel", cmdline="inject=pf", timeout=60)
    r.expect_status(3)
    panic = r.event("panic")
    expect(panic["vector"] == 14 and panic["cr2"] == "0x1000000000", "bad #PF report: %r" % panic)


def test_general_protection_fault():
    r = Run("qemu_gp", "qemu-kernel", cmdline="inject=gp", timeout=60)
    r.expect_status(3)
    expect(r.event("panic")["vector"] == 13, "expected #GP")


def test_broken_multiboot2_table_bochs():
    r = Run("bochs_badmb", "bochs", cmdline="inject=badmb")
    r.expect_status(4)
    r.expect_line(r"^hv: bad boot information: multiboot2 tag \d+ at offset 8 has bad size 65535")
    expect(r.event("error")["what"] == "boot_info", "no boot_info error event")
    expect(not any(e.get("ev") == "boot" for e in r.events), "booted on after a broken table")


def test_broken_multiboot1_table():
    r = Run("qemu_badmb", "qemu-kernel", cmdline="inject=badmb", timeout=60)
    r.expect_status(4)
    r.expect_line(r"bad boot information: multiboot1 info has neither a memory map nor memory sizes")


def test_bad_command_line():
    r = Run("bad_cmdline", "qemu-kernel", cmdline="vmx=on speed=fast", timeout=60)
    r.expect_status(5)
    r.expect_line(r"^hv: bad command line: unknown option 'speed=fast' \(known: .*inject")
    r2 = Run("bad_value", "qemu-kernel", cmdline="vmx=maybe", timeout=60)
    r2.expect_status(5)
    r2.expect_line(r"bad value 'maybe' for option 'vmx' \(allowed: on\|off\)")
    r3 = Run("bad_limits", "qemu-kernel", cmdline="limits=console_lines:50,frames:10", timeout=60)
    r3.expect_status(5)
    r3.expect_line(r"^hv: bad command line: limits=: unknown limit 'frames' \(known: mem_mib "
                   r"console_lines .*no_progress_entries\)$")
    for bad, why in (("slice=1us", r"slice=1us out of range \(100us to 100ms\)"),
                     ("policy=lottery", r"unknown scheduling policy \(known: round-robin\)"),
                     ("quantum=3ms", r"unknown knob 'quantum' \(knobs: round-robin: slice\)")):
        r5 = Run("bad_sched_" + bad.split("=")[0], "qemu-kernel", cmdline="sched=" + bad, timeout=60)
        r5.expect_status(5)
        r5.expect_line(r"^hv: bad command line: sched=: " + why)
    for bad in ("0", "65", "two"):
        r4 = Run("bad_cpus_" + bad, "qemu-kernel", cmdline="cpus=" + bad, timeout=60)
        r4.expect_status(5)
        r4.expect_line(r"^hv: bad command line: cpus=wants a whole number from 1 to 64")


GUEST = os.path.join(BUILD, "guest", "%s.elf")


def test_every_cpu_comes_up_and_vms_run_as_before():
    # bochs with 4 processors: hv finds them in the ACPI MADT, starts the
    # three others (INIT-SIPI-SIPI), each checks VMX on its own and is
    # parked; the VMs run on the boot CPU with their results unchanged.
    r = Run("smp_4_cpus", "bochs", extra=["--cpus", "4"], timeout=180,
            modules=[(GUEST % "hello", "name=hello"), (GUEST % "mvb", "name=mvb mem=32M -- mvb 64 3")])
    r.expect_status(0)
    c = r.event("cpus")
    expect(c["source"] == "acpi-madt" and c["listed"] == 4 and c["online"] == 4
           and sorted(c["apic_ids"]) == [0, 1, 2, 3] and c["left_out"] == [], "cpus event %r" % c)
    r.expect_line(r"^hv: CPUs: 4 online of 4 listed \(acpi-madt\)")
    expect(r.guest_event("mvb", "mvb")["check"] == "ok", "mvb beside three parked CPUs got a wrong result")
    r.expect_line(r"^\[hello\] hello from Joulevisor guest$")


def test_scheduler_slice_is_a_knob():
    # Two busy VMs share the CPU in slices of sched=slice=: with 20 ms
    # slices each VM is switched in about a tenth as often as with 2 ms.
    exits = {}
    for slice_ms in (2, 20):
        r = Run("sched_slice_%d" % slice_ms, "bochs", cmdline="sched=policy=round-robin,slice=%dms" % slice_ms,
                timeout=180, modules=[(GUEST % "mvb", "name=a mem=32M -- mvb 128 40"),
                                      (GUEST % "mvb", "name=b mem=32M -- mvb 128 40")])
        r.expect_status(0)
        r.expect_line(r"^hv: scheduler round-robin, 2 VMs, slice=%dms$" % slice_ms)
        for vm in ("a", "b"):
            expect(r.guest_event(vm, "mvb")["check"] == "ok", "%s: mvb failed" % vm)
        exits[slice_ms] = r.event("vm_exit", vm="a")["switched_in"]
    expect(exits[2] >= 10 and exits[20] * 5 < exits[2],
           "times VM a was switched in with 2 ms and 20 ms slices: %r" % exits)


def test_cpus_option_limits_the_cpus_brought_up():
    r = Run("smp_cpus_1", "bochs", extra=["--cpus", "2"], cmdline="cpus=1", timeout=120,
            modules=[(GUEST % "hello", "name=hello")])
    r.expect_status(0)
    c = r.event("cpus")
    expect(c["listed"] == 2 and c["online"] == 1 and c["limit"] == 1
           and [x["why"] for x in c["left_out"]] == ["cpus= limit"], "cpus event %r" % c)
    one = Run("smp_one_cpu", "bochs", timeout=120, modules=[(GUEST % "hello", "name=hello")])
    one.expect_status(0)
    c1 = one.event("cpus")
    expect(c1["listed"] == 1 and c1["online"] == 1 and c1["left_out"] == [], "one CPU: %r" % c1)


def test_runner_calls_a_hang_a_failure():
    r = Run("hang", "qemu-kernel", cmdline="inject=hang", timeout=3)
    r.expect_status(124)
    expect("hung" in r.stderr, "runner did not say the run hung: %r" % r.stderr)


def test_runner_calls_a_crash_a_failure():
    r = Run("triple", "bochs", cmdline="inject=triplefault")
    r.expect_status(125)
    expect("without a result line" in r.stderr, "runner did not report the crash: %r" % r.stderr)
    expect("3rd (13) exception" in r.stderr or "exception" in r.stderr,
           "runner did not show the bochs log lines")


if __name__ == "__main__":
    sys.exit(main(globals()))

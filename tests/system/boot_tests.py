#!/usr/bin/env python3
"""System tests: boot hv on every platform and assert on its log and status.

Each test boots build/hv.elf through tools/run.py (bochs, QEMU TCG with
SeaBIOS or OVMF, QEMU -kernel, KVM where /dev/kvm exists), then checks what
a user would check: the exit status, the human lines and the '@ {...}'
events. Prints PASS/FAIL/SKIP per test and the summary line
'N passed, N failed, N skipped'. Usage: boot_tests.py [name-filter].
"""
import concurrent.futures
import json
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUN = os.path.join(ROOT, "tools", "run.py")
WORK = os.path.join(ROOT, "build", "systest")


class Failure(Exception):
    pass


def expect(cond, what):
    if not cond:
        raise Failure(what)


class Run:
    """The outcome of one emulator run: status, log text, parsed events."""

    def __init__(self, name, emu, cmdline="", timeout=120, extra=()):
        self.workdir = os.path.join(WORK, name)
        os.makedirs(self.workdir, exist_ok=True)
        log = os.path.join(self.workdir, "serial.log")
        args = [sys.executable, RUN, "--emu", emu, "--cmdline", cmdline, "--timeout", str(timeout),
                "--workdir", self.workdir, "--log", log] + list(extra)
        r = subprocess.run(args, capture_output=True, text=True)
        self.status = r.returncode
        self.stderr = r.stderr
        self.log = open(log, errors="replace").read() if os.path.exists(log) else ""
        self.events = []
        for line in self.log.splitlines():
            if line.startswith("@ "):
                try:
                    self.events.append(json.loads(line[2:]))
                except ValueError as e:
                    raise Failure("malformed event line %r: %s" % (line, e))

    def event(self, ev):
        found = [e for e in self.events if e.get("ev") == ev]
        expect(found, "no %r event in the log" % ev)
        return found[-1]

    def expect_status(self, status):
        expect(self.status == status, "exit status %d, expected %d; runner said: %s"
               % (self.status, status, self.stderr.strip()[-400:]))

    def expect_line(self, pattern):
        expect(re.search(pattern, self.log, re.M), "no line matching %r in the log" % pattern)


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
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "skip: no /dev/kvm on this machine"
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


TESTS = [(name[5:], fn) for name, fn in sorted(globals().items()) if name.startswith("test_")]


def run_one(item):
    name, fn = item
    start = time.time()
    try:
        outcome = fn()
        if isinstance(outcome, str) and outcome.startswith("skip"):
            return name, "SKIP", outcome[5:].strip(), time.time() - start
        return name, "PASS", "", time.time() - start
    except Failure as e:
        return name, "FAIL", str(e), time.time() - start
    except Exception as e:  # a bug in the test itself is a failure too
        return name, "FAIL", "%s: %s" % (type(e).__name__, e), time.time() - start


def main():
    filt = sys.argv[1] if len(sys.argv) > 1 else ""
    todo = [t for t in TESTS if filt in t[0]]
    counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        for name, verdict, why, secs in pool.map(run_one, todo):
            counts[verdict] += 1
            print("%s %s (%.1f s wall)%s" % (verdict, name, secs, ": " + why if why else ""), flush=True)
            if verdict == "FAIL":
                print("  logs: under %s (one folder per run)" % WORK)
    print("%d passed, %d failed, %d skipped" % (counts["PASS"], counts["FAIL"], counts["SKIP"]))
    return 1 if counts["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""make exp-overhead: the cost of virtualization for a compute workload.

Runs the same mvb ELF (double-precision matrix-vector product) four ways
and prints GFLOPS for each and the VM/native ratio:
  native       bare in bochs (the guest kernel boots by multiboot, no hv)
  vm-alone     as the only VM under hv in bochs
  vm-busy      as a VM beside two busy VMs (two more mvb, larger) in bochs
  native-qemu  bare under QEMU TCG, for reference (another emulator's clock)

All bochs figures are EMULATED time (TSC = 1 tick per instruction at
ips=50M): they compare instruction counts and exit costs, not a real CPU's
speed. The published figure to compare the ratio with: 1.70 vs 1.75 GFLOPS
(97%) for KVM (seed 000, CLOSER 2014).
Writes build/exp/overhead.csv.
"""
import argparse
import csv
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.abspath(os.environ.get("BUILD", os.path.join(ROOT, "build")))
RUN = os.path.join(ROOT, "tools", "run.py")


def run(name, args, timeout):
    work = os.path.join(BUILD, "exp", "overhead", name)
    os.makedirs(work, exist_ok=True)
    log = os.path.join(work, "serial.log")
    sys.stderr.write("exp-overhead: %-11s running ...\n" % name)
    r = subprocess.run([sys.executable, RUN, "--workdir", work, "--log", log,
                        "--timeout", str(timeout)] + args, capture_output=True, text=True)
    text = open(log, errors="replace").read() if os.path.exists(log) else ""
    return r.returncode, text, r.stderr


def mvb_event(text, vm=None):
    prefix = r"\[%s\] " % re.escape(vm) if vm else ""
    found = [json.loads(m.group(1)) for m in re.finditer(r"^%s@ (\{\"ev\":\"mvb\".*\})$" % prefix, text, re.M)]
    return found[-1] if found else None


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=192, help="matrix size (default 192)")
    p.add_argument("--iters", type=int, default=20, help="products per run (default 20)")
    p.add_argument("--timeout", type=float, default=900)
    opts = p.parse_args()
    mvb = os.path.join(BUILD, "guest", "mvb.elf")
    if not os.path.exists(mvb):
        sys.exit("exp-overhead: %s missing: run make first" % mvb)
    args = "mvb %d %d" % (opts.n, opts.iters)
    busy = "mvb %d %d" % (opts.n, opts.iters * 4)
    cases = [
        ("native", ["--emu", "bochs", "--bare", mvb, args], None, "bochs, emulated time"),
        ("vm-alone", ["--emu", "bochs", "--module", mvb, "name=mvb mem=32M -- " + args], "mvb",
         "bochs, emulated time"),
        ("vm-busy", ["--emu", "bochs", "--module", mvb, "name=mvb mem=32M -- " + args,
                     "--module", mvb, "name=busy1 mem=32M -- " + busy,
                     "--module", mvb, "name=busy2 mem=32M -- " + busy], "mvb", "bochs, emulated time"),
        ("native-qemu", ["--emu", "qemu-kernel", "--bare", mvb, args], None, "QEMU TCG, host clock"),
    ]
    rows = []
    for name, rargs, vm, where in cases:
        status, text, err = run(name, rargs, opts.timeout)
        ev = mvb_event(text, vm)
        if status != 0 or not ev or ev.get("check") != "ok":
            sys.stderr.write("exp-overhead: %s failed (status %d):\n%s\n" % (name, status, err[-600:]))
            rows.append((name, where, None, None))
            continue
        rows.append((name, where, ev["gflops"], ev.get("seconds")))
    native = rows[0][2]
    out_dir = os.path.join(BUILD, "exp")
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "overhead.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["case", "platform", "n", "iters", "gflops", "seconds", "ratio_to_native"])
        for name, where, gflops, secs in rows:
            ratio = gflops / native if gflops and native and where.startswith("bochs") else None
            w.writerow([name, where, opts.n, opts.iters, gflops, secs, ratio])
    print("mvb n=%d iters=%d (GFLOPS; bochs rows are emulated time at ips=50M)" % (opts.n, opts.iters))
    print("%-12s %-22s %12s %10s" % ("case", "platform", "GFLOPS", "vs native"))
    for name, where, gflops, _ in rows:
        ratio = "%.1f%%" % (100 * gflops / native) if gflops and native and where.startswith("bochs") else "-"
        print("%-12s %-22s %12s %10s" % (name, where, "%.6f" % gflops if gflops else "FAILED", ratio))
    print("published (seed 000, KVM on Xeon): native 1.75, VM 1.70 GFLOPS = 97%")
    print("csv: %s" % os.path.join(out_dir, "overhead.csv"))
    return 0 if all(r[2] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""make exp-energy: node power and per-VM energy with the power model.

Cases (bochs, emulated time, the model: 50 W idle, 72 W with one busy core,
from seed 000):
  idle      one VM that sleeps 3 s: the idle host
  busy-N    N VMs (N = 1, 2, 3) each computing for 2 s
  mixed     one VM computing 2 s beside one that sleeps 2 s
  migrate-idle / migrate-busy
            a VM that sleeps / computes, migrated at 1 s to a new VM on the
            same host (pml): the migration engine's own power and energy
For each: the node's average power, energy per VM, hv's share and the idle
residency; a power_sample event every 100 ms gives power over time (the
node's, and the migration engine's share of it).
Writes build/exp/energy.csv, build/exp/energy_power.csv and, with gnuplot,
build/exp/energy_power.png. The energy of network batching per packet is in
`make exp-net` (uJ/pkt).
"""
import csv
import json
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.abspath(os.environ.get("BUILD", os.path.join(ROOT, "build")))
RUN = os.path.join(ROOT, "tools", "run.py")
ENERGY = os.path.join(BUILD, "guest", "energy.elf")


def cases():
    out = [("idle", [("sleeper", "--busy 0 --idle 3")])]
    for n in (1, 2, 3):
        out.append(("busy-%d" % n, [("busy%d" % i, "--busy 2 --idle 0") for i in range(n)]))
    out.append(("mixed", [("worker", "--busy 2 --idle 0"), ("sleeper", "--busy 0 --idle 2")]))
    # A live migration (to a new VM on the same host, PML) at 1 s, of a VM
    # that sleeps and of one that computes: the migration's own power.
    out.append(("migrate-idle", [("v", "--busy 0 --idle 4")], "at=1000:migrate,v,local,pml"))
    out.append(("migrate-busy", [("v", "--busy 4 --idle 0")], "at=1000:migrate,v,local,pml"))
    return out


def run_case(name, vms, script=""):
    work = os.path.join(BUILD, "exp", "energy", name)
    os.makedirs(work, exist_ok=True)
    log = os.path.join(work, "serial.log")
    args = [sys.executable, RUN, "--emu", "bochs", "--cmdline", ("power_sample_ms=100 " + script).strip(),
            "--workdir", work, "--log", log, "--timeout", "600"]
    for vm, wargs in vms:
        args += ["--module", ENERGY, "name=%s mem=16M -- energy %s" % (vm, wargs)]
    sys.stderr.write("exp-energy: %-8s (%d VM%s) running ...\n" % (name, len(vms), "" if len(vms) == 1 else "s"))
    r = subprocess.run(args, capture_output=True, text=True)
    text = open(log, errors="replace").read() if os.path.exists(log) else ""
    events = []
    for m in re.finditer(r"^@ (\{.*\})$", text, re.M):
        try:
            events.append(json.loads(m.group(1)))
        except ValueError:
            pass
    if r.returncode != 0:
        sys.stderr.write("exp-energy: %s failed (status %d): %s\n" % (name, r.returncode, r.stderr[-400:]))
        return None
    return events


def main():
    if not os.path.exists(ENERGY):
        sys.exit("exp-energy: %s missing: run make first" % ENERGY)
    out_dir = os.path.join(BUILD, "exp")
    os.makedirs(out_dir, exist_ok=True)
    rows, series = [], []
    for case in cases():
        name, vms = case[0], case[1]
        events = run_case(name, vms, case[2] if len(case) > 2 else "")
        if events is None:
            rows.append((name, None))
            continue
        summary = [e for e in events if e["ev"] == "energy_summary"][-1]
        samples = [e for e in events if e["ev"] == "power_sample"]
        # Average over the samples taken while the VMs ran (the first sample
        # starts when they start).
        avg_mw = sum(s["mw"] for s in samples) / len(samples) if samples else 0
        for s in samples:
            series.append((name, s["t_ms"], s["mw"], s["idle_mw"], s.get("migration_mw", 0)))
        migr = [e for e in events if e["ev"] == "migrate_done"]
        rows.append((name, dict(avg_w=avg_mw / 1000.0, total_j=summary["total_uj"] / 1e6,
                                migration_j=summary["migration_uj"] / 1e6,
                                migr=migr[-1] if migr else None,
                                vms=summary["ours"], hv_other_j=summary["hv_other_uj"] / 1e6,
                                idle_j=summary["idle_uj"] / 1e6,
                                idle_pct=summary["idle_residency_permille"] / 10.0,
                                exact=summary["sum_nj"] == summary["total_nj"])))
    with open(os.path.join(out_dir, "energy.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["case", "avg_power_w", "total_j", "idle_j", "hv_other_j", "idle_residency_pct",
                    "per_vm_j", "parts_sum_exactly"])
        for name, r in rows:
            if r:
                w.writerow([name, "%.2f" % r["avg_w"], "%.3f" % r["total_j"], "%.3f" % r["idle_j"],
                            "%.3f" % r["hv_other_j"], r["idle_pct"],
                            " ".join("%s=%.3f" % (k, v / 1e6) for k, v in r["vms"].items()), r["exact"]])
    with open(os.path.join(out_dir, "energy_power.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["case", "t_ms", "power_mw", "idle_mw", "migration_mw"])
        w.writerows(series)
    print("power model: 50 W idle, 72 W one busy core (seed 000); bochs, emulated time")
    print("%-9s %10s %10s %9s %8s  %s" % ("case", "avg W", "total J", "idle %", "exact", "energy per VM (J)"))
    for name, r in rows:
        if not r:
            print("%-9s FAILED" % name)
            continue
        print("%-9s %10.2f %10.2f %9.1f %8s  %s" % (name, r["avg_w"], r["total_j"], r["idle_pct"],
                                                    "yes" if r["exact"] else "NO",
                                                    ", ".join("%s %.2f" % (k, v / 1e6) for k, v in r["vms"].items())))
    for name, r in rows:
        if r and r["migr"]:
            m = r["migr"]
            print("%s: migration %s in %d ms (downtime %d us), energy: rounds %.2f J, stop-and-copy %.2f J "
                  "(migration account %.2f J)" % (name, m["status"], m["total_ms"], m["downtime_us"],
                                                  m["energy_rounds_uj"] / 1e6, m["energy_stop_copy_uj"] / 1e6,
                                                  r["migration_j"]))
    print("seed 000 (4-core Xeon node): idle 50 W; 1-4 busy cores 72/90/100/110 W.")
    print("One physical CPU here: N busy VMs share one core, so the node stays at 72 W and each VM's energy falls as 1/N.")
    if shutil.which("gnuplot") and series:
        png = os.path.join(out_dir, "energy_power.png")
        # One data file per case: gnuplot plots each as its own line.
        per_case = []
        for name, r in rows:
            if not r:
                continue
            path = os.path.join(out_dir, "energy_power_%s.dat" % name)
            with open(path, "w") as f:
                for c, t, mw, _, mig_mw in series:
                    if c == name:
                        f.write("%d %f %f\n" % (t, mw / 1000.0, mig_mw / 1000.0))
            per_case.append((name, path))
        lines = ["'%s' using 1:2 with linespoints title '%s'" % (p, n) for n, p in per_case]
        lines += ["'%s' using 1:3 with lines dashtype 2 title '%s: migration engine'" % (p, n)
                  for n, p in per_case if n.startswith("migrate")]
        script = ("set terminal png size 900,500\nset output '%s'\nset key outside right\n"
                  "set xlabel 'emulated time since hv started (ms)'\n"
                  "set ylabel 'power (W, power model)'\nset yrange [0:80]\nplot " % png +
                  ", ".join(lines) + "\n")
        subprocess.run(["gnuplot"], input=script, text=True, check=False)
        print("plot: %s" % png)
    print("csv: %s" % os.path.join(out_dir, "energy.csv"))
    return 0 if all(r for _, r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

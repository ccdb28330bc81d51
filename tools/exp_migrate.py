#!/usr/bin/env python3
"""make exp-migrate: live migration time, downtime and bytes by workload,
dirty tracker, packet size and link.

Local rows: hv in bochs with one 16 MiB VM, migrated at 1 s to a new VM on
the same host (`migrate VM local TRACKER POLICY payload=N`, the in-memory
link). Workloads: an idle VM, mvb (compute), dirty at 100 and 1000
pages/s. Trackers wp, ad, pml at 1500-byte packets; pml also at 1000 and
32 bytes (payload 1482, 982, 32 after our 18-byte header: the seeds'
1500/1000/32). One more local row runs dirty 1000/s under the `qemu`
policy, which throttles the vCPU when rounds do not converge. With pml at
1500 bytes only: a 1 MiB hot set rewritten all the time (hot-1M), 8 MiB
rewritten faster than the link (fast-8M), and the memory sweep of seed
000 (idle and busy VMs of 64 and 256 MiB; busy: dirty 1000/s over 4 MiB).

Two-host rows (link e1000): two bochs hosts joined by bxhub
(`tools/run.py --pair`), A migrating the VM to B (`migrate VM peer ...`).
That link moves ~1 frame per emulated ms, so only a few cases run there:
idle and dirty 100/s with pml at 1500 bytes, dirty 100/s at 1000 bytes, and
idle at 32 bytes (~14 k frames, ~1 min wall). dirty at 32 bytes is left
out: that link moved ~40 KB/s of 32-byte payloads, below the 410 KB/s the
guest dirties at 100 pages/s, so rounds cannot converge and its ~21 MB
(as measured locally) would take ~9 emulated minutes.

All times are emulated (bochs). Each row also has the link's measured rate
(bytes sent / total time) and the times scaled to a 1 Gb/s link by it
(hv's total_ms_at_1gbps, downtime_us_at_1gbps), which compare with the
seeds' GbE figures, the downtime as data (KB-eq: downtime x the link's
rate), and each host's CPU share spent on the migration and the memory hv
held for it (A/B: source and destination; one host for local rows, whose
two engines share it). Writes build/exp/migrate.csv and, with gnuplot,
build/exp/migrate.png (total time, downtime, bytes by packet size).

Policies by name: `make exp-migrate POLICIES="default qemu shrink:ratio=25"
WORKLOADS="dirty-100 dirty-1000" TRACKERS="pml"` runs every combination
locally at 1500-byte packets instead of the sweep above (each given list
replaces its default: all workloads, pml, default). A policy is NAME or
NAME:KNOB=VALUE,... with any policy of hv's table and the engine's
round_limit (tools/policy_list.py checks them before anything boots). Every
knob of a run (hv's own text of it, in migrate_done) is in the CSV, and
build/exp/migrate_policies.png plots every policy that ran. QUICK=1: 5 s
workloads and, unless given, only dirty-100 with pml.

Seeds (004: Xen, OpenVZ, KVM; 180 MB application, GbE): downtime 3-81 ms,
total 2-25 s, growing sharply as packets shrink to 32 bytes (KVM-FV never
finished at 32 B); seed 000: a KVM Apache VM of 316-508 MB took 31-155 s.
"""
import concurrent.futures
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time

import policy_list

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.abspath(os.environ.get("BUILD", os.path.join(ROOT, "build")))
RUN = os.path.join(ROOT, "tools", "run.py")

QUICK = os.environ.get("QUICK", "") not in ("", "0")
SECONDS = 5 if QUICK else 25
WORKLOADS = {
    "idle": ("energy.elf", "energy --busy 0 --idle %d" % SECONDS),
    "mvb": ("mvb.elf", "mvb 256 %d" % (SECONDS * 100)),
    "dirty-100": ("dirty.elf", "dirty --ws 2 --rate 100 --seconds %d --checksum" % SECONDS),
    "dirty-1000": ("dirty.elf", "dirty --ws 4 --rate 1000 --seconds %d --checksum" % SECONDS),
    # A 1 MiB hot set rewritten all the time (each page ~80 times a second),
    # and 8 MiB rewritten faster than the link (80 MB/s; it moves ~1.5): the
    # cases pre-copy cannot converge on (issue 15).
    "hot-1M": ("dirty.elf", "dirty --ws 1 --rate 20000 --seconds %d --checksum" % SECONDS),
    "fast-8M": ("dirty.elf", "dirty --ws 8 --rate 20000 --seconds %d --checksum" % SECONDS),
    # Seed 000's "migration time grows with VM memory": idle and busy VMs of
    # 64 and 256 MiB (16 MiB: the idle and dirty-1000 rows).
    "idle-64M": ("energy.elf", "energy --busy 0 --idle %d" % SECONDS),
    # (256 MiB: the zero scan alone takes ~4 emulated s; the VM lives 40 s)
    "idle-256M": ("energy.elf", "energy --busy 0 --idle %d" % max(SECONDS, 40)),
    "busy-64M": ("dirty.elf", "dirty --ws 4 --rate 1000 --seconds %d --checksum" % SECONDS),
    "busy-256M": ("dirty.elf", "dirty --ws 4 --rate 1000 --seconds %d --checksum" % max(SECONDS, 40)),
}
# The VM's memory (MiB) where it is not 16.
WORKLOAD_MEM = {"idle-64M": 64, "idle-256M": 256, "busy-64M": 64, "busy-256M": 256}
# The tracker and packet sweep runs these; the others run with pml at 1500 B.
SWEPT = ["idle", "mvb", "dirty-100", "dirty-1000"]
SETTINGS = [("wp", 1482), ("ad", 1482), ("pml", 1482), ("pml", 982), ("pml", 32)]


def chosen(var, default, known):
    given = os.environ.get(var, "").split()
    for g in given:
        if g not in known:
            sys.exit("exp-migrate: %s: unknown '%s' (known: %s)" % (var, g, " ".join(known)))
    return given or default


def plan():
    """(workload, tracker, payload, link, policy spec) of every run."""
    if not any(os.environ.get(v) for v in ("POLICIES", "WORKLOADS", "TRACKERS")) and not QUICK:
        return ([(w, t, p, "local", "default") for w in SWEPT for t, p in SETTINGS]
                + [(w, "pml", 1482, "local", "default") for w in WORKLOADS if w not in SWEPT]
                + [("dirty-1000", "pml", 1482, "local", "qemu")]
                + [("idle", "pml", 1482, "e1000", "default"),
                   ("dirty-100", "pml", 1482, "e1000", "default"),
                   ("dirty-100", "pml", 982, "e1000", "default"),
                   ("idle", "pml", 32, "e1000", "default")])
    policies = os.environ.get("POLICIES", "").split() or ["default"]
    for p in policies:
        policy_spec(p)  # refused here, before anything boots
    workloads = chosen("WORKLOADS", ["dirty-100"] if QUICK else list(WORKLOADS), list(WORKLOADS))
    trackers = chosen("TRACKERS", ["pml"], ["wp", "ad", "pml"])
    return [(w, t, 1482, "local", p) for w in workloads for t in trackers for p in policies]


def policy_spec(text):
    """hv's words for a policy spec: "shrink:ratio=25" -> "policy=shrink,ratio=25";
    round_limit= is the engine's and goes with any policy."""
    name, _, rest = text.partition(":")
    words = [w for w in rest.split(",") if w]
    engine = [w for w in words if w.partition("=")[0] in policy_list.knob_names("migrate-engine")]
    own = [w for w in words if w not in engine]
    _, _, hv_text = policy_list.spec("migrate", ":".join([name, ",".join(own)]))
    for w in engine:
        policy_list.spec("migrate-engine", "engine:" + w)
    return ",".join(hv_text.split() + engine)


CASES = plan()
TIMEOUT = 900
KNOB_COLS = ["knob_" + k for k in policy_list.knob_names("migrate") + policy_list.knob_names("migrate-engine")]

FIELDS = ["workload", "tracker", "payload", "link", "policy", "knobs"] + KNOB_COLS + [
          "stopped_by", "total_ms", "downtime_us",
          "predicted_downtime_us", "rounds", "bytes", "zero_pages", "stop_copy_pages",
          "tracker_exits", "retransmits", "max_throttle", "throttled_ms", "link_Bps",
          "total_ms_at_1gbps", "downtime_us_at_1gbps", "energy_j",
          "src_cpu_permille", "dst_cpu_permille", "src_mem_kib", "dst_mem_kib", "downtime_kb_eq",
          "nonzero_pages", "bytes_per_touched"]

lock = threading.Lock()
progress = {"done": 0}


def case_name(wl, tracker, payload, link, policy):
    return "%s-%s-%d-%s%s" % (wl, tracker, payload, link,
                              "" if policy == "default" else "-" + re.sub(r"[^\w.-]", "_", policy))


def last_event(log, ev):
    text = open(log, errors="replace").read() if os.path.exists(log) else ""
    found = [json.loads(m.group(1)) for m in re.finditer(r'^@ (\{"ev":"%s".*\})$' % ev, text, re.M)]
    return found[-1] if found else None


def done_event(log, dest_log):
    """The source's migrate_done, with the destination host's CPU share
    and memory from its migrate_resume (the same host for local runs: its
    figures then cover both engines)."""
    d = last_event(log, "migrate_done")
    resume = last_event(dest_log, "migrate_resume")
    if d is not None and resume is not None:
        d["dst_cpu_permille"] = resume.get("cpu_permille", "")
        d["dst_mem_kib"] = resume.get("hv_mem_kib", "")
        d["nonzero_pages"] = resume.get("nonzero_pages", "")
    return d


def run(case):
    wl, tracker, payload, link, policy = case
    elf, args = WORKLOADS[wl]
    name = case_name(*case)
    work = os.path.join(BUILD, "exp", "migrate", name)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    mem = WORKLOAD_MEM.get(wl, 16)
    module = [os.path.join(BUILD, "guest", elf), "name=v mem=%dM -- %s" % (mem, args)]
    if link == "local":
        log = os.path.join(work, "serial.log")
        # Room for the VM twice (the source and its copy) and hv.
        cmd = [sys.executable, RUN, "--emu", "bochs", "--workdir", work, "--log", log,
               "--timeout", str(TIMEOUT), "--mem", str(max(256, 2 * mem + 128)),
               "--cmdline", "at=1000:migrate,v,local,%s,%s,payload=%d" % (tracker, policy_spec(policy), payload),
               "--module"] + module
    else:
        # B boots first and waits for A's VM; A migrates it at 1 s.
        log = os.path.join(work, "serial-a.log")
        cmd = [sys.executable, RUN, "--pair", "--workdir", work, "--timeout", str(TIMEOUT),
               "--log-a", log, "--log-b", os.path.join(work, "serial-b.log"), "--delay-a", "5",
               "--cmdline-a", "at=1000:migrate,v,peer,%s,%s,payload=%d" % (tracker, policy_spec(policy), payload),
               "--cmdline-b", "listen=120", "--module-a"] + module
    start = time.time()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True)
        status, err = r.returncode, r.stderr.strip().splitlines()
        d = done_event(log, log if link == "local" else os.path.join(work, "serial-b.log"))
    except Exception as e:  # keep the sweep going: one case failed, not all
        status, err, d = -1, [repr(e)], None
    ok = status == 0 and d is not None and d.get("status") == "committed"
    if ok:
        how = "ok: %d ms total, %d us downtime, %d B" % (d["total_ms"], d["downtime_us"], d["bytes"])
    elif d is not None:
        how = "FAILED: exit %d, migration %s %s" % (status, d.get("status"), d.get("reason", ""))
    else:
        how = "FAILED: exit %d, no migrate_done (%s)" % (status, err[-1] if err else "no message")
    with lock:
        progress["done"] += 1
        sys.stderr.write("exp-migrate: [%d/%d] %-34s %4.0f s wall  %s\n"
                         % (progress["done"], len(CASES), name, time.time() - start, how))
        sys.stderr.flush()
    return case, d if ok else None


def touched_ratio(d):
    """Bytes sent over the non-zero memory the guest had touched (issue
    15's target: at most 1.1 for the dirty workloads)."""
    n = d.get("nonzero_pages")
    return "%.2f" % (d["bytes"] / (n * 4096.0)) if n else ""


def permille(v):
    return "-" if v in (None, "") else "%.0f" % (v / 10.0)


def energy(d):
    return (d["energy_rounds_uj"] + d["energy_stop_copy_uj"]) / 1e6


def forecast_off_percent(d):
    return 100.0 * (d["predicted_downtime_us"] - d["downtime_us"]) / max(d["downtime_us"], 1)


def forecast_holds(d):
    """issue 15's target: predicted within max(20%, 1 ms) of measured."""
    return abs(d["predicted_downtime_us"] - d["downtime_us"]) <= max(0.2 * d["downtime_us"], 1000)


def row(case, d):
    wl, tracker, payload, link, policy = case
    knobs = dict(w.split("=", 1) for w in d.get("knobs", "").split()[1:])
    return [wl, tracker, payload, link, d["policy"], d.get("knobs", "")] + [
            knobs.get(c[len("knob_"):], "") for c in KNOB_COLS] + [d.get("stopped_by", ""), d["total_ms"], d["downtime_us"], d["predicted_downtime_us"],
            d["rounds"], d["bytes"], d["zero_pages"], d["stop_copy_pages"], d["tracker_exits"],
            d["retransmits"], max(d.get("throttle") or [0]), d["throttled_ms"], d["link_Bps"],
            d["total_ms_at_1gbps"], d["downtime_us_at_1gbps"], "%.1f" % energy(d),
            d.get("cpu_permille", ""), d.get("dst_cpu_permille", ""), d.get("hv_mem_kib", ""),
            d.get("dst_mem_kib", ""), d.get("downtime_kb_eq", ""), d.get("nonzero_pages", ""),
            touched_ratio(d)]


def plot(out_dir, rows):
    # One series per workload and link (pml, default policy): total time,
    # downtime and bytes against the packet size.
    dat = os.path.join(out_dir, "migrate_payload.dat")
    series = []
    with open(dat, "w") as f:
        for (wl, t, p, link, policy), d in sorted(rows, key=lambda r: (r[0][0], r[0][3], r[0][2])):
            if d and t == "pml" and policy == "default":
                key = "%s/%s" % (wl, link)
                if key not in series:
                    series.append(key)
                f.write("%s %d %d %.3f %d\n" % (key, p + 18 if p > 32 else p, d["total_ms"],
                                                d["downtime_us"] / 1000.0 + 0.01, d["bytes"]))
    png = os.path.join(out_dir, "migrate.png")

    def panel(col, ylabel):
        return ("set ylabel '%s'\nplot " % ylabel + ", ".join(
            "'< grep \"^%s \" %s' using 2:%d with linespoints title '%s'" % (s, dat, col, s)
            for s in series) + "\n")

    script = ("set terminal png size 1400,520\nset output '%s'\nset multiplot layout 1,3\n"
              "set logscale xy\nset key below font ',8'\nset xlabel 'packet bytes (pml)'\n"
              % png + panel(3, "total ms (emulated)") + panel(4, "downtime ms (emulated)")
              + panel(5, "bytes sent") + "unset multiplot\n")
    subprocess.run(["gnuplot"], input=script, text=True, check=False)
    return png


# The memory sweep's points: (workload, VM MiB, idle or busy).
MEMORY_SWEEP = [("idle", 16, "idle"), ("idle-64M", 64, "idle"), ("idle-256M", 256, "idle"),
                ("dirty-1000", 16, "busy"), ("busy-64M", 64, "busy"), ("busy-256M", 256, "busy")]


def plot_memory(out_dir, rows):
    """Seed 000's figure: migration time (and downtime, bytes) against the
    VM's memory, idle and busy (local, pml, 1500-byte packets)."""
    got = {c[0]: d for c, d in rows if d and c[1] == "pml" and c[2] == 1482 and c[3] == "local"
           and c[4] == "default"}
    points = [(kind, mib, got[wl]) for wl, mib, kind in MEMORY_SWEEP if wl in got]
    if len({mib for _, mib, _ in points}) < 2:
        return None
    dat = os.path.join(out_dir, "migrate_memory.dat")
    with open(dat, "w") as f:
        for kind, mib, d in sorted(points, key=lambda p: (p[0], p[1])):
            f.write("%s %d %d %.3f %d\n" % (kind, mib, d["total_ms"], d["downtime_us"] / 1000.0 + 0.01,
                                             d["bytes"]))
    png = os.path.join(out_dir, "migrate_memory.png")

    def panel(col, ylabel):
        return ("set ylabel '%s'\nplot " % ylabel + ", ".join(
            "'< grep \"^%s \" %s' using 2:%d with linespoints title '%s VM'" % (k, dat, col, k)
            for k in ("idle", "busy")) + "\n")

    script = ("set terminal png size 1400,520\nset output '%s'\nset multiplot layout 1,3\n"
              "set logscale x 2\nset key below\nset xlabel 'VM memory (MiB)'\n" % png
              + panel(3, "total ms (emulated)") + panel(4, "downtime ms (emulated)")
              + panel(5, "bytes sent") + "unset multiplot\n")
    subprocess.run(["gnuplot"], input=script, text=True, check=False)
    return png


def plot_policies(out_dir, rows):
    """Every policy that ran (local, 1500-byte packets): one series per
    policy and knobs, total time, downtime and bytes by workload."""
    series, names = {}, [w for w in WORKLOADS]
    for (wl, t, p, link, policy), d in rows:
        if d and link == "local" and p == 1482:
            label = "%s %s" % (t, " ".join(d.get("knobs", d["policy"]).split()))
            series.setdefault(label, []).append((names.index(wl), wl, d))
    if not series:
        return None
    files = []
    for n, (label, got) in enumerate(sorted(series.items())):
        dat = os.path.join(out_dir, "migrate_policy%d.dat" % n)
        with open(dat, "w") as f:
            for i, wl, d in sorted(got, key=lambda g: g[0]):
                f.write("%d %s %d %.3f %d\n" % (i, wl, d["total_ms"], d["downtime_us"] / 1000.0, d["bytes"]))
        files.append((label, dat))
    png = os.path.join(out_dir, "migrate_policies.png")
    tics = ", ".join("'%s' %d" % (w, i) for i, w in enumerate(names))

    def panel(col, ylabel):
        return ("set ylabel '%s'\nplot " % ylabel + ", ".join(
            "'%s' using 1:%d with linespoints title '%s'" % (dat, col, label) for label, dat in files) + "\n")

    script = ("set terminal png size 1400,560 noenhanced\nset output '%s'\nset multiplot layout 1,3\n"
              "set key below font ',7'\nset xtics (%s)\nset xrange [-0.5:%d.5]\n" % (png, tics, len(names) - 1)
              + panel(3, "total ms (emulated)") + panel(4, "downtime ms (emulated)")
              + panel(5, "bytes sent") + "unset multiplot\n")
    subprocess.run(["gnuplot"], input=script, text=True, check=False)
    return png


def main():
    if not os.path.exists(os.path.join(BUILD, "guest", "dirty.elf")):
        sys.exit("exp-migrate: guests missing: run make first")
    sys.stderr.write("exp-migrate: %d runs, two at a time (bochs; a two-host run is two bochs)\n"
                     % len(CASES))
    # Two-host cases first: they are the longest.
    order = sorted(CASES, key=lambda c: c[3] == "local")
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        got = dict(pool.map(run, order))
    rows = [(c, got[c]) for c in CASES]
    out_dir = os.path.join(BUILD, "exp")
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "migrate.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(FIELDS)
        for c, d in rows:
            if d:
                w.writerow(row(c, d))
    print("VM (16 MiB, or the size its name says) migrated at 1 s (bochs, emulated time); link local: in-memory, "
          "same host; e1000: two bochs hosts through bxhub")
    print("%-10s %-3s %5s %-5s %-7s %8s %11s %12s %5s %6s %10s %6s %4s %10s %9s %11s %7s %8s %9s %9s" % (
        "workload", "trk", "pay", "link", "policy", "total ms", "downtime us", "predicted us", "off",
        "rounds", "bytes", "exits", "thr%", "link B/s", "ms@1Gb/s", "us@1Gb/s", "KB-eq",
        "cpu% A/B", "KiB A/B", "x touched"))
    for c, d in rows:
        wl, t, p, link, policy = c
        if not d:
            print("%-10s %-3s %5d %-5s %-7s FAILED" % (wl, t, p, link, policy))
            continue
        print("%-10s %-3s %5d %-5s %-7s %8d %11d %12d %+4.0f%% %6d %10d %6d %4d %10d %9d %11d %7s %8s %9s %9s" % (
            wl, t, p, link, policy, d["total_ms"], d["downtime_us"], d["predicted_downtime_us"],
            forecast_off_percent(d), d["rounds"], d["bytes"],
            d["tracker_exits"], max(d.get("throttle") or [0]), d["link_Bps"], d["total_ms_at_1gbps"],
            d["downtime_us_at_1gbps"], d.get("downtime_kb_eq", "-"),
            "%s/%s" % (permille(d.get("cpu_permille")), permille(d.get("dst_cpu_permille"))),
            "%s/%s" % (d.get("hv_mem_kib", "-"), d.get("dst_mem_kib", "-")), touched_ratio(d) or "-"))
    done = [d for c, d in rows if d]
    held = sum(1 for d in done if forecast_holds(d))
    print("forecast (predicted downtime) within max(20%%, 1 ms) of the measured one: %d of %d runs (%.0f%%)"
          % (held, len(done), 100.0 * held / len(done) if done else 0))
    print("seeds: downtime 3-81 ms, total 2-25 s for 180 MB over GbE (Xen, OpenVZ, KVM); "
          "much longer at 32-byte packets")
    if shutil.which("gnuplot"):
        print("plot: %s" % plot(out_dir, rows))
        for png in (plot_policies(out_dir, rows), plot_memory(out_dir, rows)):
            if png:
                print("plot: %s" % png)
    print("csv: %s" % os.path.join(out_dir, "migrate.csv"))
    failed = [case_name(*c) for c, d in rows if not d]
    if failed:
        print("failed: %s" % ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

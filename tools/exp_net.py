#!/usr/bin/env python3
"""make exp-net: the cost of receiving packets against the batching policy.

A source VM streams 64-byte frames at 10 kpps to a sink VM through hv's
virtual switch (bochs at ips=200M so the emulated CPU can carry that load),
for the sink's RX policy none, fixed-time with T_buf 0.1, 0.25, 0.5 and 1 ms,
and adaptive (T_buf 1 ms). For each: throughput, interrupts per packet,
sink exits per packet, hv cycles per packet, the added batching delay, and
energy per packet from the power model. All times are emulated (bochs).
Writes build/exp/net.csv and, with gnuplot, build/exp/net.png.

The seed (Shea, Wang, Liu 2014) saw 2600 vs 600 interrupts/s for KVM VirtIO
vs bare metal at 10 MB/s, and 16-32% less CPU energy with 0.1-1 ms
buffering at the same throughput.

Not yet: bare-metal and two-host runs (the e1000 uplink), and a ping-pong
latency probe: the latency column is the batching delay hv measured.
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
COUNT, SIZE, RATE = 2000, 64, 10000

CASES = [("none", 0, "policy=none"),
         ("fixed-time", 100, "policy=fixed-time,tbuf=100us"),
         ("fixed-time", 250, "policy=fixed-time,tbuf=250us"),
         ("fixed-time", 500, "policy=fixed-time,tbuf=500us"),
         ("fixed-time", 1000, "policy=fixed-time,tbuf=1ms"),
         ("adaptive", 1000, "policy=adaptive,tbuf=1ms")]


def run(policy, tbuf_us, batch):
    name = "%s-%d" % (policy, tbuf_us)
    work = os.path.join(BUILD, "exp", "net", name)
    os.makedirs(work, exist_ok=True)
    log = os.path.join(work, "serial.log")
    sys.stderr.write("exp-net: %-16s running ...\n" % name)
    r = subprocess.run([sys.executable, RUN, "--emu", "bochs", "--ips", "200000000", "--workdir", work,
                        "--log", log, "--timeout", "600",
                        "--module", os.path.join(BUILD, "guest", "netsink.elf"),
                        "name=sink mem=16M -- netsink --expect %d --batch %s" % (COUNT, batch),
                        "--module", os.path.join(BUILD, "guest", "netsrc.elf"),
                        "name=src mem=16M -- netsrc --count %d --size %d --rate %d" % (COUNT, SIZE, RATE)],
                       capture_output=True, text=True)
    text = open(log, errors="replace").read() if os.path.exists(log) else ""
    ev = {}
    for m in re.finditer(r"^(?:\[(\w+)\] )?@ (\{.*\})$", text, re.M):
        try:
            e = json.loads(m.group(2))
        except ValueError:
            continue
        key = (m.group(1) or "", e.get("ev"), e.get("vm", ""))
        ev[key] = e
    sink = ev.get(("sink", "netsink", ""))
    stats = ev.get(("", "net_stats", "sink"))
    vmexit = ev.get(("", "vm_exit", "sink"))
    if r.returncode != 0 or not sink or not stats or not vmexit:
        sys.stderr.write("exp-net: %s failed (status %d): %s\n" % (name, r.returncode, r.stderr[-300:]))
        return None
    packets = max(stats["rx_packets"], 1)
    khz = vmexit["tsc_khz"]
    return dict(policy=policy, tbuf_us=tbuf_us, received=sink["received"], lost=sink["lost"],
                throughput_pps=sink["received"] / sink["seconds"] if sink["seconds"] else 0,
                irq_per_packet=sink["interrupts"] / packets,
                exits_per_packet=stats["exits"] / packets,
                hv_cycles_per_packet=vmexit["hv_tsc"] / packets,
                delay_us=stats["rx_added_latency_ns"] / 1000.0,
                uj_per_packet=stats["vm_uj_per_packet"], tsc_khz=khz)


def main():
    for elf in ("netsink", "netsrc"):
        if not os.path.exists(os.path.join(BUILD, "guest", elf + ".elf")):
            sys.exit("exp-net: build/guest/%s.elf missing: run make first" % elf)
    rows = [r for r in (run(*c) for c in CASES)]
    out_dir = os.path.join(BUILD, "exp")
    os.makedirs(out_dir, exist_ok=True)
    cols = ["policy", "tbuf_us", "received", "lost", "throughput_pps", "irq_per_packet",
            "exits_per_packet", "hv_cycles_per_packet", "delay_us", "uj_per_packet"]
    with open(os.path.join(out_dir, "net.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for r in rows:
            if r:
                w.writerow([r[c] for c in cols])
    print("sink VM receiving %d x %d-byte frames at %d pps from a source VM (bochs, emulated time, ips=200M)"
          % (COUNT, SIZE, RATE))
    print("%-11s %7s %8s %5s %9s %8s %9s %10s %9s %9s" % ("policy", "T_buf", "recv", "lost", "pkt/s",
                                                          "irq/pkt", "exits/pkt", "hvcyc/pkt",
                                                          "delay us", "uJ/pkt"))
    for c, r in zip(CASES, rows):
        if not r:
            print("%-11s %7s FAILED" % (c[0], c[1]))
            continue
        print("%-11s %5dus %8d %5d %9.0f %8.3f %9.2f %10.0f %9.1f %9d" % (
            r["policy"], r["tbuf_us"], r["received"], r["lost"], r["throughput_pps"], r["irq_per_packet"],
            r["exits_per_packet"], r["hv_cycles_per_packet"], r["delay_us"], r["uj_per_packet"]))
    good = [r for r in rows if r and r["policy"] == "fixed-time"]
    if shutil.which("gnuplot") and good:
        dat = os.path.join(out_dir, "net_fixed_time.dat")
        with open(dat, "w") as f:
            for r in good:
                f.write("%d %f %f %f\n" % (r["tbuf_us"], r["irq_per_packet"], r["exits_per_packet"],
                                           r["hv_cycles_per_packet"] / 1000.0))
        png = os.path.join(out_dir, "net.png")
        script = ("set terminal png size 900,500\nset output '%s'\nset key outside right\n"
                  "set xlabel 'T_buf (us), fixed-time'\nset ylabel 'per packet'\nset logscale y\n"
                  "plot '%s' using 1:2 with linespoints title 'interrupts', "
                  "'' using 1:3 with linespoints title 'sink exits', "
                  "'' using 1:4 with linespoints title 'hv kcycles'\n" % (png, dat))
        subprocess.run(["gnuplot"], input=script, text=True, check=False)
        print("plot: %s" % png)
    print("csv: %s" % os.path.join(out_dir, "net.csv"))
    return 0 if all(rows) else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""make exp-net: the cost of receiving packets against the batching policy,
bare, as VMs on one host, and as VMs on two hosts.

Policies (hv's RX batching of the receiving VM: the sink of a stream, the
echo of a ping-pong): by default none, fixed-time with T_buf 0.1, 0.25, 0.5
and 1 ms, and adaptive (T_buf 1 ms); POLICIES="none idle:count=8
fixed-time:tbuf=1ms" (make exp-net POLICIES=...) runs any policy of hv's
table by name, with its knobs (tools/policy_list.py checks them first).
Every knob of a run is in the CSV (the knobs column and one column per
knob name) and in the plot's legend. QUICK=1 runs a short version for an
edit-run loop: one host, fewer frames, two policies unless POLICIES says.
Each (where, policy, knobs) is one CSV row made of three runs:

- stream: netsrc sends 64-byte frames to netsink. One host: 2000 frames at
  10 kpps through hv's virtual switch, bochs at ips=200M so the emulated CPU
  carries that load. Two hosts and bare: 1000 frames at 500 pps with a
  window of 64 (the bochs link through bxhub carries ~1 frame per emulated
  ms, so 10 kpps would only measure its drops), bochs at ips=50M.
- latency: netping, 100 ping-pongs of 64 bytes, one at a time; the probe's
  round-trip p50/p99 (send to PONG taken off the ring, guest TSC).
- request/response (the seeds' web server in miniature): netrr, 200
  requests of 128 bytes answered with 1000 bytes, 4 outstanding; the
  server carries the policy; the client's response-time p50/p99 and
  requests per second.

Figures: throughput (the sink's frames / its seconds), interrupts per
packet (the sink's), exits per packet and hv cycles per packet (hv's
net_stats and vm_exit for the sink VM: all its exits and hv's TSC cycles
spent for it, over the frames it received), the batching delay hv measured,
RTT p50/p99, and energy per packet from the power model. Under bochs all
times are emulated (the TSC ticks at the ips rate); the optional QEMU TCG
bare pair (EXP_NET_QEMU=0 leaves it out) times with the host's TSC, roughly
wall time on a shared machine. Bare guests drive the e1000 themselves,
polled: no interrupts, no exits, no hv.

Writes build/exp/net.csv and, with gnuplot, build/exp/net.png. A failed or
incomplete case is named and left out; the run then ends with status 1.
EXP_NET_ONLY=bare,one-host,two-hosts picks settings.

The seed (Shea, Wang, Liu 2014) saw 2600 vs 600 interrupts/s for KVM VirtIO
vs bare metal at 10 MB/s, and 16-32% less CPU energy with 0.1-1 ms
buffering at the same throughput.
"""
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import time

import policy_list

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.abspath(os.environ.get("BUILD", os.path.join(ROOT, "build")))
RUN = os.path.join(ROOT, "tools", "run.py")
GUESTS = os.path.join(BUILD, "guest")

QUICK = os.environ.get("QUICK", "") not in ("", "0")
ONE_HOST = dict(count=500 if QUICK else 2000, size=64, rate=10000, window=0, ips=200000000)
LINK = dict(count=200 if QUICK else 1000, size=64, rate=500, window=64, ips=50000000)
PING = dict(count=20 if QUICK else 100, size=64)
RR = dict(requests=40 if QUICK else 200, request_bytes=128, reply_bytes=1000, concurrency=4)
MAC_B = "b0:c4:20:00:00:0b"            # run.py's default MAC of host B
ECHO_ON_B = "02:4a:56:00:0b:01"        # hv's MAC for B's first VM (02:4a:56 + MAC[4:6] + 1)
ECHO_ONE_HOST = "02:4a:56:00:00:01"    # first VM of a host without a NIC

DEFAULT_POLICIES = (["none", "fixed-time:tbuf=1ms"] if QUICK else
                    ["none", "fixed-time:tbuf=100us", "fixed-time:tbuf=250us", "fixed-time:tbuf=500us",
                     "fixed-time:tbuf=1ms", "adaptive:tbuf=1ms"])
# One column per knob of any batching policy: a row fills those of its own.
KNOB_COLS = ["knob_" + k for k in policy_list.knob_names("batch")]

COLS = ["where", "emu", "time", "ips", "policy", "knobs"] + KNOB_COLS + [
        "frames", "size_bytes", "offered_pps",
        "received", "lost", "throughput_pps", "irq_per_packet", "exits_per_packet",
        "hv_cycles_per_packet", "batch_delay_us", "rtt_p50_us", "rtt_p99_us", "rtt_lost",
        "rr_p50_us", "rr_p99_us", "rr_per_s", "uj_per_packet"]


class CaseFailed(Exception):
    pass


def events(path):
    """(VM name or "", event) for every machine line of a serial log."""
    text = open(path, errors="replace").read() if os.path.exists(path) else ""
    found = []
    for m in re.finditer(r"^(?:\[([\w-]+)\] )?@ (\{.*\})$", text, re.M):
        try:
            found.append((m.group(1) or "", json.loads(m.group(2))))
        except ValueError:
            continue
    return found


def event(evs, what, ev, source="", **match):
    hits = [e for s, e in evs if s == source and e.get("ev") == ev
            and all(e.get(k) == v for k, v in match.items())]
    if not hits:
        raise CaseFailed("%s printed no %s event%s" % (what, ev, " for %s" % match if match else ""))
    return hits[-1]


def runner(name, args, timeout):
    """Runs tools/run.py; returns (status, its last words, wall seconds)."""
    start = time.time()
    try:
        r = subprocess.run([sys.executable, RUN, "--timeout", str(timeout)] + args,
                           capture_output=True, text=True, timeout=timeout + 120)
    except subprocess.TimeoutExpired:
        raise CaseFailed("the runner itself did not end within %d s" % (timeout + 120))
    lines = [l for l in r.stderr.strip().splitlines() if l.strip()]
    return r.returncode, (lines[-1] if lines else ""), time.time() - start


def workdir(case):
    work = os.path.join(BUILD, "exp", "net", case)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    return work


def one_host(vm_a, vm_b, case):
    """Two VMs on one bochs host; returns the host's events."""
    work = workdir(case)
    log = os.path.join(work, "serial.log")
    status, said, wall = runner(case, ["--emu", "bochs", "--ips", str(ONE_HOST["ips"]), "--workdir", work,
                                       "--log", log, "--module"] + vm_a + ["--module"] + vm_b, 600)
    if status != 0:
        raise CaseFailed("status %d: %s (log %s)" % (status, said, log))
    return events(log), wall


def pair(side_a, side_b, case, extra=()):
    """Two hosts through bxhub (or a QEMU socket netdev); returns A's and
    B's events. side_*: ["--module-a", ELF, ARGS] or ["--bare-a", ELF, ARGS]."""
    work = workdir(case)
    logs = [os.path.join(work, "serial-%s.log" % s) for s in "ab"]
    status, said, wall = runner(case, ["--pair", "--workdir", work, "--log-a", logs[0], "--log-b", logs[1]]
                                + list(extra) + side_a + side_b, 300)
    if status != 0:
        raise CaseFailed("status %d: %s (logs in %s)" % (status, said, work))
    return events(logs[0]), events(logs[1]), wall


def src_args(p):
    return "netsrc --count %d --size %d --rate %d%s --timeout 30" % (
        p["count"], p["size"], p["rate"], " --window %d" % p["window"] if p["window"] else "")


def sink_args(p, batch=None):
    return "netsink --expect %d --timeout 30%s" % (p["count"], " --batch %s" % batch if batch else "")


def ping_args(to=None):
    return "netping%s --count %d --size %d --timeout 60" % (" --to " + to if to else "",
                                                             PING["count"], PING["size"])


def echo_args(batch=None):
    return "netping --echo --timeout 60%s" % (" --batch %s" % batch if batch else "")


def rr_client_args(to=None):
    return ("netrr --client%s --requests %d --request-bytes %d --reply-bytes %d --concurrency %d "
            "--reply-timeout-ms 2000 --timeout 60" % (" --to " + to if to else "", RR["requests"],
                                                      RR["request_bytes"], RR["reply_bytes"],
                                                      RR["concurrency"]))


def rr_server_args(batch=None):
    return "netrr --server --timeout 60%s" % (" --batch %s" % batch if batch else "")


def stream_figures(row, sink, p, stats=None, vmexit=None):
    if sink["received"] != p["count"] or sink["lost"] or sink["bad"]:
        raise CaseFailed("the sink got %d of %d frames (%d lost, %d bad)"
                         % (sink["received"], p["count"], sink["lost"], sink["bad"]))
    row.update(frames=p["count"], size_bytes=p["size"], offered_pps=p["rate"], received=sink["received"],
               lost=sink["lost"], throughput_pps=round(sink["received"] / sink["seconds"], 1)
               if sink["seconds"] else "",
               irq_per_packet=round(sink["interrupts"] / sink["received"], 4))
    if stats and vmexit:
        packets = max(stats["rx_packets"], 1)
        row.update(irq_per_packet=round(sink["interrupts"] / packets, 4),
                   exits_per_packet=round(stats["exits"] / packets, 3),
                   hv_cycles_per_packet=round(vmexit["hv_tsc"] / packets),
                   batch_delay_us=round(stats["rx_added_latency_ns"] / 1000.0, 1),
                   uj_per_packet=stats["vm_uj_per_packet"])


def ping_figures(row, probe):
    if probe["replies"] != PING["count"]:
        raise CaseFailed("netping had %d of %d replies (%d lost)"
                         % (probe["replies"], PING["count"], probe["lost"]))
    row.update(rtt_p50_us=probe["p50_us"], rtt_p99_us=probe["p99_us"], rtt_lost=probe["lost"])


def rr_figures(row, client):
    if client["completed"] != RR["requests"]:
        raise CaseFailed("netrr completed %d of %d requests (%d lost)"
                         % (client["completed"], RR["requests"], client["lost"]))
    row.update(rr_p50_us=client["p50_us"], rr_p99_us=client["p99_us"], rr_per_s=client["requests_per_s"])


# ---- the cases: each returns a row, filling it as far as it got ----

def case_one_host(row, batch, name):
    evs, w1 = one_host([os.path.join(GUESTS, "netsink.elf"), "name=sink mem=16M -- " + sink_args(ONE_HOST, batch)],
                       [os.path.join(GUESTS, "netsrc.elf"), "name=src mem=16M -- " + src_args(ONE_HOST)],
                       name + "-stream")
    stream_figures(row, event(evs, "sink VM", "netsink", "sink"), ONE_HOST,
                   event(evs, "hv", "net_stats", vm="sink"), event(evs, "hv", "vm_exit", vm="sink"))
    evs, w2 = one_host([os.path.join(GUESTS, "netping.elf"), "name=echo mem=16M -- " + echo_args(batch)],
                       [os.path.join(GUESTS, "netping.elf"), "name=probe mem=16M -- " + ping_args(ECHO_ONE_HOST)],
                       name + "-ping")
    ping_figures(row, event(evs, "probe VM", "netping", "probe", mode="probe"))
    evs, w3 = one_host([os.path.join(GUESTS, "netrr.elf"), "name=server mem=16M -- " + rr_server_args(batch)],
                       [os.path.join(GUESTS, "netrr.elf"), "name=client mem=16M -- " + rr_client_args(ECHO_ONE_HOST)],
                       name + "-rr")
    rr_figures(row, event(evs, "client VM", "netrr", "client", mode="client"))
    return w1 + w2 + w3


def case_two_hosts(row, batch, name):
    a, b, w1 = pair(["--module-a", os.path.join(GUESTS, "netsrc.elf"), "name=src mem=16M -- " + src_args(LINK)],
                    ["--module-b", os.path.join(GUESTS, "netsink.elf"),
                     "name=sink mem=16M -- " + sink_args(LINK, batch)], name + "-stream")
    stream_figures(row, event(b, "B's sink VM", "netsink", "sink"), LINK,
                   event(b, "hv on B", "net_stats", vm="sink"), event(b, "hv on B", "vm_exit", vm="sink"))
    a, b, w2 = pair(["--module-a", os.path.join(GUESTS, "netping.elf"),
                     "name=probe mem=16M -- " + ping_args(ECHO_ON_B)],
                    ["--module-b", os.path.join(GUESTS, "netping.elf"), "name=echo mem=16M -- " + echo_args(batch)],
                    name + "-ping")
    ping_figures(row, event(a, "A's probe VM", "netping", "probe", mode="probe"))
    a, b, w3 = pair(["--module-a", os.path.join(GUESTS, "netrr.elf"),
                     "name=client mem=16M -- " + rr_client_args(ECHO_ON_B)],
                    ["--module-b", os.path.join(GUESTS, "netrr.elf"),
                     "name=server mem=16M -- " + rr_server_args(batch)], name + "-rr")
    rr_figures(row, event(a, "A's client VM", "netrr", "client", mode="client"))
    return w1 + w2 + w3


def case_bare(row, emu, name):
    extra = ["--emu", emu] + (["--ips", str(LINK["ips"])] if emu == "bochs" else [])
    a, b, w1 = pair(["--bare-a", os.path.join(GUESTS, "netsrc.elf"), src_args(LINK)],
                    ["--bare-b", os.path.join(GUESTS, "netsink.elf"), sink_args(LINK)], name + "-stream", extra)
    stream_figures(row, event(b, "B's bare netsink", "netsink"), LINK)
    a, b, w2 = pair(["--bare-a", os.path.join(GUESTS, "netping.elf"), ping_args()],
                    ["--bare-b", os.path.join(GUESTS, "netping.elf"), echo_args()], name + "-ping", extra)
    ping_figures(row, event(a, "A's bare netping", "netping", mode="probe"))
    a, b, w3 = pair(["--bare-a", os.path.join(GUESTS, "netrr.elf"), rr_client_args()],
                    ["--bare-b", os.path.join(GUESTS, "netrr.elf"), rr_server_args()], name + "-rr", extra)
    rr_figures(row, event(a, "A's bare netrr client", "netrr", mode="client"))
    return w1 + w2 + w3


def plan():
    default_only = "one-host" if QUICK else "bare,one-host,two-hosts"
    only = set(filter(None, os.environ.get("EXP_NET_ONLY", default_only).split(",")))
    policies = policy_list.specs("batch", DEFAULT_POLICIES)  # checked before anything boots
    cases = []
    if "bare" in only:
        cases.append((dict(where="bare", emu="bochs", time="emulated", ips=LINK["ips"], policy="-", knobs=""),
                      lambda row, name: case_bare(row, "bochs", name), "bare-bochs"))
        if os.environ.get("EXP_NET_QEMU", "0" if QUICK else "1") != "0":
            cases.append((dict(where="bare", emu="qemu-tcg", time="host-tsc", ips="", policy="-", knobs=""),
                          lambda row, name: case_bare(row, "qemu-kernel", name), "bare-qemu"))
    for where, p, fn in (("one-host", ONE_HOST, case_one_host), ("two-hosts", LINK, case_two_hosts)):
        if where not in only:
            continue
        for policy, values, text in policies:
            row = dict(where=where, emu="bochs", time="emulated", ips=p["ips"], policy=policy, knobs=text)
            row.update(("knob_" + k, v) for k, v in values.items())
            batch = text.replace(" ", ",")  # module command lines have no quoting: commas for spaces
            name = "-".join([where] + [re.sub(r"[^\w.-]", "_", w) for w in text.split()]).replace("policy_", "")
            cases.append((row, lambda row, name, fn=fn, batch=batch: fn(row, batch, name), name))
    return cases


def show(rows):
    print("\n%-9s %-8s %-10s %-16s %5s %5s %8s %8s %9s %10s %8s %8s %8s %8s %8s %6s %7s" % (
        "where", "emu", "policy", "knobs", "recv", "lost", "pkt/s", "irq/pkt", "exits/pkt", "hvcyc/pkt",
        "delay us", "p50 us", "p99 us", "rr p50", "rr p99", "req/s", "uJ/pkt"))
    for r in rows:
        def f(key, fmt):
            v = r.get(key, "")
            return fmt % v if v != "" else "-"
        print("%-9s %-8s %-10s %-16s %5s %5s %8s %8s %9s %10s %8s %8s %8s %8s %8s %6s %7s%s" % (
            r["where"], r["emu"], r["policy"], " ".join(r["knobs"].split()[1:]) or "-",
            f("received", "%d"), f("lost", "%d"), f("throughput_pps", "%.0f"), f("irq_per_packet", "%.3f"),
            f("exits_per_packet", "%.2f"), f("hv_cycles_per_packet", "%d"), f("batch_delay_us", "%.1f"),
            f("rtt_p50_us", "%.1f"), f("rtt_p99_us", "%.1f"), f("rr_p50_us", "%.0f"),
            f("rr_p99_us", "%.0f"), f("rr_per_s", "%.0f"), f("uj_per_packet", "%d"),
            "  FAILED: " + r["failed"] if r.get("failed") else ""))


def tbuf_us(row):
    """The row's T_buf in us (0 for a policy without one): the plots' x axis."""
    v = row.get("knob_tbuf") or "0us"
    m = re.fullmatch(r"(\d+)(ns|us|ms|s)", v)
    return int(m.group(1)) * {"ns": 0.001, "us": 1, "ms": 1000, "s": 10**6}[m.group(2)] if m else 0


def plot(rows, out_dir):
    """Every policy that ran: one series per (where, policy, knobs other
    than tbuf), against T_buf; a policy without tbuf is a point at 0."""
    if not shutil.which("gnuplot"):
        print("plot: gnuplot not found, no plot")
        return
    series = {}
    for r in rows:
        if r["where"] == "bare" or r.get("failed"):
            continue
        others = " ".join(w for w in r["knobs"].split()[1:] if not w.startswith("tbuf="))
        label = " ".join(filter(None, [r["where"], r["policy"], others]))
        series.setdefault(label, []).append(r)
    if not series:
        return
    files = []
    for n, (label, got) in enumerate(sorted(series.items())):
        dat = os.path.join(out_dir, "net_series%d.dat" % n)
        with open(dat, "w") as f:
            f.write("# %s: T_buf_us pkt/s irq/pkt exits/pkt hv_kcycles/pkt rtt_p50_us rtt_p99_us\n" % label)
            for r in sorted(got, key=tbuf_us):
                f.write("%s %s %s %s %s %s %s\n" % (tbuf_us(r), r["throughput_pps"], r["irq_per_packet"],
                                                   r["exits_per_packet"], r["hv_cycles_per_packet"] / 1000.0,
                                                   r["rtt_p50_us"], r["rtt_p99_us"]))
        files.append((label, dat))
    panels = [(2, "throughput (frames/s)"), (3, "interrupts per packet"), (4, "exits per packet"),
              (5, "hv kcycles per packet"), (6, "RTT p50 (us)"), (7, "RTT p99 (us)")]
    png = os.path.join(out_dir, "net.png")
    script = ["set terminal png size 1200,800 noenhanced", "set output '%s'" % png,
              "set multiplot layout 2,3 title 'exp-net: every policy run, against its T_buf "
              "(0: none); bochs, emulated time'",
              "set xlabel 'T_buf (us)'", "set key top left font ',7'"]
    for col, title in panels:
        script.append("set title '%s'" % title)
        script.append("plot " + ", ".join("'%s' using 1:%d with linespoints title '%s'" % (dat, col, label)
                                          for label, dat in files))
    script.append("unset multiplot")
    r = subprocess.run(["gnuplot"], input="\n".join(script) + "\n", text=True, capture_output=True)
    if r.returncode:
        print("plot: gnuplot failed: %s" % r.stderr.strip()[-300:])
    else:
        print("plot: %s" % png)


def main():
    for elf in ("netsink", "netsrc", "netping", "netrr"):
        if not os.path.exists(os.path.join(GUESTS, elf + ".elf")):
            sys.exit("exp-net: build/guest/%s.elf missing: run make first" % elf)
    cases = plan()
    print("exp-net: %d cases, each a stream, a ping-pong and a request/response run:" % len(cases))
    print("  one host: sink VM gets %(count)d x %(size)d B at %(rate)d pps from a source VM, "
          "bochs ips=%(ips)d" % ONE_HOST)
    print("  two hosts / bare: %(count)d x %(size)d B at %(rate)d pps, window %(window)d, through bxhub "
          "(~1 frame per emulated ms), bochs ips=%(ips)d" % LINK)
    print("  latency: netping %(count)d x %(size)d B one at a time; the echo (receiving side) "
          "carries the policy" % PING)
    print("  request/response: netrr %(requests)d requests of %(request_bytes)d B, replies of "
          "%(reply_bytes)d B, %(concurrency)d outstanding; the server carries the policy" % RR)
    print("  bochs figures are emulated time (TSC = ips); the qemu-tcg bare row uses the host TSC")
    sys.stdout.flush()
    rows = []
    for i, (row, fn, name) in enumerate(cases):
        start = time.time()
        try:
            fn(row, name)
            wall = time.time() - start
            print("exp-net: [%d/%d] %-28s ok in %3.0f s wall: %s pkt/s, %s irq/pkt, RTT p50 %s us, "
                  "response p50 %s us" % (i + 1, len(cases), name, wall, row.get("throughput_pps"),
                                          row.get("irq_per_packet"), row.get("rtt_p50_us"),
                                          row.get("rr_p50_us")))
        except CaseFailed as e:
            row["failed"] = str(e)
            print("exp-net: [%d/%d] %-28s FAILED after %.0f s wall: %s"
                  % (i + 1, len(cases), name, time.time() - start, e))
        except (KeyError, TypeError, ValueError, ZeroDivisionError) as e:
            row["failed"] = "unexpected event contents: %s %s" % (type(e).__name__, e)
            print("exp-net: [%d/%d] %-28s FAILED: %s" % (i + 1, len(cases), name, row["failed"]))
        sys.stdout.flush()
        rows.append(row)
    out_dir = os.path.join(BUILD, "exp")
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "net.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLS)
        for r in rows:
            if not r.get("failed"):
                w.writerow([r.get(c, "") for c in COLS])
    show(rows)
    print("pkt/s: the sink's frames over its seconds; irq/pkt: the sink's interrupts per frame;")
    print("exits/pkt, hvcyc/pkt: all the sink VM's exits and hv's TSC cycles for it, per frame hv "
          "delivered; delay: hv's batching delay; p50/p99: netping round trips; rr p50/p99 (us), "
          "req/s: netrr's response times and rate; uJ: power model")
    plot(rows, out_dir)
    print("csv: %s" % os.path.join(out_dir, "net.csv"))
    failed = [r for r in rows if r.get("failed")]
    if failed:
        print("exp-net: %d of %d cases failed (not in the csv)" % (len(failed), len(rows)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

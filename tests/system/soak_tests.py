#!/usr/bin/env python3
"""Soak tests: long runs that a research user leaves going (issue 11, item 4).

- A VM that writes memory and answers pings is migrated back and forth
  between two bochs hosts (send_back= on both) while a probe on A pings it:
  it ends with the memory checksum of an unmigrated run, every move
  committed, the probe answered across every move (at most 5% lost: its
  timeouts run on the other host's clock, see the test).
- Eight VMs of mixed load on one host for a stretch of emulated time: the
  energy parts equal the total, every VM's energy only grows across the
  scripted reports, and each guest's virtual RAPL agrees with hv.
- A migration over the real two-host link with linkfault= dropping,
  duplicating and reordering migration frames on both hosts completes byte
  for byte.

SOAK=long (what `make soak` sets) runs the long versions: 20 round trips,
three emulated minutes, loss levels 1%, 5% and 10%; the default is the CI
version (2 round trips, 20 emulated seconds, 5%). Each test prints its
figures as one `soak:` line. Usage: soak_tests.py [filter].
"""
import os
import sys

from harness import BUILD, Run, expect, main
from net_tests import Pair, guest_event

LONG = os.environ.get("SOAK") == "long"
GUEST = os.path.join(BUILD, "guest", "%s.elf")
ECHO_MAC = "02:4a:56:00:0a:01"  # A's first VM (A's e1000 MAC b0:c4:20:00:00:0a)


def figures(name, **values):
    print("soak: %s: %s" % (name, " ".join("%s=%s" % kv for kv in values.items())), flush=True)


def unmigrated_checksum(name, ws, writes):
    # dirty's memory depends only on the working set and the number of
    # writes, not on their pacing: the same writes done in 1 s, bare, never
    # migrated, are the reference.
    bare = Run(name, "qemu-kernel", timeout=120,
               extra=["--bare", GUEST % "dirty", "dirty --ws %d --rate %d --seconds 1 --checksum" % (ws, writes)])
    bare.expect_status(0)
    return [e for e in bare.events if e.get("ev") == "dirty"][-1]["checksum"]


def test_vm_migrated_back_and_forth_answering_pings_keeps_its_checksum():
    trips = 20 if LONG else 2
    # Each leg is ~3-4 s of the guest's time (16 MiB over ~1 frame per
    # emulated ms) plus 1 s where it lands; the VM must outlive them all.
    seconds = trips * 2 * 6 + 10
    rate, interval_ms = 100, 20
    want = unmigrated_checksum("soak_bare_dirty_trips", 2, rate * seconds)
    pings = seconds * 1000 // interval_ms
    # A sends it once by at= and trips-1 times back; B sends it back trips
    # times: it ends on A after `trips` round trips.
    p = Pair("soak_trips", "at=800:migrate,d,peer,pml send_back=1000:%d listen=20" % (trips - 1),
             "listen=20 send_back=1000:%d" % trips, timeout=240 + trips * 60, extra=[
                 "--delay-a", "5",
                 "--module-a", GUEST % "dirty",
                 "name=d mem=16M -- dirty --ws 2 --rate %d --seconds %d --checksum --echo" % (rate, seconds),
                 "--module-a", GUEST % "netping",
                 "name=probe mem=16M -- netping --to %s --count %d --interval-us %d --reply-timeout-ms 3000 "
                 "--max-lost %d --timeout 60" % (ECHO_MAC, pings, interval_ms * 1000, pings // 20)])
    done = [e for h in (p.a, p.b) for e in h.events if e.get("ev") == "migrate_done"]
    committed = [e for e in done if e["status"] == "committed"]
    expect(len(committed) == 2 * trips and len(done) == 2 * trips,
           "%d moves committed of %d started, expected %d: %r"
           % (len(committed), len(done), 2 * trips, [(e["vm"], e["status"], e["reason"]) for e in done]))
    resumed_a = [e for e in p.a.events if e.get("ev") == "migrate_resume"]
    resumed_b = [e for e in p.b.events if e.get("ev") == "migrate_resume"]
    expect(len(resumed_a) == trips and len(resumed_b) == trips,
           "resumed %d times on A, %d on B, expected %d each" % (len(resumed_a), len(resumed_b), trips))
    # The VM comes back into the slot it left: one name, in0, on every trip.
    expect(all(e["vm"] == "in0" for e in resumed_a + resumed_b), "arrivals not named in0")
    ended = guest_event(p.a, "in0", "dirty")
    expect(ended["pages_written"] == rate * seconds and ended["checksum"] == want,
           "after %d round trips on A %r; unmigrated checksum %s" % (trips, ended, want))
    expect(ended["clock_backwards"] == 0 and ended["max_step_ms"] < 1000,
           "the guest's clock jumped across the moves: %r" % ended)
    expect(p.a.event("vm_exit", vm="in0")["reason"] == "exited" and p.a.event("vm_exit", vm="in0")["status"] == 0,
           "the VM did not end normally on A")
    probe = guest_event(p.a, "probe", "netping")
    downtime_us = sum(e["downtime_us"] for e in committed)
    # What a move costs the probe cannot be read off the downtimes: the
    # probe waits for each reply (3 s) in A's emulated clock, which runs up
    # to ~100x faster than B's while A idles (PLATFORM.md, bxhub), and the
    # downtime of a move from B is B's time. Seen: 23 to 51 lost of 1700
    # with 0.8-0.9 s of downtime in all. So: the VM kept answering through
    # every move (the rest of the checks), and no more than 1 ping in 20
    # went unanswered.
    most = pings // 20
    expect(probe["bad"] == 0 and probe["replies"] + probe["lost"] == pings and probe["lost"] <= most,
           "the probe lost more than 1 in 20 (%d): %r" % (most, probe))
    # With its losses allowed (--max-lost), both hosts end with status 0.
    p.expect_status(0)
    expect(ended["echoed"] >= probe["replies"], "the VM answered %d, the probe got %d" % (ended["echoed"], probe["replies"]))
    figures("trips", round_trips=trips, moves=len(committed), wall_s="%.0f" % p.wall,
            guest_seconds=seconds, downtime_ms_sum=downtime_us // 1000,
            downtime_ms_max=max(e["downtime_us"] for e in committed) // 1000,
            total_ms_sum=sum(e["total_ms"] for e in committed),
            rounds_sum=sum(e["rounds"] for e in committed),
            retransmits=sum(e["retransmits"] for e in committed),
            pings=pings, lost=probe["lost"], p99_us=probe["p99_us"], max_us=probe["max_us"])


def test_eight_mixed_vms_for_emulated_minutes_energy_adds_up():
    seconds = 180 if LONG else 20
    reports = [seconds * 1000 * k // 4 for k in (1, 2, 3)]
    modules = [
        (GUEST % "dirty", "name=dirty mem=16M -- dirty --ws 4 --rate 1000 --seconds %d --checksum" % seconds),
        (GUEST % "dirty", "name=cpu mem=16M -- dirty --ws 1 --rate 20000 --seconds %d" % seconds),
        (GUEST % "energy", "name=busy mem=16M -- energy --busy %d --idle 1" % (seconds // 2)),
        (GUEST % "energy", "name=sleepy mem=16M -- energy --busy 1 --idle %d" % (seconds - 2)),
        (GUEST % "netping", "name=echo mem=16M -- netping --echo --timeout 30"),
        (GUEST % "netping", "name=probe mem=16M -- netping --to 02:4a:56:00:00:05 --count %d --interval-us 20000 "
         "--timeout 30" % (seconds * 50 - 50)),
        (GUEST % "mvb", "name=mvb mem=16M -- mvb 96 %d" % (4 * seconds)),
        (GUEST % "hello", "name=hello mem=16M"),
    ]
    script = " ".join("at=%d:energy" % t for t in reports)
    r = Run("soak_eight", "bochs", cmdline=script, timeout=120 + seconds * 8, modules=modules)
    r.expect_status(0)
    summary = r.event("energy_summary")
    expect(summary["sum_nj"] == summary["total_nj"] and summary["total_nj"] > 0,
           "parts %d nJ != total %d nJ" % (summary["sum_nj"], summary["total_nj"]))
    names = [m[1].split()[0][5:] for m in modules]
    for vm in names:
        series = [e for e in r.events if e.get("ev") == "energy" and e.get("vm") == vm]
        expect(len(series) >= 2, "%s: no energy reports" % vm)
        for key in ("uj", "guest_uj"):
            values = [e[key] for e in series]
            expect(values == sorted(values), "%s: %s went back (a counter wrapped?): %r" % (vm, key, values))
        expect(summary["ours"][vm] == series[-1]["uj"], "%s: summary disagrees with its exit report" % vm)
    for vm in ("busy", "sleepy"):
        g = r.guest_event(vm, "energy_guest")
        gap = [e for e in r.events if e.get("ev") == "energy" and e.get("vm") == vm][-1]["uj"] - g["counter_uj"]
        expect(0 <= gap <= 2000000, "%s: virtual RAPL %d uJ vs attributed (a 32-bit wrap lost?)" % (vm, g["counter_uj"]))
    dirty = r.guest_event("dirty", "dirty")
    expect(dirty["pages_written"] == 1000 * seconds, "dirty did not do its writes: %r" % dirty)
    expect(r.guest_event("mvb", "mvb")["check"] == "ok", "mvb's result is wrong")
    probe = r.guest_event("probe", "netping")
    expect(probe["bad"] == 0 and probe["lost"] == 0, "pings lost on one host: %r" % probe)
    figures("eight", vms=len(modules), emulated_s=seconds, total_j="%.1f" % (summary["total_nj"] / 1e9),
            sum_equals_total=summary["sum_nj"] == summary["total_nj"], dirty_elapsed_ms=dirty["elapsed_ms"],
            reports=len(reports))


def lossy(per_mille, seed):
    ws, rate, seconds = 2, 100, 14
    want = unmigrated_checksum("soak_bare_dirty_lossy_%d" % per_mille, ws, rate * seconds)
    fault = "linkfault=drop:%d,dup:%d,reorder:%d,seed:%d" % (per_mille, per_mille, per_mille, seed)
    p = Pair("soak_lossy_%d" % per_mille, "at=800:migrate,d,peer,pml " + fault,
             "listen=120 " + fault.replace("seed:%d" % seed, "seed:%d" % (seed + 1)), timeout=300, extra=[
                 "--delay-a", "5", "--module-a", GUEST % "dirty",
                 "name=d mem=16M -- dirty --ws %d --rate %d --seconds %d --checksum" % (ws, rate, seconds)])
    p.expect_status(0)
    done = p.a.event("migrate_done", vm="d")
    expect(done["status"] == "committed", "%d per mille: not committed: %r" % (per_mille, done))
    f = done["faults"]
    resumed = p.b.event("migrate_resume", vm="in0")
    g = resumed["faults"]
    # The faults really happened, both ways, and the transport repaired them.
    expect(f["dropped"] > 0 and f["duplicated"] > 0 and f["reordered"] > 0 and f["per_mille"] == [per_mille] * 3,
           "%d per mille: A injected %r" % (per_mille, f))
    expect(g["sent"] > 0 and g["dropped"] + g["duplicated"] + g["reordered"] > 0,
           "%d per mille: B injected %r" % (per_mille, g))
    expect(done["retransmits"] > 0, "%d per mille: frames lost but nothing retransmitted: %r" % (per_mille, done))
    moved = guest_event(p.b, "in0", "dirty")
    expect(moved["pages_written"] == rate * seconds and moved["checksum"] == want,
           "%d per mille: on B %r; unmigrated checksum %s" % (per_mille, moved, want))
    figures("lossy", per_mille=per_mille, wall_s="%.0f" % p.wall, total_ms=done["total_ms"],
            downtime_ms=done["downtime_us"] // 1000, rounds=done["rounds"], retransmits=done["retransmits"],
            a_sent=f["sent"], a_dropped=f["dropped"], a_duplicated=f["duplicated"], a_reordered=f["reordered"],
            b_sent=g["sent"], b_dropped=g["dropped"], b_duplicated=g["duplicated"], b_reordered=g["reordered"])


def test_migration_over_a_lossy_duplicating_reordering_link_is_byte_for_byte():
    for per_mille in ((10, 50, 100) if LONG else (50,)):
        lossy(per_mille, seed=per_mille + 7)


if __name__ == "__main__":
    sys.exit(main(globals()))

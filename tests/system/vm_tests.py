#!/usr/bin/env python3
"""System tests: VMs under hv in bochs (VMX with EPT).

Guests are the tiny assembly guests of tests/guests/tiny.S (one per
behaviour) and, where they are built, the guest kernel's workloads. Each
test asserts what a user would check: every VM's output and exit status,
the per-VM exit counts, and that a broken or hostile VM stops alone.
Usage: vm_tests.py [name-filter].
"""
import os
import re
import sys

from harness import BUILD, HV, ROOT, Run, expect, main

TINY = os.path.join(BUILD, "tests", "tiny-%s.elf")


def test_tiny_guest_runs_and_exits_0():
    r = Run("vm_tiny_ok", "bochs", modules=[(TINY % "ok", "name=probe mem=8M -- tiny")])
    r.expect_status(0)
    start = r.event("vm_start", vm="probe")
    expect(start["mem_mib"] == 8 and start["args"] == "tiny", "vm_start says %r" % start)
    r.expect_line(r"^\[probe\] tiny: hello through the UART$")
    r.expect_line(r"^\[probe\] tiny: hello through a hypercall$")
    ex = r.event("vm_exit", vm="probe")
    expect(ex["status"] == 0, "probe exited with %r" % ex)
    # The guest checked CPUID itself (it would exit 1); each exit kind counted.
    expect(ex["exits"].get("cpuid") == 2 and ex["exits"].get("vmcall") == 2, "exit counts %r" % ex["exits"])
    expect(ex["exits"].get("io", 0) >= 29, "UART output should cost one I/O exit per byte: %r" % ex["exits"])
    expect(ex["exits_total"] == sum(ex["exits"].values()), "exits_total disagrees with the counts")
    expect(ex["guest_tsc"] > 0 and ex["hv_tsc"] > 0, "no time accounted: %r" % ex)
    done = r.event("vms_done")
    expect(done == {"ev": "vms_done", "started": 1, "refused": 0, "failed": 0}, "vms_done %r" % done)


def test_broken_and_hostile_vms_stop_alone():
    bad_elf = os.path.join(ROOT, "README.md")  # not an ELF at all
    r = Run("vm_isolation", "bochs", modules=[
        (TINY % "ept", "name=ept mem=16M -- tiny"),
        (TINY % "hostile", "name=hostile -- tiny"),
        (TINY % "triple", "name=triple mem=4M -- tiny"),
        (TINY % "hltcli", "name=hltcli mem=4M -- tiny"),
        (TINY % "ok", "name=ok mem=8M -- tiny"),
        (TINY % "ok", "name=badmem mem=5M -- tiny"),
        (bad_elf, "name=notelf -- x"),
        (TINY % "nonote", "name=notpvh -- x"),
        (TINY % "ok", "name=ok -- tiny"),  # a duplicate name
    ])
    r.expect_status(1)  # some VMs failed: hv says so, after running the rest
    expect(r.event("vm_exit", vm="ok")["status"] == 0, "the good VM did not finish")
    r.expect_line(r"^\[ok\] tiny: hello through a hypercall$")
    hostile = r.event("vm_exit", vm="hostile")
    expect(hostile["status"] == 0, "hv answered a bad hypercall wrongly: %r" % hostile)
    r.expect_line(r"^\[hostile\] tiny: every bad hypercall was refused with the right error$")
    ept = r.event("vm_exit", vm="ept")
    expect(ept["status"] == 255 and "write of guest-physical 0x7fff0000" in ept["reason"]
           and "outside its 16 MiB" in ept["reason"], "ept VM: %r" % ept)
    expect(ept["exits"].get("ept_violation") == 1, "EPT violation not counted: %r" % ept["exits"])
    triple = r.event("vm_exit", vm="triple")
    expect(triple["status"] == 255 and "triple fault" in triple["reason"], "triple VM: %r" % triple)
    hlt = r.event("vm_exit", vm="hltcli")
    expect(hlt["status"] == 255 and "interrupts disabled" in hlt["reason"], "hltcli VM: %r" % hlt)
    errors = {e["vm"]: e["message"] for e in r.events if e.get("ev") == "vm_error"}
    # A refused line is named by the name= it gave.
    expect("multiple of 2M" in errors.get("badmem", ""), "bad mem= not refused: %r" % errors)
    expect("not an ELF file" in errors.get("notelf", ""), "non-ELF not refused: %r" % errors)
    expect("no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY) and no multiboot1 header"
           in errors.get("notpvh", ""), "an ELF no protocol boots was not refused: %r" % errors)
    expect("already has this name" in errors.get("ok", ""), "duplicate name not refused: %r" % errors)
    done = r.event("vms_done")
    expect(done["started"] == 5 and done["refused"] == 4 and done["failed"] == 3, "vms_done %r" % done)
    expect(r.event("result")["name"] == "fail", "hv should report failure")


GUEST = os.path.join(BUILD, "guest", "%s.elf")


def test_multiboot1_kernel_for_qemu_runs_unchanged_as_a_guest():
    """hv.elf is a kernel for QEMU's -kernel (multiboot1 by the a.out kludge,
    output on the UART, its end through port 0xf4: boot_tests.py boots it
    so): as a guest it sees no VT-x, says so and ends with its status 2."""
    r = Run("vm_mb1_guest", "bochs", modules=[(HV, "name=inner mem=32M -- pci=off"),
                                              (GUEST % "hello", "name=beside")])
    r.expect_status(1)  # inner ends with status 2: a VM that did not exit 0
    start = r.event("vm_start", vm="inner")
    expect(start["protocol"] == "multiboot1", "inner booted by %r" % start)
    r.expect_line(r"^\[inner\] hv: options: 'pci=off'$")  # its cmdline, path dropped
    r.expect_line(r"^\[inner\] hv: no VT-x here")
    ex = r.event("vm_exit", vm="inner")
    expect(ex["status"] == 2 and ex["reason"] == "exited", "inner ended %r" % ex)
    expect(r.event("vm_exit", vm="beside")["status"] == 0, "the VM beside it did not finish")


def test_module_without_arguments_runs():
    """'module2 /guest/hello.elf name=a': a guest ELF holds one program,
    so no '--' and no arguments are needed."""
    r = Run("vm_no_dashes", "bochs", modules=[(GUEST % "hello", "name=a"),
                                              (GUEST % "hello", "name=b mem=16M")])
    r.expect_status(0)
    for vm in ("a", "b"):
        expect(r.event("vm_start", vm=vm)["args"] == "", "%s was given arguments" % vm)
        expect(r.event("vm_exit", vm=vm)["status"] == 0, "%s did not exit 0" % vm)
        r.expect_line(r"^\[%s\] hello from Joulevisor guest$" % vm)
    expect(r.event("vm_start", vm="b")["mem_mib"] == 16, "mem= of a line without -- was lost")


DIRTY_ARGS = "dirty --ws 2 --rate 500 --seconds 1 --checksum"


def test_hello_mvb_dirty_run_at_the_same_time():
    r = Run("vm_three_workloads", "bochs", timeout=300, modules=[
        (GUEST % "hello", "name=hello mem=16M -- hello one two"),
        (GUEST % "mvb", "name=mvb mem=32M -- mvb 160 8"),
        (GUEST % "dirty", "name=dirty mem=32M -- " + DIRTY_ARGS),
    ])
    r.expect_status(0)
    r.expect_line(r"^\[hello\] hello from Joulevisor guest$")
    r.expect_line(r'^\[hello\] hello: argv\[2\] = "two"$')
    mvb = r.guest_event("mvb", "mvb")
    expect(mvb["check"] == "ok" and mvb["n"] == 160 and mvb["gflops"] > 0, "mvb: %r" % mvb)
    expect(mvb["energy_uj"] > 0, "mvb read no energy from its virtual RAPL: %r" % mvb)
    r.expect_line(r"^\[mvb\] mvb: energy \d+ uJ \(virtual RAPL\), [0-9.e+-]+ J per GFLOP$")
    dirty = r.guest_event("dirty", "dirty")
    expect(dirty["pages_written"] == 500, "dirty wrote %r pages, asked 500" % dirty)
    for vm in ("hello", "mvb", "dirty"):
        ex = r.event("vm_exit", vm=vm)
        expect(ex["status"] == 0, "%s exited with %r" % (vm, ex))
        expect(ex["exits"].get("cpuid", 0) > 0 and ex["exits"].get("vmcall", 0) > 0,
               "%s: per-reason exit counts missing: %r" % (vm, ex["exits"]))
    # dirty sleeps on its TSC-deadline timer: HLT exits and timer interrupts.
    dex = r.event("vm_exit", vm="dirty")["exits"]
    expect(dex.get("hlt", 0) > 10, "dirty never slept on its timer: %r" % dex)
    # They shared the CPU: the long ones were preempted by the time slice.
    expect(r.event("vm_exit", vm="mvb")["exits"].get("preemption_timer", 0) > 0,
           "mvb was never preempted: the VMs did not run at the same time")
    # The same work bare gives the same memory checksum: the VM's memory
    # behaves exactly like the machine's.
    bare = Run("bare_dirty_qemu", "qemu-kernel", timeout=120, extra=["--bare", GUEST % "dirty", DIRTY_ARGS])
    bare.expect_status(0)
    bdirty = [e for e in bare.events if e.get("ev") == "dirty"]
    expect(bdirty and bdirty[-1]["checksum"] == dirty["checksum"],
           "checksum as a VM %s, bare %s" % (dirty["checksum"], bdirty[-1]["checksum"] if bdirty else None))


def test_mvb_runs_bare_in_bochs_and_qemu():
    for emu in ("bochs", "qemu-kernel"):
        r = Run("bare_mvb_" + emu, emu, timeout=120, extra=["--bare", GUEST % "mvb", "mvb 96 4"])
        r.expect_status(0)
        ev = [e for e in r.events if e.get("ev") == "mvb"]
        expect(ev and ev[-1]["check"] == "ok" and ev[-1]["gflops"] > 0, "%s: mvb printed %r" % (emu, ev))
        r.expect_line(r"^mvb: n=96 iters=4 gflops=[0-9.]+ check=ok$")
        if emu == "bochs":
            boot = [e for e in r.events if e.get("ev") == "guest_boot"]
            expect(boot and abs(boot[-1]["tsc_hz"] - 50e6) < 0.01 * 50e6,
                   "bare in bochs the TSC must calibrate to the emulated 50 MHz: %r" % boot)


def test_energy_is_attributed_by_load_and_adds_up():
    r = Run("vm_energy", "bochs", cmdline="at=600:energy", timeout=300, modules=[
        (GUEST % "energy", "name=heavy mem=16M -- energy --busy 1 --idle 0.3"),
        (GUEST % "energy", "name=light mem=16M -- energy --busy 0.2 --idle 1.1"),
    ])
    r.expect_status(0)
    summary = r.event("energy_summary")
    expect(summary["source"] == "model", "bochs has no RAPL: the model must be the source")
    # Every interval's parts add up to its energy, so the totals match exactly.
    expect(summary["sum_nj"] == summary["total_nj"] and summary["total_nj"] > 0,
           "parts %d nJ != total %d nJ" % (summary["sum_nj"], summary["total_nj"]))
    expect(summary["idle_uj"] > 0 and summary["idle_residency_permille"] > 0,
           "both VMs slept at the end, yet no idle energy: %r" % summary)
    heavy = [e for e in r.events if e.get("ev") == "energy" and e.get("vm") == "heavy"]
    light = [e for e in r.events if e.get("ev") == "energy" and e.get("vm") == "light"]
    expect(len(heavy) >= 2 and len(light) >= 2, "the scripted 'energy' command printed no events")
    h, l = heavy[-1], light[-1]  # at exit
    expect(h["guest_uj"] > 3 * l["guest_uj"], "heavy (1 s busy) %d uJ vs light (0.2 s) %d uJ in guest mode"
           % (h["guest_uj"], l["guest_uj"]))
    expect(h["uj"] > l["uj"], "per-VM energy not ordered as the load: %r %r" % (h, l))
    expect(summary["ours"]["heavy"] == h["uj"] and summary["ours"]["light"] == l["uj"],
           "summary disagrees with the exit reports")
    for vm, ex in (("heavy", h), ("light", l)):
        g = r.guest_event(vm, "energy_guest")
        # The guest read its virtual RAPL just before exiting: hv's figure at
        # exit is that plus the cost of the last lines it printed.
        gap = ex["uj"] - g["counter_uj"]
        expect(0 <= gap <= 2000000, "%s: virtual RAPL %d uJ vs attributed %d uJ" % (vm, g["counter_uj"], ex["uj"]))
        expect(g["idle_uj"] * 10 < g["busy_uj"], "%s: sleeping cost as much as computing: %r" % (vm, g))
    rules = summary["rules"]
    expect(set(rules) == {"scaphandre", "kepler", "qemu-vrapl"}, "rules reported: %r" % list(rules))


def test_virtual_rapl_goes_on_across_a_migration():
    # A VM computing for 2 s reads its virtual RAPL before and after; it is
    # migrated (locally) in between. Its counter must go on from where it
    # stood, not restart with the new VM: the energy it measures stays what
    # one busy core draws (the model's 72 W at most) over those 2 s.
    r = Run("migrate_vrapl", "bochs", timeout=200, cmdline="at=1000:migrate,v,local,pml",
            modules=[(GUEST % "energy", "name=v mem=16M -- energy --busy 2 --idle 0.2")])
    r.expect_status(0)
    expect(r.event("migrate_done", vm="v")["status"] == "committed", "not migrated")
    g = r.guest_event("v-mig", "energy_guest")
    expect(0 < g["busy_uj"] <= 72 * 2 * 1000000 * 1.1,
           "the guest measured %d uJ for 2 s of work: its counter jumped" % g["busy_uj"])
    ex = r.event("energy", vm="v-mig")
    expect(ex["vrapl_uj"] >= g["counter_uj"], "the counter went back: %r vs %r" % (ex, g))


def _tracked_dirty_run(tracker):
    return Run("vm_dirty_" + tracker, "bochs", timeout=180,
               cmdline="at=500:track,d,%s at=1000:harvest,d at=1500:harvest,d at=2000:untrack,d" % tracker,
               modules=[(GUEST % "dirty", "name=d mem=32M -- dirty --ws 8 --rate 1000 --seconds 3 --checksum")])


def test_dirty_trackers_wp_ad_pml_agree():
    # dirty writes 1000 pages/s over 2048 pages: each 500 ms harvest must
    # hold the ~500 pages it wrote (plus a few of the guest kernel's own,
    # its stack), the same for all three trackers, and tracking must not
    # change what the guest computes.
    checksums = set()
    for tracker in ("wp", "ad", "pml"):
        r = _tracked_dirty_run(tracker)
        r.expect_status(0)
        r.expect_line(r"^hv: d: dirty logging by %s$" % tracker)
        harvests = [e for e in r.events if e.get("ev") == "dirty_harvest"]
        expect(len(harvests) == 2, "%s: %d harvests, expected 2" % (tracker, len(harvests)))
        for h in harvests:
            expect(h["tracker"] == tracker and 495 <= h["pages"] <= 530,
                   "%s: %d pages dirtied in 500 ms at 1000 pages/s" % (tracker, h["pages"]))
        if tracker == "wp":  # one exit per newly dirtied page
            expect(harvests[-1]["exits"] == sum(h["pages"] for h in harvests),
                   "wp: exits %d vs pages %r" % (harvests[-1]["exits"], [h["pages"] for h in harvests]))
        checksums.add(r.guest_event("d", "dirty")["checksum"])
    expect(len(checksums) == 1, "tracking changed the guest's memory: checksums %r" % checksums)


def _stream(name, sink_args, src_args, extra=(), more=()):
    return Run(name, "bochs", timeout=300, extra=list(extra), modules=list(more) + [
        (GUEST % "netsink", "name=sink mem=16M -- netsink " + sink_args),
        (GUEST % "netsrc", "name=src mem=16M -- netsrc " + src_args),
    ])


def _check_stream(r, count):
    sink, src = r.guest_event("sink", "netsink"), r.guest_event("src", "netsrc")
    expect(sink["received"] == count and sink["lost"] == 0 and sink["dup"] == 0 and sink["bad"] == 0,
           "sink: %r" % sink)
    expect(sink["checksum"] == src["checksum"], "checksums differ: sink %s, source %s"
           % (sink["checksum"], src["checksum"]))
    return sink


def test_two_vms_stream_through_the_virtual_switch():
    r = _stream("net_stream", "--expect 500", "--count 500 --size 512")
    r.expect_status(0)
    _check_stream(r, 500)
    stats = r.event("net_stats", vm="sink")
    expect(stats["rx_packets"] >= 500 and sum(stats["drops"].values()) == 0, "sink vNIC: %r" % stats)


def test_fixed_time_batching_cuts_interrupts_tenfold():
    # The same offered load (10 kpps of 64-byte frames, bochs at ips=200M so
    # the emulated CPU can carry it), with RX interrupts sent at once and
    # buffered for T_buf = 1 ms.
    runs = {}
    for policy in ("none", "fixed-time"):
        batch = "policy=none" if policy == "none" else "policy=%s,tbuf=1ms" % policy  # none has no knobs
        r = _stream("net_batch_" + policy, "--expect 2000 --batch " + batch,
                    "--count 2000 --size 64 --rate 10000", extra=["--ips", "200000000"])
        r.expect_status(0)
        sink = _check_stream(r, 2000)
        runs[policy] = (sink, r.event("net_stats", vm="sink"))
    (s_none, n_none), (s_fixed, n_fixed) = runs["none"], runs["fixed-time"]
    expect(s_fixed["interrupts"] * 10 <= s_none["interrupts"],
           "interrupts taken by the sink: none %d, fixed-time 1 ms %d: not tenfold"
           % (s_none["interrupts"], s_fixed["interrupts"]))
    expect(n_fixed["interrupts"] * 10 <= n_none["interrupts"], "hv injected: none %d, fixed-time %d"
           % (n_none["interrupts"], n_fixed["interrupts"]))
    expect(n_fixed["rx_flushes"]["timer"] > 0 and n_fixed["rx_added_latency_ns"] > 0,
           "fixed-time never waited: %r" % n_fixed)


def test_hostile_ring_is_contained():
    r = _stream("net_hostile", "--expect 300", "--count 300 --size 256",
                more=[(TINY % "netbad", "name=netbad mem=8M -- tiny")])
    r.expect_status(0)
    _check_stream(r, 300)
    bad = r.event("net_stats", vm="netbad")
    d = bad["drops"]
    expect(d["ring_corrupt"] == 1 and d["desc_addr"] == 1 and d["desc_len"] == 2 and bad["tx_packets"] == 0,
           "the hostile ring's garbage was not counted and dropped: %r" % bad)
    r.expect_line(r"^\[netbad\] tiny: every bad NIC hypercall was refused$")


# hv gives a host's VMs 02:4a:56 + two bytes of its e1000 MAC (zeros
# without one) + the VM's number from 1 in module order (hv/net/backend.c).
FIRST_VM_MAC = "02:4a:56:00:00:01"


def _latency_pair(name, server_args, client_args, extra=()):
    """A server as the first VM (FIRST_VM_MAC) and its client as the second."""
    elf = GUEST % server_args.split()[0]
    return Run(name, "bochs", timeout=300, extra=list(extra), modules=[
        (elf, "name=server mem=16M -- " + server_args),
        (elf, "name=client mem=16M -- " + client_args),
    ])


def _check_percentiles(ev, who):
    p = [ev[k] for k in ("min_us", "p50_us", "p90_us", "p99_us", "max_us")]
    expect(p[0] > 0 and p == sorted(p), "%s: percentiles out of order or zero: %r" % (who, p))
    expect(p[0] <= ev["mean_us"] <= p[-1], "%s: mean outside min..max: %r" % (who, ev))


def test_netping_two_vms_round_trips():
    r = _latency_pair("net_ping", "netping --echo",
                      "netping --to %s --count 100 --size 128" % FIRST_VM_MAC)
    r.expect_status(0)
    r.expect_line(r"^hv: server: pvnet attached, MAC %s," % FIRST_VM_MAC)
    probe, echo = r.guest_event("client", "netping"), r.guest_event("server", "netping")
    expect(probe["mode"] == "probe" and probe["to"] == FIRST_VM_MAC, "probe: %r" % probe)
    expect(probe["replies"] == 100 and probe["lost"] == 0 and probe["bad"] == 0 and probe["late"] == 0,
           "probe: %r" % probe)
    _check_percentiles(probe, "probe")
    # One probe at a time: the run cannot be shorter than its round trips.
    expect(probe["mean_us"] * 100 <= probe["seconds"] * 1e6,
           "100 RTTs of %.1f us in %.6f s" % (probe["mean_us"], probe["seconds"]))
    expect(echo["echoed"] == 100 and echo["ended"] == "end", "echo: %r" % echo)
    stats = r.event("net_stats", vm="server")
    expect(stats["rx_packets"] >= 100 and stats["tx_packets"] >= 100, "echo vNIC: %r" % stats)


def test_netping_counts_probes_the_echo_never_answers():
    # The echo answers 30 PINGs and stops; the last 10 probes time out.
    r = _latency_pair("net_ping_lost", "netping --echo --count 30",
                      "netping --to %s --count 40 --reply-timeout-ms 20" % FIRST_VM_MAC)
    r.expect_status(1)
    probe = r.guest_event("client", "netping")
    expect(probe["replies"] == 30 and probe["lost"] == 10, "probe: %r" % probe)
    expect(r.event("vm_exit", vm="client")["status"] == 1, "a probe with losses must fail")
    expect(r.guest_event("server", "netping")["ended"] == "done", "the echo did not stop at 30")


def _check_netrr(r, requests, reply_bytes):
    client, server = r.guest_event("client", "netrr"), r.guest_event("server", "netrr")
    expect(client["completed"] == requests and client["lost"] == 0 and client["bad"] == 0
           and client["late"] == 0, "client: %r" % client)
    _check_percentiles(client, "client")
    expect(server["served"] == requests and server["reply_bytes"] == requests * reply_bytes
           and server["bad"] == 0 and server["ended"] == "end", "server: %r" % server)
    expect(abs(client["requests_per_s"] * client["seconds"] - requests) < 1,
           "throughput disagrees with the count and time: %r" % client)
    return client


def test_netrr_closed_loop_completes_every_request():
    r = _latency_pair("net_rr", "netrr --server",
                      "netrr --client --to %s --requests 200 --request-bytes 100 --reply-bytes 1000 "
                      "--concurrency 4" % FIRST_VM_MAC)
    r.expect_status(0)
    client = _check_netrr(r, 200, 1000)
    # requests/s is printed to 0.1: 1000 times that is exact to 50 bytes/s.
    expect(abs(client["reply_bytes_per_s"] - client["requests_per_s"] * 1000) <= 60,
           "reply bytes/s is not 1000 x requests/s: %r" % client)


def test_netrr_open_loop_keeps_its_rate():
    # 300 requests at 1000/s: the run takes ~0.3 s and the server keeps up.
    r = _latency_pair("net_rr_rate", "netrr --server",
                      "netrr --client --requests 300 --rate 1000 --reply-bytes 200")
    r.expect_status(0)
    client = _check_netrr(r, 300, 200)
    expect(client["to"] == FIRST_VM_MAC, "the client found %r, not the server" % client["to"])
    expect(950 <= client["requests_per_s"] <= 1050 and client["delayed"] == 0,
           "open loop at 1000/s ran at %r" % client)


def test_latency_tools_bad_arguments_exit_2():
    bad = {"p": "netping --count banana", "e": "netping --echo --to 02:4a:56:00:00:01",
           "c": "netrr --client --reply-bytes 99999", "s": "netrr --server --requests 5",
           "n": "netrr"}
    r = Run("net_latency_bad_args", "bochs", modules=[
        (GUEST % args.split()[0], "name=%s mem=8M -- %s" % (vm, args)) for vm, args in bad.items()])
    r.expect_status(1)
    for vm, args in bad.items():
        expect(r.event("vm_exit", vm=vm)["status"] == 2, "%r should end with status 2" % args)
        r.expect_line(r"^\[%s\] usage: " % vm)


# 6 s: the VM must outlive the migration, which shares the one CPU with it.
MIGRATE_DIRTY = "dirty --ws 2 --rate 500 --seconds 6 --checksum"


def _bare_dirty_checksum(args=MIGRATE_DIRTY):
    bare = Run("bare_dirty_" + re.sub(r"\W+", "_", args), "qemu-kernel", timeout=120, extra=["--bare", GUEST % "dirty", args])
    bare.expect_status(0)
    return [e for e in bare.events if e.get("ev") == "dirty"][-1]["checksum"]


def test_live_migration_local_with_each_tracker():
    # A VM writing 500 pages/s is migrated while it runs, to a new VM on the
    # same host (the engine, trackers, state save/restore and resume, over an
    # in-memory link). It must go on there with the same page counter and
    # end with the memory checksum it would have had unmigrated.
    want = _bare_dirty_checksum()
    for tracker in ("wp", "ad", "pml"):
        r = Run("migrate_local_" + tracker, "bochs", timeout=300,
                cmdline="at=800:migrate,d,local,%s" % tracker,
                modules=[(GUEST % "dirty", "name=d mem=16M -- " + MIGRATE_DIRTY)])
        r.expect_status(0)
        done = r.event("migrate_done", vm="d")
        expect(done["status"] == "committed" and done["tracker"] == tracker, "%s: %r" % (tracker, done))
        # The first round sends every page but those the VM wrote again
        # before their turn (left to the next round, not sent twice); what
        # the VM wrote meanwhile comes after, in later rounds or in the
        # stop-and-copy.
        expect(done["rounds"] >= 1 and done["pages"][0] + done["skipped"][0] == 4096
               and done["pages_skipped"] == sum(done["skipped"]) and done["bytes"] > 4096 * 100
               and sum(done["pages"][1:]) + done["stop_copy_pages"] > 0,
               "%s: rounds/pages/bytes not reported: %r" % (tracker, done))
        expect(done["downtime_us"] > 0 and done["predicted_downtime_us"] > 0, "%s: no downtime figures" % tracker)
        # What it cost the host (seed 004's CPU consumption and memory):
        # a share of the CPU, at least the page list's 32 KiB and the
        # job's own buffers; the downtime as the data the link would have
        # moved meanwhile.
        expect(0 < done["cpu_permille"] <= 1000 and done["hv_mem_kib"] >= 32 + 16,
               "%s: cpu %r per mille, %r KiB" % (tracker, done["cpu_permille"], done["hv_mem_kib"]))
        kb_eq = done["downtime_us"] * done["link_Bps"] / 1e9
        expect(abs(done["downtime_kb_eq"] - kb_eq) <= 1 + kb_eq / 100,
               "%s: downtime_kb_eq %r, downtime x link rate %.1f KB" % (tracker, done["downtime_kb_eq"], kb_eq))
        # Each tracker reports its own cost: exits (one per newly dirtied
        # page for wp, PML-full exits for pml, none for ad) and harvest time.
        expect(done["tracker_scan_us"] > 0 and (tracker != "wp" or done["tracker_exits"] > 0)
               and (tracker != "ad" or done["tracker_exits"] == 0),
               "%s: tracker cost %r us, %r exits" % (tracker, done["tracker_scan_us"], done["tracker_exits"]))
        src = r.event("vm_exit", vm="d")
        expect(src["status"] == 0 and src["reason"] == "migrated to d-mig", "%s: source %r" % (tracker, src))
        resume = r.event("migrate_resume", vm="d-mig")
        expect(0 < resume["cpu_permille"] <= 1000 and resume["hv_mem_kib"] >= 32,
               "%s: destination cpu %r, %r KiB" % (tracker, resume["cpu_permille"], resume["hv_mem_kib"]))
        # The image's non-zero pages: at least the working set the VM
        # wrote (2 MiB), at most the VM; what crossed is counted against it.
        expect(512 <= resume["nonzero_pages"] <= 4096 and done["bytes"] >= resume["nonzero_pages"] * 4096,
               "%s: %r non-zero pages, %r bytes sent" % (tracker, resume["nonzero_pages"], done["bytes"]))
        moved = r.guest_event("d-mig", "dirty")
        expect(moved["pages_written"] == 3000 and moved["checksum"] == want,
               "%s: after migration %r, unmigrated checksum %s" % (tracker, moved, want))
        expect(r.event("vm_exit", vm="d-mig")["status"] == 0, "%s: the migrated VM failed" % tracker)


def test_hot_set_vm_migrates_locally_within_0_6_mb_equivalent_of_downtime():
    # Issue 15: a VM that rewrites a 1 MiB hot set all the time (each page
    # ~80 times a second) moves on one host with a downtime of at most
    # 0.6 MB-equivalent (downtime x the link's rate), and ends with the
    # memory checksum of an unmigrated run.
    args = "dirty --ws 1 --rate 20000 --seconds 4 --checksum"
    want = _bare_dirty_checksum(args)
    r = Run("migrate_hot_set", "bochs", timeout=300, cmdline="at=800:migrate,d,local,pml",
            modules=[(GUEST % "dirty", "name=d mem=16M -- " + args)])
    r.expect_status(0)
    done = r.event("migrate_done", vm="d")
    expect(done["status"] == "committed", "not committed: %r" % done)
    expect(0 < done["downtime_kb_eq"] <= 600,
           "downtime %d us at %d B/s: %d KB-equivalent, over 600" % (
               done["downtime_us"], done["link_Bps"], done["downtime_kb_eq"]))
    moved = r.guest_event("d-mig", "dirty")
    expect(moved["checksum"] == want, "after migration %r, unmigrated checksum %s" % (moved, want))


def test_migration_with_a_dead_link_aborts_and_loses_nothing():
    # The link dies after 500 frames; the VM runs long enough (6 s) for the
    # transport to give up on the peer while it still runs.
    args = "dirty --ws 2 --rate 500 --seconds 6 --checksum"
    want = _bare_dirty_checksum(args)
    r = Run("migrate_cut", "bochs", timeout=300, cmdline="at=800:migrate,d,local,pml,default,cut=500",
            modules=[(GUEST % "dirty", "name=d mem=16M -- " + args)])
    r.expect_status(0)
    done = r.event("migrate_done", vm="d")
    expect(done["status"] == "aborted" and "peer gone" in done["reason"], "not aborted: %r" % done)
    stayed = r.guest_event("d", "dirty")
    expect(stayed["pages_written"] == 3000 and stayed["checksum"] == want,
           "the VM did not run on intact on the source: %r" % stayed)
    expect(r.event("vm_exit", vm="d")["reason"] == "exited", "the source VM was stopped")
    expect("aborted" in r.event("vm_exit", vm="d-mig")["reason"], "the destination resumed something")


def test_qemu_auto_converge_throttles_the_vcpu():
    # A CPU-bound writer dirties memory faster than half the link's rate, so
    # the qemu policy raises the throttle every round (20%, 30%, ... 99%).
    # The vCPU's measured share of the CPU (~15% unthrottled: on one CPU the
    # local engine takes the rest) must stay under 100 - throttle (a few
    # points of slack: the last run of a round) and be at most half of it
    # once throttled 90% or more; the migration must then converge, and the
    # VM end with its memory intact.
    args = "dirty --ws 4 --rate 20000 --seconds 8 --checksum"
    want = _bare_dirty_checksum(args)
    r = Run("migrate_throttle", "bochs", timeout=400, cmdline="at=800:migrate,d,local,pml,qemu",
            modules=[(GUEST % "dirty", "name=d mem=16M -- " + args)])
    r.expect_status(0)
    done = r.event("migrate_done", vm="d")
    expect(done["status"] == "committed" and done["policy"] == "qemu", "not committed: %r" % done)
    throttle, share = done["throttle"], done["vcpu_percent"]
    expect(len(throttle) == len(share) == min(done["rounds"], 32) and max(throttle) >= 90,
           "the throttle never reached 90%%: %r" % throttle)
    expect(throttle[:4] == [0, 20, 30, 40], "not QEMU's 20%% then +10%% steps: %r" % throttle)
    before = share[1]  # the first round at 20%, below what the engine leaves anyway
    for t, s in zip(throttle, share):
        expect(s <= 100 - t + 3 and (t < 90 or 2 * s <= before + 1),
               "throttled %d%% yet the vCPU ran %d%% of the time: throttle %r, share %r"
               % (t, s, throttle, share))
    expect(done["throttled_ms"] > 0, "no time held out reported: %r" % done)
    moved = r.guest_event("d-mig", "dirty")
    expect(moved["pages_written"] == 160000 and moved["checksum"] == want,
           "after migration %r, unmigrated checksum %s" % (moved, want))


def test_bad_migrate_commands_are_refused_and_the_vm_runs_on():
    # Each command is refused whole with a line that says why; no migration
    # starts and the VM ends normally, untouched.
    bad = {"payload=5": "payload=5 out of range",
           "payload=12x": "bad option 'payload=12x'",
           "payload=99999999999999999999": "bad option",
           "cut=-1": "bad option 'cut=-1'",
           "speed=9": "unknown knob 'speed' (knobs: default: downtime; engine: round_limit): not started",
           "round_limit=0": "round_limit=0 out of range (1 to 1000 rounds): not started"}
    script = " ".join("at=%d:migrate,d,local,pml,default,%s" % (300 + 100 * i, opt)
                      for i, opt in enumerate(bad))
    script += " at=900:migrate,d,moon at=1000:migrate,d,local,pml,default,cut=1,payload=100,x at=1100:policies"
    r = Run("migrate_bad_commands", "bochs", timeout=200, cmdline=script,
            modules=[(GUEST % "dirty", "name=d mem=16M -- dirty --ws 1 --rate 100 --seconds 2")])
    r.expect_status(0)
    for opt, why in bad.items():
        r.expect_line(r"^hv: migrate: .*%s" % re.escape(why))
    r.expect_line(r"^hv: migrate: destination 'moon' unknown")
    r.expect_line(r"^hv: migrate: too many words at 'x'")
    # `policies` lists every policy with its knobs from the tables, the
    # examples included; the same listing `make policies` prints.
    listed = {(e["family"], e["name"]): e["defaults"] for e in r.events if e.get("ev") == "policy"}
    expect(listed.get(("batch", "idle")) == ["count=16", "idle=100us", "tbuf=1ms"]
           and listed.get(("stop", "shrink")) == ["ratio=10"]
           and listed.get(("stop", "(engine)")) == ["round_limit=50"], "policies listed: %r" % listed)
    r.expect_line(r"^ +tbuf=DURATION \(default 1ms, 1us\.\.1s\): at the latest this long after the first packet$")
    expect(not [e for e in r.events if e.get("ev") == "migrate_start"], "a migration started")
    expect(r.event("vm_exit", vm="d")["reason"] == "exited", "the VM did not run on to its end")


def test_networked_vm_migrates_and_keeps_answering():
    # An echo VM is migrated (locally: a new VM on this host) while a probe
    # VM pings it every 10 ms. The vNIC's state travels with it: the new VM
    # keeps the MAC, its rings and counters, the switch learns its new
    # port, and it goes on answering. Pings that arrive while the VM is
    # paused are lost, as on a real NIC (hv counts them as drops "paused"):
    # no more than the downtime holds, plus two. The echo's vNIC runs the
    # example batching policy idle with knobs of its own, and the example
    # stop policy shrink migrates it: both arrive with their knobs intact.
    count = 300
    batching = "policy=idle count=4 idle=200us tbuf=2ms"
    r = Run("migrate_networked", "bochs", timeout=300,
            cmdline="at=1000:migrate,echo,local,pml,shrink,ratio=20",
            modules=[(GUEST % "netping", "name=echo mem=16M -- netping --echo --count %d --timeout 10 --batch %s"
                      % (count, batching.replace(" ", ","))),
                     (GUEST % "netping", "name=probe mem=16M -- netping --to %s --count %d --interval-us 10000 "
                      "--reply-timeout-ms 3000 --timeout 60" % (FIRST_VM_MAC, count))])
    done = r.event("migrate_done", vm="echo")
    expect(done["status"] == "committed", "not committed: %r" % done)
    expect(done["knobs"] == "policy=shrink ratio=20 round_limit=50" and done["stopped_by"] == "policy",
           "the migration did not run shrink with its knob: %r" % done)
    r.expect_line(r"^hv: echo: batching now %s$" % batching)
    r.expect_line(r"^hv: echo-mig: pvnet resumed, MAC %s, batching %s$" % (FIRST_VM_MAC, batching))
    probe = r.guest_event("probe", "netping")
    most = done["downtime_us"] // 10000 + 2
    expect(probe["bad"] == 0 and probe["replies"] + probe["lost"] == count and probe["lost"] <= most,
           "the probe lost more than the downtime holds (%d): %r" % (most, probe))
    echoed = r.guest_event("echo-mig", "netping")
    expect(echoed["mode"] == "echo" and echoed["echoed"] == probe["replies"],
           "the migrated echo's count (carried over) is not the probe's replies: %r" % echoed)
    before = [e for e in r.guest_events.get("echo", []) if e.get("ev") == "netping"]
    expect(not before, "the echo ended on the old VM: %r" % before)
    expect(r.event("vm_exit", vm="probe")["status"] == (0 if probe["lost"] == 0 else 1),
           "the probe's exit status does not match its losses")


def test_guest_bad_arguments_exit_2():
    r = Run("vm_bad_args", "bochs", modules=[(GUEST % "dirty", "name=d -- dirty --rate banana")])
    r.expect_status(1)
    expect(r.event("vm_exit", vm="d")["status"] == 2, "a bad argument should end the VM with status 2")
    r.expect_line(r"^\[d\] .*(usage|Usage)")


if __name__ == "__main__":
    sys.exit(main(globals()))

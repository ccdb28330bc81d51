#!/usr/bin/env python3
"""System tests: hv's e1000 driver and the link between two bochs hosts.

A single host with `tools/run.py --nic` must find the 82540EM and print its
MAC. Two hosts (`tools/run.py --pair`: bxhub and two bochs instances in a
private network namespace) run hv's link test, `linktest=send:N` against
`linktest=recv:N`, with no guest: every frame must arrive exactly once. The
runner must name the side that failed, and leave no bxhub or bochs behind.
Bare, with no hypervisor, the guest drives the e1000 itself: netsrc on one
side streams to netsink on the other through bxhub (bochs) or a QEMU socket
netdev, and a guest with no NIC says so and stops.
These tests need bochs' bxhub and util-linux's unshare/nsenter: without them
they FAIL (never skip), saying what to install. Usage: net_tests.py [filter].
"""
import json
import os
import re
import shutil
import subprocess
import sys
import time

from harness import BUILD, HV, RUN, WORK, Failure, Run, expect, main, note_workdir

NEEDED = {"bxhub": "bochs", "unshare": "util-linux", "nsenter": "util-linux", "ip": "iproute2"}


def need_tools():
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    missing = [t for t in NEEDED if not shutil.which(t, path=path)]
    expect(not missing, "%s not found: the network tests need the Debian packages %s"
           % (", ".join(missing), " ".join(sorted({NEEDED[t] for t in missing}))))


class Host:
    """One side's serial log and its events."""

    def __init__(self, name, path):
        self.name = name
        self.log = open(path, errors="replace").read() if os.path.exists(path) else ""
        self.events = []
        for line in self.log.splitlines():
            if line.startswith("@ "):
                try:
                    self.events.append(json.loads(line[2:]))
                except ValueError as e:
                    raise Failure("%s: malformed event line %r: %s" % (name, line, e))

    def event(self, ev, **match):
        found = [e for e in self.events if e.get("ev") == ev
                 and all(e.get(k) == v for k, v in match.items())]
        expect(found, "host %s printed no %r event%s" % (self.name, ev, " with %r" % match if match else ""))
        return found[-1]


class Pair:
    """Two hosts A and B on one link through bxhub (tools/run.py --pair)."""

    def __init__(self, name, cmdline_a, cmdline_b, timeout=90, extra=()):
        need_tools()
        self.workdir = os.path.join(WORK, name)
        shutil.rmtree(self.workdir, ignore_errors=True)
        os.makedirs(self.workdir)
        note_workdir(self.workdir)
        logs = [os.path.join(self.workdir, "serial-%s.log" % s) for s in "ab"]
        args = [sys.executable, RUN, "--pair", "--hv", HV, "--cmdline-a", cmdline_a, "--cmdline-b", cmdline_b,
                "--timeout", str(timeout), "--workdir", self.workdir,
                "--log-a", logs[0], "--log-b", logs[1]] + list(extra)
        start = time.time()
        r = subprocess.run(args, capture_output=True, text=True)
        self.wall = time.time() - start
        self.status, self.stderr = r.returncode, r.stderr
        self.a, self.b = Host("A", logs[0]), Host("B", logs[1])
        # Whatever happened, nothing of this run may still be running.
        left = leftover_processes(self.workdir)
        expect(not left, "processes of the run still alive after the runner ended: %r" % left)

    def expect_status(self, status):
        expect(self.status == status, "pair exit status %d, expected %d; runner said: %s"
               % (self.status, status, self.stderr.strip()[-600:]))


def leftover_processes(tag):
    """Processes whose command line mentions tag (our work directory)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if tag in cmd and int(pid) != os.getpid():
            found.append("%s: %s" % (pid, cmd[:120]))
    return found


def check_link(pair, frames, size):
    """Both ended with status 0 and every frame arrived exactly once."""
    pair.expect_status(0)
    nic_a, nic_b = pair.a.event("nic"), pair.b.event("nic")
    send = pair.a.event("linktest", role="send")
    recv = pair.b.event("linktest", role="recv")
    expect(send["peer"] == nic_b["mac"] and recv["peer"] == nic_a["mac"],
           "the hosts heard the wrong peer: A %r, B %r" % (send, recv))
    expect(recv["frames"] == frames and recv["size"] == size, "receiver ran %r" % recv)
    expect(recv["received"] == frames and recv["missing"] == 0, "frames missing: %r" % recv)
    expect(recv["duplicates"] == 0, "duplicates arrived: %r" % recv)
    expect(recv["corrupt"] == 0 and recv["other"] == 0, "corrupt or stray frames: %r" % recv)
    expect(recv["ok"] and send["ok"], "a side says the test failed")
    expect(pair.a.event("result")["status"] == 0 and pair.b.event("result")["status"] == 0,
           "a result line is not status 0")
    # The driver's counters agree with the protocol's.
    tx = pair.a.event("nic_stats")
    rx = pair.b.event("nic_stats")
    expect(tx["tx_frames"] >= send["sent"] + send["retransmits"] and tx["tx_bad_len"] == 0,
           "sender's NIC counted %r for %r" % (tx, send))
    expect(rx["rx_frames"] >= frames and rx["rx_errors"] == 0 and rx["rx_too_big"] == 0,
           "receiver's NIC counted %r" % rx)
    return send, recv


# ---- the tests -------------------------------------------------------------

def test_single_host_finds_the_e1000_and_its_mac():
    need_tools()
    r = Run("net_nic", "bochs", timeout=60, extra=["--nic", "--mac", "b0:c4:20:00:00:2a"])
    r.expect_status(0)
    nic = r.event("nic")
    want = {"model": "82540EM", "mac": "b0:c4:20:00:00:2a", "bdf": "00:02.0", "bar0": "0xc0000000",
            "link": True}
    expect(all(nic.get(k) == v for k, v in want.items()), "nic event %r, expected %r" % (nic, want))
    r.expect_line(r"^hv: e1000 at 00:02\.0, MAC b0:c4:20:00:00:2a, BAR0 0xc0000000, link up")
    expect(any(d["id"] == "8086:100e" and d["bdf"] == "00:02.0" for d in r.event("pci")["devices"]),
           "PCI enumeration did not list the 82540EM")
    # hv went on to its usual end: the NIC changes nothing else.
    expect(r.event("vmx")["ok"] and r.event("result")["name"] == "ok", "boot did not complete")


def test_without_a_nic_nothing_is_printed():
    r = Run("net_no_nic", "bochs", cmdline="vmx=off", timeout=60)
    r.expect_status(0)
    expect(not any(e.get("ev") in ("nic", "nic_stats") for e in r.events), "a nic event without a NIC")
    expect("e1000" not in r.log, "an e1000 line without a NIC")
    r2 = Run("net_no_nic_linktest", "bochs", cmdline="vmx=off linktest=recv:10", timeout=60)
    r2.expect_status(1)
    r2.expect_line(r"^hv: linktest: linktest= needs an 82540EM NIC")


def test_bad_linktest_option_is_refused():
    # QEMU has an 82540EM by default; the option is checked before any NIC use.
    r = Run("net_bad_option", "qemu-kernel", cmdline="linktest=send:10:59", timeout=30)
    r.expect_status(5)
    expect("expected send:N[:SIZE[:WINDOW]] or recv:N[:DROP]" in r.event("error", what="cmdline")["message"],
           "the error does not say what is allowed")


def test_link_carries_every_frame_exactly_once():
    # ips=5M: the link takes a frame per emulated ms, so a lower ips is a
    # faster link in wall time (PLATFORM.md Part B); 5000 full frames.
    p = Pair("net_link", "linktest=send:5000", "linktest=recv:5000", extra=["--ips", "5000000"])
    send, recv = check_link(p, 5000, 1514)
    # A window under the receiver's buffer means the link never overflows.
    expect(recv["lost"] == 0 and send["retransmits"] == 0 and send["sent"] == 5000,
           "the window let the link drop frames: %r / %r" % (send, recv))
    boot = p.a.event("boot")
    expect(boot["cpu"]["tsc_khz"] in range(4950, 5051), "TSC at ips=5M: %r" % boot["cpu"])


def test_link_recovers_lost_frames_without_duplicates():
    # The default platform speed (ips=50M), small frames, a small window,
    # and a receiver that ignores every 5th DATA frame as if it were lost.
    p = Pair("net_recover", "linktest=send:1000:60:8", "linktest=recv:1000:5")
    send, recv = check_link(p, 1000, 60)
    expect(recv["dropped_on_purpose"] >= 200 and recv["lost"] > 0, "nothing was dropped: %r" % recv)
    # A frame is sent again only when its first copy is really gone.
    expect(send["retransmits"] == recv["dropped_on_purpose"],
           "%d frames sent again for %d lost: %r / %r"
           % (send["retransmits"], recv["dropped_on_purpose"], send, recv))


def guest_event(host, vm, ev):
    pattern = re.compile(r"^\[%s\] @ (\{.*\})$" % re.escape(vm), re.M)
    found = [json.loads(m.group(1)) for m in pattern.finditer(host.log)]
    found = [e for e in found if e.get("ev") == ev]
    expect(found, "host %s: VM %s printed no %r event" % (host.name, vm, ev))
    return found[-1]


def test_vm_on_host_a_streams_to_vm_on_host_b():
    # Two hosts, one VM each, through the virtual switches' e1000 uplinks
    # (frames tunnelled host to host, see hv/net/backend.c) and bxhub.
    guests = os.path.join(BUILD, "guest")
    p = Pair("pair_vm_stream", "", "", timeout=180, extra=[
        "--module-a", os.path.join(guests, "netsrc.elf"), "name=src mem=16M -- netsrc --count 200 --size 512",
        "--module-b", os.path.join(guests, "netsink.elf"), "name=sink mem=16M -- netsink --expect 200 --timeout 20"])
    p.expect_status(0)
    sink, src = guest_event(p.b, "sink", "netsink"), guest_event(p.a, "src", "netsrc")
    expect(sink["received"] == 200 and sink["lost"] == 0 and sink["dup"] == 0 and sink["bad"] == 0,
           "sink on B: %r" % sink)
    expect(sink["checksum"] == src["checksum"], "checksums differ: B %s, A %s" % (sink["checksum"], src["checksum"]))


def test_request_response_between_vms_on_two_hosts():
    # netrr's client on A, its server on B, through both switches' e1000
    # uplinks. The client names the server by the MAC hv gives B's first VM:
    # 02:4a:56, the last two bytes of B's e1000 MAC (runner default
    # b0:c4:20:00:00:0b), VM number 1.
    guests = os.path.join(BUILD, "guest")
    server_mac = "02:4a:56:00:0b:01"
    p = Pair("pair_vm_netrr", "", "", timeout=180, extra=[
        "--module-a", os.path.join(guests, "netrr.elf"),
        "name=client mem=16M -- netrr --client --to %s --requests 100 --request-bytes 128 "
        "--reply-bytes 512 --concurrency 2 --reply-timeout-ms 2000 --timeout 60" % server_mac,
        "--module-b", os.path.join(guests, "netrr.elf"), "name=server mem=16M -- netrr --server --timeout 60"])
    p.expect_status(0)
    expect(re.search(r"^hv: server: pvnet attached, MAC %s," % server_mac, p.b.log, re.M),
           "B's VM did not get the MAC the client was told")
    client, server = guest_event(p.a, "client", "netrr"), guest_event(p.b, "server", "netrr")
    expect(client["completed"] == 100 and client["lost"] == 0 and client["bad"] == 0,
           "client on A: %r" % client)
    pct = [client[k] for k in ("min_us", "p50_us", "p90_us", "p99_us", "max_us")]
    expect(pct[0] > 0 and pct == sorted(pct), "client percentiles %r" % pct)
    expect(server["served"] == 100 and server["reply_bytes"] == 100 * 512 and server["bad"] == 0,
           "server on B: %r" % server)


def check_bare_stream(pair, frames, size, macs):
    """The same verdict as the two-host VM stream, for bare guests: both
    ended with status 0, the e1000 driver came up on each side with the MAC
    the runner gave it, and every frame arrived once, whole and in order."""
    pair.expect_status(0)
    for host, mac in zip((pair.a, pair.b), macs):
        expect(host.event("guest_boot")["hypervisor"] != "Joulevisor", "%s ran under hv" % host.name)
        expect(re.search(r"^net: e1000 attached at [0-9a-f]{2}:[0-9a-f]{2}\.[0-7], MAC %s, .*link up"
                         % re.escape(mac), host.log, re.M),
               "host %s did not bring its e1000 up with MAC %s" % (host.name, mac))
        expect(host.event("guest_exit")["status"] == 0, "host %s's guest failed" % host.name)
    src, sink = pair.a.event("netsrc"), pair.b.event("netsink")
    expect(src["sent"] == frames and src["size"] == size and src["complete"], "source on A: %r" % src)
    expect(sink["received"] == frames and sink["expected"] == frames and sink["lost"] == 0
           and sink["dup"] == 0 and sink["reordered"] == 0 and sink["bad"] == 0 and sink["ended"],
           "sink on B: %r" % sink)
    expect(sink["checksum"] == src["checksum"],
           "checksums differ: B %s, A %s" % (sink["checksum"], src["checksum"]))
    expect(src["interrupts"] == 0 and sink["interrupts"] == 0, "the polled e1000 took interrupts")
    return src, sink


MACS = ("b0:c4:20:00:00:1a", "b0:c4:20:00:00:1b")


def bare_pair(name, emu, frames, size, extra=()):
    guests = os.path.join(BUILD, "guest")
    return Pair(name, "", "", timeout=120, extra=[
        "--emu", emu, "--mac-a", MACS[0], "--mac-b", MACS[1],
        "--bare-a", os.path.join(guests, "netsrc.elf"),
        "netsrc --count %d --size %d --timeout 20" % (frames, size),
        "--bare-b", os.path.join(guests, "netsink.elf"),
        "netsink --expect %d --timeout 20" % frames] + list(extra))


def test_bare_qemu_netsrc_streams_to_bare_netsink():
    # Two QEMU TCG guests, no hypervisor, e1000s joined by a socket netdev.
    p = bare_pair("bare_qemu_stream", "qemu-kernel", 3000, 1514)
    check_bare_stream(p, 3000, 1514, MACS)


def test_bare_bochs_netsrc_streams_to_bare_netsink_through_bxhub():
    # The bochs e1000 model (RAL/RAH zero after reset) and bxhub, which
    # delivers unicast only to MACs it saw broadcast: the same stream as
    # the two-host VM test, with no hv on either side.
    p = bare_pair("bare_bochs_stream", "bochs", 200, 512)
    check_bare_stream(p, 200, 512, MACS)


def test_bare_guest_without_a_nic_says_so():
    for emu, extra in (("qemu-kernel", ["--no-nic"]), ("bochs", [])):
        start = time.time()
        r = Run("bare_no_nic_" + emu.replace("-", "_"), emu, timeout=60, extra=extra + [
            "--bare", os.path.join(BUILD, "guest", "netsink.elf"), "netsink --timeout 30"])
        wall = time.time() - start
        r.expect_status(1)
        r.expect_line(r"^net: no NIC: no Intel 82540EM \(e1000, PCI 8086:100e\) on the PCI bus")
        expect(r.event("guest_exit")["status"] == 1, "%s: guest_exit %r" % (emu, r.event("guest_exit")))
        expect(not any(e.get("ev") == "netsink" for e in r.events),
               "%s: netsink went on without a NIC" % emu)
        # It stops at once instead of waiting out --timeout 30 for a source.
        expect(wall < 25, "%s: took %.0f s to give up" % (emu, wall))


def test_running_vm_migrates_from_host_a_to_host_b():
    # A VM writing pages moves from A to B over the e1000s and bxhub while it
    # runs, with each dirty tracker; on B it goes on with the same counter
    # and ends with the memory checksum of an unmigrated run.
    # 12 s of work: the migration must end before the VM does even when the
    # two bochs run at different speeds on a loaded machine.
    # B boots 5 s before A, so its TSC is seconds ahead of A's: the guest's
    # clock must still go on from where it paused (no jump, never back).
    args = "dirty --ws 2 --rate 100 --seconds 12 --checksum"
    bare = Run("bare_dirty_for_pair", "qemu-kernel", timeout=120,
               extra=["--bare", os.path.join(BUILD, "guest", "dirty.elf"), args])
    bare.expect_status(0)
    want = [e for e in bare.events if e.get("ev") == "dirty"][-1]["checksum"]
    for tracker in ("pml", "ad", "wp"):
        p = Pair("pair_migrate_" + tracker, "at=800:migrate,d,peer," + tracker, "listen=120", timeout=240,
                 extra=["--delay-a", "5",
                        "--module-a", os.path.join(BUILD, "guest", "dirty.elf"), "name=d mem=16M -- " + args])
        p.expect_status(0)
        done = p.a.event("migrate_done", vm="d")
        expect(done["status"] == "committed" and done["link"] == "e1000" and done["tracker"] == tracker,
               "%s: A reports %r" % (tracker, done))
        expect(done["rounds"] >= 1 and done["bytes"] > 0 and done["downtime_us"] > 0, "%s: %r" % (tracker, done))
        expect(p.a.event("vm_exit", vm="d")["reason"] == "migrated to peer", "%s: the VM stayed on A" % tracker)
        p.b.event("migrate_resume", vm="in0")
        moved = guest_event(p.b, "in0", "dirty")
        expect(moved["pages_written"] == 1200 and moved["checksum"] == want,
               "%s: on B %r; unmigrated checksum %s" % (tracker, moved, want))
        expect(moved["clock_backwards"] == 0 and moved["max_step_ms"] < 1000,
               "%s: the guest's clock jumped across the move: %r" % (tracker, moved))


def test_networked_vm_migrates_to_host_b_and_keeps_answering():
    # An echo VM on A moves to B while a probe VM on A pings it every 20 ms:
    # after the move the pings cross the e1000s to B (A's switch learns the
    # MAC's new place from B's announce) and the echo on B answers them with
    # the same MAC and its counters carried over.
    count, echo_mac = 200, "02:4a:56:00:0a:01"  # A's first VM: A's MAC b0:c4:20:00:00:0a
    guests = os.path.join(BUILD, "guest")
    p = Pair("pair_migrate_networked", "at=1000:migrate,echo,peer,pml", "listen=120", timeout=300, extra=[
        "--module-a", os.path.join(guests, "netping.elf"),
        "name=echo mem=16M -- netping --echo --count %d --timeout 30" % count,
        "--module-a", os.path.join(guests, "netping.elf"),
        "name=probe mem=16M -- netping --to %s --count %d --interval-us 20000 --reply-timeout-ms 3000 "
        "--timeout 60" % (echo_mac, count)])
    done = p.a.event("migrate_done", vm="echo")
    expect(done["status"] == "committed", "not committed: %r" % done)
    expect(re.search(r"^hv: in0: pvnet resumed, MAC %s, " % echo_mac, p.b.log, re.M),
           "B did not resume the vNIC with its MAC")
    probe = guest_event(p.a, "probe", "netping")
    most = done["downtime_us"] // 20000 + 2  # pings that arrive while the VM is paused are lost
    expect(probe["bad"] == 0 and probe["replies"] + probe["lost"] == count and probe["lost"] <= most,
           "the probe on A lost more than the downtime holds (%d): %r" % (most, probe))
    echoed = guest_event(p.b, "in0", "netping")
    expect(echoed["echoed"] == probe["replies"], "the echo on B (its count carried over): %r" % echoed)


def test_host_b_killed_mid_migration_leaves_the_vm_running_on_a():
    # B's emulator is killed (its plug pulled) as soon as it has accepted
    # the incoming migration, while A sends its first round (the runner
    # polls the log every 0.1 s wall: later marks, such as half the pages,
    # can be passed before it looks). A must give up on its peer, abort,
    # and run the VM on to its end with the memory of an unmigrated run.
    args = "dirty --ws 2 --rate 100 --seconds 40 --checksum"
    bare = Run("bare_dirty_for_pair_kill", "qemu-kernel", timeout=120,
               extra=["--bare", os.path.join(BUILD, "guest", "dirty.elf"), args])
    bare.expect_status(0)
    want = [e for e in bare.events if e.get("ev") == "dirty"][-1]["checksum"]
    p = Pair("pair_migrate_b_killed", "at=800:migrate,d,peer,pml", "listen=120", timeout=400,
             extra=["--kill-b-on", r"^hv: incoming migration: 16 MiB into new VM in0",
                    "--module-a", os.path.join(BUILD, "guest", "dirty.elf"), "name=d mem=16M -- " + args])
    p.expect_status(0)
    expect(re.search(r"^hv: incoming migration: 16 MiB into new VM in0", p.b.log, re.M)
           and not re.search(r"in0: 4096 of 4096", p.b.log) and "migrate_resume" not in p.b.log,
           "B was not killed before the migration ended: %s" % p.b.log[-300:])
    expect(p.a.event("migrate_start", vm="d"), "A never started")
    done = p.a.event("migrate_done", vm="d")
    expect(done["status"] == "aborted" and done["reason"].startswith("peer "),
           "A did not give up on the dead peer: %r" % done)
    stayed = guest_event(p.a, "d", "dirty")
    expect(stayed["pages_written"] == 4000 and stayed["checksum"] == want,
           "the VM did not run on intact on A: %r; unmigrated checksum %s" % (stayed, want))
    expect(p.a.event("vm_exit", vm="d")["reason"] == "exited", "the VM did not end normally on A")


def test_runner_names_the_side_that_failed():
    # B panics during boot; A waits for a peer that never comes.
    p = Pair("net_fail", "linktest=send:10", "inject=ud", timeout=60)
    p.expect_status(3)
    expect(re.search(r"FAILED: B stopped with status 3 \(panic\)", p.stderr),
           "runner did not name B: %r" % p.stderr)
    expect(re.search(r"A \(linktest=send:10\): stopped by the runner \d+ s after its peer failed",
                     p.stderr), "runner did not say A was stopped: %r" % p.stderr)
    expect(p.wall < 30, "the runner waited %.0f s for a side whose peer had failed" % p.wall)
    p.b.event("panic")


def test_missing_tools_fail_clearly():
    env = dict(os.environ, PATH="/nonexistent")
    for args, what in ((["--pair", "--cmdline-a", "linktest=send:1"], "bxhub"),
                       (["--nic"], "unshare")):
        r = subprocess.run([sys.executable, RUN] + args + ["--workdir", os.path.join(WORK, "net_tools")],
                           capture_output=True, text=True, env=env)
        expect(r.returncode == 126, "runner exit %d without %s: %s" % (r.returncode, what, r.stderr))
        expect(what in r.stderr and "apt-get install" in r.stderr,
               "runner did not say what is missing: %r" % r.stderr)


if __name__ == "__main__":
    sys.exit(main(globals()))

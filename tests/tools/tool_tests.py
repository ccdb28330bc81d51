#!/usr/bin/env python3
"""Tests of the host tools a newcomer meets first: the runner's platform
choice (with its probes faked, so every case runs on any machine), the
human console of `make run`, and tests/run-all.sh itself.
Usage: tool_tests.py [name-filter]."""
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "system"))
from harness import BUILD, ROOT, RUN, WORK, expect, main, note_workdir  # noqa: E402

AMD_CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B13
flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep svm lm
"""
INTEL_CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Gold 6248
flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep vmx ept lm
"""


class FakeHost:
    """Files standing in for /dev/kvm, /proc/cpuinfo and KVM's nested
    switch; env() points tools/run.py's probes at them."""

    def __init__(self, kvm, cpuinfo, nested=None):
        self.dir = tempfile.mkdtemp(prefix="jv-fakehost-")
        self.kvm = os.path.join(self.dir, "kvm")
        if kvm:
            open(self.kvm, "w").close()
        self.cpuinfo = os.path.join(self.dir, "cpuinfo")
        with open(self.cpuinfo, "w") as f:
            f.write(cpuinfo)
        self.nested = os.path.join(self.dir, "nested")
        if nested is not None:
            with open(self.nested, "w") as f:
                f.write(nested + "\n")

    def env(self):
        return dict(os.environ, JV_PROBE_DEV_KVM=self.kvm, JV_PROBE_CPUINFO=self.cpuinfo,
                    JV_PROBE_KVM_NESTED=self.nested)


def platform(host, *args):
    r = subprocess.run([sys.executable, RUN, "--platform-only"] + list(args), env=host.env(),
                       capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout.strip(), r.stderr.strip()


# ---- the platform choice ----------------------------------------------------

def test_platform_no_dev_kvm_picks_bochs():
    rc, emu, why = platform(FakeHost(kvm=False, cpuinfo=INTEL_CPUINFO, nested="Y"))
    expect(rc == 0 and emu == "bochs", "no /dev/kvm: got %r (status %d)" % (emu, rc))
    expect(why == "run: using bochs: no /dev/kvm (bochs emulates VMX with EPT)", "said %r" % why)


def test_platform_kvm_without_vtx_picks_bochs():
    rc, emu, why = platform(FakeHost(kvm=True, cpuinfo=AMD_CPUINFO))
    expect(rc == 0 and emu == "bochs", "/dev/kvm on AMD: got %r (status %d)" % (emu, rc))
    expect("using bochs: /dev/kvm is present but this CPU has no VT-x (AMD)" in why, "said %r" % why)


def test_platform_kvm_with_vtx_picks_kvm():
    rc, emu, why = platform(FakeHost(kvm=True, cpuinfo=INTEL_CPUINFO, nested="Y"))
    expect(rc == 0 and emu == "kvm", "/dev/kvm with VT-x: got %r (status %d)" % (emu, rc))
    expect(why.startswith("run: using kvm: /dev/kvm opens and this CPU has VT-x"), "said %r" % why)


def test_platform_nested_vmx_off_picks_bochs():
    rc, emu, why = platform(FakeHost(kvm=True, cpuinfo=INTEL_CPUINFO, nested="N"))
    expect(rc == 0 and emu == "bochs", "nested=N: got %r (status %d)" % (emu, rc))
    expect("nested VMX is off" in why, "said %r" % why)


def test_emu_kvm_without_vtx_stops_at_once():
    host = FakeHost(kvm=True, cpuinfo=AMD_CPUINFO)
    start = time.time()
    r = subprocess.run([sys.executable, RUN, "--emu", "kvm", "--iso", "/nonexistent.iso"],
                       env=host.env(), capture_output=True, text=True, timeout=30)
    expect(r.returncode == 123, "status %d, expected 123 (platform refused)" % r.returncode)
    expect("EMU=kvm cannot run hv here: /dev/kvm is present but this CPU has no VT-x (AMD); "
           "use EMU=bochs" in r.stderr, "said %r" % r.stderr)
    expect(time.time() - start < 10, "took %.1f s: an emulator was started" % (time.time() - start))
    # A bare guest needs no VMX: KVM is fine for it on the same host.
    rc, emu, _ = platform(host, "--emu", "kvm", "--bare", "x.elf", "x")
    expect(rc == 0 and emu == "kvm", "a bare guest under KVM was refused: %r %d" % (emu, rc))


def test_make_run_emu_kvm_refused_before_building():
    host = FakeHost(kvm=True, cpuinfo=AMD_CPUINFO)
    scratch = tempfile.mkdtemp(prefix="jv-build-")
    start = time.time()
    r = subprocess.run(["make", "--no-print-directory", "run", "EMU=kvm", "BUILD=" + scratch],
                       cwd=ROOT, env=host.env(), capture_output=True, text=True, timeout=60)
    out = r.stdout + r.stderr
    expect(r.returncode != 0, "make run EMU=kvm succeeded on a host without VT-x")
    expect("EMU=kvm cannot run hv here" in out and "Error 123" in out, "make said %r" % out[-500:])
    expect(not os.listdir(scratch), "make built %r before refusing" % os.listdir(scratch))
    expect(time.time() - start < 20, "took %.1f s" % (time.time() - start))


def test_kvm_boot_test_skipped_with_reason_without_vtx():
    host = FakeHost(kvm=True, cpuinfo=AMD_CPUINFO)
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "system", "boot_tests.py"),
                        "kvm_nested_vmx"], env=dict(host.env(), BUILD=BUILD),
                       capture_output=True, text=True, timeout=60)
    expect(re.search(r"^SKIP kvm_nested_vmx .*no VT-x \(AMD\)$", r.stdout, re.M),
           "the KVM test was not skipped with its reason: %r" % r.stdout)
    expect(r.stdout.strip().endswith("0 passed, 0 failed, 1 skipped"), "summary %r" % r.stdout)


# ---- the policies the experiments take by name -------------------------------

def _policy_specs(env_policies, script):
    """Runs script (Python) with tools/ on the path and POLICIES set; returns
    (status, stdout + stderr)."""
    env = dict(os.environ, BUILD=BUILD, POLICIES=env_policies)
    r = subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, %r)\n" % os.path.join(ROOT, "tools")
                        + script], env=env, capture_output=True, text=True, timeout=120)
    return r.returncode, r.stdout + r.stderr


def test_experiments_take_every_policy_of_hvs_tables_by_name():
    # The listing comes from hv's own tables (make policies): the two example
    # policies are in it without any list in the experiments naming them.
    status, out = _policy_specs("", "import policy_list as p\n"
                                    "print(sorted(p.names('batch')), sorted(p.names('migrate')))")
    expect(status == 0 and "'idle'" in out and "'shrink'" in out and "'none'" in out
           and "'default'" in out, "listing: %s" % out[-400:])
    # exp-net: a policy with knobs of its own; every knob of it in the row.
    status, out = _policy_specs("none idle:count=8,idle=50us", "import exp_net\n"
                                "for row, fn, name in exp_net.plan(): print(name, row.get('knobs'),"
                                " row.get('knob_count'), row.get('knob_tbuf'))\n"
                                "print('knob_idle' in exp_net.COLS)")
    expect(status == 0 and "policy=idle count=8 idle=50us tbuf=1ms 8 1ms" in out and out.strip().endswith("True"),
           "exp-net plan: %s" % out[-600:])
    # exp-migrate: the example stop policy with its knob and the engine's.
    status, out = _policy_specs("shrink:ratio=25,round_limit=9", "import exp_migrate as e\n"
                                "print([e.policy_spec(c[4]) for c in e.CASES][:1])")
    expect(status == 0 and "policy=shrink,ratio=25,round_limit=9" in out, "exp-migrate plan: %s" % out[-400:])
    # Refused before anything boots, naming what is valid.
    for policies, why in (("turbo", "unknown batch policy 'turbo' (known: none napi"),
                          ("none:tbuf=1ms", "policy none: unknown knob 'tbuf' (its knobs: none)"),
                          ("idle:idle=0us", "policy idle: idle=0us out of range (1us to 1s)")):
        status, out = _policy_specs(policies, "import exp_net\nexp_net.plan()")
        expect(status != 0 and why in out, "POLICIES=%s: %s" % (policies, out[-300:]))


# ---- trace replay (make sim-batch, make sim-migrate) --------------------------

# How close the replay of the recorded policy must come to the run the trace
# was recorded from (README, "Trace replay"): batching exactly; migration
# rounds exactly, bytes and predicted downtime within 0.5%.
SIM_BYTES_TOLERANCE = 0.005


def _sim(target, policies="", trace=""):
    args = ["make", "--no-print-directory", "-C", ROOT, "BUILD=" + BUILD, target]
    args += ["POLICIES=" + policies] if policies else []
    args += ["TRACE=" + trace] if trace else []
    start = time.time()
    r = subprocess.run(args, capture_output=True, text=True, timeout=120)
    return r.returncode, r.stdout + r.stderr, time.time() - start


def _sim_json(tool, trace, *policies):
    exe = os.path.join(BUILD, "tools", tool)
    args = [exe, "--json"] + [w for p in policies for w in ("-p", p)] + [trace]
    r = subprocess.run(args, capture_output=True, text=True, timeout=60)
    expect(r.returncode == 0, "%s %s: %s" % (tool, trace, r.stderr))
    return [__import__("json").loads(l) for l in r.stdout.splitlines()]


def _traces(prefix):
    d = os.path.join(ROOT, "tests", "traces")
    found = sorted(os.path.join(d, f) for f in os.listdir(d) if f.startswith(prefix))
    expect(found, "no shipped %s traces in %s" % (prefix, d))
    return found


def test_sim_replays_shipped_traces_as_recorded():
    for target, extra in (("sim-batch", "none fixed-time:tbuf=100us idle:count=8,idle=50us"),
                          ("sim-migrate", "default qemu shrink:ratio=25")):
        status, out, wall = _sim(target, extra)
        expect(status == 0 and "recorded" in out and "difference" in out,
               "make %s: %d\n%s" % (target, status, out[-800:]))
        expect(wall < 10, "make %s took %.1f s (at most 10)" % (target, wall))
    for trace in _traces("batch-"):
        for row in _sim_json("sim_batch", trace):
            rep, rec = row["replayed"], row.get("recorded")
            expect(rec, "%s: VM %s has no recorded net_stats" % (trace, row["vm"]))
            expect(rep["interrupts"] == rec["interrupts"] and rep["rx_packets"] == rec["rx_packets"]
                   and abs(rep["delay_us"] - rec["delay_us"]) <= 0.1,
                   "%s VM %s: replayed %s, recorded %s" % (trace, row["vm"], rep, rec))
    for trace in _traces("migrate-"):
        for rows in (_sim_json("sim_migrate", trace), _sim_json("sim_migrate", trace)):
            rep, rec = rows[0]["replayed"], rows[0]["recorded"]
            expect(rep["rounds"] == rec["rounds"] and rep["stopped_by"] == rec["stopped_by"]
                   and abs(rep["bytes"] - rec["bytes"]) <= SIM_BYTES_TOLERANCE * rec["bytes"]
                   and abs(rep["predicted_downtime_us"] - rec["predicted_downtime_us"])
                   <= SIM_BYTES_TOLERANCE * rec["predicted_downtime_us"],
                   "%s: replayed %s, recorded %s" % (trace, rep, rec))
    # A policy the run did not use is replayed too, with the engine's limit.
    rows = _sim_json("sim_migrate", _traces("migrate-")[0], "default:round_limit=1")
    expect(rows[-1]["replayed"]["rounds"] == 1 and rows[-1]["replayed"]["stopped_by"] == "round_limit",
           "round_limit=1: %s" % rows[-1])


def test_sim_refuses_bad_traces_and_unknown_policies():
    status, out, _ = _sim("sim-batch", "turbo")
    expect(status != 0 and "unknown batching policy 'turbo' (known: none" in out, out[-300:])
    status, out, _ = _sim("sim-migrate", "default:speed=3")
    expect(status != 0 and "unknown knob 'speed'" in out, out[-300:])
    bad = tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False)
    good = open(_traces("batch-")[0]).readlines()
    bad.write("".join(good[:3]) + '{"ev":"trace_batch","vm":"sink","k":"rx","t":5}\n')
    bad.close()
    status, out, _ = _sim("sim-batch", trace=bad.name)
    expect(status != 0 and "%s:4: bad trace line: an rx event needs u, pr, pe, f" % bad.name in out,
           out[-300:])
    with open(bad.name, "w") as f:
        f.write("not json\n")
    status, out, _ = _sim("sim-migrate", trace=bad.name)
    expect(status != 0 and "%s:1: bad trace line" % bad.name in out, out[-300:])
    os.unlink(bad.name)


# ---- the demo's console -------------------------------------------------------

def test_run_show_prints_human_console_and_table():
    """What `make run` shows: guest and hv lines, no machine lines, a
    table of the VMs, and where the full log is."""
    work = os.path.join(WORK, "tool_show")
    note_workdir(work)
    iso = os.path.join(BUILD, "joulevisor.iso")
    r = subprocess.run([sys.executable, RUN, "--show", "--emu", "bochs", "--iso", iso,
                        "--workdir", work, "--timeout", "120"],
                       capture_output=True, text=True, timeout=180)
    expect(r.returncode == 0, "demo ended with status %d: %s" % (r.returncode, r.stderr[-300:]))
    out = r.stdout
    expect(not re.search(r"^(\[[\w-]+\] )?@ ", out, re.M), "machine lines shown without V=1")
    expect("\x1b[" not in out, "GRUB's screen control sequences reached the console")
    expect(re.search(r"^\[hello\] hello from Joulevisor guest$", out, re.M), "no hello line")
    expect(re.search(r"^hv: stopped, status 0 \(ok\)", out, re.M), "no hv result line")
    for vm in ("hello", "mvb", "dirty"):
        expect(re.search(r"^%s +\d+ +\d+\.\d{3}  exited \(status 0\)$" % vm, out, re.M),
               "no table row for %s in %r" % (vm, out[-600:]))
    m = re.search(r"^full log, with the '@ \{json\}' machine lines: (\S+)$", out, re.M)
    expect(m, "the log's path is not printed")
    log = open(m.group(1)).read()
    expect('@ {"ev":"result","status":0' in log, "the log lacks the result event")
    expect('[mvb] @ {"ev":"mvb"' in log, "the log lacks the guests' machine lines")
    shown = subprocess.run([sys.executable, RUN, "--show", "--show-events", "--emu", "bochs",
                            "--iso", iso, "--workdir", work + "-events"],
                           capture_output=True, text=True, timeout=180)
    expect('@ {"ev":"result","status":0' in shown.stdout, "--show-events hid the machine lines")


# ---- tests/run-all.sh ------------------------------------------------------

SUITE_PASSES = """#!/bin/sh
echo "PASS first_thing (0.1 s wall)"
echo "1 passed, 0 failed"
"""
SUITE_FAILS = """#!/bin/sh
echo "PASS other_thing (0.1 s wall)"
echo "FAIL broken_thing (0.2 s wall): the frobnicator said no"
echo "  logs: /tmp/where-broken-thing-ran"
echo "SKIP optional_thing (0.0 s wall): not here"
echo "1 passed, 1 failed, 1 skipped"
exit 1
"""
SUITE_NO_SUMMARY = """#!/bin/sh
echo "this suite crashed before its summary" >&2
exit 3
"""


def test_run_all_keeps_every_suite_and_names_failures():
    suites = tempfile.mkdtemp(prefix="jv-suites-")
    for name, text in (("1-passes", SUITE_PASSES), ("2-fails", SUITE_FAILS),
                       ("3-no-summary", SUITE_NO_SUMMARY)):
        path = os.path.join(suites, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o755)
    build = tempfile.mkdtemp(prefix="jv-runall-")
    log = os.path.join(build, "all.log")
    # Exactly what a user does: everything redirected into one file.
    with open(log, "w") as f:
        rc = subprocess.run([os.path.join(ROOT, "tests", "run-all.sh"), build], stdout=f,
                            stderr=subprocess.STDOUT, env=dict(os.environ, RUN_ALL_SUITES=suites),
                            timeout=60).returncode
    text = open(log).read()
    expect(rc == 1, "run-all.sh exit %d with a failing suite" % rc)
    for line in ("== 1-passes", "PASS first_thing", "== 2-fails", "PASS other_thing",
                 "this suite crashed before its summary"):
        expect(line in text, "the redirected log lost %r:\n%s" % (line, text))
    summary = text[text.index("== summary"):]
    expect("FAIL 2-fails: broken_thing (0.2 s wall): the frobnicator said no; "
           "logs: /tmp/where-broken-thing-ran" in summary, "summary lacks the failure:\n" + summary)
    expect(re.search(r"FAIL 3-no-summary: ended without a summary line \(exit status 3\)", summary),
           "summary lacks the suite without a summary:\n" + summary)
    expect(text.rstrip().endswith("2 passed, 2 failed, 1 skipped"), "last line: %r" % text[-80:])
    expect(os.path.exists(os.path.join(build, "test-logs", "02-2-fails.log")),
           "no per-suite log in %s" % os.listdir(os.path.join(build, "test-logs")))


if __name__ == "__main__":
    sys.exit(main(globals()))

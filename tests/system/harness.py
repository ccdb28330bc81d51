"""Shared by the system test suites: boot hv through tools/run.py, parse
its log, assert, and print PASS/FAIL/SKIP lines and the summary line
'N passed, N failed, N skipped'."""
import concurrent.futures
import json
import os
import re
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUN = os.path.join(ROOT, "tools", "run.py")
BUILD = os.path.abspath(os.environ.get("BUILD", os.path.join(ROOT, "build")))
WORK = os.path.join(BUILD, "systest")
HV = os.path.join(BUILD, "hv.elf")  # the hv of this BUILD, not the runner's default

sys.path.insert(0, os.path.join(ROOT, "tools"))
import run as platform_probe  # noqa: E402  (tools/run.py: the runner's own platform choice)


class Failure(Exception):
    pass


# The work folders of the runs each test made (one list per test thread),
# so a failure names its own logs.
_runs_of_this_test = threading.local()


def note_workdir(path):
    dirs = getattr(_runs_of_this_test, "dirs", None)
    if dirs is not None and path not in dirs:
        dirs.append(path)


def expect(cond, what):
    if not cond:
        raise Failure(what)


class Run:
    """The outcome of one emulator run: status, log text, parsed events.

    modules: (guest ELF, module command line) pairs, one VM each."""

    def __init__(self, name, emu, cmdline="", timeout=120, modules=(), extra=()):
        self.workdir = os.path.join(WORK, name)
        os.makedirs(self.workdir, exist_ok=True)
        note_workdir(self.workdir)
        log = os.path.join(self.workdir, "serial.log")
        args = [sys.executable, RUN, "--hv", HV, "--emu", emu, "--cmdline", cmdline, "--timeout", str(timeout),
                "--workdir", self.workdir, "--log", log]
        for elf, margs in modules:
            args += ["--module", elf, margs]
        r = subprocess.run(args + list(extra), capture_output=True, text=True)
        self.status = r.returncode
        self.stderr = r.stderr
        self.log = open(log, errors="replace").read() if os.path.exists(log) else ""
        self.events = []
        self.guest_events = {}  # vm name -> events its guest printed ("[vm] @ {...}")
        for line in self.log.splitlines():
            m = re.match(r"^(?:\[([\w-]+)\] )?@ (.*)$", line)
            if not m:
                continue
            try:
                ev = json.loads(m.group(2))
            except ValueError as e:
                if m.group(1):
                    continue  # a guest's own text: it may print anything
                raise Failure("malformed event line %r: %s" % (line, e))
            if m.group(1):
                self.guest_events.setdefault(m.group(1), []).append(ev)
            else:
                self.events.append(ev)

    def event(self, ev, **match):
        found = [e for e in self.events if e.get("ev") == ev
                 and all(e.get(k) == v for k, v in match.items())]
        expect(found, "no %r event%s in the log" % (ev, " with %r" % match if match else ""))
        return found[-1]

    def guest_event(self, vm, ev):
        found = [e for e in self.guest_events.get(vm, []) if e.get("ev") == ev]
        expect(found, "guest %s printed no %r event" % (vm, ev))
        return found[-1]

    def expect_status(self, status):
        expect(self.status == status, "exit status %d, expected %d; runner said: %s"
               % (self.status, status, self.stderr.strip()[-400:]))

    def expect_line(self, pattern):
        expect(re.search(pattern, self.log, re.M), "no line matching %r in the log" % pattern)


def run_one(item):
    name, fn = item
    start = time.time()
    _runs_of_this_test.dirs = []
    try:
        outcome = fn()
        if isinstance(outcome, str) and outcome.startswith("skip"):
            return name, "SKIP", outcome[5:].strip(), time.time() - start, []
        return name, "PASS", "", time.time() - start, []
    except Failure as e:
        return name, "FAIL", str(e), time.time() - start, _runs_of_this_test.dirs
    except Exception as e:  # a bug in the test itself is a failure too
        return (name, "FAIL", "%s: %s" % (type(e).__name__, e), time.time() - start,
                _runs_of_this_test.dirs)


def main(namespace):
    """Runs every test_* function of the calling module, two at a time."""
    tests = [(n[5:], f) for n, f in sorted(namespace.items()) if n.startswith("test_")]
    filt = sys.argv[1] if len(sys.argv) > 1 else ""
    todo = [t for t in tests if filt in t[0]]
    counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        for name, verdict, why, secs, dirs in pool.map(run_one, todo):
            counts[verdict] += 1
            print("%s %s (%.1f s wall)%s" % (verdict, name, secs, ": " + why if why else ""), flush=True)
            if verdict == "FAIL":
                print("  logs: %s" % (" ".join(dirs) if dirs else
                                      "under %s (one folder per run)" % WORK), flush=True)
    print("%d passed, %d failed, %d skipped" % (counts["PASS"], counts["FAIL"], counts["SKIP"]))
    return 1 if counts["FAIL"] else 0

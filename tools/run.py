#!/usr/bin/env python3
"""Boot Joulevisor headless in an emulator and report how the run ended.

  tools/run.py [--emu bochs|qemu|ovmf|kvm|qemu-kernel] [--iso X | --hv ELF
               [--cmdline "OPTS"] [--module GUEST.elf "ARGS"]...]
               [--timeout S] [--show] [--log FILE] [--nic [--mac MAC] [--eth-port P]]
  tools/run.py --pair [--cmdline-a "OPTS"] [--cmdline-b "OPTS"]
               [--module-a GUEST.elf "ARGS"]... [--module-b GUEST.elf "ARGS"]...
               [--ips-a N] [--ips-b N] [--mac-a MAC] [--mac-b MAC] [--eth-port BASE]
               [--delay-a S] [--delay-b S] [--kill-a-on REGEX] [--kill-b-on REGEX]
               [--timeout S] [--show] [--log-a FILE] [--log-b FILE] [--workdir DIR]
  tools/run.py --pair [--emu bochs|qemu-kernel] --bare-a GUEST.elf "ARGS"
               --bare-b GUEST.elf "ARGS" [options as above]

Platforms:
  bochs        the CI platform: VMX with EPT (cpu model tigerlake), BIOS, ISO
  qemu         QEMU TCG with SeaBIOS, ISO: boot path only (TCG has no VMX)
  ovmf         QEMU TCG with OVMF (UEFI), ISO: the UEFI boot path
  kvm          QEMU/KVM with nested VMX (-cpu host,+vmx), where /dev/kvm exists
  qemu-kernel  QEMU TCG, hv loaded by -kernel through its multiboot1 header

hv ends every run by printing one result event, '@ {"ev":"result","status":N,...}'.
The runner's exit status is that N. A run that prints no result line is a
failure: 124 if it hung (timeout), 125 if it ended without one (crash,
triple fault). bochs cannot pass an exit status, so the line is the only
truth there; under QEMU the isa-debug-exit code is checked against it.

Network (bochs only; ../shared/PLATFORM.md Part B):
  --nic        adds an e1000 (82540EM) on bochs' socket backend, 'ethdev=PORT'
               (the bare port form: bochs 2.7 mis-parses host:port). bochs
               runs in its own network namespace ('unshare -n', lo up), so its
               UDP sockets never meet another run's or the host's.
  --pair       two hosts on one link: bxhub and two bochs instances, A and B,
               in one private network namespace (bxhub binds every
               interface). A uses ports BASE/BASE+1, B BASE+2/BASE+3. Each
               side has its own hv options, guests, ips and MAC; both serial
               logs are kept (WORKDIR/a, WORKDIR/b). The exit status is 0
               only if both hv runs ended with status 0; otherwise the
               status of the side that failed first (124 hung, 125 crashed,
               else hv's), and a line says which side failed and how. A
               side that fails makes the other one end after PEER_GRACE s
               (it would wait for its peer until the timeout).
               --delay-a/-b S starts that side S wall seconds after the
               other (hosts do not boot together: their TSCs differ).
               --kill-a/-b-on REGEX pulls that host's plug: its emulator is
               killed the first time its serial log has a line matching
               REGEX; it then counts as ended on purpose (status 0) and its
               peer runs on to its own end.
  --pair --bare-a/--bare-b
               the same with a guest on each side and no hypervisor: the
               guest drives the e1000 itself (the bare-metal baseline) and
               ends the run with its guest_exit event. bochs by default;
               with --emu qemu-kernel, two QEMU TCG instances (-kernel) whose
               e1000s are joined by a socket netdev, A listening on
               127.0.0.1:BASE and B connecting, both in one private network
               namespace. QEMU's link has no frame-per-ms limit: much faster.
  --no-nic     QEMU: no network card at all (QEMU adds an e1000 by default).
Low ips (1M-5M) raise the link's rate (one frame per emulated ms); hv's TSC
calibration follows the ips (1000 kHz at ips=1M), so emulated times in
its events stay right.
"""
import argparse
import concurrent.futures
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STATUS_TIMEOUT = 124
STATUS_NO_RESULT = 125
STATUS_SETUP = 126
STATUS_NO_PLATFORM = 123  # the emulator asked for cannot run hv on this host
PEER_GRACE = 5  # s a pair's side may still run after the other failed
DEFAULT_MACS = ("b0:c4:20:00:00:0a", "b0:c4:20:00:00:0b")  # not bxhub's own ...:0f (B9)
DEFAULT_ETH_PORT = 41000

BOCHSRC = """\
megs: {mem}
romimage: file=/usr/share/bochs/BIOS-bochs-latest
vgaromimage: file=/usr/share/vgabios/vgabios.bin
ata0-master: type=cdrom, path={iso}, status=inserted
boot: cdrom
display_library: sdl2
cpu: model={cpu}, count={cpus}, ips={ips}, reset_on_triple_fault=0, ignore_bad_msrs={ignore_bad_msrs}
clock: sync=none, time0=local
log: {log}
panic: action=fatal
error: action=report
info: action=report
debug: action=ignore
com1: enabled=1, mode=file, dev={serial}
port_e9_hack: enabled=1
speaker: enabled=0
sound: waveoutdrv=dummy, waveindrv=dummy, midioutdrv=dummy
"""


# The probes behind the platform choice. Tests point them at fake files
# (tests/tools/tool_tests.py), so every case is checked on any machine.
PROBE_DEV_KVM = os.environ.get("JV_PROBE_DEV_KVM", "/dev/kvm")
PROBE_CPUINFO = os.environ.get("JV_PROBE_CPUINFO", "/proc/cpuinfo")
PROBE_KVM_NESTED = os.environ.get("JV_PROBE_KVM_NESTED", "/sys/module/kvm_intel/parameters/nested")


def cpu_vendor_and_flags():
    vendor, flags = "unknown vendor", set()
    try:
        with open(PROBE_CPUINFO) as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "vendor_id":
                    vendor = {"AuthenticAMD": "AMD", "GenuineIntel": "Intel"}.get(value.strip(),
                                                                                  value.strip())
                elif key == "flags" and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    return vendor, flags


def kvm_verdict(need_vmx=True):
    """(usable, why). KVM can run hv only when /dev/kvm opens and the host
    CPU has VT-x with nested VMX on: /dev/kvm alone says nothing (an AMD
    host has it and no VMX to give a guest). A bare guest (no hv) needs only
    /dev/kvm."""
    if not os.path.exists(PROBE_DEV_KVM):
        return False, "no /dev/kvm"
    try:
        os.close(os.open(PROBE_DEV_KVM, os.O_RDWR))
    except OSError as e:
        return False, "/dev/kvm is present but cannot be opened (%s)" % e.strerror
    if not need_vmx:
        return True, "/dev/kvm opens"
    vendor, flags = cpu_vendor_and_flags()
    if "vmx" not in flags:
        return False, "/dev/kvm is present but this CPU has no VT-x (%s)" % vendor
    try:
        with open(PROBE_KVM_NESTED) as f:
            nested = f.read().strip()
    except OSError:
        nested = None  # not readable: KVM will tell
    if nested in ("N", "0"):
        return False, ("/dev/kvm is present and the CPU has VT-x, but KVM's nested VMX is off "
                       "(modprobe kvm_intel nested=1)")
    return True, "/dev/kvm opens and this CPU has VT-x%s" % (
        " with nested VMX on" if nested else "")


class NoPlatform(Exception):
    """The platform asked for cannot run this here; the message says why."""


def choose_platform(requested, bare=False):
    """(emulator, one sentence saying which and why). Raises NoPlatform
    when the requested one cannot work on this host."""
    if requested == "kvm":
        ok, why = kvm_verdict(need_vmx=not bare)
        if not ok:
            raise NoPlatform("EMU=kvm cannot run %s here: %s; use EMU=bochs (bochs emulates "
                             "VMX with EPT)" % ("the guest" if bare else "hv", why))
        return "kvm", "using kvm: " + why
    if requested:
        return requested, "using %s: asked for" % requested
    ok, why = kvm_verdict(need_vmx=not bare)
    if ok:
        return "kvm", "using kvm: " + why
    return "bochs", "using bochs: %s (bochs emulates VMX with EPT)" % why


def find_ovmf():
    for code, vars_ in (("/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd"),
                        ("/usr/share/OVMF/OVMF_CODE.fd", "/usr/share/OVMF/OVMF_VARS.fd")):
        if os.path.exists(code) and os.path.exists(vars_):
            return code, vars_
    return None, None


def build_iso(work, hv, cmdline, modules, bare=False):
    iso = os.path.join(work, "joulevisor.iso")
    args = [os.path.join(ROOT, "tools", "mkiso.sh")] + (["--bare"] if bare else []) + [iso, hv, cmdline]
    for elf, margs in modules:
        args += [elf, margs]
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode != 0:
        sys.stderr.write(r.stderr)
        raise SystemExit(STATUS_SETUP)
    return iso


def build_linux_iso(work, bzimage, initrd, args):
    os.makedirs(work, exist_ok=True)
    iso = os.path.join(os.path.abspath(work), "linux.iso")
    r = subprocess.run([os.path.join(ROOT, "tools", "mkiso.sh"), "--linux", iso, bzimage, args, initrd],
                       capture_output=True, text=True)
    if r.returncode != 0:
        sys.stderr.write(r.stderr)
        raise SystemExit(STATUS_SETUP)
    return iso


def emulator_command(emu, opts, work, serial):
    if emu == "bochs":
        rc = os.path.join(work, "bochsrc")
        with open(rc, "w") as f:
            # Bare Linux reads MSRs bochs' tigerlake lacks (MISC_ENABLE
            # 0x1a0 in its first instructions, without a fault handler):
            # there bochs reads them as 0. hv's runs keep the #GP, so an
            # MSR hv forgets to emulate is seen.
            f.write(BOCHSRC.format(mem=opts.mem, iso=opts.iso, cpu=opts.cpu, ips=opts.ips,
                                   log=os.path.join(work, "bochs.log"), serial=serial,
                                   cpus=getattr(opts, "cpus", 1),
                                   ignore_bad_msrs=1 if getattr(opts, "bare_linux", None) else 0))
            if getattr(opts, "nic", False):
                # One line loads the e1000 and socket plugins; bochs binds
                # UDP PORT and sends to PORT+1 (bxhub's side of the pair).
                f.write("e1000: enabled=1, mac=%s, ethmod=socket, ethdev=%d\n"
                        % (opts.mac, opts.eth_port))
            for line in opts.bochs_extra:
                f.write(line + "\n")
        cont = os.path.join(work, "cont.rc")
        with open(cont, "w") as f:
            f.write("c\nquit\n")  # answers the built-in debugger's prompt
        return ["bochs-bin", "-q", "-f", rc, "-rc", cont], {"SDL_VIDEODRIVER": "dummy"}
    base = ["qemu-system-x86_64", "-m", str(opts.mem), "-display", "none", "-no-reboot",
            "-serial", "file:" + serial, "-debugcon", "file:" + os.path.join(work, "e9.txt"),
            "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04", "-monitor", "none"]
    if opts.gdb:
        base += ["-s", "-S"]
    if emu == "qemu":
        return base + ["-cpu", "max", "-cdrom", opts.iso, "-boot", "d"], {}
    if getattr(opts, "no_nic", False):
        base += ["-nic", "none"]
    elif getattr(opts, "qemu_netdev", None):
        # One 82540EM ("e1000") on the given socket backend, nothing else.
        base += ["-netdev", opts.qemu_netdev + ",id=net0",
                 "-device", "e1000,netdev=net0,mac=" + opts.mac]
    if emu == "qemu-kernel":
        return base + ["-cpu", "max", "-kernel", opts.kernel, "-append", opts.cmdline or ""], {}
    if emu == "ovmf":
        code, vars_ = find_ovmf()
        if not code:
            sys.stderr.write("run: OVMF firmware not found (apt-get install ovmf)\n")
            raise SystemExit(STATUS_SETUP)
        my_vars = os.path.join(work, "ovmf_vars.fd")
        shutil.copy(vars_, my_vars)
        return base + ["-machine", "q35", "-cpu", "max",
                       "-drive", "if=pflash,format=raw,readonly=on,file=" + code,
                       "-drive", "if=pflash,format=raw,file=" + my_vars,
                       "-cdrom", opts.iso], {}
    if emu == "kvm":
        # choose_platform() has checked /dev/kvm and VT-x before we get here.
        if getattr(opts, "bare", None):
            return base + ["-enable-kvm", "-cpu", "host", "-cdrom", opts.iso, "-boot", "d"], {}
        return base + ["-enable-kvm", "-cpu", "host,+vmx", "-cdrom", opts.iso, "-boot", "d"], {}
    raise SystemExit("run: unknown emulator " + emu)


def parse_result(text, bare=False):
    """The last result event in the log, or None. A bare guest (no hv)
    ends with its own guest_exit event instead."""
    result = None
    wanted = "guest_exit" if bare else "result"
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("@ "):
            try:
                ev = json.loads(line[2:])
            except ValueError:
                continue
            if ev.get("ev") == wanted:
                result = ev
    return result


# ---- network namespaces (PLATFORM.md B5: bochs and bxhub bind every interface)

TOOL_PACKAGES = {"unshare": "util-linux", "nsenter": "util-linux", "ip": "iproute2",
                 "bxhub": "bochs", "bochs-bin": "bochs"}


def find_tool(name):
    # ip lives in /sbin, which a normal user's PATH may lack.
    return shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")


def missing_tools(names):
    """'' when all are there, else one sentence naming the packages."""
    missing = [n for n in names if not find_tool(n)]
    if not missing:
        return ""
    pkgs = sorted({TOOL_PACKAGES.get(n, n) for n in missing})
    return ("%s not found; install %s (apt-get install %s)"
            % (", ".join(missing), " and ".join(pkgs), " ".join(pkgs)))


def as_root():
    return os.geteuid() == 0


def in_new_netns(cmd):
    """cmd in a fresh network namespace with only lo, brought up. As a
    normal user the namespace sits inside a new user namespace (unshare -r).
    Every step execs, so the pid stays cmd's and killpg reaches it."""
    unshare = [find_tool("unshare")] + (["-n"] if as_root() else ["-r", "-n"])
    return unshare + ["--", "sh", "-c", '"$0" link set lo up && exec "$@"', find_tool("ip")] + cmd


def in_netns_of(pid, cmd):
    """cmd inside the network namespace of process pid."""
    nsenter = [find_tool("nsenter"), "-t", str(pid), "-n"]
    if not as_root():
        nsenter += ["-U", "--preserve-credentials"]
    return nsenter + ["--"] + cmd


def _load_libc():
    try:
        import ctypes
        return ctypes.CDLL(None, use_errno=True)
    except (ImportError, OSError):
        return None


LIBC = _load_libc()
PR_SET_PDEATHSIG = 1


def die_with_parent():
    """preexec_fn: the child gets SIGKILL if this runner dies (even by
    SIGKILL), so no bochs or bxhub outlives its test. Linux's
    PR_SET_PDEATHSIG survives the execs of unshare, nsenter and sh."""
    if LIBC is not None:
        LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def run(opts):
    emu = opts.emu
    # Absolute: the emulator runs inside the work directory.
    work = os.path.abspath(opts.workdir or tempfile.mkdtemp(prefix="jv-run-"))
    os.makedirs(work, exist_ok=True)
    if opts.show and not opts.log:
        opts.log = os.path.join(work, "serial.log")  # --show says where it is
    if getattr(opts, "nic", False):
        missing = missing_tools(["bochs-bin", "unshare", "ip"])
        if missing:
            sys.stderr.write("run: --nic: %s\n" % missing)
            return STATUS_SETUP, work
    if opts.bare:
        opts.kernel, opts.cmdline = opts.bare
    if emu == "qemu-kernel":
        opts.kernel = opts.kernel or opts.hv
    elif not opts.iso:
        opts.iso = build_iso(work, opts.kernel if opts.bare else opts.hv, opts.cmdline or "",
                             opts.module, bare=bool(opts.bare))
    opts.iso = os.path.abspath(opts.iso) if opts.iso else None
    opts.log = os.path.abspath(opts.log) if opts.log else None
    opts.kernel = os.path.abspath(opts.kernel) if opts.kernel else None  # QEMU runs in work/
    serial = os.path.join(work, "serial.txt")
    open(serial, "w").close()
    cmd, env_extra = emulator_command(emu, opts, work, serial)
    if getattr(opts, "nic", False):
        cmd = in_new_netns(cmd)
    if opts.verbose:
        sys.stderr.write("run: " + " ".join(cmd) + "\n")
    env = dict(os.environ, **env_extra)
    out = open(os.path.join(work, "emulator.out"), "w")
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                            env=env, start_new_session=True, cwd=work)
    start = time.time()
    shown = 0
    view = ConsoleView(opts.show_events)
    timed_out = False
    while proc.poll() is None:
        if time.time() - start > opts.timeout:
            timed_out = True
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            break
        if opts.show:
            shown = stream(serial, shown, view)
        time.sleep(0.1)
    rc = proc.returncode
    out.close()
    if opts.show:
        stream(serial, shown, view)
        view.flush()
    text = open(serial, errors="replace").read().replace("\r", "")
    if opts.log:
        with open(opts.log, "w") as f:
            f.write(text)
    if opts.show and not opts.bare:
        sys.stdout.write("\n" + vm_table(text))
    if opts.show:
        sys.stdout.write("full log, with the '@ {json}' machine lines: %s\n" % opts.log)
        sys.stdout.flush()
    result = parse_result(text, bool(opts.bare))
    wall = time.time() - start
    if result is None:
        status = STATUS_TIMEOUT if timed_out else STATUS_NO_RESULT
        why = ("hung: no result line within %d s" % opts.timeout if timed_out
               else "ended without a result line (crash or triple fault), emulator exit %s" % rc)
        sys.stderr.write("run: %s: FAILED, %s; logs in %s\n" % (emu, why, work))
        explain_failure(emu, work)
        return status, work
    status = int(result.get("status", STATUS_NO_RESULT))
    if emu != "bochs" and rc != (status << 1 | 1) and not opts.gdb:
        sys.stderr.write("run: warning: QEMU exit %d does not match result status %d\n" % (rc, status))
    sys.stderr.write("run: %s: %s stopped with status %d (%s) after %.1f s wall\n"
                     % (emu, "the bare guest" if opts.bare else "hv", status,
                        result.get("name", "guest exit"), wall))
    if status != 0:
        explain_failure(emu, work)
    if not opts.workdir and not opts.keep and not opts.show and status == 0:
        shutil.rmtree(work, ignore_errors=True)
    return status, work


MACHINE_LINE = re.compile(r"^(?:\[[\w-]+\] )?@ ")
TERMINAL_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class ConsoleView:
    """What --show prints: the human console (hv's lines and each guest's
    lines, '[name] ...'). Machine lines ('@ {json}', a guest's '[vm] @ ...')
    stay in the log unless show_events; GRUB's screen controls are dropped."""

    def __init__(self, show_events, prefix=""):
        self.show_events, self.prefix, self.partial = show_events, prefix, ""

    def feed(self, data):
        lines = (self.partial + data.replace("\r", "")).split("\n")
        self.partial = lines.pop()
        for line in lines:
            self.emit(line)
        sys.stdout.flush()

    def flush(self):
        if self.partial:
            self.emit(self.partial)
            self.partial = ""
        sys.stdout.flush()

    def emit(self, line):
        if not self.show_events and MACHINE_LINE.match(line):
            return
        line = TERMINAL_ESCAPE.sub("", line)
        if line.strip() or not self.show_events:
            sys.stdout.write(self.prefix + line + "\n")


def stream(path, offset, view):
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read()
    if data:
        view.feed(data.decode(errors="replace"))
    return offset + len(data)


def hv_events(text):
    """hv's own '@ {json}' events (not a guest's '[vm] @ ...')."""
    for line in text.splitlines():
        if line.startswith("@ "):
            try:
                yield json.loads(line[2:])
            except ValueError:
                continue


def vm_table(text):
    """The end-of-run table: each VM, how it ended, its exits, what went over
    its limits (hv/vm/limits.c) and its energy."""
    rows, order, sources = {}, [], set()

    def row(name):
        if name not in rows:
            rows[name] = {"status": "running", "exits": "-", "energy": "-", "limited": "-"}
            order.append(name)
        return rows[name]

    for ev in hv_events(text):
        kind, name = ev.get("ev"), ev.get("vm")
        if not name:
            continue
        if kind == "vm_start":
            row(name)
        elif kind == "vm_error":
            row(name)["status"] = "refused: %s: %s" % (ev.get("what", "?"), ev.get("message", "?"))
        elif kind == "vm_exit":
            r = row(name)
            r["status"] = "%s (status %s)" % (ev.get("reason", "?"), ev.get("status", "?"))
            r["exits"] = str(ev.get("exits_total", "-"))
        elif kind == "vm_limits" and name in rows:
            over = ["%s %d" % (k, v.get("refused", 0)) for k, v in ev.get("limits", {}).items()
                    if v.get("refused")]
            rows[name]["limited"] = ", ".join(over) if over else "0"
        elif kind == "energy" and name in rows and "uj" in ev:
            rows[name]["energy"] = "%.3f" % (ev["uj"] / 1e6)
            sources.add(ev.get("source", "?"))
    if not order:
        return ""
    width = max(4, max(len(n) for n in order))
    out = ["%-*s  %8s  %10s  %s" % (width, "VM", "exits", "energy (J)", "status")]
    for name in order:
        r = rows[name]
        limited = "; over limits: %s" % r["limited"] if r["limited"] not in ("-", "0") else ""
        out.append("%-*s  %8s  %10s  %s%s" % (width, name, r["exits"], r["energy"], r["status"],
                                              limited))
    if sources:
        out.append("energy source: %s" % ", ".join(
            "the power model (no RAPL on this CPU)" if src == "model" else src
            for src in sorted(sources)))
    return "\n".join(out) + "\n"


def explain_failure(emu, work):
    """bochs writes the exact failing VM-entry check to its log (PLATFORM.md)."""
    if emu != "bochs":
        return
    log = os.path.join(work, "bochs.log")
    if not os.path.exists(log):
        return
    lines = [l.rstrip() for l in open(log, errors="replace")
             if re.search(r"VMFAIL|VMENTER|VMEXIT|PANIC|exception\(\)", l)]
    if lines:
        sys.stderr.write("run: bochs log (%s):\n  %s\n" % (log, "\n  ".join(lines[-20:])))


# ---- two hosts on one link ------------------------------------------------

class Side:
    """One bochs instance of a pair and how it ended."""

    def __init__(self, name, work, cmdline, modules, ips, mac, port, bare=None):
        self.name, self.work, self.cmdline, self.modules = name, work, cmdline, modules
        self.bare = bare  # (guest ELF, its arguments): no hypervisor
        self.ips, self.mac, self.port = ips, mac, port
        self.serial = os.path.join(work, "serial.txt")
        self.proc = None
        self.ended = None  # time.time() when its emulator exited
        self.killed = None  # why the runner killed it, if it did
        self.after_peer = False  # killed because the other side had failed
        self.status = None
        self.why = ""
        self.delay = 0.0  # s after the pair's start before it boots
        self.kill_on = None  # compiled regex: kill it when its log matches
        self.killed_on_purpose = False
        self.scanned = 0  # bytes of its log already matched against kill_on
        self.shown = 0
        self.view = None  # its ConsoleView under --show
        self.text = ""

    def label(self):
        if self.bare:
            return "%s (bare %s)" % (self.name, self.bare[1])
        return "%s (%s)" % (self.name, self.cmdline or "no options")


def start_hub(opts, work):
    """bxhub in a new network namespace; returns its Popen once the
    namespace's lo is up (the wrapper has exec'd bxhub)."""
    log = os.path.join(work, "hub.log")
    out = open(os.path.join(work, "hub.out"), "w")
    cmd = in_new_netns([find_tool("bxhub"), "-ports=2", "-base=%d" % opts.eth_port,
                        "-loglev=1", "-logfile=" + log])
    hub = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                           start_new_session=True, cwd=work, preexec_fn=die_with_parent)
    out.close()
    deadline = time.time() + 10
    while time.time() < deadline:
        if hub.poll() is not None:
            break
        try:
            with open("/proc/%d/comm" % hub.pid) as f:
                if f.read().strip() == "bxhub":
                    return hub
        except OSError:
            pass
        time.sleep(0.02)
    kill_group(hub)
    text = open(os.path.join(work, "hub.out"), errors="replace").read().strip()
    raise SetupError("bxhub did not start in a network namespace%s"
                     % (": " + text[-300:] if text else " (as a normal user, unprivileged "
                        "user namespaces may be disabled: run as root)"))


class SetupError(Exception):
    pass


def kill_group(proc):
    if proc and proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def stream_prefixed(side, opts):
    if side.view is None:
        side.view = ConsoleView(opts.show_events, prefix=side.name + "| ")
    side.shown = stream(side.serial, side.shown, side.view)


def start_side(side, cmd, env_extra, opts):
    if opts.verbose:
        sys.stderr.write("run: %s: %s\n" % (side.name, " ".join(cmd)))
    out = open(os.path.join(side.work, "emulator.out"), "w")
    side.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                 stderr=subprocess.STDOUT, env=dict(os.environ, **env_extra),
                                 start_new_session=True, cwd=side.work,
                                 preexec_fn=die_with_parent)
    out.close()


def wait_for_listener(proc, port, seconds=10):
    """True once a TCP socket listens on port in proc's network namespace
    (its /proc/PID/net/tcp lists that namespace's sockets)."""
    deadline = time.time() + seconds
    while time.time() < deadline and proc.poll() is None:
        try:
            with open("/proc/%d/net/tcp" % proc.pid) as f:
                for line in f.readlines()[1:]:
                    local, state = line.split()[1], line.split()[3]
                    if int(local.split(":")[1], 16) == port and state == "0A":  # LISTEN
                        return True
        except OSError:
            pass
        time.sleep(0.02)
    return False


def pair_commands(opts, sides):
    """Each side's emulator command: bochs (an ISO each, hv or a bare
    guest), or qemu-kernel (bare guests only, joined by a socket netdev)."""
    cmds = []
    if opts.emu == "qemu-kernel":
        for side in sides:
            o = argparse.Namespace(**vars(opts))
            o.kernel, o.cmdline, o.mac = os.path.abspath(side.bare[0]), side.bare[1], side.mac
            o.qemu_netdev = "socket,%s=127.0.0.1:%d" % ("listen" if side.name == "A" else "connect",
                                                        opts.eth_port)
            open(side.serial, "w").close()
            cmds.append(emulator_command("qemu-kernel", o, side.work, side.serial))
        return cmds
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:  # both ISOs at once
        isos = list(pool.map(lambda s: build_iso(s.work, s.bare[0] if s.bare else opts.hv,
                                                 s.bare[1] if s.bare else s.cmdline, s.modules,
                                                 bare=bool(s.bare)), sides))
    for side, iso in zip(sides, isos):
        o = argparse.Namespace(**vars(opts))
        o.iso = iso
        o.ips, o.nic, o.mac, o.eth_port = side.ips, True, side.mac, side.port
        open(side.serial, "w").close()
        cmds.append(emulator_command("bochs", o, side.work, side.serial))
    return cmds


def run_pair(opts):
    # SIGTERM ends the runner through its finally: clauses (no bochs left).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    work = os.path.abspath(opts.workdir or tempfile.mkdtemp(prefix="jv-pair-"))
    os.makedirs(work, exist_ok=True)
    qemu = opts.emu == "qemu-kernel"
    missing = missing_tools((["qemu-system-x86_64"] if qemu else ["bochs-bin", "bxhub"])
                            + ["unshare", "nsenter", "ip"])
    if missing:
        sys.stderr.write("run: --pair: %s\n" % missing)
        return STATUS_SETUP, work
    sides = [Side("A", os.path.join(work, "a"), opts.cmdline_a, opts.module_a,
                  opts.ips_a or opts.ips, opts.mac_a, opts.eth_port, opts.bare_a),
             Side("B", os.path.join(work, "b"), opts.cmdline_b, opts.module_b,
                  opts.ips_b or opts.ips, opts.mac_b, opts.eth_port + 2, opts.bare_b)]
    for side, delay, kill_on in zip(sides, (opts.delay_a, opts.delay_b),
                                    (opts.kill_a_on, opts.kill_b_on)):
        os.makedirs(side.work, exist_ok=True)
        side.delay = delay
        try:
            side.kill_on = re.compile(kill_on, re.M) if kill_on else None
        except re.error as e:
            sys.stderr.write("run: --kill-%s-on: bad regular expression %r: %s\n"
                             % (side.name.lower(), kill_on, e))
            return STATUS_SETUP, work
    if qemu and (opts.delay_a or opts.delay_b):
        sys.stderr.write("run: --pair: --delay-a/-b need bochs (QEMU's B must connect at once)\n")
        return STATUS_SETUP, work
    cmds = pair_commands(opts, sides)
    hub, hub_exit = None, None
    start = time.time()
    try:
        if qemu:
            # A listens in a new namespace, B connects from inside it: QEMU
            # refuses to start when nothing listens yet.
            start_side(sides[0], in_new_netns(cmds[0][0]), cmds[0][1], opts)
            if not wait_for_listener(sides[0].proc, opts.eth_port):
                sys.stderr.write("run: --pair: QEMU A did not listen on port %d (see %s)\n"
                                 % (opts.eth_port, os.path.join(sides[0].work, "emulator.out")))
                return STATUS_SETUP, work
            start_side(sides[1], in_netns_of(sides[0].proc.pid, cmds[1][0]), cmds[1][1], opts)
        else:
            try:
                hub = start_hub(opts, work)
            except SetupError as e:
                sys.stderr.write("run: --pair: %s\n" % e)
                return STATUS_SETUP, work
        deadline = {s.name: start + s.delay + opts.timeout for s in sides}
        while any(s.ended is None for s in sides):
            now = time.time()
            if hub and hub_exit is None and hub.poll() is not None:
                hub_exit = hub.returncode  # the link is gone: the sides will hang
            for side, (cmd, env_extra) in zip(sides, cmds):
                if hub and side.proc is None and side.ended is None and now >= start + side.delay:
                    start_side(side, in_netns_of(hub.pid, cmd), env_extra, opts)
            for side in sides:
                if side.proc is None:
                    if side.ended is None and now > deadline[side.name]:
                        side.ended = now  # its peer failed before it was due to boot
                        side.after_peer = True
                        side.killed = "never started: its peer had already failed"
                        finish_side(side)
                    continue
                if side.ended is None and side.kill_on and log_matches(side):
                    kill_group(side.proc)
                    side.ended, side.killed_on_purpose = now, True
                    finish_side(side)
                    continue
                if side.ended is None and side.proc.poll() is not None:
                    side.ended = now
                    finish_side(side)
                    if side.status != 0:  # its peer would wait for it until the timeout
                        for other in sides:
                            deadline[other.name] = min(deadline[other.name], now + PEER_GRACE)
                if side.ended is None and now > deadline[side.name]:
                    kill_group(side.proc)
                    side.ended = now
                    side.after_peer = deadline[side.name] < start + opts.timeout
                    side.killed = ("stopped by the runner %d s after its peer failed, no "
                                   "result line" % PEER_GRACE if side.after_peer else
                                   "hung: no result line within %d s" % opts.timeout)
                    finish_side(side)
                if opts.show:
                    stream_prefixed(side, opts)
            time.sleep(0.1)
    finally:
        for side in sides:
            kill_group(side.proc)
        kill_group(hub)
    wall = time.time() - start
    for side, log in zip(sides, (opts.log_a, opts.log_b)):
        if opts.show:
            stream_prefixed(side, opts)
            side.view.flush()
        if log:
            with open(os.path.abspath(log), "w") as f:
                f.write(side.text)
        sys.stderr.write("run: pair: %s: %s, at %.1f s wall\n"
                         % (side.label(), side.why, side.ended - start))
        if side.status != 0:
            explain_failure("qemu-kernel" if qemu else "bochs", side.work)
    # The side that failed on its own and first is the cause.
    failed = sorted((s for s in sides if s.status != 0), key=lambda s: (s.after_peer, s.ended))
    if failed:
        hub_note = ("; bxhub exited with status %s during the run (see hub.out)" % hub_exit
                    if hub_exit is not None else "")
        sys.stderr.write("run: pair: FAILED: %s%s; logs in %s\n"
                         % ("; ".join("%s %s" % (s.name, s.why) for s in failed), hub_note, work))
        return failed[0].status, work
    sys.stderr.write("run: pair: both hosts stopped with status 0 after %.1f s wall\n" % wall)
    if not opts.workdir and not opts.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0, work


def log_matches(side):
    """True once a complete line of the side's serial log matches kill_on."""
    with open(side.serial, "rb") as f:
        f.seek(side.scanned)
        data = f.read()
    end = data.rfind(b"\n") + 1  # whole lines only
    side.scanned += end
    return bool(side.kill_on.search(data[:end].decode(errors="replace").replace("\r", "")))


def finish_side(side):
    side.text = open(side.serial, errors="replace").read().replace("\r", "")
    if side.killed_on_purpose or side.killed:
        # The runner stopped it, maybe mid-write: a cut last line is the
        # runner's doing, not the host's (and would read as a malformed
        # event).
        side.text = side.text[:side.text.rfind("\n") + 1]
    if side.killed_on_purpose:
        side.status = 0
        side.why = "killed by the runner on purpose: its log matched %r" % side.kill_on.pattern
        return
    result = parse_result(side.text, bool(side.bare))
    if result is None:
        side.status = STATUS_TIMEOUT if side.killed else STATUS_NO_RESULT
        side.why = side.killed or ("ended without a result line (crash or triple fault), "
                                   "emulator exit %s" % side.proc.returncode)
        if side.proc is None:
            side.status = STATUS_SETUP
    else:
        side.status = int(result.get("status", STATUS_NO_RESULT))
        side.why = "stopped with status %d (%s)" % (side.status, result.get(
            "name", "guest exit" if side.bare else "?"))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--emu", choices=["bochs", "qemu", "ovmf", "kvm", "qemu-kernel"])
    p.add_argument("--iso", help="a bootable ISO (default: build one from --hv)")
    # The BUILD the caller builds into (make, the test harness and the
    # experiments all set it), so a run never boots another tree's hv.
    p.add_argument("--hv", default=os.path.join(ROOT, os.environ.get("BUILD") or "build", "hv.elf"),
                   help="hv's ELF (default: $BUILD/hv.elf, BUILD defaulting to build)")
    p.add_argument("--kernel", help="ELF for qemu-kernel (default: --hv)")
    p.add_argument("--cmdline", default="", help="hv boot options")
    p.add_argument("--module", nargs=2, action="append", default=[], metavar=("ELF", "ARGS"),
                   help="a guest image and its module command line")
    p.add_argument("--bare", nargs=2, metavar=("GUEST.elf", "ARGS"),
                   help="boot a guest alone, no hypervisor (the native baseline)")
    p.add_argument("--bare-linux", nargs=3, metavar=("BZIMAGE", "INITRD", "ARGS"),
                   help="boot Linux alone, no hypervisor, through GRUB (bochs): the Linux "
                        "baseline; its /init ends the run with jv-exit")
    p.add_argument("--timeout", type=float, default=300)
    p.add_argument("--mem", type=int, default=256, help="emulated RAM in MiB")
    p.add_argument("--cpu", default="tigerlake", help="bochs cpu model")
    p.add_argument("--cpus", type=int, default=1, choices=range(1, 9), metavar="N",
                   help="bochs: N processors (cpu: count=N), 1-8")
    p.add_argument("--ips", default="50000000", help="bochs instructions per emulated second")
    p.add_argument("--bochs-extra", action="append", default=[], help="extra bochsrc line")
    p.add_argument("--show", action="store_true",
                   help="print the human console live (machine lines go to the log), then a "
                        "table of the VMs and where the log is")
    p.add_argument("--show-events", action="store_true",
                   help="with --show, print the '@ {json}' machine lines inline too")
    p.add_argument("--platform-only", action="store_true",
                   help="print the emulator that would be used (stdout) and why (stderr), "
                        "then exit: 0, or %d when the one asked for cannot run here"
                        % STATUS_NO_PLATFORM)
    p.add_argument("--log", help="write the serial log here")
    p.add_argument("--workdir", help="keep all files of the run here")
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    p.add_argument("--gdb", action="store_true", help="QEMU: wait for gdb on :1234")
    p.add_argument("-v", "--verbose", action="store_true")
    net = p.add_argument_group("network (bochs)")
    net.add_argument("--nic", action="store_true", help="add an e1000 on the socket backend")
    net.add_argument("--mac", default=DEFAULT_MACS[0], help="--nic: its MAC")
    net.add_argument("--eth-port", type=int, default=DEFAULT_ETH_PORT,
                     help="--nic: its UDP port; --pair: bxhub's base port")
    net.add_argument("--pair", action="store_true", help="two hosts A and B through bxhub")
    net.add_argument("--no-nic", action="store_true", help="QEMU: no network card")
    for side, mac in zip("ab", DEFAULT_MACS):
        net.add_argument("--cmdline-" + side, default="", help="--pair: hv boot options of " + side.upper())
        net.add_argument("--module-" + side, nargs=2, action="append", default=[],
                         metavar=("ELF", "ARGS"), help="--pair: a guest of " + side.upper())
        net.add_argument("--ips-" + side, help="--pair: bochs ips of %s (default --ips)" % side.upper())
        net.add_argument("--mac-" + side, default=mac, help="--pair: MAC of " + side.upper())
        net.add_argument("--log-" + side, help="--pair: write %s's serial log here" % side.upper())
        net.add_argument("--delay-" + side, type=float, default=0.0, metavar="S",
                         help="--pair: start %s S wall seconds after the other side" % side.upper())
        net.add_argument("--kill-%s-on" % side, metavar="REGEX",
                         help="--pair: kill %s's emulator (pull its plug) when its serial log "
                              "has a line matching REGEX" % side.upper())
        net.add_argument("--bare-" + side, nargs=2, metavar=("GUEST.elf", "ARGS"),
                         help="--pair: %s runs this guest alone, no hypervisor" % side.upper())
    opts = p.parse_args(argv)
    if opts.pair:
        if opts.emu not in (None, "bochs", "qemu-kernel") or opts.iso or opts.bare or opts.module \
                or opts.cmdline or opts.nic or opts.no_nic or opts.log:
            p.error("--pair runs two bochs (or, bare, qemu-kernel) instances; give each side "
                    "--cmdline-a/-b, --module-a/-b or --bare-a/-b, --log-a/-b")
        for side in "ab":
            bare = getattr(opts, "bare_" + side)
            if bare and (getattr(opts, "module_" + side) or getattr(opts, "cmdline_" + side)):
                p.error("--bare-%s boots a guest alone; it takes no --module-%s or --cmdline-%s"
                        % (side, side, side))
            if bare and not os.path.exists(bare[0]):
                p.error("%s does not exist (run make)" % bare[0])
        if opts.emu == "qemu-kernel" and not (opts.bare_a and opts.bare_b):
            p.error("--pair --emu qemu-kernel runs bare guests only (TCG has no VMX): "
                    "give --bare-a and --bare-b")
        if not (opts.bare_a and opts.bare_b) and not os.path.exists(opts.hv):
            p.error("%s does not exist (run make)" % opts.hv)
        status, _ = run_pair(opts)
        return status
    if opts.no_nic and opts.emu in (None, "bochs"):
        p.error("--no-nic is for QEMU; bochs has no NIC unless --nic")
    if opts.nic and opts.emu not in (None, "bochs"):
        p.error("--nic adds bochs' e1000; QEMU already has one (00:03.0) by default")
    if opts.nic and opts.emu is None:
        opts.emu = "bochs"
    if opts.bare and opts.module:
        p.error("--bare boots one guest alone; it takes no --module")
    if opts.bare_linux:
        if opts.bare or opts.module or opts.cmdline or opts.iso:
            p.error("--bare-linux boots Linux alone; it takes no --bare, --module, --cmdline or --iso")
        if opts.emu not in (None, "bochs"):
            p.error("--bare-linux boots through an ISO in bochs (QEMU takes -kernel directly)")
        for f in opts.bare_linux[:2]:
            if not os.path.exists(f):
                p.error("%s does not exist (run make linux-images)" % f)
        opts.emu = "bochs"
        opts.workdir = opts.workdir or tempfile.mkdtemp(prefix="jv-run-")
        opts.iso = build_linux_iso(opts.workdir, *opts.bare_linux)
        opts.bare = (opts.bare_linux[0], opts.bare_linux[2])
    if opts.emu == "qemu-kernel" and opts.module:
        p.error("qemu-kernel cannot pass guest modules; use an ISO platform")
    try:
        emu, why = choose_platform(opts.emu, bare=bool(opts.bare))
    except NoPlatform as e:
        sys.stderr.write("run: %s\n" % e)
        return STATUS_NO_PLATFORM
    if opts.platform_only:
        sys.stderr.write("run: %s\n" % why)
        print(emu)
        return 0
    if opts.emu is None and opts.show:
        sys.stderr.write("run: %s\n" % why)
    opts.emu = emu
    if opts.iso and not os.path.exists(opts.iso):
        p.error("ISO %s does not exist (run make)" % opts.iso)
    if not opts.iso and not os.path.exists(opts.hv):
        p.error("%s does not exist (run make)" % opts.hv)
    status, _ = run(opts)
    return status


if __name__ == "__main__":
    sys.exit(main())

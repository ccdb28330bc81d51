#!/usr/bin/env python3
"""Boot Joulevisor headless in an emulator and report how the run ended.

  tools/run.py [--emu bochs|qemu|ovmf|kvm|qemu-kernel] [--iso X | --hv ELF
               [--cmdline "OPTS"] [--module GUEST.elf "ARGS"]...]
               [--timeout S] [--show] [--log FILE]

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
"""
import argparse
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

BOCHSRC = """\
megs: {mem}
romimage: file=/usr/share/bochs/BIOS-bochs-latest
vgaromimage: file=/usr/share/vgabios/vgabios.bin
ata0-master: type=cdrom, path={iso}, status=inserted
boot: cdrom
display_library: sdl2
cpu: model={cpu}, count=1, ips={ips}, reset_on_triple_fault=0, ignore_bad_msrs=0
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


def have_kvm():
    return os.access("/dev/kvm", os.R_OK | os.W_OK)


def best_emu():
    return "kvm" if have_kvm() else "bochs"


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


def emulator_command(emu, opts, work, serial):
    if emu == "bochs":
        rc = os.path.join(work, "bochsrc")
        with open(rc, "w") as f:
            f.write(BOCHSRC.format(mem=opts.mem, iso=opts.iso, cpu=opts.cpu, ips=opts.ips,
                                   log=os.path.join(work, "bochs.log"), serial=serial))
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
        if not have_kvm():
            sys.stderr.write("run: /dev/kvm is missing or not accessible: use --emu bochs\n")
            raise SystemExit(STATUS_SETUP)
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


def run(opts):
    emu = opts.emu or best_emu()
    # Absolute: the emulator runs inside the work directory.
    work = os.path.abspath(opts.workdir or tempfile.mkdtemp(prefix="jv-run-"))
    os.makedirs(work, exist_ok=True)
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
    if opts.verbose:
        sys.stderr.write("run: " + " ".join(cmd) + "\n")
    env = dict(os.environ, **env_extra)
    out = open(os.path.join(work, "emulator.out"), "w")
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                            env=env, start_new_session=True, cwd=work)
    start = time.time()
    shown = 0
    timed_out = False
    while proc.poll() is None:
        if time.time() - start > opts.timeout:
            timed_out = True
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            break
        if opts.show:
            shown = stream(serial, shown)
        time.sleep(0.1)
    rc = proc.returncode
    out.close()
    if opts.show:
        stream(serial, shown)
    text = open(serial, errors="replace").read().replace("\r", "")
    if opts.log:
        with open(opts.log, "w") as f:
            f.write(text)
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
    if not opts.workdir and not opts.keep and status == 0:
        shutil.rmtree(work, ignore_errors=True)
    return status, work


def stream(path, offset):
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read()
    if data:
        sys.stdout.write(data.decode(errors="replace").replace("\r", ""))
        sys.stdout.flush()
    return offset + len(data)


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


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--emu", choices=["bochs", "qemu", "ovmf", "kvm", "qemu-kernel"])
    p.add_argument("--iso", help="a bootable ISO (default: build one from --hv)")
    p.add_argument("--hv", default=os.path.join(ROOT, "build", "hv.elf"))
    p.add_argument("--kernel", help="ELF for qemu-kernel (default: --hv)")
    p.add_argument("--cmdline", default="", help="hv boot options")
    p.add_argument("--module", nargs=2, action="append", default=[], metavar=("ELF", "ARGS"),
                   help="a guest image and its module command line")
    p.add_argument("--bare", nargs=2, metavar=("GUEST.elf", "ARGS"),
                   help="boot a guest alone, no hypervisor (the native baseline)")
    p.add_argument("--timeout", type=float, default=300)
    p.add_argument("--mem", type=int, default=256, help="emulated RAM in MiB")
    p.add_argument("--cpu", default="tigerlake", help="bochs cpu model")
    p.add_argument("--ips", default="50000000", help="bochs instructions per emulated second")
    p.add_argument("--bochs-extra", action="append", default=[], help="extra bochsrc line")
    p.add_argument("--show", action="store_true", help="print the console live")
    p.add_argument("--log", help="write the serial log here")
    p.add_argument("--workdir", help="keep all files of the run here")
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    p.add_argument("--gdb", action="store_true", help="QEMU: wait for gdb on :1234")
    p.add_argument("-v", "--verbose", action="store_true")
    opts = p.parse_args(argv)
    if opts.bare and opts.module:
        p.error("--bare boots one guest alone; it takes no --module")
    if opts.emu == "qemu-kernel" and opts.module:
        p.error("qemu-kernel cannot pass guest modules; use an ISO platform")
    if opts.iso and not os.path.exists(opts.iso):
        p.error("ISO %s does not exist (run make)" % opts.iso)
    if not opts.iso and not os.path.exists(opts.hv):
        p.error("%s does not exist (run make)" % opts.hv)
    if opts.emu is None and opts.show:
        sys.stderr.write("run: using %s (%s)\n" % (best_emu(), "/dev/kvm present" if have_kvm()
                                                   else "no /dev/kvm: bochs emulates VMX with EPT"))
    status, _ = run(opts)
    return status


if __name__ == "__main__":
    sys.exit(main())

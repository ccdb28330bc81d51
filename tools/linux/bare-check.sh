#!/usr/bin/env bash
# tools/linux/bare-check.sh BUILD [COMMAND [QEMU_STATUS [TEXT]]]: boots
# Debian's kernel bare (no hv) in QEMU with the initramfs, has /init run
# COMMAND (jv.run), and checks the output has TEXT and QEMU ended with
# QEMU_STATUS: the guest's status S comes out of isa-debug-exit as
# (S << 1) | 1. KVM when /dev/kvm opens, else TCG (LINUX_ACCEL below).
# The defaults are the smoke test: "echo hello from linux; exit 3", 7,
# "hello from linux"; the environment's LINUX_RUN, LINUX_EXPECT_STATUS and
# LINUX_EXPECT_TEXT replace them (linux.mk passes them on). The console
# goes to stdout and to BUILD/linux/bare-check.log.
set -euo pipefail

die() {
	echo "linux-bare-check: error: $*" >&2
	exit 1
}
[[ $# -ge 1 && $# -le 4 ]] || die "usage: $0 BUILD [COMMAND [QEMU_STATUS [TEXT]]]"
BUILD=$1
COMMAND=${2:-${LINUX_RUN:-echo hello from linux; exit 3}}
WANT_STATUS=${3:-${LINUX_EXPECT_STATUS:-7}}
WANT_TEXT=${4:-${LINUX_EXPECT_TEXT:-hello from linux}}
TIMEOUT=${LINUX_BOOT_TIMEOUT:-120}
L=$BUILD/linux
[[ $COMMAND != *'"'* ]] || die "the command cannot hold a double quote (the kernel command line has no escapes): $COMMAND"
for f in "$L/bzImage" "$L/initrd.cpio.gz"; do
	[[ -f $f ]] || die "no $f: make -f tools/linux/linux.mk BUILD=$BUILD linux-images"
done
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 is missing (apt-get install qemu-system-x86)"

kvm_opens() { (exec 3<>/dev/kvm) 2>/dev/null; }
LOG=$L/bare-check.log

# boot ACCEL TIMEOUT: one QEMU run; sets status (124: timed out) and seconds.
boot() {
	local accel=() start
	[[ $1 == kvm ]] && accel=(-enable-kvm)
	echo "linux-bare-check: booting $L/bzImage under $1 (at most $2 s): jv.run=\"$COMMAND\""
	start=$(date +%s.%N)
	set +e
	timeout "$2" qemu-system-x86_64 "${accel[@]}" -m 256 -nographic -no-reboot \
		-device isa-debug-exit,iobase=0xf4,iosize=0x04 \
		-kernel "$L/bzImage" -initrd "$L/initrd.cpio.gz" \
		-append "console=ttyS0 panic=-1 quiet jv.run=\"$COMMAND\"" </dev/null 2>&1 | tee "$LOG"
	status=${PIPESTATUS[0]}
	set -e
	seconds=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
	echo
}

# LINUX_ACCEL=kvm or tcg forces one. Unset: KVM when /dev/kvm opens, else
# TCG; and when KVM gives no end within LINUX_KVM_TIMEOUT (30 s; a real
# KVM boots this in a few seconds), TCG after all, saying so. (The AMD
# machines this was written on have a /dev/kvm that runs Debian's kernel
# far slower than TCG: its decompressor alone did not finish in 600 s.)
note=""
case ${LINUX_ACCEL:-auto} in
auto)
	if kvm_opens; then
		boot kvm "${LINUX_KVM_TIMEOUT:-30}"
		accel_name=kvm
		if [[ $status -eq 124 ]]; then
			echo "linux-bare-check: no end after $seconds s under KVM: trying TCG instead (LINUX_ACCEL=kvm insists on KVM)"
			note=" (KVM gave no end in $seconds s)"
			boot tcg "$TIMEOUT"
			accel_name=tcg
		fi
	else
		boot tcg "$TIMEOUT"
		accel_name="tcg (/dev/kvm does not open)"
	fi
	;;
kvm)
	kvm_opens || die "LINUX_ACCEL=kvm but /dev/kvm does not open"
	boot kvm "$TIMEOUT"
	accel_name=kvm
	;;
tcg)
	boot tcg "$TIMEOUT"
	accel_name=tcg
	;;
*) die "LINUX_ACCEL is kvm, tcg or unset, not '$LINUX_ACCEL'" ;;
esac
[[ $status -ne 124 ]] || die "no end after $seconds s under $accel_name$note (log: $LOG)"
problems=()
grep -qF -- "$WANT_TEXT" "$LOG" || problems+=("the output has no '$WANT_TEXT'")
[[ $status -eq $WANT_STATUS ]] || problems+=("QEMU's exit status is $status, not $WANT_STATUS")
if [[ ${#problems[@]} -gt 0 ]]; then
	printf 'linux-bare-check: FAIL: %s\n' "${problems[@]}" >&2
	echo "linux-bare-check: log: $LOG ($seconds s under $accel_name$note)" >&2
	exit 1
fi
echo "linux-bare-check: ok: '$WANT_TEXT' seen, QEMU exit status $status, $seconds s under $accel_name$note"

#!/usr/bin/env bash
# Builds a bootable hybrid ISO (GRUB 2 for BIOS and UEFI) with hv and its
# guest modules.
#   tools/mkiso.sh OUT.iso HV.elf "HV OPTIONS" [GUEST.elf "MODULE ARGS"]...
# Each guest ELF becomes a multiboot2 module whose command line is its args,
# e.g. "name=vm0 mem=32M -- mvb 512".
#   tools/mkiso.sh --bare OUT.iso GUEST.elf "ARGS"
# boots a guest ELF alone, with no hypervisor (multiboot1): the native
# baseline.
#   tools/mkiso.sh --linux OUT.iso BZIMAGE "KERNEL ARGS" INITRD
# boots a Linux bzImage alone through GRUB's linux and initrd commands (the
# 64-bit boot protocol and its decompressor): bare Linux, the baseline of
# the Linux guests.
set -euo pipefail
bare=0
if [ "${1:-}" = "--bare" ]; then
	bare=1
	shift
elif [ "${1:-}" = "--linux" ]; then
	[ $# -eq 5 ] || { echo "usage: $0 --linux OUT.iso BZIMAGE \"KERNEL ARGS\" INITRD" >&2; exit 2; }
	for f in "$3" "$5"; do
		[ -f "$f" ] || { echo "mkiso: $f: no such file (run make linux-images)" >&2; exit 2; }
	done
	stage=$(mktemp -d)
	log=$(mktemp)
	trap 'rm -rf "$stage" "$log"' EXIT
	mkdir -p "$stage/boot/grub"
	cp "$3" "$stage/boot/bzImage"
	cp "$5" "$stage/boot/initrd"
	cat >"$stage/boot/grub/grub.cfg" <<CFG
set timeout=0
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
menuentry "bare Linux" {
  linux /boot/bzImage $4
  initrd /boot/initrd
  boot
}
CFG
	mkdir -p "$(dirname "$2")"
	grub-mkrescue -o "$2" "$stage" >"$log" 2>&1 || { echo "mkiso: grub-mkrescue failed:" >&2; cat "$log" >&2; exit 1; }
	exit 0
fi
if [ $# -lt 3 ] || [ $(( ($# - 3) % 2 )) -ne 0 ]; then
	echo "usage: $0 OUT.iso HV.elf \"HV OPTIONS\" [GUEST.elf \"MODULE ARGS\"]..." >&2
	exit 2
fi
out=$1 hv=$2 options=$3
shift 3
[ -f "$hv" ] || { echo "mkiso: $hv: no such file (run make first)" >&2; exit 2; }
stage=$(mktemp -d)
log=$(mktemp) # outside the stage: grub-mkrescue packs everything in it
trap 'rm -rf "$stage" "$log"' EXIT
mkdir -p "$stage/boot/grub" "$stage/guest"
cp "$hv" "$stage/boot/hv.elf"
{
	echo 'set timeout=0'
	echo 'serial --unit=0 --speed=115200'
	echo 'terminal_input serial console'
	echo 'terminal_output serial console'
	if [ $bare = 1 ]; then
		echo 'menuentry "bare guest" {'
		echo "  multiboot /boot/hv.elf $options"
	else
		echo 'menuentry "Joulevisor" {'
		echo "  multiboot2 /boot/hv.elf $options"
	fi
	i=0
	while [ $# -gt 0 ]; do
		[ -f "$1" ] || { echo "mkiso: guest image $1: no such file" >&2; exit 2; }
		name="g$i-$(basename "$1")"
		cp "$1" "$stage/guest/$name"
		echo "  module2 /guest/$name $2"
		shift 2
		i=$((i + 1))
	done
	echo '  boot'
	echo '}'
} >"$stage/boot/grub/grub.cfg"
mkdir -p "$(dirname "$out")"
if ! grub-mkrescue -o "$out" "$stage" >"$log" 2>&1; then
	echo "mkiso: grub-mkrescue failed:" >&2
	cat "$log" >&2
	exit 1
fi

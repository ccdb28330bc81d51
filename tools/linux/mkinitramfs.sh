#!/usr/bin/env bash
# tools/linux/mkinitramfs.sh BUILD OUT.cpio.gz: the Linux guests' initramfs,
# a gzipped newc cpio (written by tools/linux/newc.py: no cpio(1), no root):
#   /init                 tools/linux/init (busybox sh)
#   /bin/busybox          busybox-static, and a symlink per applet it has
#   /bin/jv-exit          BUILD/linux/jv-exit (ends the VM with a status)
#   /bin/jv-counter       tools/linux/jv-counter (a shell loop writing tmpfs)
#   /bin/WORKLOAD         BUILD/linux/bin/* (the workloads built for Linux)
#   /lib/modules/*.ko     BUILD/linux/modules/ (and its modules.dep)
#   /dev/console          the node the kernel opens for /init's stdio
# What it packs comes from tools/linux/fetch.sh BUILD and from make (see
# tools/linux/linux.mk); it checks that it is there.
set -euo pipefail

die() {
	echo "linux-initramfs: error: $*" >&2
	exit 1
}
[[ $# -eq 2 ]] || die "usage: $0 BUILD OUT.cpio.gz"
BUILD=$1
OUT=$2
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
L=$BUILD/linux
PYTHON=${PYTHON:-python3}

BUSYBOX=$L/root-busybox/bin/busybox
[[ -x $BUSYBOX ]] || die "no $BUSYBOX: run tools/linux/fetch.sh $BUILD first"
[[ -f $L/modules/modules.dep ]] || die "no $L/modules/: run tools/linux/fetch.sh $BUILD first"
[[ -x $L/jv-exit ]] || die "no $L/jv-exit: build it with make -f tools/linux/linux.mk BUILD=$BUILD $L/jv-exit"
command -v gzip >/dev/null || die "gzip is missing (apt-get install gzip)"

STAGE=$L/initrd-root
rm -rf "$STAGE"
mkdir -p "$STAGE"/{bin,dev,proc,sys,tmp,root,lib/modules,usr}
chmod 1777 "$STAGE/tmp"
chmod 0700 "$STAGE/root"
ln -s bin "$STAGE/sbin"
ln -s ../bin "$STAGE/usr/bin"
ln -s ../bin "$STAGE/usr/sbin"

install -m 0755 "$HERE/init" "$STAGE/init"
install -m 0755 "$BUSYBOX" "$STAGE/bin/busybox"
# The applets of this busybox build (it runs here: a static x86-64 binary).
applets=$("$BUSYBOX" --list) || die "$BUSYBOX --list failed"
count=0
for applet in $applets; do
	[[ $applet == busybox || $applet == */* ]] && continue
	ln -s busybox "$STAGE/bin/$applet"
	count=$((count + 1))
done
[[ -L $STAGE/bin/sh ]] || die "this busybox has no sh applet"

install -m 0755 "$L/jv-exit" "$STAGE/bin/jv-exit"
install -m 0755 "$HERE/jv-counter" "$STAGE/bin/jv-counter"
workloads=()
if [[ -d $L/bin ]]; then
	for program in "$L"/bin/*; do
		[[ -f $program && -x $program ]] || continue
		name=${program##*/}
		[[ -e $STAGE/bin/$name ]] && die "workload $name would replace /bin/$name"
		install -m 0755 "$program" "$STAGE/bin/$name"
		workloads+=("$name")
	done
fi
modules=()
for module in "$L"/modules/*.ko; do
	install -m 0644 "$module" "$STAGE/lib/modules/"
	modules+=("$(basename "$module" .ko)")
done
install -m 0644 "$L/modules/modules.dep" "$STAGE/lib/modules/modules.dep"

mkdir -p "$(dirname "$OUT")"
"$PYTHON" "$HERE/newc.py" "$STAGE" - --char dev/console:5:1:0600 | gzip -9 -n >"$OUT.tmp" ||
	die "writing $OUT failed"
mv "$OUT.tmp" "$OUT"
echo "linux-initramfs: $OUT: $(stat -c %s "$OUT") bytes; busybox with $count applets," \
	"workloads: ${workloads[*]:-none}; modules: ${modules[*]}"

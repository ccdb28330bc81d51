#!/usr/bin/env bash
# Builds the Linux guest images from Debian's archive (nothing of Debian's
# is committed):
#   tools/linux-guest/build-images.sh BUILD
# downloads, once, into BUILD/linux/debs the kernel package linux-image-amd64
# names and busybox-static (apt-get download), then writes
#   BUILD/linux/vmlinux         the ELF inside the bzImage (PVH-bootable)
#   BUILD/linux/bzImage         the kernel as QEMU -kernel takes it
#   BUILD/linux/initrd.cpio.gz  busybox, /init (jv.run="..."), jv-exit
set -euo pipefail
build=${1:?usage: $0 BUILD}
out=$build/linux
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out/debs"
say() { echo "linux-images: $*"; }
die() { echo "linux-images: error: $*" >&2; exit 1; }
command -v apt-get >/dev/null || die "apt-get is missing: the images come from Debian's archive"
kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/.*Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -1)
if [ -z "$kpkg" ]; then
	say "apt-get update (linux-image-amd64 is unknown here)"
	apt-get update -q >/dev/null 2>&1 || die "apt-get update failed (as root?)"
	kpkg=$(apt-cache depends linux-image-amd64 | sed -n 's/.*Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -1)
fi
[ -n "$kpkg" ] || die "cannot tell which kernel linux-image-amd64 names"
for pkg in "$kpkg" busybox-static; do
	if ! ls "$out/debs/${pkg}_"*.deb >/dev/null 2>&1; then
		say "downloading $pkg"
		(cd "$out/debs" && apt-get download -q "$pkg" >/dev/null 2>&1) ||
			die "apt-get download $pkg failed (is Debian's archive reachable?)"
	fi
done
say "$(du -ch "$out"/debs/*.deb | tail -1 | cut -f1) downloaded in $out/debs ($kpkg, busybox-static)"
rm -rf "$out/kernel" "$out/busybox" "$out/root"
dpkg-deb -x "$out/debs/${kpkg}_"*.deb "$out/kernel"
dpkg-deb -x "$out/debs/busybox-static_"*.deb "$out/busybox"
cp "$out"/kernel/boot/vmlinuz-* "$out/bzImage"
# The vmlinux is the xz stream inside the bzImage (its payload).
python3 - "$out/bzImage" "$out/payload.xz" <<'PY'
import sys
data = open(sys.argv[1], "rb").read()
at = data.find(b"\xfd7zXZ\x00")
if at < 0:
    sys.exit("linux-images: error: no xz payload in the bzImage")
open(sys.argv[2], "wb").write(data[at:])
PY
xz -dc "$out/payload.xz" >"$out/vmlinux.new" 2>/dev/null || true # trailing bytes after the stream
rm -f "$out/payload.xz"
readelf -n "$out/vmlinux.new" 2>/dev/null | grep -q "Xen" || die "the vmlinux has no Xen PVH note"
mv "$out/vmlinux.new" "$out/vmlinux"
root=$out/root
mkdir -p "$root/bin" "$root/proc" "$root/sys" "$root/dev" "$root/tmp"
cp "$out/busybox/bin/busybox" "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list); do
	[ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
done
cp "$here/init" "$root/init"
chmod 755 "$root/init"
${CC:-gcc} -static -O2 -Wall -Wextra -o "$root/bin/jv-exit" "$here/jv-exit.c"
python3 "$here/newc.py" "$root" "$out/initrd.cpio.gz"
say "vmlinux $(($(stat -c %s "$out/vmlinux") >> 20)) MiB, initrd $(du -h "$out/initrd.cpio.gz" | cut -f1) in $out"

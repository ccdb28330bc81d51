#!/usr/bin/env bash
# tools/linux/fetch.sh BUILD: Debian's kernel and busybox for the Linux
# guests, from Debian's archive (apt-get download; nothing is installed).
#
#   BUILD/linux/debs/          the downloaded .deb files (a cache: kept, reused)
#   BUILD/linux/root-kernel/   the kernel package, unpacked (dpkg-deb -x)
#   BUILD/linux/root-busybox/  busybox-static, unpacked
#   BUILD/linux/bzImage        the kernel as a boot loader (or QEMU -kernel) takes it
#   BUILD/linux/vmlinux        the ELF64 inside the bzImage (PVH entry note checked)
#   BUILD/linux/modules/       the virtio and RAPL modules, decompressed, plus
#                              modules.dep ("name: the modules to insmod for it,
#                              in order", itself last)
#   BUILD/linux/kernel-release the kernel's release string (uname -r)
#
# The kernel package is the one linux-image-amd64 depends on today (e.g.
# linux-image-6.1.0-57-amd64). Every output is rewritten on each run (so make
# sees them newer than this script); downloads happen only when the .deb is
# not in the cache yet.
set -euo pipefail

say() { echo "linux-fetch: $*"; }
die() {
	echo "linux-fetch: error: $*" >&2
	exit 1
}

[[ $# -eq 1 ]] || die "usage: $0 BUILD   (e.g. $0 build-linux)"
BUILD=$1
OUT=$BUILD/linux
DEBS=$OUT/debs

# The modules the guests need: virtio-pci networking and the RAPL powercap
# driver (intel_rapl_msr). Their dependencies are added from modules.dep.
WANTED_MODULES=(virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci
	failover net_failover virtio_net intel_rapl_common intel_rapl_msr)

for tool in apt-get apt-cache dpkg-deb xz readelf od grep awk; do
	command -v "$tool" >/dev/null && continue
	case $tool in
	apt-get | apt-cache | dpkg-deb) die "'$tool' is missing: fetching Debian's kernel needs a Debian (or Debian-based) host with apt and dpkg" ;;
	xz) die "'xz' is missing: apt-get install xz-utils" ;;
	readelf) die "'readelf' is missing: apt-get install binutils" ;;
	*) die "'$tool' is missing" ;;
	esac
done

if [[ $(id -u) -eq 0 ]]; then
	SUDO=""
	# As root, apt drops to the _apt user for downloads and warns when that
	# user cannot write the target folder; the cache folder is ours.
	APT_OPTS=(-o APT::Sandbox::User=root)
else
	SUDO="sudo "
	APT_OPTS=()
fi

# Package lists: refresh them only when the archive does not know a package.
known() { apt-cache show "$1" >/dev/null 2>&1; }
refreshed=false
need_package() {
	local pkg=$1
	known "$pkg" && return 0
	if ! $refreshed; then
		if [[ $(id -u) -ne 0 ]]; then
			die "apt does not know the package '$pkg': its package lists are missing or old, and refreshing them needs root. Run:
    sudo apt-get update
then run this again."
		fi
		say "apt does not know '$pkg': running apt-get update"
		apt-get update -q >&2 || die "apt-get update failed (is a Debian mirror reachable? see /etc/apt/sources.list*)"
		refreshed=true
	fi
	known "$pkg" || die "the Debian archive has no package '$pkg' (after apt-get update); is this Debian bookworm or newer with the 'main' component?"
}

# --- which kernel --------------------------------------------------------
need_package linux-image-amd64
KERNEL_PKG=$(apt-cache depends linux-image-amd64 2>/dev/null |
	sed -n 's/^ *Depends: *\(linux-image-[0-9][^ ]*\).*/\1/p' | head -n 1)
[[ -n $KERNEL_PKG ]] ||
	die "cannot tell which kernel linux-image-amd64 depends on ('apt-cache depends linux-image-amd64' names no linux-image-N package)"
need_package "$KERNEL_PKG"
need_package busybox-static

# --- download (cached) ---------------------------------------------------
mkdir -p "$DEBS"
# The file apt-get download writes: NAME_VERSION_ARCH.deb, ':' as %3a.
deb_of() {
	local pkg=$1 version arch
	version=$(apt-cache policy "$pkg" | sed -n 's/^ *Candidate: *//p')
	[[ -n $version && $version != "(none)" ]] || die "apt has no candidate version of '$pkg'"
	arch=$(apt-cache show "$pkg=$version" | sed -n 's/^Architecture: *//p' | head -n 1)
	echo "$DEBS/${pkg}_${version//:/%3a}_${arch}.deb"
}
fetch() {
	local pkg=$1 deb
	deb=$(deb_of "$pkg")
	if [[ -s $deb ]]; then
		say "cached: $(basename "$deb")" >&2
	else
		say "downloading $pkg from Debian's archive" >&2
		if ! (cd "$DEBS" && apt-get "${APT_OPTS[@]}" download -q "$pkg" >&2); then
			die "apt-get download $pkg failed: is a Debian mirror reachable (see /etc/apt/sources.list*)? If apt complains about its lists, run: ${SUDO}apt-get update"
		fi
		[[ -s $deb ]] || die "apt-get download $pkg did not produce $deb"
	fi
	echo "$deb"
}
KERNEL_DEB=$(fetch "$KERNEL_PKG")
BUSYBOX_DEB=$(fetch busybox-static)
size_of() { stat -c %s "$1"; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
say "kernel:  $(basename "$KERNEL_DEB"): $(mib "$(size_of "$KERNEL_DEB")") ($(size_of "$KERNEL_DEB") bytes)"
say "busybox: $(basename "$BUSYBOX_DEB"): $(mib "$(size_of "$BUSYBOX_DEB")") ($(size_of "$BUSYBOX_DEB") bytes)"

# --- unpack ----------------------------------------------------------------
for pair in "kernel:$KERNEL_DEB" "busybox:$BUSYBOX_DEB"; do
	root=$OUT/root-${pair%%:*}
	rm -rf "$root"
	mkdir -p "$root"
	dpkg-deb -x "${pair#*:}" "$root" || die "dpkg-deb -x ${pair#*:} failed (a damaged download? delete it and run again)"
done
KROOT=$OUT/root-kernel
shopt -s nullglob
vmlinuz=("$KROOT"/boot/vmlinuz-*)
configs=("$KROOT"/boot/config-*)
shopt -u nullglob
[[ ${#vmlinuz[@]} -eq 1 ]] || die "expected one boot/vmlinuz-* in $KERNEL_DEB, found ${#vmlinuz[@]}"
RELEASE=${vmlinuz[0]##*/vmlinuz-}
MODDIR=$KROOT/lib/modules/$RELEASE
[[ -x $OUT/root-busybox/bin/busybox ]] || die "$BUSYBOX_DEB has no bin/busybox"
echo "$RELEASE" >"$OUT/kernel-release"

# --- bzImage and the vmlinux inside it --------------------------------------
cp "${vmlinuz[0]}" "$OUT/bzImage"
# The payload is an xz stream somewhere after the setup code and the
# decompressor; take the first offset where the magic FD 37 7A 58 5A 00
# starts a stream that decompresses to an ELF (anything after the stream,
# such as the decompressor's trailer, is ignored by --single-stream).
offsets=$(LC_ALL=C grep -obUaP '\xFD7zXZ\x00' "$OUT/bzImage" | cut -d: -f1 || true)
[[ -n $offsets ]] || die "no xz stream in $OUT/bzImage (is this kernel compressed with something else? see CONFIG_KERNEL_* in ${configs[0]:-its config})"
found=false
for offset in $offsets; do
	# xz stops reading at the end of the stream: tail's SIGPIPE is no error.
	if (set +o pipefail; tail -c +"$((offset + 1))" "$OUT/bzImage" | xz -dc --single-stream >"$OUT/vmlinux.tmp" 2>/dev/null) &&
		[[ $(head -c 5 "$OUT/vmlinux.tmp" | od -An -tx1 | tr -d ' \n') == 7f454c4602 ]]; then
		found=true
		break
	fi
done
$found || die "none of the xz streams in $OUT/bzImage (at offsets '$(tr "\n" " " <<<"$offsets")') decompresses to an ELF64"
mv "$OUT/vmlinux.tmp" "$OUT/vmlinux"
# The PVH entry (XEN_ELFNOTE_PHYS32_ENTRY: note type 18 owned by "Xen",
# a 32-bit physical address) is how Joulevisor enters the kernel. readelf
# names it in newer binutils; 2.40 prints "Unknown note type: (0x00000012)".
pvh_entry=$(readelf -n "$OUT/vmlinux" | awk '
	$1 == "Xen" && (/XEN_ELFNOTE_PHYS32_ENTRY/ || /\(0x0*12\)/) { want = 1; next }
	want && /description data:/ { sub(/.*description data: */, ""); split($0, b, " ");
		printf "0x%s%s%s%s\n", b[4], b[3], b[2], b[1]; exit }
	{ want = 0 }')
[[ -n $pvh_entry ]] ||
	die "$OUT/vmlinux has no Xen PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY in readelf -n): this kernel was built without CONFIG_PVH"

# --- modules -----------------------------------------------------------------
config=${configs[0]:-}
if [[ -n $config ]]; then
	for option in CONFIG_PVH CONFIG_POWERCAP CONFIG_INTEL_RAPL CONFIG_INTEL_RAPL_CORE CONFIG_VIRTIO CONFIG_VIRTIO_NET; do
		value=$(sed -n "s/^$option=//p" "$config")
		say "config: $option=${value:-not set}"
	done
fi
# Debian's package has no modules.dep (depmod makes it at install time):
# modules.order gives each module's file, and each module's .modinfo its
# direct dependencies ("depends=a,b"). Names: '-' and '_' are the same.
[[ -f $MODDIR/modules.order ]] || die "$KERNEL_DEB has no lib/modules/$RELEASE/modules.order"
mod_file() { # the path (under MODDIR) of module NAME, or nothing
	awk -v want="$1" '{ n = $0; sub(/.*\//, "", n); sub(/\.ko.*/, "", n); gsub(/-/, "_", n); if (n == want) { print; exit } }' "$MODDIR/modules.order"
}
is_builtin() {
	[[ -f $MODDIR/modules.builtin ]] &&
		awk -v want="$1" '{ n = $0; sub(/.*\//, "", n); sub(/\.ko.*/, "", n); gsub(/-/, "_", n); if (n == want) found = 1 } END { exit !found }' "$MODDIR/modules.builtin"
}
rm -rf "$OUT/modules"
mkdir -p "$OUT/modules"
declare -A copied=() deps_of=()
copy_module() { # NAME: decompressed into OUT/modules/NAME.ko; sets deps_of[NAME]
	local name=$1 path
	[[ -n ${copied[$name]:-} ]] && return 0
	path=$(mod_file "$name")
	[[ -n $path ]] || die "no module '$name' in $RELEASE (modules.order)"
	case $path in
	*.ko.xz) xz -dc "$MODDIR/$path" >"$OUT/modules/$name.ko" ;;
	*.ko.zst) zstd -qdc "$MODDIR/$path" >"$OUT/modules/$name.ko" ;;
	*.ko.gz) gzip -dc "$MODDIR/$path" >"$OUT/modules/$name.ko" ;;
	*.ko) cp "$MODDIR/$path" "$OUT/modules/$name.ko" ;;
	*) die "unexpected module file $path" ;;
	esac || die "cannot decompress $MODDIR/$path"
	copied[$name]=1
	deps_of[$name]=$(readelf -p .modinfo "$OUT/modules/$name.ko" | sed -n 's/.*\]  *depends=//p' | tr ',-' ' _')
}
declare -A placed=()
load_order=()
place() { # NAME and its dependencies, dependencies first, into load_order
	local name=$1 dep
	[[ -n ${placed[$name]:-} ]] && return 0
	placed[$name]=1
	copy_module "$name"
	for dep in ${deps_of[$name]}; do place "$dep"; done
	load_order+=("$name")
}
: >"$OUT/modules/modules.dep"
for want in "${WANTED_MODULES[@]}"; do
	if [[ -z $(mod_file "$want") ]]; then
		is_builtin "$want" && { say "module $want: built into the kernel"; continue; }
		die "no module '$want' in $RELEASE (neither in modules.order nor in modules.builtin)"
	fi
	placed=()
	load_order=()
	place "$want"
	echo "$want: ${load_order[*]}" >>"$OUT/modules/modules.dep"
done
for name in $(printf '%s\n' "${!copied[@]}" | sort); do
	case " ${WANTED_MODULES[*]} " in *" $name "*) ;; *) say "module $name: a dependency of the modules asked for, added" ;; esac
done
echo "$RELEASE" >"$OUT/modules/kernel-release"

# Make sees every output as new (cached downloads included).
touch "$OUT/bzImage" "$OUT/vmlinux" "$OUT/root-busybox/bin/busybox" "$OUT/modules" "$OUT/modules/modules.dep" "$OUT/kernel-release"
say "kernel package $KERNEL_PKG $(dpkg-deb -f "$KERNEL_DEB" Version), release $RELEASE"
say "busybox-static $(dpkg-deb -f "$BUSYBOX_DEB" Version)"
say "bzImage $(mib "$(size_of "$OUT/bzImage")"), vmlinux $(mib "$(size_of "$OUT/vmlinux")") (ELF64, PVH entry ${pvh_entry:-present}), $(find "$OUT/modules" -name "*.ko" | wc -l) modules in $OUT/modules"

#!/usr/bin/env bash
# Runs on the build host: builds newlib 3.3.0 (Debian's newlib-source) once
# for the freestanding x86_64 guest kernel, with the host gcc.
#   tools/build-newlib.sh BUILD_DIR
# Result: BUILD_DIR/newlib/x86_64-elf/{include,lib/libc.a,lib/libm.a}.
# Cached: when libc.a is already installed this does nothing. The configure
# line is the one measured in /work/shared/PLATFORM.md Part A.
set -euo pipefail

if [ $# -ne 1 ]; then
	echo "usage: $0 BUILD_DIR" >&2
	exit 2
fi
build_dir=$(mkdir -p "$1" && cd "$1" && pwd)
prefix=$build_dir/newlib
libc=$prefix/x86_64-elf/lib/libc.a
tarball=${NEWLIB_TARBALL:-/usr/src/newlib/newlib-3.3.0.tar.xz}

[ -f "$libc" ] && exit 0

# Two makes started at once must not build into the same directory.
mkdir -p "$prefix"
exec 9>"$prefix/.lock"
flock 9
[ -f "$libc" ] && exit 0

if [ ! -f "$tarball" ]; then
	echo "newlib: $tarball not found; install it with: apt-get install newlib-source" >&2
	exit 1
fi

# A parent make's flags (jobserver, -s, variables) are not for newlib's make.
unset MAKEFLAGS MFLAGS MAKELEVEL

log=$prefix/build.log
work=$build_dir/newlib-work
echo "newlib: building once into $prefix, about 2 minutes (log: $log)"
start=$(date +%s)
rm -rf "$work"
mkdir -p "$work/obj" "$work/stage"

fail() {
	echo "newlib: build failed ($1); last lines of $log:" >&2
	tail -n 30 "$log" >&2
	exit 1
}

# The same flags as the guest kernel: no red zone (interrupts run on the
# same stack), no PIC/PIE (linked at a fixed address), no stack protector
# (no TLS canary). Sections let the linker drop what a workload never uses.
cflags="-O2 -ffreestanding -mno-red-zone -fno-pic -fno-pie -fno-stack-protector"
cflags="$cflags -mcmodel=small -ffunction-sections -fdata-sections"

(
	tar -C "$work" -xJf "$tarball" || exit 1
	# Debian's tarball unpacks to newlib-salsa/, not newlib-3.3.0/.
	src=$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'newlib*' | head -n 1)
	cd "$work/obj"
	"$src/configure" --target=x86_64-elf --prefix= \
		CC_FOR_TARGET=gcc AR_FOR_TARGET=ar RANLIB_FOR_TARGET=ranlib \
		AS_FOR_TARGET=as LD_FOR_TARGET=ld NM_FOR_TARGET=nm \
		OBJDUMP_FOR_TARGET=objdump STRIP_FOR_TARGET=strip \
		READELF_FOR_TARGET=readelf \
		CFLAGS_FOR_TARGET="$cflags" \
		--disable-newlib-supplied-syscalls --disable-multilib --disable-nls \
		--enable-newlib-io-c99-formats --enable-newlib-io-long-long || exit 2
	make -j2 all || exit 3
	make install DESTDIR="$work/stage" || exit 4
) >"$log" 2>&1 || case $? in
	1) fail "unpacking $tarball" ;;
	2) fail "configure" ;;
	3) fail "make" ;;
	*) fail "make install" ;;
esac

[ -f "$work/stage/x86_64-elf/lib/libc.a" ] || fail "no libc.a after install"
# Publish the whole tree in one rename, so an interrupted build never leaves
# a libc.a without its headers behind.
rm -rf "$prefix/x86_64-elf"
mv "$work/stage/x86_64-elf" "$prefix/x86_64-elf"
# The 100 MB source and object tree is not needed any more.
rm -rf "$work"
echo "newlib: done in $(($(date +%s) - start)) s"

#!/usr/bin/env bash
# Installs the Debian packages Joulevisor needs, when some are missing.
# Run by `make deps`, and so by `make run` and `make test`.
set -euo pipefail
packages=(
	gcc make binutils            # hv, guests, host tools
	grub-common grub-pc-bin grub-efi-amd64-bin xorriso mtools  # the hybrid BIOS/UEFI ISO
	bochs bochsbios vgabios bochs-sdl  # the VT-x platform (bochs-sdl: headless with SDL's dummy driver)
	qemu-system-x86 ovmf         # the boot path under SeaBIOS and UEFI; KVM where /dev/kvm exists
	newlib-source                # the guests' C library, built once into build/newlib
	python3                      # runners, system tests, log tools
	iproute2 util-linux          # private network namespaces for the two-host bochs runs
	gnuplot-nox                  # plots of the experiments
	clang libclang-rt-14-dev     # libFuzzer targets (make fuzz, make fuzz-ci)
	xz-utils                     # the vmlinux inside Debian's bzImage (make linux-images)
)
missing=()
for p in "${packages[@]}"; do
	[[ $p == \#* ]] && continue
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[[ $status == "install ok installed" ]] || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
echo "deps: installing missing packages: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: not root. Run this once, then try again:" >&2
	echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
if ! { apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
	echo "deps: apt-get failed; its last lines:" >&2
	tail -20 "$log" >&2
	rm -f "$log"
	exit 1
fi
rm -f "$log"
echo "deps: installed ${#missing[@]} packages"

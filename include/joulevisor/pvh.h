/* The Xen PVH boot ABI as Joulevisor uses it to start a guest (shared by hv
 * and the guest kernel). Source of truth: Xen's public
 * arch-x86/hvm/start_info.h and docs/misc/pvh.pandoc; the same ABI is used by
 * QEMU, Firecracker and Cloud Hypervisor.
 *
 * The guest ELF carries an ELF note of type XEN_ELFNOTE_PHYS32_ENTRY (name
 * "Xen") whose 4-byte payload is the 32-bit physical entry point. It is
 * entered in 32-bit protected mode, paging off, flat 4 GiB CS/DS, with EBX
 * holding the guest-physical address of a struct hvm_start_info.
 */
#ifndef JOULEVISOR_PVH_H
#define JOULEVISOR_PVH_H

#include <stdint.h>

#define XEN_ELFNOTE_PHYS32_ENTRY  18
#define XEN_HVM_START_MAGIC_VALUE 0x336ec578u

struct hvm_start_info {
	uint32_t magic;   /* XEN_HVM_START_MAGIC_VALUE */
	uint32_t version; /* 1: memmap fields are valid */
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr; /* NUL-terminated */
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr; /* array of struct hvm_memmap_table_entry */
	uint32_t memmap_entries;
	uint32_t reserved;
};

/* One module (a Linux initrd): hvm_start_info.modlist_paddr points to an
 * array of nr_modules of these. */
struct hvm_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};

#define XEN_HVM_MEMMAP_TYPE_RAM      1
#define XEN_HVM_MEMMAP_TYPE_RESERVED 2

struct hvm_memmap_table_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
};

#endif

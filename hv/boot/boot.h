/* boot: what the loader handed us, parsed and validated.
 *
 * multiboot.c turns a multiboot1 or multiboot2 information structure into a
 * struct boot_info. It is pure code (built for the host by the unit tests):
 * every address it dereferences goes through a caller-supplied mapper that
 * bounds-checks it, and every length in the tables is checked before use. A
 * broken table gives an error string, never a fault. */
#ifndef HV_BOOT_H
#define HV_BOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MB1_BOOTLOADER_MAGIC 0x2BADB002u
#define MB2_BOOTLOADER_MAGIC 0x36d76289u

#define BOOT_MAX_REGIONS 256
#define BOOT_MAX_MODULES 16
#define BOOT_CMDLINE_MAX 1024
/* A module line: a Linux guest's command line (up to 2 KiB) plus its VM
 * options. A longer one is refused, never cut. */
#define BOOT_MODULE_CMDLINE_MAX 2560
#define BOOT_MB2_MAX_SIZE       (1u << 20)

/* Multiboot memory types (both versions agree). */
enum boot_mem_type {
	BOOT_MEM_AVAILABLE = 1,
	BOOT_MEM_RESERVED = 2,
	BOOT_MEM_ACPI_RECLAIMABLE = 3,
	BOOT_MEM_NVS = 4,
	BOOT_MEM_BAD = 5,
};

struct boot_mem_region {
	uint64_t base;
	uint64_t length;
	uint32_t type;
};

struct boot_module {
	uint64_t start; /* physical, first byte */
	uint64_t end;   /* physical, one past the last byte */
	char cmdline[BOOT_MODULE_CMDLINE_MAX];
	size_t cmdline_len; /* its whole length: >= sizeof cmdline means it did not fit */
};

struct boot_info {
	int multiboot_version; /* 1 or 2 */
	bool efi;              /* booted by UEFI firmware (MB2 EFI tags seen) */
	char cmdline[BOOT_CMDLINE_MAX];
	char loader_name[64];
	struct boot_mem_region regions[BOOT_MAX_REGIONS];
	unsigned region_count;
	struct boot_module modules[BOOT_MAX_MODULES];
	unsigned module_count;
	uint64_t info_start, info_end; /* the table itself, to keep it reserved */
	/* Multiboot2 ACPI tags 14/15 (old/new RSDP): the physical address of
	 * the copy of the RSDP inside the table (0: none given; under BIOS it
	 * is found by scanning, ACPI 6.x 5.2.5.1). */
	uint64_t acpi_rsdp;
};

/* Maps [phys, phys+len) for reading; returns NULL if the range is not
 * valid memory. hv passes an identity mapper bounded to 4 GiB; tests pass
 * one over a buffer. */
typedef const void *(*boot_phys_map_fn)(uint64_t phys, uint64_t len, void *ctx);

/* Parses the table at physical address info_phys given the loader's magic.
 * Returns 0, or -1 with a one-line reason in err. */
int boot_parse(uint32_t magic, uint64_t info_phys, boot_phys_map_fn map, void *ctx,
               struct boot_info *out, char *err, size_t err_len);

/* Sum of available memory, in bytes. */
uint64_t boot_available_bytes(const struct boot_info *info);

#endif

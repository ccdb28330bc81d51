/* Runs in the guest, at boot: reads what the loader passed, multiboot1
 * (Multiboot spec 0.6.96 section 3.3 "Boot information format") or Xen PVH
 * (include/joulevisor/pvh.h), into a struct boot_info. */
#include "boot/boot.h"

#include <string.h>

#include "console/console.h"
#include "joulevisor/pvh.h"

#define MULTIBOOT_BOOT_MAGIC       0x2BADB002u
#define MULTIBOOT_INFO_MEMORY      (1u << 0)
#define MULTIBOOT_INFO_CMDLINE     (1u << 2)
#define MULTIBOOT_INFO_MEMORY_MAP  (1u << 6)
#define MULTIBOOT_INFO_LOADER_NAME (1u << 9)
#define MULTIBOOT_MEMORY_AVAILABLE 1

#define IMAGE_ADDRESS 0x100000u      /* linker/guest.ld loads us at 1 MiB */
#define FOUR_GIB      0x100000000ull /* boot.S maps no more */
#define MAX_ARGUMENTS 64

struct multiboot_info {
	uint32_t flags;
	uint32_t mem_lower, mem_upper; /* KiB below 1 MiB, KiB above 1 MiB */
	uint32_t boot_device;
	uint32_t cmdline;
	uint32_t mods_count, mods_addr;
	uint32_t syms[4];
	uint32_t mmap_length, mmap_addr;
	uint32_t drives_length, drives_addr;
	uint32_t config_table;
	uint32_t boot_loader_name;
} __attribute__((packed));

/* One memory map entry; `size` does not count itself. */
struct multiboot_mmap_entry {
	uint32_t size;
	uint64_t base, length;
	uint32_t type;
} __attribute__((packed));

static char cmdline_copy[4096];
static char argument_buffer[4096];
static char loader_name_copy[64];
static char *argument_vector[MAX_ARGUMENTS + 1];

static void copy_string(char *destination, size_t size, const char *source)
{
	size_t i = 0;
	for (; source && source[i] && i + 1 < size; i++)
		destination[i] = source[i];
	destination[i] = '\0';
}

/* The top of the RAM range that holds the image: the heap and the stack
 * must be contiguous with it. */
static uint64_t top_of_ram_around_image(uint64_t base, uint64_t length, uint64_t best)
{
	uint64_t end = base + length;
	if (base <= IMAGE_ADDRESS && IMAGE_ADDRESS < end)
		return end > FOUR_GIB ? FOUR_GIB : end;
	return best;
}

static bool looks_like_kernel_path(const char *word)
{
	size_t length = strlen(word);
	return strchr(word, '/') != NULL || (length > 4 && strcmp(word + length - 4, ".elf") == 0);
}

int boot_split_arguments(char *line, bool drop_kernel_path, char **argv, int max_arguments)
{
	int argc = 0;
	char *cursor = line;
	while (*cursor && argc < max_arguments) {
		while (*cursor == ' ' || *cursor == '\t' || *cursor == '\n')
			*cursor++ = '\0';
		if (!*cursor)
			break;
		argv[argc++] = cursor;
		while (*cursor && *cursor != ' ' && *cursor != '\t' && *cursor != '\n')
			cursor++;
	}
	argv[argc] = NULL;
	if (drop_kernel_path && argc > 0 && looks_like_kernel_path(argv[0])) {
		if (argc == 1) {
			/* "/boot/mvb.elf" alone: run as "mvb". */
			char *name = strrchr(argv[0], '/');
			name = name ? name + 1 : argv[0];
			size_t length = strlen(name);
			if (length > 4 && strcmp(name + length - 4, ".elf") == 0)
				name[length - 4] = '\0';
			argv[0] = name;
		} else {
			memmove(argv, argv + 1, (size_t)argc * sizeof(*argv)); /* with the NULL */
			argc--;
		}
	}
	return argc;
}

static void read_multiboot(const struct multiboot_info *multiboot, struct boot_info *info)
{
	info->protocol = "multiboot1";
	if (multiboot->flags & MULTIBOOT_INFO_CMDLINE)
		copy_string(cmdline_copy, sizeof(cmdline_copy),
		            (const char *)(uint64_t)multiboot->cmdline);
	if (multiboot->flags & MULTIBOOT_INFO_LOADER_NAME)
		copy_string(loader_name_copy, sizeof(loader_name_copy),
		            (const char *)(uint64_t)multiboot->boot_loader_name);
	if (multiboot->flags & MULTIBOOT_INFO_MEMORY_MAP) {
		uint64_t entry = multiboot->mmap_addr;
		uint64_t end = entry + multiboot->mmap_length;
		while (entry < end) {
			const struct multiboot_mmap_entry *region = (const void *)entry;
			if (region->type == MULTIBOOT_MEMORY_AVAILABLE)
				info->ram_top = top_of_ram_around_image(
				    region->base, region->length, info->ram_top);
			entry += region->size + sizeof(region->size);
		}
	}
	if (info->ram_top == 0 && (multiboot->flags & MULTIBOOT_INFO_MEMORY))
		info->ram_top = IMAGE_ADDRESS + (uint64_t)multiboot->mem_upper * 1024;
}

static bool read_pvh(const struct hvm_start_info *start, struct boot_info *info)
{
	if (start->magic != XEN_HVM_START_MAGIC_VALUE) {
		console_print("guest: PVH entry but start info magic is ");
		console_print_hex(start->magic);
		console_print("\n");
		return false;
	}
	info->protocol = "pvh";
	if (start->cmdline_paddr)
		copy_string(cmdline_copy, sizeof(cmdline_copy), (const char *)start->cmdline_paddr);
	if (start->version >= 1 && start->memmap_paddr) {
		const struct hvm_memmap_table_entry *map = (const void *)start->memmap_paddr;
		for (uint32_t i = 0; i < start->memmap_entries; i++)
			if (map[i].type == XEN_HVM_MEMMAP_TYPE_RAM)
				info->ram_top = top_of_ram_around_image(map[i].addr, map[i].size,
				                                        info->ram_top);
	}
	return true;
}

bool boot_info_read(uint32_t magic, uint64_t info_address, struct boot_info *info)
{
	memset(info, 0, sizeof(*info));
	bool from_multiboot = magic == MULTIBOOT_BOOT_MAGIC;
	if (from_multiboot) {
		read_multiboot((const struct multiboot_info *)info_address, info);
	} else if (magic == XEN_HVM_START_MAGIC_VALUE) {
		if (!read_pvh((const struct hvm_start_info *)info_address, info))
			return false;
	} else {
		console_print("guest: unknown boot protocol, magic ");
		console_print_hex(magic);
		console_print(" (want multiboot1 0x2badb002 or PVH)\n");
		return false;
	}
	if (info->ram_top == 0) {
		console_print("guest: the loader gave no memory map\n");
		return false;
	}
	info->loader_name = loader_name_copy;
	info->cmdline = cmdline_copy;
	memcpy(argument_buffer, cmdline_copy, sizeof(argument_buffer));
	info->argc =
	    boot_split_arguments(argument_buffer, from_multiboot, argument_vector, MAX_ARGUMENTS);
	if (info->argc == 0) {
		argument_vector[0] = "guest";
		argument_vector[1] = NULL;
		info->argc = 1;
	}
	info->argv = argument_vector;
	return true;
}

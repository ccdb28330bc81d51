/* Runs at boot (and on the host in unit tests): parses and validates the
 * multiboot1 (spec 0.6.96 section 3.3) or multiboot2 (spec 2.0 section 3.6)
 * boot information. Nothing in the table is trusted: every pointer goes
 * through the bounds-checking mapper, every size is checked against its
 * container before it is used. */
#include "boot/boot.h"
#include "lib/lib.h"

#define FAIL(...)                                                                                  \
	do {                                                                                       \
		fmt_snprintf(err, err_len, __VA_ARGS__);                                           \
		return -1;                                                                         \
	} while (0)

/* Copies a NUL-terminated string of at most max_len bytes (including the
 * NUL) that lies inside [s, s+avail); fails if no NUL is found there. */
/* Copies a NUL-terminated string of at most avail bytes; *full_len (if
 * given) gets its whole length, so a caller can refuse one that did not
 * fit instead of using it cut. */
static int copy_bounded_string(char *dst, size_t dst_len, const char *s, size_t avail,
                               size_t *full_len)
{
	size_t n = strnlen(s, avail);
	if (n == avail)
		return -1;
	if (full_len)
		*full_len = n;
	if (n >= dst_len)
		n = dst_len - 1;
	memcpy(dst, s, n);
	dst[n] = '\0';
	return 0;
}

/* Reads a string at a physical address from a multiboot1 table, probing
 * page by page so that a string near the end of memory is still found. */
static int copy_phys_string(char *dst, size_t dst_len, uint64_t phys, boot_phys_map_fn map,
                            void *ctx, size_t *full_len)
{
	size_t len = 0;
	for (;;) {
		const char *c = map(phys + len, 1, ctx);
		if (!c)
			return -1;
		if (*c == '\0')
			break;
		if (len + 1 < dst_len)
			dst[len] = *c;
		len++;
		if (len > 65536)
			return -1; /* no terminator in a sane distance */
	}
	dst[len + 1 < dst_len ? len : dst_len - 1] = '\0';
	if (full_len)
		*full_len = len;
	return 0;
}

static int add_region(struct boot_info *out, uint64_t base, uint64_t length, uint32_t type,
                      char *err, size_t err_len)
{
	if (length == 0)
		return 0;
	if (base + length < base)
		FAIL("memory map entry base=0x%llx length=0x%llx wraps past 2^64",
		     (unsigned long long)base, (unsigned long long)length);
	if (out->region_count == BOOT_MAX_REGIONS)
		FAIL("memory map has more than %d entries", BOOT_MAX_REGIONS);
	out->regions[out->region_count++] = (struct boot_mem_region){base, length, type};
	return 0;
}

static int add_module(struct boot_info *out, uint64_t start, uint64_t end, char *err,
                      size_t err_len)
{
	if (end < start)
		FAIL("module %u ends (0x%llx) before it starts (0x%llx)", out->module_count,
		     (unsigned long long)end, (unsigned long long)start);
	if (out->module_count == BOOT_MAX_MODULES)
		FAIL("more than %d modules", BOOT_MAX_MODULES);
	struct boot_module *m = &out->modules[out->module_count++];
	m->start = start;
	m->end = end;
	m->cmdline[0] = '\0';
	m->cmdline_len = 0;
	return 0;
}

/* Multiboot1 info structure (spec 0.6.96 section 3.3), the part we read. */
struct mb1_info {
	uint32_t flags;
	uint32_t mem_lower, mem_upper; /* KiB, flag bit 0 */
	uint32_t boot_device;
	uint32_t cmdline;               /* flag bit 2 */
	uint32_t mods_count, mods_addr; /* flag bit 3 */
	uint32_t syms[4];
	uint32_t mmap_length, mmap_addr; /* flag bit 6 */
	uint32_t drives_length, drives_addr;
	uint32_t config_table;
	uint32_t boot_loader_name; /* flag bit 9 */
};

struct mb1_module {
	uint32_t mod_start, mod_end, string, reserved;
};

static int parse_mb1(uint64_t info_phys, boot_phys_map_fn map, void *ctx, struct boot_info *out,
                     char *err, size_t err_len)
{
	const struct mb1_info *mbi = map(info_phys, sizeof *mbi, ctx);
	if (!mbi)
		FAIL("multiboot1 info at 0x%llx is outside memory", (unsigned long long)info_phys);
	out->multiboot_version = 1;
	out->info_start = info_phys;
	out->info_end = info_phys + sizeof *mbi;

	size_t len;
	if (mbi->flags & (1u << 2)) {
		if (copy_phys_string(out->cmdline, sizeof out->cmdline, mbi->cmdline, map, ctx,
		                     &len))
			FAIL("multiboot1 command line at 0x%x is not a terminated string",
			     mbi->cmdline);
		if (len >= sizeof out->cmdline)
			FAIL("hv's command line is %zu bytes long; at most %zu", len,
			     sizeof out->cmdline - 1);
	}
	if (mbi->flags & (1u << 9))
		if (copy_phys_string(out->loader_name, sizeof out->loader_name,
		                     mbi->boot_loader_name, map, ctx, NULL))
			FAIL("multiboot1 loader name at 0x%x is not a terminated string",
			     mbi->boot_loader_name);

	if (mbi->flags & (1u << 6)) {
		if (mbi->mmap_length == 0 || mbi->mmap_length > 64 * 1024)
			FAIL("multiboot1 memory map length %u is out of range", mbi->mmap_length);
		const uint8_t *mmap = map(mbi->mmap_addr, mbi->mmap_length, ctx);
		if (!mmap)
			FAIL("multiboot1 memory map at 0x%x (+%u) is outside memory",
			     mbi->mmap_addr, mbi->mmap_length);
		/* Each entry: u32 size (of what follows), u64 base, u64 length, u32 type. */
		uint32_t off = 0;
		while (off < mbi->mmap_length) {
			if (mbi->mmap_length - off < 24)
				FAIL("multiboot1 memory map entry at offset %u is truncated", off);
			uint32_t size;
			uint64_t base, length;
			uint32_t type;
			memcpy(&size, mmap + off, 4);
			memcpy(&base, mmap + off + 4, 8);
			memcpy(&length, mmap + off + 12, 8);
			memcpy(&type, mmap + off + 20, 4);
			if (size < 20 || size > mbi->mmap_length - off - 4)
				FAIL("multiboot1 memory map entry at offset %u has bad size %u",
				     off, size);
			if (add_region(out, base, length, type, err, err_len))
				return -1;
			off += size + 4;
		}
	} else if (mbi->flags & (1u << 0)) {
		/* No map: the two classic ranges (spec 3.3, mem_lower/mem_upper). */
		if (add_region(out, 0, (uint64_t)mbi->mem_lower * 1024, BOOT_MEM_AVAILABLE, err,
		               err_len) ||
		    add_region(out, 1u << 20, (uint64_t)mbi->mem_upper * 1024, BOOT_MEM_AVAILABLE,
		               err, err_len))
			return -1;
	} else {
		FAIL("multiboot1 info has neither a memory map nor memory sizes (flags 0x%x)",
		     mbi->flags);
	}

	if (mbi->flags & (1u << 3) && mbi->mods_count) {
		if (mbi->mods_count > BOOT_MAX_MODULES)
			FAIL("multiboot1 says %u modules; at most %d are supported",
			     mbi->mods_count, BOOT_MAX_MODULES);
		const struct mb1_module *mods =
		    map(mbi->mods_addr, (uint64_t)mbi->mods_count * sizeof *mods, ctx);
		if (!mods)
			FAIL("multiboot1 module list at 0x%x is outside memory", mbi->mods_addr);
		for (uint32_t i = 0; i < mbi->mods_count; i++) {
			if (add_module(out, mods[i].mod_start, mods[i].mod_end, err, err_len))
				return -1;
			struct boot_module *m = &out->modules[out->module_count - 1];
			if (mods[i].string &&
			    copy_phys_string(m->cmdline, sizeof m->cmdline, mods[i].string, map,
			                     ctx, &m->cmdline_len))
				FAIL("multiboot1 module %u command line is not a terminated string",
				     i);
		}
	}
	return 0;
}

/* Multiboot2 tag types (spec 2.0 section 3.6). */
enum {
	MB2_TAG_END = 0,
	MB2_TAG_CMDLINE = 1,
	MB2_TAG_LOADER_NAME = 2,
	MB2_TAG_MODULE = 3,
	MB2_TAG_MMAP = 6,
	MB2_TAG_EFI32 = 11,
	MB2_TAG_ACPI_OLD = 14,
	MB2_TAG_ACPI_NEW = 15,
	MB2_TAG_EFI64 = 12,
	MB2_TAG_EFI_MMAP = 17,
	MB2_TAG_EFI_BS = 18,
	MB2_TAG_EFI32_IH = 19,
	MB2_TAG_EFI64_IH = 20,
};

static int parse_mb2(uint64_t info_phys, boot_phys_map_fn map, void *ctx, struct boot_info *out,
                     char *err, size_t err_len)
{
	if (info_phys & 7)
		FAIL("multiboot2 info at 0x%llx is not 8-byte aligned",
		     (unsigned long long)info_phys);
	const uint32_t *head = map(info_phys, 8, ctx);
	if (!head)
		FAIL("multiboot2 info at 0x%llx is outside memory", (unsigned long long)info_phys);
	uint32_t total = head[0];
	if (total < 16 || total > BOOT_MB2_MAX_SIZE)
		FAIL("multiboot2 info total_size %u is out of range (16..%u)", total,
		     BOOT_MB2_MAX_SIZE);
	const uint8_t *table = map(info_phys, total, ctx);
	if (!table)
		FAIL("multiboot2 info (0x%llx, %u bytes) runs outside memory",
		     (unsigned long long)info_phys, total);
	out->multiboot_version = 2;
	out->info_start = info_phys;
	out->info_end = info_phys + total;

	bool have_mmap = false, have_end = false;
	uint32_t off = 8;
	while (off < total) {
		if (total - off < 8)
			FAIL("multiboot2 tag at offset %u is truncated", off);
		uint32_t type, size;
		memcpy(&type, table + off, 4); /* u16 type, u16 flags: flags ignored */
		type &= 0xffff;
		memcpy(&size, table + off + 4, 4);
		if (size < 8 || size > total - off)
			FAIL("multiboot2 tag %u at offset %u has bad size %u (table is %u bytes)",
			     type, off, size, total);
		const uint8_t *tag = table + off;
		switch (type) {
		case MB2_TAG_END:
			if (size != 8)
				FAIL("multiboot2 end tag has size %u, not 8", size);
			have_end = true;
			break;
		case MB2_TAG_CMDLINE: {
			size_t len;
			if (copy_bounded_string(out->cmdline, sizeof out->cmdline,
			                        (const char *)tag + 8, size - 8, &len))
				FAIL("multiboot2 command line tag is not NUL-terminated");
			if (len >= sizeof out->cmdline)
				FAIL("hv's command line is %zu bytes long; at most %zu", len,
				     sizeof out->cmdline - 1);
			break;
		}
		case MB2_TAG_LOADER_NAME:
			if (copy_bounded_string(out->loader_name, sizeof out->loader_name,
			                        (const char *)tag + 8, size - 8, NULL))
				FAIL("multiboot2 loader name tag is not NUL-terminated");
			break;
		case MB2_TAG_MODULE: {
			if (size < 17)
				FAIL("multiboot2 module tag has size %u, below 17", size);
			uint32_t start, end;
			memcpy(&start, tag + 8, 4);
			memcpy(&end, tag + 12, 4);
			if (add_module(out, start, end, err, err_len))
				return -1;
			struct boot_module *m = &out->modules[out->module_count - 1];
			if (copy_bounded_string(m->cmdline, sizeof m->cmdline,
			                        (const char *)tag + 16, size - 16, &m->cmdline_len))
				FAIL("multiboot2 module %u string is not NUL-terminated",
				     out->module_count - 1);
			break;
		}
		case MB2_TAG_MMAP: {
			if (size < 16)
				FAIL("multiboot2 memory map tag has size %u, below 16", size);
			uint32_t entry_size;
			memcpy(&entry_size, tag + 8, 4);
			if (entry_size < 24 || entry_size % 8)
				FAIL("multiboot2 memory map entry_size %u is invalid (>= 24, "
				     "multiple of 8)",
				     entry_size);
			if ((size - 16) % entry_size)
				FAIL("multiboot2 memory map tag size %u is not 16 + n * %u", size,
				     entry_size);
			for (uint32_t e = 16; e < size; e += entry_size) {
				uint64_t base, length;
				uint32_t mtype;
				memcpy(&base, tag + e, 8);
				memcpy(&length, tag + e + 8, 8);
				memcpy(&mtype, tag + e + 16, 4);
				if (add_region(out, base, length, mtype, err, err_len))
					return -1;
			}
			have_mmap = true;
			break;
		}
		case MB2_TAG_ACPI_OLD:
		case MB2_TAG_ACPI_NEW:
			/* An RSDP copy follows the 8-byte tag header: 20 bytes (ACPI
			 * 1.0) or 36 (2.0+). The newer tag wins. */
			if (size < 8 + 20)
				FAIL("multiboot2 ACPI tag %u has size %u, below 28", type, size);
			if (type == MB2_TAG_ACPI_NEW || !out->acpi_rsdp)
				out->acpi_rsdp = info_phys + off + 8;
			break;
		case MB2_TAG_EFI32:
		case MB2_TAG_EFI64:
		case MB2_TAG_EFI_MMAP:
		case MB2_TAG_EFI_BS:
		case MB2_TAG_EFI32_IH:
		case MB2_TAG_EFI64_IH: out->efi = true; break;
		default: break; /* tags we do not use */
		}
		if (have_end)
			break;
		off += (size + 7) & ~7u;
	}
	if (!have_end)
		FAIL("multiboot2 info has no end tag within its %u bytes", total);
	if (!have_mmap)
		FAIL("multiboot2 info has no memory map tag");
	return 0;
}

int boot_parse(uint32_t magic, uint64_t info_phys, boot_phys_map_fn map, void *ctx,
               struct boot_info *out, char *err, size_t err_len)
{
	memset(out, 0, sizeof *out);
	if (magic == MB1_BOOTLOADER_MAGIC)
		return parse_mb1(info_phys, map, ctx, out, err, err_len);
	if (magic == MB2_BOOTLOADER_MAGIC)
		return parse_mb2(info_phys, map, ctx, out, err, err_len);
	FAIL("not started by a multiboot loader (EAX=0x%x, expected 0x%x or 0x%x)", magic,
	     MB1_BOOTLOADER_MAGIC, MB2_BOOTLOADER_MAGIC);
}

uint64_t boot_available_bytes(const struct boot_info *info)
{
	uint64_t total = 0;
	for (unsigned i = 0; i < info->region_count; i++)
		if (info->regions[i].type == BOOT_MEM_AVAILABLE)
			total += info->regions[i].length;
	return total;
}

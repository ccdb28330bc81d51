/* Unit tests of the multiboot parser (hv/boot/multiboot.c): good tables
 * from both loaders, and broken ones that must give a clear error. */
#include <stdint.h>
#include <string.h>

#include "boot/boot.h"
#include "check.h"

/* A fake physical memory: PHYS_BASE .. PHYS_BASE + sizeof mem. */
#define PHYS_BASE 0x10000u
static uint8_t mem[64 * 1024] __attribute__((aligned(8)));
static struct boot_info info;
static char err[256];

static const void *fake_map(uint64_t phys, uint64_t len, void *ctx)
{
	(void)ctx;
	if (phys < PHYS_BASE || len > sizeof mem || phys - PHYS_BASE > sizeof mem - len)
		return NULL;
	return mem + (phys - PHYS_BASE);
}

/* ---- multiboot2 table builder ---- */
static uint32_t mb2_len;
static void mb2_begin(void)
{
	memset(mem, 0, sizeof mem);
	mb2_len = 8;
}
static uint8_t *mb2_tag(uint32_t type, uint32_t size)
{
	uint8_t *t = mem + mb2_len;
	memcpy(t, &type, 4);
	memcpy(t + 4, &size, 4);
	mb2_len += (size + 7) & ~7u;
	return t;
}
static void mb2_string_tag(uint32_t type, const char *s)
{
	uint8_t *t = mb2_tag(type, 8 + (uint32_t)strlen(s) + 1);
	memcpy(t + 8, s, strlen(s) + 1);
}
static void mb2_mmap(int entries)
{
	uint8_t *t = mb2_tag(6, 16 + 24 * (uint32_t)entries);
	uint32_t esz = 24, ver = 0;
	memcpy(t + 8, &esz, 4);
	memcpy(t + 12, &ver, 4);
	for (int i = 0; i < entries; i++) {
		uint64_t base = (uint64_t)i << 20, len = 1 << 20;
		uint32_t type = i == 0 ? 2 : 1;
		memcpy(t + 16 + 24 * i, &base, 8);
		memcpy(t + 16 + 24 * i + 8, &len, 8);
		memcpy(t + 16 + 24 * i + 16, &type, 4);
	}
}
static void mb2_end(void)
{
	mb2_tag(0, 8);
	memcpy(mem, &mb2_len, 4);
}
static int parse2(void)
{
	return boot_parse(MB2_BOOTLOADER_MAGIC, PHYS_BASE, fake_map, NULL, &info, err, sizeof err);
}

static void good_mb2(void)
{
	mb2_begin();
	mb2_string_tag(1, "inject=ud vmx=on");
	mb2_string_tag(2, "GRUB 2.06");
	mb2_mmap(4);
	uint8_t *m = mb2_tag(3, 16 + 22);
	uint32_t s = 0x200000, e = 0x280000;
	memcpy(m + 8, &s, 4);
	memcpy(m + 12, &e, 4);
	memcpy(m + 16, "name=vm0 -- mvb 512", 20);
	mb2_end();
}

TEST(mb2_good_table)
{
	good_mb2();
	CHECK_EQ(parse2(), 0);
	CHECK_EQ(info.multiboot_version, 2);
	CHECK_STR(info.cmdline, "inject=ud vmx=on");
	CHECK_STR(info.loader_name, "GRUB 2.06");
	CHECK_EQ(info.region_count, 4);
	CHECK_EQ(boot_available_bytes(&info), 3 << 20);
	CHECK_EQ(info.module_count, 1);
	CHECK_EQ(info.modules[0].start, 0x200000);
	CHECK_EQ(info.modules[0].end, 0x280000);
	CHECK_STR(info.modules[0].cmdline, "name=vm0 -- mvb 512");
	CHECK(!info.efi);
	CHECK_EQ(info.info_start, PHYS_BASE);
	CHECK_EQ(info.info_end, PHYS_BASE + mb2_len);
}

/* A module line longer than hv keeps is marked, never silently cut: hv
 * refuses that VM (vm.c) and runs the others. */
TEST(mb2_long_module_line_is_measured_not_cut)
{
	static char line[BOOT_MODULE_CMDLINE_MAX + 100];
	memset(line, 'a', sizeof line - 1);
	line[sizeof line - 1] = '\0';
	mb2_begin();
	mb2_mmap(2);
	uint8_t *m = mb2_tag(3, 16 + (uint32_t)sizeof line);
	uint32_t s = 0x200000, e = 0x280000;
	memcpy(m + 8, &s, 4);
	memcpy(m + 12, &e, 4);
	memcpy(m + 16, line, sizeof line);
	mb2_end();
	CHECK_EQ(parse2(), 0);
	CHECK_EQ(info.modules[0].cmdline_len, sizeof line - 1);
	CHECK(info.modules[0].cmdline_len >= sizeof info.modules[0].cmdline);
	/* A 2 KiB Linux command line fits. */
	line[2100] = '\0';
	mb2_begin();
	mb2_mmap(2);
	m = mb2_tag(3, 16 + 22);
	memcpy(m + 8, &s, 4);
	memcpy(m + 12, &e, 4);
	memcpy(m + 16, "name=vm0 -- mvb 512", 20);
	m = mb2_tag(3, 16 + 2101);
	memcpy(m + 8, &s, 4);
	memcpy(m + 12, &e, 4);
	memcpy(m + 16, line, 2101);
	mb2_end();
	CHECK_EQ(parse2(), 0);
	CHECK_EQ(info.modules[1].cmdline_len, 2100);
	CHECK_EQ(strlen(info.modules[1].cmdline), 2100);
}

TEST(mb2_long_hv_command_line_is_refused)
{
	static char line[BOOT_CMDLINE_MAX + 10];
	memset(line, 'x', sizeof line - 1);
	line[sizeof line - 1] = '\0';
	mb2_begin();
	mb2_string_tag(1, line);
	mb2_mmap(2);
	mb2_end();
	CHECK_EQ(parse2(), -1);
	CHECK(strstr(err, "hv's command line is 1033 bytes long; at most 1023") != NULL);
}

TEST(mb2_efi_tags_mark_uefi_boot)
{
	mb2_begin();
	mb2_mmap(2);
	uint8_t *t = mb2_tag(12, 16); /* EFI 64-bit system table pointer */
	(void)t;
	mb2_end();
	CHECK_EQ(parse2(), 0);
	CHECK(info.efi);
}

TEST(mb2_rejects_wrong_magic)
{
	good_mb2();
	CHECK_EQ(boot_parse(0x12345678, PHYS_BASE, fake_map, NULL, &info, err, sizeof err), -1);
	CHECK(strstr(err, "not started by a multiboot loader") != NULL);
}

TEST(mb2_rejects_table_outside_memory)
{
	CHECK_EQ(boot_parse(MB2_BOOTLOADER_MAGIC, 0x100, fake_map, NULL, &info, err, sizeof err),
	         -1);
	CHECK(strstr(err, "outside memory") != NULL);
	CHECK_EQ(
	    boot_parse(MB2_BOOTLOADER_MAGIC, PHYS_BASE + 4, fake_map, NULL, &info, err, sizeof err),
	    -1);
	CHECK(strstr(err, "aligned") != NULL);
}

TEST(mb2_rejects_bad_total_size)
{
	good_mb2();
	uint32_t bad = 8;
	memcpy(mem, &bad, 4);
	CHECK_EQ(parse2(), -1);
	CHECK(strstr(err, "total_size 8") != NULL);
	bad = sizeof mem + 8; /* runs off the end of memory */
	memcpy(mem, &bad, 4);
	CHECK_EQ(parse2(), -1);
	CHECK(strstr(err, "runs outside memory") != NULL);
}

TEST(mb2_rejects_tag_running_past_table)
{
	good_mb2();
	uint32_t huge = 0xFFFF;
	memcpy(mem + 12, &huge, 4); /* first tag's size, as inject=badmb does */
	CHECK_EQ(parse2(), -1);
	CHECK(strstr(err, "bad size 65535") != NULL);
}

TEST(mb2_rejects_tag_smaller_than_header)
{
	good_mb2();
	uint32_t tiny = 4;
	memcpy(mem + 12, &tiny, 4);
	CHECK_EQ(parse2(), -1);
	CHECK(strstr(err, "bad size 4") != NULL);
}

TEST(mb2_rejects_missing_end_tag)
{
	mb2_begin();
	mb2_mmap(2);
	memcpy(mem, &mb2_len, 4); /* no end tag */
	CHECK_EQ(parse2(), -1);
	CHECK(strstr(err, "no end tag") != NULL);
}

TEST(mb2_rejects_missing_memory_map)
{
	mb2_begin();
	mb2_string_tag(1, "x");
	mb2_end();
	CHECK_EQ(parse2(), -1);
	CHECK(strstr(err, "no memory map") != NULL);
}

TEST(mb2_rejects_bad_mmap_entry_size)
{
	mb2_begin();
	mb2_mmap(2);
	uint32_t esz = 20;
	memcpy(mem + 8 + 8, &esz, 4);
	mb2_end();
	CHECK_EQ(parse2(), -1);
	CHECK(strstr(err, "entry_size 20") != NULL);
}

TEST(mb2_rejects_unterminated_cmdline)
{
	mb2_begin();
	uint8_t *t = mb2_tag(1, 12);
	memcpy(t + 8, "abcd", 4); /* no NUL inside the tag */
	mb2_mmap(2);
	mb2_end();
	CHECK_EQ(parse2(), -1);
	CHECK(strstr(err, "command line") != NULL);
}

TEST(mb2_rejects_module_ending_before_start)
{
	mb2_begin();
	mb2_mmap(2);
	uint8_t *m = mb2_tag(3, 17);
	uint32_t s = 0x300000, e = 0x200000;
	memcpy(m + 8, &s, 4);
	memcpy(m + 12, &e, 4);
	mb2_end();
	CHECK_EQ(parse2(), -1);
	CHECK(strstr(err, "ends") != NULL);
}

TEST(mb2_rejects_too_many_regions)
{
	mb2_begin();
	mb2_mmap(BOOT_MAX_REGIONS + 1);
	mb2_end();
	CHECK_EQ(parse2(), -1);
	CHECK(strstr(err, "more than 256 entries") != NULL);
}

/* ---- multiboot1 ---- */
struct mb1 {
	uint32_t flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr;
	uint32_t syms[4], mmap_length, mmap_addr;
};

static struct mb1 *good_mb1(void)
{
	memset(mem, 0, sizeof mem);
	struct mb1 *m = (struct mb1 *)mem;
	m->flags = (1 << 2) | (1 << 6) | (1 << 3);
	m->cmdline = PHYS_BASE + 0x100;
	strcpy((char *)mem + 0x100, "build/hv.elf vmx=off");
	m->mmap_addr = PHYS_BASE + 0x200;
	m->mmap_length = 2 * 24;
	for (int i = 0; i < 2; i++) {
		uint8_t *e = mem + 0x200 + 24 * i;
		uint32_t size = 20, type = 1;
		uint64_t base = (uint64_t)i << 20, len = 0x9f000;
		memcpy(e, &size, 4);
		memcpy(e + 4, &base, 8);
		memcpy(e + 12, &len, 8);
		memcpy(e + 20, &type, 4);
	}
	m->mods_count = 1;
	m->mods_addr = PHYS_BASE + 0x300;
	uint32_t mod[4] = {0x400000, 0x401000, PHYS_BASE + 0x380, 0};
	memcpy(mem + 0x300, mod, sizeof mod);
	strcpy((char *)mem + 0x380, "name=vm1");
	return m;
}
static int parse1(void)
{
	return boot_parse(MB1_BOOTLOADER_MAGIC, PHYS_BASE, fake_map, NULL, &info, err, sizeof err);
}

TEST(mb1_good_table)
{
	good_mb1();
	CHECK_EQ(parse1(), 0);
	CHECK_EQ(info.multiboot_version, 1);
	CHECK_STR(info.cmdline, "build/hv.elf vmx=off");
	CHECK_EQ(info.region_count, 2);
	CHECK_EQ(boot_available_bytes(&info), 2 * 0x9f000);
	CHECK_EQ(info.module_count, 1);
	CHECK_STR(info.modules[0].cmdline, "name=vm1");
}

TEST(mb1_mem_sizes_without_map)
{
	struct mb1 *m = good_mb1();
	m->flags = 1;
	m->mem_lower = 639;
	m->mem_upper = 1024;
	CHECK_EQ(parse1(), 0);
	CHECK_EQ(info.region_count, 2);
	CHECK_EQ(boot_available_bytes(&info), (639 + 1024) * 1024);
}

TEST(mb1_rejects_no_memory_information)
{
	struct mb1 *m = good_mb1();
	m->flags &= ~((1u << 6) | 1u);
	CHECK_EQ(parse1(), -1);
	CHECK(strstr(err, "neither a memory map nor memory sizes") != NULL);
}

TEST(mb1_rejects_bad_mmap_entry)
{
	good_mb1();
	uint32_t size = 4000;
	memcpy(mem + 0x200, &size, 4);
	CHECK_EQ(parse1(), -1);
	CHECK(strstr(err, "bad size 4000") != NULL);
}

TEST(mb1_rejects_mmap_outside_memory)
{
	struct mb1 *m = good_mb1();
	m->mmap_addr = 0xFFFFFF00;
	CHECK_EQ(parse1(), -1);
	CHECK(strstr(err, "outside memory") != NULL);
}

TEST(mb1_rejects_unterminated_cmdline)
{
	struct mb1 *m = good_mb1();
	m->cmdline = PHYS_BASE + sizeof mem - 4;
	memset(mem + sizeof mem - 4, 'x', 4); /* runs to the end of memory */
	CHECK_EQ(parse1(), -1);
	CHECK(strstr(err, "command line") != NULL);
}

TEST(mb1_rejects_too_many_modules)
{
	struct mb1 *m = good_mb1();
	m->mods_count = 1000;
	CHECK_EQ(parse1(), -1);
	CHECK(strstr(err, "1000 modules") != NULL);
}

/* The ACPI tags (14: RSDP 1.0, 15: 2.0+) give the RSDP's copy inside the
 * table, the newer one winning; one too short for an RSDP is refused. */
TEST(mb2_acpi_rsdp_tags)
{
	mb2_begin();
	mb2_mmap(2);
	uint32_t old_at = mb2_len;
	mb2_tag(14, 8 + 20);
	uint32_t new_at = mb2_len;
	mb2_tag(15, 8 + 36);
	mb2_end();
	CHECK_EQ(parse2(), 0);
	CHECK_EQ(info.acpi_rsdp, PHYS_BASE + new_at + 8);
	(void)old_at;

	mb2_begin();
	mb2_mmap(2);
	mb2_tag(14, 8 + 20);
	mb2_end();
	CHECK_EQ(parse2(), 0);
	CHECK_EQ(info.acpi_rsdp, PHYS_BASE + 8 + 16 + 24 * 2 + 8);

	mb2_begin();
	mb2_mmap(2);
	mb2_tag(15, 8 + 12);
	mb2_end();
	CHECK_EQ(parse2(), -1);
	CHECK(strstr(err, "ACPI tag") != NULL);
}

/* Unit tests of VM creation's pure parts: the module command line
 * (hv/vm/vm_config.c), the guest ELF loader (hv/vm/elf_loader.c) and the
 * EPT builder (hv/vmx/ept.c). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "joulevisor/pvh.h"
#include "vm/vm.h"
#include "vmx/vmx.h"

static char err[256];

TEST(vm_config_full_line)
{
	struct vm_config c;
	CHECK_EQ(vm_config_parse("name=web-1 mem=64M -- mvb 512 10", "vm0", &c, err, sizeof err),
	         0);
	CHECK_STR(c.name, "web-1");
	CHECK_EQ(c.mem_bytes, 64ull << 20);
	CHECK_STR(c.args, "mvb 512 10");
}

TEST(vm_config_defaults)
{
	struct vm_config c;
	CHECK_EQ(vm_config_parse("-- hello", "vm3", &c, err, sizeof err), 0);
	CHECK_STR(c.name, "vm3");
	CHECK_EQ(c.mem_bytes, VM_MEM_DEFAULT);
	CHECK_EQ(vm_config_parse("mem=2048K -- hello", "vm3", &c, err, sizeof err), 0);
	CHECK_EQ(c.mem_bytes, 2ull << 20);
}

TEST(vm_config_arguments_are_optional)
{
	/* A guest ELF holds one program: "name=a" runs it with no arguments. */
	struct vm_config c;
	CHECK_EQ(vm_config_parse("name=a mem=32M", "vm0", &c, err, sizeof err), 0);
	CHECK_STR(c.name, "a");
	CHECK_EQ(c.mem_bytes, 32ull << 20);
	CHECK_STR(c.args, "");
	CHECK_EQ(vm_config_parse("name=b --", "vm0", &c, err, sizeof err), 0);
	CHECK_STR(c.args, "");
	CHECK_EQ(vm_config_parse("", "vm4", &c, err, sizeof err), 0);
	CHECK_STR(c.name, "vm4");
	CHECK_EQ(c.mem_bytes, (uint64_t)VM_MEM_DEFAULT);
}

TEST(vm_config_linux_line_with_initrd)
{
	/* A Linux guest: its initrd is another module, named by data=. */
	struct vm_config c;
	CHECK_EQ(vm_config_parse("name=lx mem=160M initrd=lxinit -- console=ttyS0 quiet "
	                         "jv.run=\"mvb 256 10\"",
	                         "vm0", &c, err, sizeof err),
	         0);
	CHECK_STR(c.initrd, "lxinit");
	CHECK_EQ(c.mem_bytes, 160ull << 20);
	CHECK_STR(c.args, "console=ttyS0 quiet jv.run=\"mvb 256 10\"");
	CHECK_EQ(vm_config_parse("initrd=../x -- a", "vm0", &c, err, sizeof err), -1);
	CHECK(strstr(err, "bad initrd name") != NULL);
	/* A 2 KiB command line fits; 2304 bytes do not. */
	static char line[2400];
	memcpy(line, "name=lx -- ", 11);
	memset(line + 11, 'a', 2048);
	line[11 + 2048] = '\0';
	CHECK_EQ(vm_config_parse(line, "vm0", &c, err, sizeof err), 0);
	CHECK_EQ(strlen(c.args), 2048);
	memset(line + 11, 'a', 2304);
	line[11 + 2304] = '\0';
	CHECK_EQ(vm_config_parse(line, "vm0", &c, err, sizeof err), -1);
	CHECK(strstr(err, "guest arguments are 2304 bytes long; at most 2303") != NULL);
}

TEST(vm_module_is_data_names_an_initrd)
{
	char name[VM_NAME_MAX];
	CHECK(vm_module_is_data("data=lxinit", name, sizeof name));
	CHECK_STR(name, "lxinit");
	CHECK(vm_module_is_data("  data=a-b_c  ", name, sizeof name));
	CHECK_STR(name, "a-b_c");
	CHECK(vm_module_is_data("data=bad/name", name, sizeof name));
	CHECK_STR(name, "");
	CHECK(vm_module_is_data("data=x extra", name, sizeof name));
	CHECK_STR(name, "");
	CHECK(!vm_module_is_data("name=data -- data=x", name, sizeof name));
	CHECK(!vm_module_is_data("", name, sizeof name));
}

TEST(vm_config_refused_line_keeps_its_name)
{
	/* The error names the VM by the name= it gave, wherever that stood. */
	struct vm_config c;
	CHECK_EQ(vm_config_parse("name=web mem=lots", "vm2", &c, err, sizeof err), -1);
	CHECK_STR(c.name, "web");
	CHECK_EQ(vm_config_parse("mem=3M name=db -- x", "vm2", &c, err, sizeof err), -1);
	CHECK_STR(c.name, "db");
	CHECK_EQ(vm_config_parse("name=bad/name -- a", "vm2", &c, err, sizeof err), -1);
	CHECK_STR(c.name, "vm2");
	CHECK_EQ(vm_config_parse("bogus -- name=notme", "vm2", &c, err, sizeof err), -1);
	CHECK_STR(c.name, "vm2");
}

TEST(vm_config_rejects_bad_lines)
{
	struct vm_config c;
	CHECK_EQ(vm_config_parse("name=vm0 mem=32M mvb", "x", &c, err, sizeof err), -1);
	CHECK(strstr(err, "unknown VM option 'mvb'") != NULL);
	CHECK(strstr(err, "the guest's arguments go after --") != NULL);
	CHECK_EQ(vm_config_parse("mem=lots -- a", "x", &c, err, sizeof err), -1);
	CHECK(strstr(err, "bad memory size 'lots'") != NULL);
	CHECK_EQ(vm_config_parse("mem=1M -- a", "x", &c, err, sizeof err), -1);
	CHECK(strstr(err, "out of range") != NULL);
	CHECK_EQ(vm_config_parse("mem=3M -- a", "x", &c, err, sizeof err),
	         -1); /* not 2M multiple */
	CHECK_EQ(vm_config_parse("mem=99999999999999999999G -- a", "x", &c, err, sizeof err), -1);
	CHECK_EQ(vm_config_parse("name=bad/name -- a", "x", &c, err, sizeof err), -1);
	CHECK(strstr(err, "bad VM name") != NULL);
	CHECK_EQ(vm_config_parse("name=averyveryverylongname -- a", "x", &c, err, sizeof err), -1);
	CHECK_EQ(vm_config_parse("cpus=2 -- a", "x", &c, err, sizeof err), -1);
	CHECK(strstr(err, "unknown VM option 'cpus=2'") != NULL);
}

/* ---- a minimal guest ELF built in memory (struct elf64_* from vm.h) ---- */
static uint8_t image[8192];
#define MEM (4u << 20)
static uint8_t guest[MEM];

static struct elf64_phdr *build_elf(void)
{
	memset(image, 0, sizeof image);
	struct elf64_ehdr *eh = (struct elf64_ehdr *)image;
	memcpy(eh->ident, "\177ELF\2\1\1", 7);
	eh->type = 2;
	eh->machine = 62;
	eh->version = 1;
	eh->phoff = 64;
	eh->ehsize = 64;
	eh->phentsize = sizeof(struct elf64_phdr);
	eh->phnum = 2;
	struct elf64_phdr *ph = (struct elf64_phdr *)(image + 64);
	/* text+data at 1 MiB: 0x100 bytes of file, 0x3000 in memory (bss) */
	ph[0] = (struct elf64_phdr){1, 7, 0x1000, 0x100000, 0x100000, 0x100, 0x3000, 0x1000};
	memset(image + 0x1000, 0xAB, 0x100);
	/* the PVH note */
	ph[1] = (struct elf64_phdr){4, 4, 0x200, 0, 0, 20, 20, 4};
	uint32_t note[5] = {4, 4, XEN_ELFNOTE_PHYS32_ENTRY, 0, 0x100010};
	memcpy(&note[3], "Xen", 4);
	memcpy(image + 0x200, note, sizeof note);
	return ph;
}

TEST(elf_loads_segments_and_zeroes_bss)
{
	build_elf();
	struct elf_image_info info;
	memset(guest, 0x55, sizeof guest);
	CHECK_EQ(elf_load_guest(image, sizeof image, guest, MEM, &info, err, sizeof err), 0);
	CHECK_EQ(info.pvh_entry, 0x100010);
	CHECK_EQ(info.load_start, 0x100000);
	CHECK_EQ(info.load_end, 0x103000);
	CHECK_EQ(guest[0x100000], 0xAB);
	CHECK_EQ(guest[0x1000FF], 0xAB);
	CHECK_EQ(guest[0x100100], 0); /* bss zeroed */
	CHECK_EQ(guest[0x102FFF], 0);
	CHECK_EQ(guest[0x103000], 0x55); /* nothing past the segment */
}

TEST(elf_validate_only_touches_nothing)
{
	build_elf();
	struct elf_image_info info;
	CHECK_EQ(elf_load_guest(image, sizeof image, NULL, MEM, &info, err, sizeof err), 0);
}

#define EXPECT_REFUSED(fragment)                                                                   \
	do {                                                                                       \
		struct elf_image_info info_;                                                       \
		CHECK_EQ(elf_load_guest(image, sizeof image, guest, MEM, &info_, err, sizeof err), \
		         (uint64_t)-1);                                                            \
		CHECK(strstr(err, fragment) != NULL);                                              \
	} while (0)

TEST(elf_refuses_malformed_images)
{
	struct elf64_phdr *ph;
	struct elf64_ehdr *eh = (struct elf64_ehdr *)image;
	build_elf(), image[1] = 'X';
	EXPECT_REFUSED("bad magic");
	build_elf(), image[4] = 3;
	EXPECT_REFUSED("not a 32- or 64-bit ELF");
	build_elf(), image[4] = 1; /* an ELF32 must be i386 */
	EXPECT_REFUSED("not an i386 ELF32");
	build_elf(), eh->machine = 3;
	EXPECT_REFUSED("not an x86-64 ELF");
	build_elf(), eh->type = 3;
	EXPECT_REFUSED("not an executable");
	build_elf(), eh->phoff = sizeof image - 10;
	EXPECT_REFUSED("program headers");
	build_elf(), eh->phnum = 0;
	EXPECT_REFUSED("0 program headers");
	ph = build_elf(), ph[0].offset = sizeof image - 0x10;
	EXPECT_REFUSED("past the end of the file");
	ph = build_elf(), ph[0].filesz = 0x4000;
	EXPECT_REFUSED("past the end of the file");
	ph = build_elf(), ph[0].memsz = 0x10;
	EXPECT_REFUSED("exceeds memory size");
	ph = build_elf(), ph[0].paddr = MEM - 0x1000;
	EXPECT_REFUSED("outside guest memory");
	ph = build_elf(), ph[0].paddr = 0x1000; /* the boot area */
	EXPECT_REFUSED("outside guest memory");
	ph = build_elf(), ph[0].paddr = ~0ull - 0x10; /* wraps */
	EXPECT_REFUSED("outside guest memory");
	ph = build_elf(), ph[1].type = 0; /* no note, no multiboot header */
	EXPECT_REFUSED("no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY) and no multiboot1 header");
	ph = build_elf(), ph[1].filesz = 16; /* note cut short */
	EXPECT_REFUSED("malformed ELF note");
	build_elf(), memcpy(image + 0x200 + 16, &(uint32_t){0x500000}, 4);
	EXPECT_REFUSED("outside the loaded image");
}

/* A multiboot1 header (Multiboot 0.6.96 3.1) in the first 8 KiB. */
static void put_mb1_header(size_t off, uint32_t flags, const uint32_t *aout)
{
	uint32_t h[8] = {0x1BADB002u, flags, 0u - (0x1BADB002u + flags)};
	if (aout)
		memcpy(&h[3], aout, 5 * sizeof(uint32_t));
	memcpy(image + off, h, sizeof h);
}

TEST(elf_multiboot1_guest_without_pvh_note)
{
	struct elf64_ehdr *eh = (struct elf64_ehdr *)image;
	struct elf64_phdr *ph = build_elf();
	ph[1].type = 0; /* no PVH note */
	eh->entry = 0x100020;
	put_mb1_header(0x1010, 3, NULL); /* in the loaded text, as in a real kernel */
	struct elf_image_info info;
	CHECK_EQ(elf_load_guest(image, sizeof image, guest, MEM, &info, err, sizeof err), 0);
	CHECK_EQ(info.protocol, GUEST_BOOT_MULTIBOOT1);
	CHECK_EQ(info.pvh_entry, 0x100020);
	/* A bad checksum is no header. */
	image[0x1018] ^= 1;
	CHECK_EQ(elf_load_guest(image, sizeof image, NULL, MEM, &info, err, sizeof err),
	         (uint64_t)-1);
	/* With a PVH note the note wins. */
	build_elf();
	put_mb1_header(0x1010, 3, NULL);
	CHECK_EQ(elf_load_guest(image, sizeof image, NULL, MEM, &info, err, sizeof err), 0);
	CHECK_EQ(info.protocol, GUEST_BOOT_PVH);
}

TEST(elf_multiboot1_aout_kludge_loads_by_its_addresses)
{
	/* The header at file offset 0x1010 says it sits at 0x200010: the file
	 * from offset 0x1000 goes to 0x200000, 0x200 bytes, then bss to
	 * 0x204000; entry 0x200040. */
	struct elf64_phdr *ph = build_elf();
	ph[1].type = 0;
	uint32_t aout[5] = {0x200010, 0x200000, 0x200200, 0x204000, 0x200040};
	put_mb1_header(0x1010, 3 | (1u << 16), aout);
	struct elf_image_info info;
	memset(guest, 0x55, sizeof guest);
	CHECK_EQ(elf_load_guest(image, sizeof image, guest, MEM, &info, err, sizeof err), 0);
	CHECK_EQ(info.protocol, GUEST_BOOT_MULTIBOOT1);
	CHECK_EQ(info.pvh_entry, 0x200040);
	CHECK_EQ(info.load_start, 0x200000);
	CHECK_EQ(info.load_end, 0x204000);
	CHECK_EQ(guest[0x200000], 0xAB);
	CHECK_EQ(guest[0x200200], 0); /* bss */
	CHECK_EQ(guest[0x204000], 0x55);
	/* Addresses that do not match the file, or leave guest memory: refused. */
	uint32_t bad[5] = {0x200010, 0x100000, 0, 0, 0x100040}; /* 1 MiB before the header */
	put_mb1_header(0x1010, 3 | (1u << 16), bad);
	EXPECT_REFUSED("a.out-kludge addresses do not match");
	uint32_t high[5] = {0x3FF010, 0x3FF000, 0, 0x500000, 0x3FF040};
	put_mb1_header(0x1010, 3 | (1u << 16), high);
	EXPECT_REFUSED("outside guest memory");
	uint32_t past[5] = {0x200010, 0x200000, 0x900000, 0, 0x200040};
	put_mb1_header(0x1010, 3 | (1u << 16), past);
	EXPECT_REFUSED("runs past the file");
}

TEST(elf_refuses_overlapping_segments)
{
	struct elf64_phdr *ph = build_elf();
	ph[1] = ph[0];
	ph[1].paddr += 0x2000; /* overlaps the first one's bss */
	EXPECT_REFUSED("overlap");
}

TEST(elf_refuses_truncated_file)
{
	build_elf();
	struct elf_image_info info;
	CHECK_EQ(elf_load_guest(image, 40, guest, MEM, &info, err, sizeof err), (uint64_t)-1);
	CHECK(strstr(err, "too small") != NULL);
}

/* ---- EPT ---- */
static int pages_handed_out;
static uint64_t host_page(void *ctx)
{
	(void)ctx;
	pages_handed_out++;
	void *p = aligned_alloc(4096, 4096);
	memset(p, 0, 4096);
	return (uint64_t)(uintptr_t)p;
}

static void free_tables(uint64_t table, int level)
{
	uint64_t *t = (uint64_t *)(uintptr_t)table;
	if (level > 0)
		for (int i = 0; i < 512; i++)
			if (t[i] & EPT_RWX)
				free_tables(t[i] & EPT_ADDR_MASK, level - 1);
	free(t);
}

TEST(ept_maps_range_with_4k_leaves)
{
	pages_handed_out = 0;
	uint64_t root = host_page(NULL);
	CHECK_EQ(ept_map_range(root, 0, 0x40000000, 4u << 20, EPT_RWX, host_page, NULL), 0);
	/* 1 PML4 + 1 PDPT + 1 PD + 2 PTs for 4 MiB */
	CHECK_EQ(pages_handed_out, 5);
	uint64_t *leaf = ept_leaf(root, 0x123456);
	CHECK(leaf != NULL);
	CHECK_EQ(*leaf & EPT_ADDR_MASK, 0x40123000);
	CHECK_EQ(*leaf & 7, 7);
	CHECK_EQ(*leaf & (7 << 3), EPT_MEMTYPE_WB);
	CHECK(ept_leaf(root, 4u << 20) == NULL);   /* just past the range */
	CHECK(ept_leaf(root, 1ull << 39) == NULL); /* another PML4 slot */
	CHECK_EQ(ept_map_range(root, 0x1000, 0x2001, 0x1000, EPT_RWX, host_page, NULL),
	         (uint64_t)-1);
	free_tables(root, 3);
}

TEST(ept_pointer_format)
{
	CHECK_EQ(ept_pointer(0x5000, false), 0x5000 | 6 | 3 << 3);
	CHECK_EQ(ept_pointer(0x5000, true), 0x5000 | 6 | 3 << 3 | 1 << 6);
}

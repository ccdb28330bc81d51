/* Runs at boot (and on the host in unit tests): validates a guest ELF64
 * image and copies its loadable segments into guest memory. Every field
 * read from the image is checked against the file size or the guest's
 * memory before it is used: a malformed image is refused with a reason,
 * never half-loaded into a VM that then runs. ELF layout: System V ABI
 * gABI chapters 4-5; the PVH note: Xen public/elfnote.h. Two boot
 * protocols: PVH (the note), else Multiboot 1 (a header in the first
 * 8 KiB, Multiboot Specification 0.6.96 section 3.1), the protocol of test
 * kernels written for QEMU's -kernel; those are often 32-bit ELFs, so both
 * ELF classes are read. */
#include "joulevisor/pvh.h"
#include "lib/lib.h"
#include "vm/vm.h"

#define FAIL(...)                                                                                  \
	do {                                                                                       \
		fmt_snprintf(err, err_len, __VA_ARGS__);                                           \
		return -1;                                                                         \
	} while (0)

#define ELF_MAX_PHDRS 64

/* Looks for XEN_ELFNOTE_PHYS32_ENTRY in one PT_NOTE segment. */
static int find_pvh_note(const uint8_t *note, uint64_t size, uint32_t *entry, bool *found)
{
	uint64_t off = 0;
	while (size - off >= 12) {
		uint32_t namesz, descsz, type;
		memcpy(&namesz, note + off, 4);
		memcpy(&descsz, note + off + 4, 4);
		memcpy(&type, note + off + 8, 4);
		uint64_t name_off = off + 12;
		uint64_t desc_off = name_off + ((namesz + 3ull) & ~3ull);
		uint64_t next = desc_off + ((descsz + 3ull) & ~3ull);
		if (next > size)
			return -1;
		if (namesz == 4 && !memcmp(note + name_off, "Xen", 4) &&
		    type == XEN_ELFNOTE_PHYS32_ENTRY) {
			if (descsz != 4 && descsz != 8)
				return -1;
			memcpy(entry, note + desc_off, 4);
			*found = true;
		}
		off = next;
	}
	return 0;
}

/* The ELF32 headers (gABI chapter 4), read into the 64-bit ones. */
struct elf32_ehdr {
	uint8_t ident[16];
	uint16_t type, machine;
	uint32_t version, entry, phoff, shoff, flags;
	uint16_t ehsize, phentsize, phnum, shentsize, shnum, shstrndx;
};
struct elf32_phdr {
	uint32_t type, offset, vaddr, paddr, filesz, memsz, flags, align;
};
#define EM_386 3

/* The Multiboot 1 header: magic, flags, checksum (the three sum to 0),
 * 4-byte aligned in the first 8 KiB; with flag bit 16 (the "a.out
 * kludge", how 64-bit kernels boot by QEMU's -kernel) five more words say
 * where to load the file: header_addr, load_addr, load_end_addr,
 * bss_end_addr, entry_addr. */
#define MB1_HEADER_MAGIC 0x1BADB002u
#define MB1_AOUT_KLUDGE  (1u << 16)
struct mb1_header {
	uint32_t magic, flags, checksum;
	uint32_t header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr;
};
static bool find_multiboot1(const uint8_t *image, size_t size, struct mb1_header *h, size_t *offset)
{
	for (size_t off = 0; off + 12 <= size && off + 12 <= 8192; off += 4) {
		memset(h, 0, sizeof *h);
		memcpy(h, image + off, MIN(sizeof *h, size - off));
		if (h->magic == MB1_HEADER_MAGIC &&
		    (uint32_t)(h->magic + h->flags + h->checksum) == 0) {
			*offset = off;
			return true;
		}
	}
	return false;
}

/* Reads the ELF header and program headers of either class into eh and
 * ph (64-bit form). */
static int read_headers(const uint8_t *image, size_t size, struct elf64_ehdr *eh,
                        struct elf64_phdr *ph, char *err, size_t err_len)
{
	if (size < sizeof(struct elf32_ehdr))
		FAIL("image is %zu bytes, too small for an ELF header", size);
	if (memcmp(image, "\177ELF", 4))
		FAIL("not an ELF file (bad magic)");
	if (image[4] == 1) {
		struct elf32_ehdr e;
		memcpy(&e, image, sizeof e);
		if (e.machine != EM_386)
			FAIL("not an i386 ELF32 (machine %u)", e.machine);
		if (e.phentsize != sizeof(struct elf32_phdr))
			FAIL("program header size %u, expected %zu", e.phentsize,
			     sizeof(struct elf32_phdr));
		memcpy(eh->ident, e.ident, 16);
		eh->type = e.type;
		eh->machine = EM_X86_64; /* checked above; one path from here */
		eh->entry = e.entry;
		eh->phoff = e.phoff;
		eh->phentsize = sizeof(struct elf64_phdr);
		eh->phnum = e.phnum;
	} else if (image[4] == 2) {
		if (size < sizeof *eh)
			FAIL("image is %zu bytes, too small for an ELF header", size);
		memcpy(eh, image, sizeof *eh);
		if (eh->machine != EM_X86_64)
			FAIL("not an x86-64 ELF (machine %u)", eh->machine);
		if (eh->phentsize != sizeof(struct elf64_phdr))
			FAIL("program header size %u, expected %zu", eh->phentsize,
			     sizeof(struct elf64_phdr));
	} else {
		FAIL("not a 32- or 64-bit ELF (class %u)", image[4]);
	}
	if (eh->ident[5] != 1)
		FAIL("not little-endian (data encoding %u)", eh->ident[5]);
	if (eh->type != ET_EXEC)
		FAIL("not an executable ELF (type %u)", eh->type);
	if (eh->phnum == 0 || eh->phnum > ELF_MAX_PHDRS)
		FAIL("%u program headers (1..%d allowed)", eh->phnum, ELF_MAX_PHDRS);
	size_t phsize = image[4] == 1 ? sizeof(struct elf32_phdr) : sizeof(struct elf64_phdr);
	if (eh->phoff > size || (uint64_t)eh->phnum * phsize > size - eh->phoff)
		FAIL("program headers (offset %llu, %u entries) run past the end of the file",
		     (unsigned long long)eh->phoff, eh->phnum);
	for (unsigned i = 0; i < eh->phnum; i++) {
		if (image[4] == 2) {
			memcpy(&ph[i], image + eh->phoff + i * phsize, phsize);
		} else {
			struct elf32_phdr p;
			memcpy(&p, image + eh->phoff + i * phsize, phsize);
			ph[i] = (struct elf64_phdr){p.type,  p.flags,  p.offset, p.vaddr,
			                            p.paddr, p.filesz, p.memsz,  p.align};
		}
	}
	return 0;
}

int elf_load_guest(const uint8_t *image, size_t size, uint8_t *guest_mem, uint64_t mem_size,
                   struct elf_image_info *info, char *err, size_t err_len)
{
	memset(info, 0, sizeof *info);
	struct elf64_ehdr eh;
	struct elf64_phdr ph[ELF_MAX_PHDRS];
	if (read_headers(image, size, &eh, ph, err, err_len))
		return -1;
	bool have_entry = false;
	uint32_t entry = 0;
	info->load_start = ~0ull;
	for (unsigned i = 0; i < eh.phnum; i++) {
		const struct elf64_phdr *p = &ph[i];
		if (p->type != PT_LOAD && p->type != PT_NOTE)
			continue;
		if (p->offset > size || p->filesz > size - p->offset)
			FAIL("segment %u (offset %llu, %llu bytes) runs past the end of the file",
			     i, (unsigned long long)p->offset, (unsigned long long)p->filesz);
		if (p->type == PT_NOTE) {
			if (find_pvh_note(image + p->offset, p->filesz, &entry, &have_entry))
				FAIL("segment %u: malformed ELF note", i);
			continue;
		}
		if (p->filesz > p->memsz)
			FAIL("segment %u: file size %llu exceeds memory size %llu", i,
			     (unsigned long long)p->filesz, (unsigned long long)p->memsz);
		if (p->paddr < VM_BOOT_AREA_END || p->paddr > mem_size ||
		    p->memsz > mem_size - p->paddr)
			FAIL("segment %u at guest-physical 0x%llx (+0x%llx) lies outside guest "
			     "memory "
			     "0x%x..0x%llx",
			     i, (unsigned long long)p->paddr, (unsigned long long)p->memsz,
			     VM_BOOT_AREA_END, (unsigned long long)mem_size);
		for (unsigned j = 0; j < i; j++) {
			const struct elf64_phdr *q = &ph[j];
			if (q->type == PT_LOAD && p->paddr < q->paddr + q->memsz &&
			    q->paddr < p->paddr + p->memsz)
				FAIL("segments %u and %u overlap in guest memory", j, i);
		}
		info->load_start = MIN(info->load_start, p->paddr);
		info->load_end = MAX(info->load_end, p->paddr + p->memsz);
		info->segments++;
	}
	if (!info->segments)
		FAIL("no loadable segment");
	struct mb1_header mb;
	size_t mb_off = 0;
	bool kludge = false;
	uint64_t file_off = 0, file_len = 0;
	const char *protocol = "PVH";
	if (have_entry) {
		info->protocol = GUEST_BOOT_PVH;
	} else if (find_multiboot1(image, size, &mb, &mb_off)) {
		info->protocol = GUEST_BOOT_MULTIBOOT1;
		protocol = "multiboot1";
		if (mb.flags & MB1_AOUT_KLUDGE) {
			/* The file from header_addr - load_addr before the header, to
			 * load_end_addr (0: the file's end), then zeros to bss_end. */
			if (mb_off + sizeof mb > size || mb.load_addr > mb.header_addr ||
			    mb.header_addr - mb.load_addr > mb_off)
				FAIL("multiboot1 a.out-kludge addresses do not match the file "
				     "(header_addr 0x%x, load_addr 0x%x)",
				     mb.header_addr, mb.load_addr);
			file_off = mb_off - (mb.header_addr - mb.load_addr);
			file_len = mb.load_end_addr ? (uint64_t)mb.load_end_addr - mb.load_addr
			                            : size - file_off;
			uint64_t end = mb.bss_end_addr ? mb.bss_end_addr : mb.load_addr + file_len;
			if (mb.load_end_addr && mb.load_end_addr < mb.load_addr)
				FAIL("multiboot1 load_end_addr 0x%x is below load_addr 0x%x",
				     mb.load_end_addr, mb.load_addr);
			if (file_len > size - file_off || end < mb.load_addr + file_len)
				FAIL("multiboot1 load range runs past the file or its bss end");
			if (mb.load_addr < VM_BOOT_AREA_END || end > mem_size)
				FAIL("multiboot1 load range 0x%x..0x%llx lies outside guest memory "
				     "0x%x..0x%llx",
				     mb.load_addr, (unsigned long long)end, VM_BOOT_AREA_END,
				     (unsigned long long)mem_size);
			info->load_start = mb.load_addr;
			info->load_end = end;
			entry = mb.entry_addr;
			kludge = true;
		} else {
			if (eh.entry > 0xFFFFFFFFull)
				FAIL("multiboot1 entry 0x%llx is above 4 GiB",
				     (unsigned long long)eh.entry);
			entry = (uint32_t)eh.entry;
		}
	} else {
		FAIL("no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY) and no multiboot1 header: not a "
		     "bootable guest");
	}
	if (entry < info->load_start || entry >= info->load_end)
		FAIL("%s entry 0x%x is outside the loaded image 0x%llx..0x%llx", protocol, entry,
		     (unsigned long long)info->load_start, (unsigned long long)info->load_end);
	info->pvh_entry = entry;

	if (guest_mem && kludge) {
		memcpy(guest_mem + info->load_start, image + file_off, file_len);
		memset(guest_mem + info->load_start + file_len, 0,
		       info->load_end - info->load_start - file_len);
	} else if (guest_mem) {
		for (unsigned i = 0; i < eh.phnum; i++) {
			const struct elf64_phdr *p = &ph[i];
			if (p->type != PT_LOAD)
				continue;
			memcpy(guest_mem + p->paddr, image + p->offset, p->filesz);
			memset(guest_mem + p->paddr + p->filesz, 0, p->memsz - p->filesz);
		}
	}
	return 0;
}

/* Runs at boot (and on the host in unit tests): validates a guest ELF64
 * image and copies its loadable segments into guest memory. Every field
 * read from the image is checked against the file size or the guest's
 * memory before it is used: a malformed image is refused with a reason,
 * never half-loaded into a VM that then runs. ELF layout: System V ABI
 * gABI chapters 4-5; the PVH note: Xen public/elfnote.h. */
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

int elf_load_guest(const uint8_t *image, size_t size, uint8_t *guest_mem, uint64_t mem_size,
                   struct elf_image_info *info, char *err, size_t err_len)
{
	memset(info, 0, sizeof *info);
	struct elf64_ehdr eh;
	if (size < sizeof eh)
		FAIL("image is %zu bytes, too small for an ELF header", size);
	memcpy(&eh, image, sizeof eh);
	if (memcmp(eh.ident, "\177ELF", 4))
		FAIL("not an ELF file (bad magic)");
	if (eh.ident[4] != 2)
		FAIL("not a 64-bit ELF (class %u)", eh.ident[4]);
	if (eh.ident[5] != 1)
		FAIL("not little-endian (data encoding %u)", eh.ident[5]);
	if (eh.machine != EM_X86_64)
		FAIL("not an x86-64 ELF (machine %u)", eh.machine);
	if (eh.type != ET_EXEC)
		FAIL("not an executable ELF (type %u)", eh.type);
	if (eh.phentsize != sizeof(struct elf64_phdr))
		FAIL("program header size %u, expected %zu", eh.phentsize,
		     sizeof(struct elf64_phdr));
	if (eh.phnum == 0 || eh.phnum > ELF_MAX_PHDRS)
		FAIL("%u program headers (1..%d allowed)", eh.phnum, ELF_MAX_PHDRS);
	if (eh.phoff > size || (uint64_t)eh.phnum * sizeof(struct elf64_phdr) > size - eh.phoff)
		FAIL("program headers (offset %llu, %u entries) run past the end of the file",
		     (unsigned long long)eh.phoff, eh.phnum);

	struct elf64_phdr ph[ELF_MAX_PHDRS];
	memcpy(ph, image + eh.phoff, (size_t)eh.phnum * sizeof ph[0]);
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
	if (!have_entry)
		FAIL("no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY): not a PVH-bootable guest");
	if (entry < info->load_start || entry >= info->load_end)
		FAIL("PVH entry 0x%x is outside the loaded image 0x%llx..0x%llx", entry,
		     (unsigned long long)info->load_start, (unsigned long long)info->load_end);
	info->pvh_entry = entry;

	if (guest_mem) {
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

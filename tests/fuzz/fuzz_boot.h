/* The body of the two multiboot targets (fuzz_multiboot1.c and
 * fuzz_multiboot2.c): the input bytes are physical memory from
 * FUZZ_PHYS_BASE up, the information table sits at its start, and
 * boot_parse (hv/boot/multiboot.c) reads it through a fake mapper.
 *
 * The mapper hands out each mapping of more than one byte as its own copy
 * in a buffer of exactly the mapped length: a read past what the parser
 * asked to map is a heap overflow that ASan reports, instead of a silent
 * read of the neighbouring table bytes. One-byte mappings (the page-by-page
 * string probe of multiboot1) point into one exact-size copy of the whole
 * memory instead, which keeps long strings from costing one allocation per
 * byte; the end of memory is still a redzone for them. */
#ifndef TESTS_FUZZ_BOOT_H
#define TESTS_FUZZ_BOOT_H

#include "boot/boot.h"
#include "fuzz_common.h"
#include "lib/lib.h"
#include "vm/vm.h"

#define FUZZ_PHYS_BASE 0x10000u /* as in tests/unit/test_multiboot.c */

struct fake_phys {
	uint8_t *whole; /* exact-size copy of the memory */
	size_t size;
	void **copies; /* per-mapping copies, freed after the parse */
	size_t count, cap;
};

static const void *fake_phys_map(uint64_t phys, uint64_t len, void *ctx)
{
	struct fake_phys *m = ctx;
	if (phys < FUZZ_PHYS_BASE || len > m->size || phys - FUZZ_PHYS_BASE > m->size - len)
		return NULL;
	uint64_t off = phys - FUZZ_PHYS_BASE;
	if (len <= 1)
		return m->whole + off;
	if (m->count == m->cap) {
		m->cap = m->cap ? 2 * m->cap : 16;
		m->copies = realloc(m->copies, m->cap * sizeof *m->copies);
		if (!m->copies)
			abort();
	}
	void *copy = malloc(len);
	if (!copy)
		abort();
	memcpy(copy, m->whole + off, len);
	m->copies[m->count++] = copy;
	return copy;
}

static void fake_phys_free(struct fake_phys *m)
{
	for (size_t i = 0; i < m->count; i++)
		free(m->copies[i]);
	free(m->copies);
	free(m->whole);
}

/* What a successful parse promises the rest of hv (mm_init, vm.c). */
static void check_boot_info(const struct boot_info *info, int version, size_t mem_size)
{
	FUZZ_ASSERT(info->multiboot_version == version);
	FUZZ_ASSERT(fuzz_terminated(info->cmdline, sizeof info->cmdline));
	FUZZ_ASSERT(fuzz_terminated(info->loader_name, sizeof info->loader_name));
	FUZZ_ASSERT(info->region_count <= BOOT_MAX_REGIONS);
	FUZZ_ASSERT(info->module_count <= BOOT_MAX_MODULES);
	for (unsigned i = 0; i < info->region_count; i++) {
		const struct boot_mem_region *r = &info->regions[i];
		FUZZ_ASSERT(r->length != 0);
		FUZZ_ASSERT(r->base + r->length >= r->base); /* no wrap past 2^64 */
	}
	for (unsigned i = 0; i < info->module_count; i++) {
		const struct boot_module *mod = &info->modules[i];
		FUZZ_ASSERT(mod->end >= mod->start);
		FUZZ_ASSERT(fuzz_terminated(mod->cmdline, sizeof mod->cmdline));
		size_t n = strlen(mod->cmdline);
		/* A line that fit is whole; one that did not is marked so. */
		if (mod->cmdline_len < sizeof mod->cmdline)
			FUZZ_ASSERT(n == mod->cmdline_len);
		else
			FUZZ_ASSERT(n == sizeof mod->cmdline - 1);
	}
	/* The table hv keeps reserved is the one it read, inside memory. */
	FUZZ_ASSERT(info->info_start == FUZZ_PHYS_BASE);
	FUZZ_ASSERT(info->info_end > info->info_start);
	FUZZ_ASSERT(info->info_end - FUZZ_PHYS_BASE <= mem_size);
	(void)boot_available_bytes(info);
}

static void fuzz_boot_run(uint32_t magic, int version, const uint8_t *data, size_t size)
{
	struct fake_phys m = {.size = size};
	m.whole = malloc(size ? size : 1);
	if (!m.whole)
		abort();
	memcpy(m.whole, data, size);

	static struct boot_info info; /* 45 KiB: not on the stack */
	char err[200];                /* hv's own size (core/main.c) */
	int rc = boot_parse(magic, FUZZ_PHYS_BASE, fake_phys_map, &m, &info, err, sizeof err);
	fake_phys_free(&m);
	if (rc) {
		FUZZ_ASSERT(rc == -1);
		FUZZ_ASSERT(fuzz_terminated(err, sizeof err) && err[0]);
		/* hv logs the reason as a JSON event (core/main.c). */
		char esc[240];
		fmt_json_escape(esc, sizeof esc, err);
		FUZZ_ASSERT(fuzz_json_string_ok(esc));
		return;
	}
	check_boot_info(&info, version, size);
	/* hv's boot event carries both strings, escaped (core/main.c). */
	char esc_cmdline[BOOT_CMDLINE_MAX * 2], esc_loader[128];
	fmt_json_escape(esc_cmdline, sizeof esc_cmdline, info.cmdline);
	FUZZ_ASSERT(fuzz_json_string_ok(esc_cmdline));
	fmt_json_escape(esc_loader, sizeof esc_loader, info.loader_name);
	FUZZ_ASSERT(fuzz_json_string_ok(esc_loader));
	/* Then each module line goes to the VM config parser, as vm.c does
	 * with a line that fit. */
	for (unsigned i = 0; i < info.module_count; i++) {
		const struct boot_module *mod = &info.modules[i];
		if (mod->cmdline_len >= sizeof mod->cmdline)
			continue;
		struct vm_config config;
		char verr[160];
		if (vm_config_parse(mod->cmdline, "vm0", &config, verr, sizeof verr))
			FUZZ_ASSERT(fuzz_terminated(verr, sizeof verr));
	}
}

#endif

/* libFuzzer target: the firmware's processor tables (hv/smp/cpu_tables.c).
 * The first byte picks how hv finds them: odd, the loader's RSDP hint at
 * the second byte (memory starts at 0x10000); even, a scan of the BIOS
 * areas (memory starts at 0xE0000, where the RSDP scan looks, and covers
 * the MP scan's 0xF0000 once the input is long enough). The mapper hands
 * out exact-size copies, so a read past what was mapped is an ASan report. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "lib/lib.h"
#include "smp/smp.h"

struct fake_mem {
	const uint8_t *data;
	size_t size;
	uint64_t base;
	void *copies[4096];
	size_t count;
};

static const void *map(uint64_t phys, uint64_t len, void *ctx)
{
	struct fake_mem *m = ctx;
	if (phys < m->base || len > m->size || phys - m->base > m->size - len || len == 0)
		return NULL;
	if (m->count == sizeof m->copies / sizeof m->copies[0])
		return NULL; /* a parse that maps this often is refused, not grown */
	void *copy = malloc(len);
	if (!copy)
		abort();
	memcpy(copy, m->data + (phys - m->base), len);
	m->copies[m->count++] = copy;
	return copy;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	static struct fake_mem m;
	bool hinted = data[0] & 1;
	m = (struct fake_mem){.data = data + 1, .size = size - 1, .base = hinted ? 0x10000 : 0xE0000};
	static struct cpu_list list;
	char err[160];
	int rc = cpu_tables_find(hinted ? 0x10000 : 0, map, &m, &list, err, sizeof err);
	for (size_t i = 0; i < m.count; i++)
		free(m.copies[i]);
	if (rc) {
		FUZZ_ASSERT(rc == -1 && err[0] && fuzz_terminated(err, sizeof err));
		return 0;
	}
	FUZZ_ASSERT(list.source && list.count <= SMP_MAX_CPUS);
	for (unsigned i = 0; i < list.count; i++)
		for (unsigned j = i + 1; j < list.count; j++)
			FUZZ_ASSERT(list.apic_id[i] != list.apic_id[j]);
	return 0;
}

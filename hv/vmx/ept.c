/* Runs at VM creation and in VM-exit context (and on the host in unit
 * tests): builds and walks 4-level EPT (SDM Vol. 3C 29.3.2, tables 29-1 to
 * 29-6). Guest memory uses 4 KiB leaves so dirty tracking can later work
 * page by page. */
#include "lib/lib.h"
#include "vmx/vmx.h"

static inline uint64_t *table_at(uint64_t phys)
{
	return (uint64_t *)(uintptr_t)phys;
}

static unsigned index_at(uint64_t gpa, int level) /* level 3 = PML4 .. 0 = PT */
{
	return (unsigned)(gpa >> (12 + 9 * level)) & 511;
}

/* Walks to the page table that holds gpa's leaf, allocating if asked. */
static uint64_t *leaf_table(uint64_t root, uint64_t gpa, ept_alloc_fn alloc, void *ctx)
{
	uint64_t table = root;
	for (int level = 3; level > 0; level--) {
		uint64_t *entry = &table_at(table)[index_at(gpa, level)];
		if (!(*entry & EPT_RWX)) {
			if (!alloc)
				return NULL;
			uint64_t page = alloc(ctx);
			if (!page)
				return NULL;
			/* Non-leaf entries grant everything; the leaf decides. */
			*entry = page | EPT_RWX;
		}
		table = *entry & EPT_ADDR_MASK;
	}
	return table_at(table);
}

int ept_map_range(uint64_t root, uint64_t gpa, uint64_t hpa, uint64_t len, uint64_t perms,
                  ept_alloc_fn alloc, void *ctx)
{
	if ((gpa | hpa | len) & 0xfff)
		return -1;
	for (uint64_t off = 0; off < len; off += 4096) {
		uint64_t *pt = leaf_table(root, gpa + off, alloc, ctx);
		if (!pt)
			return -1;
		pt[index_at(gpa + off, 0)] =
		    ((hpa + off) & EPT_ADDR_MASK) | EPT_MEMTYPE_WB | (perms & EPT_RWX);
	}
	return 0;
}

uint64_t *ept_leaf(uint64_t root, uint64_t gpa)
{
	uint64_t *pt = leaf_table(root, gpa, NULL, NULL);
	if (!pt)
		return NULL;
	uint64_t *leaf = &pt[index_at(gpa, 0)];
	return (*leaf & EPT_RWX) ? leaf : NULL;
}

uint64_t ept_pointer(uint64_t root, bool ad)
{
	/* Bits 2:0 memory type 6 (WB), 5:3 walk length minus one (3), bit 6
	 * enables accessed/dirty flags. */
	return (root & EPT_ADDR_MASK) | 6 | (3 << 3) | (ad ? 1u << 6 : 0);
}

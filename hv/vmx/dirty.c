/* Runs in the scheduler loop (start, harvest, stop) and in VM-exit context
 * (write-protect violations, PML-full exits): the three ways VT-x can tell
 * which guest pages were written, behind migrate/'s dirty_tracker_ops.
 *   wp   EPT write-protect: every page read-only; the first write to a page
 *        exits, is logged, and the page becomes writable again (an exit per
 *        newly dirtied page).
 *   ad   EPT accessed/dirty flags (SDM Vol. 3C 29.3.5): the CPU sets D in
 *        the leaf on a write; hv scans and clears (no exits; a full scan).
 *   pml  page-modification logging (SDM 29.3.6): the CPU also appends the
 *        GPA to a 512-entry log when it sets a D flag; a full log exits.
 * All three record into vm->dirty.bitmap, which hv's own writes into guest
 * memory mark as well (vm_mark_dirty): a harvest returns their union. */
#include "lib/lib.h"
#include "migrate/migrate.h"
#include "mm/mm.h"
#include "vmx/exits.h"
#include "x86/x86.h"

#define PML_ENTRIES 512

static uint64_t vm_pages(const struct vm *vm)
{
	return vm->mem_size / PAGE_SIZE;
}

static void flush_ept(struct vm *vm)
{
	invept_single(ept_pointer(vm->ept_root, vmx_host_caps.ept_ad));
}

/* Clears bits in every leaf of the VM's memory (a 2 MiB block at a time:
 * its 512 leaves are one page table). */
static void clear_leaf_bits(struct vm *vm, uint64_t bits)
{
	for (uint64_t gpa = 0; gpa < vm->mem_size; gpa += 512 * PAGE_SIZE) {
		uint64_t *pt = ept_leaf(vm->ept_root, gpa);
		unsigned n = (unsigned)MIN(512ull, (vm->mem_size - gpa) / PAGE_SIZE);
		for (unsigned i = 0; pt && i < n; i++)
			pt[i] &= ~bits;
	}
}

static void set_bit64(uint64_t *bits, uint64_t i)
{
	bits[i / 64] |= 1ull << (i % 64);
}

static bool start_log(struct vm *vm, const char *name)
{
	uint64_t words = (vm_pages(vm) + 63) / 64;
	uint64_t frames = (words * 8 + PAGE_SIZE - 1) / PAGE_SIZE;
	uint64_t pa = frames_alloc_contig(&host_frames, frames, 1);
	if (!pa)
		return false;
	memset((void *)(uintptr_t)pa, 0, frames * PAGE_SIZE);
	vm->dirty = (struct dirty_log){.tracker = name, .bitmap = (uint64_t *)(uintptr_t)pa};
	return true;
}

static void stop_log(struct vm *vm)
{
	if (vm->dirty.bitmap) {
		uint64_t words = (vm_pages(vm) + 63) / 64;
		frames_free_range(&host_frames, (uint64_t)(uintptr_t)vm->dirty.bitmap,
		                  ALIGN_UP(words * 8, (uint64_t)PAGE_SIZE));
	}
	vm->dirty.tracker = NULL;
	vm->dirty.bitmap = NULL;
}

/* Moves bitmap pages to pfns (up to max), clearing them; calls rearm for
 * each so the tracker can watch the page again. */
static size_t take_bitmap(struct vm *vm, uint64_t *pfns, size_t max, uint64_t rearm_bits)
{
	size_t n = 0;
	uint64_t words = (vm_pages(vm) + 63) / 64;
	for (uint64_t w = 0; w < words && n < max; w++) {
		while (vm->dirty.bitmap[w] && n < max) {
			unsigned b = (unsigned)__builtin_ctzll(vm->dirty.bitmap[w]);
			vm->dirty.bitmap[w] &= ~(1ull << b);
			uint64_t pfn = w * 64 + b;
			pfns[n++] = pfn;
			if (rearm_bits) {
				uint64_t *leaf = ept_leaf(vm->ept_root, pfn * PAGE_SIZE);
				if (leaf)
					*leaf &= ~rearm_bits;
			}
		}
	}
	vm->dirty.harvested += n;
	return n;
}

static bool test_bit64(const uint64_t *bits, uint64_t i)
{
	return bits[i / 64] >> (i % 64) & 1;
}

/* Written since the last harvest: in the bitmap, or (ad, pml) D set in the
 * leaf, which start and every harvest clear; a D found here goes into the
 * bitmap so that the next harvest returns the page whatever it scans (pml
 * drains only its log). The VM is not running while hv asks. */
static bool written_since_harvest(struct vm *vm, uint64_t pfn, uint64_t leaf_bit)
{
	if (!vm->dirty.bitmap || pfn >= vm_pages(vm))
		return false;
	if (test_bit64(vm->dirty.bitmap, pfn))
		return true;
	const uint64_t *leaf = leaf_bit ? ept_leaf(vm->ept_root, pfn * PAGE_SIZE) : NULL;
	if (!leaf || !(*leaf & leaf_bit))
		return false;
	set_bit64(vm->dirty.bitmap, pfn);
	return true;
}

static bool wp_written(void *ctx, uint64_t pfn)
{
	return written_since_harvest(ctx, pfn, 0);
}

static bool d_flag_written(void *ctx, uint64_t pfn)
{
	return written_since_harvest(ctx, pfn, EPT_DIRTY);
}

/* ---- wp ---- */
static void wp_start(void *ctx)
{
	struct vm *vm = ctx;
	if (!start_log(vm, "wp"))
		return;
	clear_leaf_bits(vm, EPT_WRITE);
	flush_ept(vm);
}

static size_t wp_harvest(void *ctx, uint64_t *pfns, size_t max)
{
	struct vm *vm = ctx;
	if (!vm->dirty.bitmap)
		return 0;
	uint64_t t0 = rdtsc();
	size_t n = take_bitmap(vm, pfns, max, EPT_WRITE);
	flush_ept(vm);
	vm->dirty.scan_cycles += rdtsc() - t0;
	return n;
}

static void wp_stop(void *ctx)
{
	struct vm *vm = ctx;
	for (uint64_t gpa = 0; gpa < vm->mem_size; gpa += PAGE_SIZE) {
		uint64_t *leaf = ept_leaf(vm->ept_root, gpa);
		if (leaf)
			*leaf |= EPT_WRITE;
	}
	flush_ept(vm);
	stop_log(vm);
}

bool dirty_wp_violation(struct vcpu *v, uint64_t gpa, uint64_t qualification)
{
	struct vm *vm = v->vm;
	if (!vm->dirty.tracker || strcmp(vm->dirty.tracker, "wp") || !(qualification & 2) ||
	    gpa >= vm->mem_size)
		return false;
	uint64_t *leaf = ept_leaf(vm->ept_root, gpa);
	if (!leaf || (*leaf & EPT_WRITE))
		return false;
	*leaf |= EPT_WRITE;
	set_bit64(vm->dirty.bitmap, gpa / PAGE_SIZE);
	vm->dirty.exits++;
	flush_ept(vm);
	return true;
}

/* ---- ad ---- */
static void ad_start(void *ctx)
{
	struct vm *vm = ctx;
	if (!start_log(vm, "ad"))
		return;
	clear_leaf_bits(vm, EPT_DIRTY);
	flush_ept(vm);
}

static size_t ad_harvest(void *ctx, uint64_t *pfns, size_t max)
{
	struct vm *vm = ctx;
	if (!vm->dirty.bitmap)
		return 0;
	uint64_t t0 = rdtsc();
	for (uint64_t gpa = 0; gpa < vm->mem_size; gpa += 512 * PAGE_SIZE) {
		uint64_t *pt = ept_leaf(vm->ept_root, gpa);
		unsigned n = (unsigned)MIN(512ull, (vm->mem_size - gpa) / PAGE_SIZE);
		for (unsigned i = 0; pt && i < n; i++)
			if (pt[i] & EPT_DIRTY)
				set_bit64(vm->dirty.bitmap, gpa / PAGE_SIZE + i);
	}
	size_t n = take_bitmap(vm, pfns, max, EPT_DIRTY);
	flush_ept(vm);
	vm->dirty.scan_cycles += rdtsc() - t0;
	return n;
}

static void ad_stop(void *ctx)
{
	stop_log(ctx);
}

/* ---- pml ---- */
/* Moves the logged GPAs into the bitmap and empties the log. The VM's VMCS
 * must be current. bochs logs the full GPA, not its page (PLATFORM.md
 * deviation 2): mask it. */
static void pml_drain(struct vm *vm)
{
	uint64_t index = vmcs_read(VMCS_GUEST_PML_INDEX) & 0xFFFF;
	const uint64_t *log = (const uint64_t *)(uintptr_t)vm->dirty.pml_pa;
	/* Entries are written from 511 down; index is the next free one, and
	 * 0xFFFF once the log is full. */
	uint64_t first = index >= PML_ENTRIES ? 0 : index + 1;
	for (uint64_t i = first; i < PML_ENTRIES; i++) {
		uint64_t gpa = log[i] & ~0xFFFull;
		if (gpa < vm->mem_size)
			set_bit64(vm->dirty.bitmap, gpa / PAGE_SIZE);
	}
	vmcs_write(VMCS_GUEST_PML_INDEX, PML_ENTRIES - 1);
}

static void pml_start(void *ctx)
{
	struct vm *vm = ctx;
	if (!start_log(vm, "pml"))
		return;
	vm->dirty.pml_pa = mm_alloc_zeroed_page();
	if (!vm->dirty.pml_pa || vmptrld(vm->vcpu.vmcs_pa) != VMX_OK) {
		stop_log(vm);
		return;
	}
	clear_leaf_bits(vm, EPT_DIRTY);
	vmcs_write(VMCS_PML_ADDRESS, vm->dirty.pml_pa);
	vmcs_write(VMCS_GUEST_PML_INDEX, PML_ENTRIES - 1);
	vmcs_write(VMCS_PROC_BASED_CTLS2, vmcs_read(VMCS_PROC_BASED_CTLS2) | PROC2_ENABLE_PML);
	flush_ept(vm);
}

static size_t pml_harvest(void *ctx, uint64_t *pfns, size_t max)
{
	struct vm *vm = ctx;
	if (!vm->dirty.bitmap || vmptrld(vm->vcpu.vmcs_pa) != VMX_OK)
		return 0;
	uint64_t t0 = rdtsc();
	pml_drain(vm);
	/* Clearing D lets the next write to the page be logged again. */
	size_t n = take_bitmap(vm, pfns, max, EPT_DIRTY);
	flush_ept(vm);
	vm->dirty.scan_cycles += rdtsc() - t0;
	return n;
}

static void pml_stop(void *ctx)
{
	struct vm *vm = ctx;
	if (vm->dirty.pml_pa && vmptrld(vm->vcpu.vmcs_pa) == VMX_OK)
		vmcs_write(VMCS_PROC_BASED_CTLS2,
		           vmcs_read(VMCS_PROC_BASED_CTLS2) & ~PROC2_ENABLE_PML);
	if (vm->dirty.pml_pa)
		frame_free(&host_frames, vm->dirty.pml_pa);
	vm->dirty.pml_pa = 0;
	stop_log(vm);
}

/* SDM 28.2: exit reason 62, the log is full: drain it and go on. */
enum exit_action exit_pml_full(struct vcpu *v, const struct vmx_exit *e)
{
	(void)e;
	if (v->vm->dirty.pml_pa) {
		pml_drain(v->vm);
		v->vm->dirty.exits++;
	}
	return EXIT_RESUME;
}

static const struct dirty_tracker_ops trackers[] = {
    {"pml", pml_start, pml_harvest, pml_stop, d_flag_written},
    {"ad", ad_start, ad_harvest, ad_stop, d_flag_written},
    {"wp", wp_start, wp_harvest, wp_stop, wp_written},
};

const struct dirty_tracker_ops *arch_dirty_tracker(const char *name)
{
	const struct vmx_caps *c = &vmx_host_caps;
	bool have[] = {c->pml && c->ept_ad, c->ept_ad, true};
	for (unsigned i = 0; i < ARRAY_SIZE(trackers); i++)
		if (have[i] && (!name || !strcmp(name, trackers[i].name)))
			return &trackers[i];
	return NULL;
}

/* Runs at boot: builds the host frame allocator from the memory map. */
#include "mm/mm.h"
#include "lib/lib.h"

/* hv maps the first 4 GiB (boot/entry.S); frames above are not used yet. */
#define HOST_MAX_FRAMES ((4ull << 30) / PAGE_SIZE)

struct frame_allocator host_frames;
static uint64_t host_frame_bitmap[HOST_MAX_FRAMES / 64];
extern char __image_start[], __image_end[];

void mm_init(const struct boot_info *info)
{
	frames_init(&host_frames, host_frame_bitmap, HOST_MAX_FRAMES);
	for (unsigned i = 0; i < info->region_count; i++)
		if (info->regions[i].type == BOOT_MEM_AVAILABLE)
			frames_add_ram(&host_frames, info->regions[i].base,
			               info->regions[i].length);
	/* Low memory holds the BIOS data area, EBDA and future AP trampolines. */
	frames_reserve(&host_frames, 0, 1u << 20);
	frames_reserve(&host_frames, (uint64_t)(uintptr_t)__image_start,
	               (uint64_t)(uintptr_t)(__image_end - __image_start));
	frames_reserve(&host_frames, info->info_start, info->info_end - info->info_start);
	for (unsigned i = 0; i < info->module_count; i++)
		frames_reserve(&host_frames, info->modules[i].start,
		               info->modules[i].end - info->modules[i].start);
}

uint64_t mm_alloc_zeroed_page(void)
{
	uint64_t pa = frame_alloc(&host_frames);
	if (pa)
		memset((void *)(uintptr_t)pa, 0, PAGE_SIZE);
	return pa;
}

const void *mm_identity_map(uint64_t phys, uint64_t len, void *ctx)
{
	(void)ctx;
	if (phys == 0 || len > (4ull << 30) || phys > (4ull << 30) - len)
		return NULL;
	return (const void *)(uintptr_t)phys;
}

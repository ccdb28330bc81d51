/* mm: host physical memory. A bitmap frame allocator over the loader's
 * memory map (frames.c, pure, unit-tested on the host), and the boot-time
 * set-up that feeds it (mm.c). Guest memory, EPT tables and VMX regions all
 * come from here: nothing is identity-shared with a guest. */
#ifndef HV_MM_H
#define HV_MM_H

#include <stdbool.h>
#include <stdint.h>

#define PAGE_SIZE  4096u
#define PAGE_SHIFT 12

struct frame_allocator {
	uint64_t *bitmap;     /* bit set = frame in use or not RAM */
	uint64_t frame_count; /* frames covered by the bitmap, from address 0 */
	uint64_t free_count;
	uint64_t search_hint; /* word index where the last free frame was found */
};

/* Starts with every frame in use; then add RAM and reserve what is taken. */
void frames_init(struct frame_allocator *fa, uint64_t *bitmap, uint64_t frame_count);
/* Marks the whole pages inside [base, base+len) free (RAM from the map). */
void frames_add_ram(struct frame_allocator *fa, uint64_t base, uint64_t len);
/* Marks every page touching [base, base+len) in use (image, tables, modules). */
void frames_reserve(struct frame_allocator *fa, uint64_t base, uint64_t len);
/* One zero-filled-on-request frame: returns its physical address, 0 if none. */
uint64_t frame_alloc(struct frame_allocator *fa);
/* count contiguous frames aligned to align_frames (a power of two); 0 if none. */
uint64_t frames_alloc_contig(struct frame_allocator *fa, uint64_t count, uint64_t align_frames);
/* Frees one frame; returns false (and changes nothing) on a double free or
 * an address the allocator does not own. */
bool frame_free(struct frame_allocator *fa, uint64_t phys);
/* Frees every frame of [base, base+len) (both page-aligned). */
void frames_free_range(struct frame_allocator *fa, uint64_t base, uint64_t len);

#ifndef HOSTED_TEST
#include "boot/boot.h"
/* The allocator of host memory, set up from the boot info at boot. */
extern struct frame_allocator host_frames;
/* Builds host_frames from the memory map, keeping hv's image, the boot
 * table and the modules reserved; frames below 1 MiB are never handed out. */
void mm_init(const struct boot_info *info);
/* A zeroed 4 KiB frame, or 0 when memory is exhausted. */
uint64_t mm_alloc_zeroed_page(void);
/* hv identity-maps the first 4 GiB: a boot_phys_map_fn (boot/boot.h) for
 * tables the firmware or loader left there; NULL outside it. */
const void *mm_identity_map(uint64_t phys, uint64_t len, void *ctx);
#endif

#endif

/* Runs at boot and in VM-exit context (and on the host in unit tests): a
 * bitmap of 4 KiB frames. Simple on purpose: one bit per frame, a hint to
 * make sequential allocation cheap. */
#include "lib/lib.h"
#include "mm/mm.h"

static inline bool frame_used(const struct frame_allocator *fa, uint64_t f)
{
	return fa->bitmap[f / 64] >> (f % 64) & 1;
}

static inline void set_used(struct frame_allocator *fa, uint64_t f)
{
	if (!frame_used(fa, f)) {
		fa->bitmap[f / 64] |= 1ull << (f % 64);
		fa->free_count--;
	}
}

static inline void set_free(struct frame_allocator *fa, uint64_t f)
{
	if (frame_used(fa, f)) {
		fa->bitmap[f / 64] &= ~(1ull << (f % 64));
		fa->free_count++;
	}
}

void frames_init(struct frame_allocator *fa, uint64_t *bitmap, uint64_t frame_count)
{
	fa->bitmap = bitmap;
	fa->frame_count = frame_count;
	fa->free_count = 0;
	fa->search_hint = 0;
	for (uint64_t w = 0; w < (frame_count + 63) / 64; w++)
		bitmap[w] = ~0ull;
}

void frames_add_ram(struct frame_allocator *fa, uint64_t base, uint64_t len)
{
	if (base + len < base)
		len = ~0ull - base; /* clamp a wrapping region */
	uint64_t first = (base + PAGE_SIZE - 1) >> PAGE_SHIFT;
	uint64_t end = (base + len) >> PAGE_SHIFT; /* exclusive */
	if (end > fa->frame_count)
		end = fa->frame_count;
	if (first == 0)
		first = 1; /* frame 0 is never handed out: 0 means "no frame" */
	for (uint64_t f = first; f < end; f++)
		set_free(fa, f);
}

void frames_reserve(struct frame_allocator *fa, uint64_t base, uint64_t len)
{
	if (len == 0)
		return;
	if (base + len < base)
		len = ~0ull - base;
	uint64_t first = base >> PAGE_SHIFT;
	uint64_t end = (base + len + PAGE_SIZE - 1) >> PAGE_SHIFT;
	if (end > fa->frame_count)
		end = fa->frame_count;
	for (uint64_t f = first; f < end; f++)
		set_used(fa, f);
}

uint64_t frame_alloc(struct frame_allocator *fa)
{
	uint64_t words = (fa->frame_count + 63) / 64;
	for (uint64_t i = 0; i < words; i++) {
		uint64_t w = (fa->search_hint + i) % words;
		if (fa->bitmap[w] == ~0ull)
			continue;
		uint64_t f = w * 64 + (uint64_t)__builtin_ctzll(~fa->bitmap[w]);
		if (f >= fa->frame_count)
			continue;
		set_used(fa, f);
		fa->search_hint = w;
		return f << PAGE_SHIFT;
	}
	return 0;
}

uint64_t frames_alloc_contig(struct frame_allocator *fa, uint64_t count, uint64_t align_frames)
{
	if (count == 0 || align_frames == 0 || (align_frames & (align_frames - 1)))
		return 0;
	uint64_t f = align_frames;
	while (f + count <= fa->frame_count) {
		uint64_t run = 0;
		while (run < count && !frame_used(fa, f + run))
			run++;
		if (run == count) {
			for (uint64_t i = 0; i < count; i++)
				set_used(fa, f + i);
			return f << PAGE_SHIFT;
		}
		/* Skip past the used frame, to the next aligned start. */
		f = ALIGN_UP(f + run + 1, align_frames);
	}
	return 0;
}

bool frame_free(struct frame_allocator *fa, uint64_t phys)
{
	uint64_t f = phys >> PAGE_SHIFT;
	if (phys & (PAGE_SIZE - 1) || f == 0 || f >= fa->frame_count || !frame_used(fa, f))
		return false;
	set_free(fa, f);
	return true;
}

void frames_free_range(struct frame_allocator *fa, uint64_t base, uint64_t len)
{
	for (uint64_t off = 0; off < len; off += PAGE_SIZE)
		frame_free(fa, base + off);
}

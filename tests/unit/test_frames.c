/* Unit tests of the host frame allocator (hv/mm/frames.c). */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "mm/mm.h"

#define FRAMES 4096 /* 16 MiB of "physical memory" */
static uint64_t bitmap[FRAMES / 64];

static void fresh(struct frame_allocator *fa)
{
	frames_init(fa, bitmap, FRAMES);
	frames_add_ram(fa, 0, 640 * 1024);        /* low RAM */
	frames_add_ram(fa, 1 << 20, (15u << 20)); /* 1..16 MiB */
}

TEST(frames_start_all_used)
{
	struct frame_allocator fa;
	frames_init(&fa, bitmap, FRAMES);
	CHECK_EQ(fa.free_count, 0);
	CHECK_EQ(frame_alloc(&fa), 0);
}

TEST(frames_count_ram_and_never_frame_zero)
{
	struct frame_allocator fa;
	fresh(&fa);
	/* 160 low frames minus frame 0, plus 3840 above 1 MiB. */
	CHECK_EQ(fa.free_count, 159 + 3840);
	uint64_t pa = frame_alloc(&fa);
	CHECK(pa != 0);
	CHECK_EQ(pa & 0xfff, 0);
}

TEST(frames_partial_pages_of_ram_are_not_used)
{
	struct frame_allocator fa;
	frames_init(&fa, bitmap, FRAMES);
	frames_add_ram(&fa, 0x1800, 0x2000); /* covers only page 0x2000 whole */
	CHECK_EQ(fa.free_count, 1);
	CHECK_EQ(frame_alloc(&fa), 0x2000);
}

TEST(frames_reserve_rounds_outward)
{
	struct frame_allocator fa;
	fresh(&fa);
	uint64_t before = fa.free_count;
	frames_reserve(&fa, (2 << 20) + 0x800, 0x1000); /* touches two pages */
	CHECK_EQ(fa.free_count, before - 2);
	frames_reserve(&fa, (2 << 20), 0x1000); /* already reserved: no change */
	CHECK_EQ(fa.free_count, before - 2);
}

TEST(frames_alloc_all_then_exhausted)
{
	struct frame_allocator fa;
	fresh(&fa);
	uint64_t total = fa.free_count, n = 0, last = 0;
	for (uint64_t pa; (pa = frame_alloc(&fa)) != 0; n++) {
		CHECK(pa != last);
		CHECK(pa < 640 * 1024 || pa >= (1 << 20)); /* never in the hole */
		last = pa;
	}
	CHECK_EQ(n, total);
	CHECK_EQ(fa.free_count, 0);
	CHECK_EQ(frame_alloc(&fa), 0);
}

TEST(frames_free_and_double_free)
{
	struct frame_allocator fa;
	fresh(&fa);
	uint64_t pa = frame_alloc(&fa);
	uint64_t free_before = fa.free_count;
	CHECK(frame_free(&fa, pa));
	CHECK_EQ(fa.free_count, free_before + 1);
	CHECK(!frame_free(&fa, pa));                     /* double free refused */
	CHECK(!frame_free(&fa, pa + 8));                 /* unaligned refused */
	CHECK(!frame_free(&fa, 0));                      /* frame 0 refused */
	CHECK(!frame_free(&fa, (uint64_t)FRAMES << 12)); /* beyond the bitmap */
	CHECK_EQ(fa.free_count, free_before + 1);
}

TEST(frames_contiguous_aligned)
{
	struct frame_allocator fa;
	fresh(&fa);
	frames_reserve(&fa, 2 << 20, 0x1000); /* a hole at 2 MiB */
	uint64_t pa = frames_alloc_contig(&fa, 512, 512);
	CHECK(pa != 0);
	CHECK_EQ(pa % (2 << 20), 0);
	CHECK(pa != (2 << 20)); /* the run at 2 MiB has a used frame */
	uint64_t pb = frames_alloc_contig(&fa, 3, 1);
	CHECK(pb != 0);
	CHECK(pb + 3 * 4096 <= pa || pb >= pa + (2 << 20)); /* no overlap */
	CHECK_EQ(frames_alloc_contig(&fa, FRAMES, 1), 0);   /* too big */
	CHECK_EQ(frames_alloc_contig(&fa, 4, 3), 0);        /* alignment not a power of 2 */
}

TEST(frames_region_beyond_bitmap_is_clamped)
{
	struct frame_allocator fa;
	frames_init(&fa, bitmap, FRAMES);
	frames_add_ram(&fa, 15 << 20, 1ull << 40);
	CHECK_EQ(fa.free_count, 256);
	frames_add_ram(&fa, ~0ull - 4095, 1ull << 20); /* wraps: clamped, no crash */
	CHECK_EQ(fa.free_count, 256);
}

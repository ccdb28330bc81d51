/* Unit tests of the soak tests' link faults (hv/dev/linkfault.c): the
 * linkfault= parser's refusals, the rates it produces over many frames, and
 * that a seed repeats its run exactly. */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "dev/dev.h"

TEST(linkfault_parses_rates_and_seed)
{
	struct linkfault f;
	char err[160];
	CHECK(linkfault_parse(&f, "drop:10,dup:50,reorder:100,seed:7", err, sizeof err));
	CHECK_EQ(f.drop, 10);
	CHECK_EQ(f.dup, 50);
	CHECK_EQ(f.reorder, 100);
	CHECK_EQ(f.seed, 7);
	CHECK(linkfault_active(&f));
	CHECK(linkfault_parse(&f, "", err, sizeof err));
	CHECK(!linkfault_active(&f));
}

TEST(linkfault_refuses_bad_specs_whole)
{
	struct linkfault f = {.drop = 3};
	char err[160];
	const char *bad[] = {"drop",   "drop:",         "drop:x", "drop:501",
	                     "loss:5", "drop:5,,dup:1", "seed:-1"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		CHECK(!linkfault_parse(&f, bad[i], err, sizeof err));
		CHECK(strncmp(err, "linkfault: ", 11) == 0);
		CHECK_EQ(f.drop, 3); /* untouched */
	}
}

TEST(linkfault_rates_over_many_frames)
{
	struct linkfault f;
	char err[160];
	CHECK(linkfault_parse(&f, "drop:50,dup:50,reorder:50,seed:42", err, sizeof err));
	unsigned counts[4] = {0};
	for (int i = 0; i < 100000; i++)
		counts[linkfault_decide(&f)]++;
	CHECK_EQ(f.frames, 100000);
	CHECK_EQ(f.dropped, counts[LINKFAULT_DROP]);
	CHECK_EQ(f.duplicated, counts[LINKFAULT_DUPLICATE]);
	CHECK_EQ(f.reordered, counts[LINKFAULT_HOLD]);
	/* 5% each, the later kinds only of frames the earlier ones spared:
	 * within a few tenths of a percent over 100000 frames. */
	CHECK(counts[LINKFAULT_DROP] > 4600 && counts[LINKFAULT_DROP] < 5400);
	CHECK(counts[LINKFAULT_HOLD] > 4300 && counts[LINKFAULT_HOLD] < 5200);
	CHECK(counts[LINKFAULT_DUPLICATE] > 4000 && counts[LINKFAULT_DUPLICATE] < 4900);
}

TEST(linkfault_same_seed_same_run_and_zero_rates_touch_nothing)
{
	struct linkfault a, b, c, off;
	char err[160];
	CHECK(linkfault_parse(&a, "drop:100,reorder:100,seed:9", err, sizeof err));
	CHECK(linkfault_parse(&b, "drop:100,reorder:100,seed:9", err, sizeof err));
	CHECK(linkfault_parse(&c, "drop:100,reorder:100,seed:10", err, sizeof err));
	CHECK(linkfault_parse(&off, "seed:9", err, sizeof err));
	int differ = 0;
	for (int i = 0; i < 1000; i++) {
		enum linkfault_action x = linkfault_decide(&a);
		CHECK_EQ(x, linkfault_decide(&b));
		differ += x != linkfault_decide(&c);
		CHECK_EQ(linkfault_decide(&off), LINKFAULT_SEND);
	}
	CHECK(differ > 50);
	CHECK_EQ(off.dropped + off.duplicated + off.reordered, 0);
}

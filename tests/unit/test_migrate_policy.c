/* Unit tests of the migration stop/throttle policies (migrate/policy*.c) on
 * scripted round statistics. */
#include <string.h>

#include "check.h"
#include "migrate/migrate.h"

static const struct migrate_params params = {.downtime_target_us = 300000, .state_bytes = 10000};

/* Round 5 of a 1000-page VM on a 1 MB/s link with a 1 ms round trip. */
static struct migrate_round_stats scripted(void)
{
	return (struct migrate_round_stats){.round = 5,
	                                    .vm_pages = 1000,
	                                    .dirty_pages = 100,
	                                    .prev_dirty_pages = 200,
	                                    .dirty_rate_pps = 100,
	                                    .bandwidth_Bps = 1000000,
	                                    .total_pages_sent = 2000,
	                                    .rtt_us = 1000};
}

static bool stops(const struct migrate_policy *p, struct migrate_round_stats s)
{
	return p->should_stop(&s, &params);
}

TEST(migrate_policy_table_finds_each_by_name)
{
	CHECK(migrate_policy_find("default") == &migrate_policy_default);
	CHECK(migrate_policy_find("xen-legacy") == &migrate_policy_xen_legacy);
	CHECK(migrate_policy_find("xen-v2") == &migrate_policy_xen_v2);
	CHECK(migrate_policy_find("qemu") == &migrate_policy_qemu);
	CHECK(migrate_policy_find("nope") == NULL);
	CHECK_EQ(migrate_policy_count, 4);
	for (size_t i = 0; i < migrate_policy_count; i++)
		CHECK(migrate_policies[i]->name && migrate_policies[i]->should_stop);
}

TEST(migrate_policy_xen_legacy_rounds_pages_and_factor)
{
	const struct migrate_policy *p = &migrate_policy_xen_legacy;
	struct migrate_round_stats s = scripted();
	CHECK(!stops(p, s));
	s.round = 29;
	CHECK(!stops(p, s));
	s.round = 30;
	CHECK(stops(p, s));
	s = scripted();
	s.dirty_pages = 50;
	CHECK(!stops(p, s));
	s.dirty_pages = 49;
	CHECK(stops(p, s));
	s = scripted();
	s.total_pages_sent = 3000; /* exactly 3x: not yet */
	CHECK(!stops(p, s));
	s.total_pages_sent = 3001;
	CHECK(stops(p, s));
	CHECK(p->throttle_percent == NULL);
}

TEST(migrate_policy_xen_v2_five_rounds_or_few_pages)
{
	const struct migrate_policy *p = &migrate_policy_xen_v2;
	struct migrate_round_stats s = scripted();
	s.round = 4;
	CHECK(!stops(p, s));
	s.round = 5;
	CHECK(stops(p, s));
	s.round = 1;
	s.dirty_pages = 49;
	CHECK(stops(p, s));
	s.dirty_pages = 50;
	s.total_pages_sent = 100000; /* no memory factor in v2 */
	CHECK(!stops(p, s));
}

TEST(migrate_policy_qemu_switches_over_when_rest_fits_downtime)
{
	const struct migrate_policy *p = &migrate_policy_qemu;
	struct migrate_round_stats s = scripted();
	/* 1 MB/s for 300 ms: 300000 bytes may be left, i.e. 73 pages. */
	s.dirty_pages = 73;
	CHECK(stops(p, s));
	s.dirty_pages = 74;
	CHECK(!stops(p, s));
	s.bandwidth_Bps = 2000000;
	CHECK(stops(p, s));
	s.bandwidth_Bps = 0;
	s.dirty_pages = 1;
	CHECK(!stops(p, s));
	s.dirty_pages = 0;
	CHECK(stops(p, s));
}

TEST(migrate_policy_qemu_auto_converge_steps)
{
	const struct migrate_policy *p = &migrate_policy_qemu;
	struct migrate_round_stats s = scripted();
	/* 100 pages/s = 409600 B/s, under half of 1 MB/s: no throttle. */
	CHECK_EQ(p->throttle_percent(&s, &params), 0);
	s.throttle_percent = 30;
	CHECK_EQ(p->throttle_percent(&s, &params), 30); /* and never lowered */
	/* 200 pages/s = 819200 B/s, over half the link: 20, then +10. */
	s.dirty_rate_pps = 200;
	s.throttle_percent = 0;
	CHECK_EQ(p->throttle_percent(&s, &params), 20);
	s.throttle_percent = 20;
	CHECK_EQ(p->throttle_percent(&s, &params), 30);
	s.throttle_percent = 95;
	CHECK_EQ(p->throttle_percent(&s, &params), 99);
	s.throttle_percent = 99;
	CHECK_EQ(p->throttle_percent(&s, &params), 99);
}

TEST(migrate_policy_default_predicts_downtime)
{
	const struct migrate_policy *p = &migrate_policy_default;
	struct migrate_round_stats s = scripted();
	/* dirty * 4096 + 10000 state bytes at 1 MB/s, + 1 ms round trip. */
	s.dirty_pages = 70;
	CHECK_EQ(migrate_predict_downtime_us(&s, &params), 70 * 4096 + 10000 + 1000);
	CHECK(stops(p, s));
	s.dirty_pages = 71;
	CHECK_EQ(migrate_predict_downtime_us(&s, &params), 71 * 4096 + 11000);
	CHECK(!stops(p, s));
	s.bandwidth_Bps = 0; /* nothing measured: no prediction fits */
	CHECK_EQ(migrate_predict_downtime_us(&s, &params), UINT64_MAX);
	CHECK(!stops(p, s));
	CHECK(p->throttle_percent == NULL);
}

TEST(migrate_policy_default_stops_without_progress)
{
	const struct migrate_policy *p = &migrate_policy_default;
	struct migrate_round_stats s = scripted();
	s.dirty_pages = 300;
	s.prev_dirty_pages = 301;
	CHECK(!stops(p, s));
	s.prev_dirty_pages = 300;
	CHECK(stops(p, s));
	s.prev_dirty_pages = 250;
	CHECK(stops(p, s));
	/* Round 1 had the whole VM to send: everything dirty again is no progress. */
	s.round = 1;
	s.prev_dirty_pages = s.vm_pages;
	s.dirty_pages = s.vm_pages;
	CHECK(stops(p, s));
}

TEST(migrate_policy_scale_is_exact_or_saturates)
{
	CHECK_EQ(migrate_scale(10, 3, 4), 7);
	CHECK_EQ(migrate_scale(0, 1000000, 7), 0);
	CHECK_EQ(migrate_scale(5, 1, 0), UINT64_MAX);
	CHECK_EQ(migrate_scale(UINT64_MAX, 2, 1), UINT64_MAX);
	CHECK_EQ(migrate_scale(1ull << 40, 1000000, 1000000), 1ull << 40);
	/* Products beyond 64 bits, quotient within: still exact. */
	uint64_t big = 123456789012345ull;
	CHECK_EQ(migrate_scale(big, 1000000, 999983),
	         (uint64_t)((unsigned __int128)big * 1000000 / 999983));
	CHECK_EQ(migrate_scale(1ull << 50, 1000000, 1000), (1ull << 50) * 1000);
}

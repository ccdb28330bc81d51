/* Unit tests of the migration stop/throttle policies (migrate/policy*.c) on
 * scripted round statistics. */
#include <string.h>

#include "check.h"
#include "migrate/migrate.h"

/* The policy's knobs at their defaults, as `migrate` without knobs sets them. */
static struct migrate_params params_of(const struct migrate_policy *p)
{
	struct migrate_params params = {.state_bytes = 10000};
	knobs_default(p->knobs, p->knob_count, params.knob);
	return params;
}

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
	struct migrate_params params = params_of(p);
	return p->should_stop(&s, &params);
}

TEST(migrate_policy_table_finds_each_by_name)
{
	CHECK(migrate_policy_find("default") == &migrate_policy_default);
	CHECK(migrate_policy_find("xen-legacy") == &migrate_policy_xen_legacy);
	CHECK(migrate_policy_find("xen-v2") == &migrate_policy_xen_v2);
	CHECK(migrate_policy_find("qemu") == &migrate_policy_qemu);
	CHECK(migrate_policy_find("nope") == NULL);
	CHECK(migrate_policies[0] == &migrate_policy_default); /* the reference, and the default */
	for (size_t i = 0; i < migrate_policy_count; i++) {
		CHECK(migrate_policies[i]->name && migrate_policies[i]->should_stop);
		CHECK(migrate_policies[i]->summary);
		CHECK(migrate_policy_find(migrate_policies[i]->name) == migrate_policies[i]);
	}
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
	struct migrate_params params = params_of(p);
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
	struct migrate_params params = params_of(p);
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

/* ---- knobs as text: `migrate VM DEST [TRACKER] policy=NAME knob=value` ---- */

TEST(migrate_params_parse_policy_knobs_and_engine_knobs)
{
	const struct migrate_policy *policy = NULL;
	struct migrate_params p = {.state_bytes = 77};
	char err[300] = "";
	CHECK_EQ(migrate_params_parse("", &policy, &p, err, sizeof err), 0);
	CHECK(policy == &migrate_policy_default);
	CHECK_EQ(p.knob[0], 300 * NS_PER_MS); /* downtime, QEMU's default */
	CHECK_EQ(p.engine[MIGRATE_ROUND_LIMIT], 50);
	CHECK_EQ(p.state_bytes, 77); /* not the parser's */
	CHECK_EQ(migrate_params_parse("round_limit=9 policy=qemu downtime=50ms throttle_step=5",
	                              &policy, &p, err, sizeof err),
	         0);
	CHECK(policy == &migrate_policy_qemu);
	char text[MIGRATE_TEXT_MAX];
	migrate_params_format(policy, &p, text, sizeof text);
	CHECK_STR(text, "policy=qemu downtime=50ms throttle_initial=20 throttle_step=5 "
	                "round_limit=9");
}

TEST(migrate_params_refuses_with_the_valid_names)
{
	const struct migrate_policy *policy = &migrate_policy_qemu;
	struct migrate_params p = {0}, untouched = p;
	char err[300] = "";
	CHECK_EQ(migrate_params_parse("policy=fast", &policy, &p, err, sizeof err), -1);
	char known[300];
	size_t used =
	    (size_t)snprintf(known, sizeof known, "unknown migration policy 'fast' (known:");
	for (size_t i = 0; i < migrate_policy_count; i++)
		used += (size_t)snprintf(known + used, sizeof known - used, " %s",
		                         migrate_policies[i]->name);
	snprintf(known + used, sizeof known - used, ")");
	CHECK_STR(err, known);
	CHECK_EQ(migrate_params_parse("policy=default speed=9", &policy, &p, err, sizeof err), -1);
	CHECK_STR(err, "unknown knob 'speed' (knobs: default: downtime; engine: round_limit)");
	CHECK_EQ(migrate_params_parse("round_limit=0", &policy, &p, err, sizeof err), -1);
	CHECK_STR(err, "round_limit=0 out of range (1 to 1000 rounds)");
	CHECK_EQ(migrate_params_parse("downtime=300", &policy, &p, err, sizeof err), -1);
	CHECK_STR(err, "bad duration '300' for downtime: a whole number and a unit (ns, us, ms, "
	               "s), e.g. 500us");
	CHECK_EQ(migrate_params_parse("downtime=1s downtime=2s", &policy, &p, err, sizeof err), -1);
	CHECK_STR(err, "downtime given twice");
	CHECK(policy == &migrate_policy_qemu);
	CHECK(!memcmp(&p, &untouched, sizeof p));
}

/* Every policy of the table: knobs within their ranges, names that do not
 * hide the engine's, and text that parses back at the minimum, maximum and
 * default of every knob. */
TEST(migrate_every_policys_knobs_format_and_parse_back)
{
	for (size_t i = 0; i < migrate_policy_count; i++) {
		const struct migrate_policy *policy = migrate_policies[i];
		CHECK(policy->knob_count <= MIGRATE_KNOBS_MAX);
		CHECK(policy->state_size <= MIGRATE_POLICY_STATE_MAX);
		for (size_t k = 0; k < policy->knob_count; k++)
			for (size_t e = 0; e < MIGRATE_ENGINE_KNOBS; e++)
				CHECK(strcmp(policy->knobs[k].name, migrate_engine_knobs[e].name));
		for (int pick = 0; pick < 3; pick++) {
			struct migrate_params p = {0}, q = {0};
			for (size_t k = 0; k < policy->knob_count; k++) {
				const struct knob *knob = &policy->knobs[k];
				CHECK(knob->min <= knob->def && knob->def <= knob->max);
				p.knob[k] = pick == 0   ? knob->min
				            : pick == 1 ? knob->max
				                        : knob->def;
			}
			p.engine[MIGRATE_ROUND_LIMIT] = pick + 1;
			char text[MIGRATE_TEXT_MAX + 1], err[300] = "";
			int n = migrate_params_format(policy, &p, text, sizeof text);
			CHECK(n > 0 && n < MIGRATE_TEXT_MAX);
			const struct migrate_policy *back = NULL;
			CHECK_EQ(migrate_params_parse(text, &back, &q, err, sizeof err), 0);
			CHECK(back == policy);
			CHECK(!memcmp(&p, &q, sizeof p));
		}
	}
}

/* ---- the example policy of docs/policies.md: shrink ---- */

static bool shrink_stops(const char *text, struct migrate_round_stats s)
{
	const struct migrate_policy *policy = NULL;
	struct migrate_params p = {0};
	char err[300];
	if (migrate_params_parse(text, &policy, &p, err, sizeof err)) {
		printf("  %s: %s\n", text, err);
		return false;
	}
	return policy == &migrate_policy_shrink && policy->should_stop(&s, &p);
}

TEST(migrate_policy_shrink_stops_when_a_round_shrinks_too_little)
{
	struct migrate_round_stats s = scripted();         /* 200 dirty pages sent, 100 left: 50% */
	CHECK(!shrink_stops("policy=shrink", s));          /* ratio 10% */
	CHECK(!shrink_stops("policy=shrink ratio=50", s)); /* exactly 50% is enough */
	CHECK(shrink_stops("policy=shrink ratio=51", s));
	s.dirty_pages = 190; /* 5% */
	CHECK(shrink_stops("policy=shrink", s));
	CHECK(!shrink_stops("policy=shrink ratio=0", s));
	s.dirty_pages = 200; /* no progress at all */
	CHECK(shrink_stops("policy=shrink ratio=0", s));
	s.dirty_pages = 0;
	CHECK(shrink_stops("policy=shrink ratio=0", s));
}

TEST(migrate_policy_shrink_knob_parses_and_is_refused_when_bad)
{
	const struct migrate_policy *policy = NULL;
	struct migrate_params p = {0};
	char err[300] = "", text[MIGRATE_TEXT_MAX];
	CHECK_EQ(migrate_params_parse("policy=shrink ratio=25 round_limit=12", &policy, &p, err,
	                              sizeof err),
	         0);
	migrate_params_format(policy, &p, text, sizeof text);
	CHECK_STR(text, "policy=shrink ratio=25 round_limit=12");
	CHECK_EQ(migrate_params_parse("policy=shrink ratio=101", &policy, &p, err, sizeof err), -1);
	CHECK_STR(err, "ratio=101 out of range (0 to 100 %)");
	CHECK_EQ(migrate_params_parse("policy=shrink ratio=ten", &policy, &p, err, sizeof err), -1);
	CHECK_STR(err, "ratio=ten: not a whole number of %");
	CHECK_EQ(migrate_params_parse("policy=shrink downtime=1s", &policy, &p, err, sizeof err),
	         -1);
	CHECK_STR(err, "unknown knob 'downtime' (knobs: shrink: ratio; engine: round_limit)");
}

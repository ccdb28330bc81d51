/* Unit tests of the batching mechanism and policies (hv/net/batch*.c) over
 * scripted packet traces. */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "net/net.h"

#define US 1000ull
#define MS 1000000ull

struct packet_event {
	uint64_t t_ns;
	enum net_dir dir;
};

struct flush_record {
	uint64_t t_ns;
	enum net_dir dir;
	uint32_t packets;
};

struct trace_result {
	struct flush_record flushes[64];
	size_t flush_count; /* all flushes, also those beyond the array */
	uint64_t notifications;
};

static void record(struct trace_result *r, uint64_t t_ns, enum net_dir dir, uint32_t packets)
{
	if (r->flush_count < 64)
		r->flushes[r->flush_count] = (struct flush_record){t_ns, dir, packets};
	r->flush_count++;
}

/* What the caller of batch.c does: fires each deadline when it comes (before
 * a packet of the same instant), passes every packet with a consumer that
 * keeps up (one entry in the ring, event index always armed) and notifies
 * through net_notify_now. Ends at end_ns. */
static void run_trace(struct batch_state *s, const struct packet_event *events, size_t count,
                      uint64_t end_ns, struct trace_result *r)
{
	uint32_t prod[NET_DIRS] = {0, 0}, flushed_prod[NET_DIRS] = {0, 0};
	memset(r, 0, sizeof *r);
	for (size_t i = 0; i <= count; i++) {
		uint64_t now = i < count ? events[i].t_ns : end_ns;
		for (uint64_t dl; (dl = batch_next_deadline(s)) != 0 && dl <= now;) {
			for (int d = 0; d < NET_DIRS; d++) {
				uint32_t pending = s->dir[d].pending;
				if (batch_deadline(s, d) == dl && batch_timer(s, d, dl)) {
					record(r, dl, d, pending);
					/* The consumer re-armed at the last flush. */
					if (net_notify_now(s, true, flushed_prod[d], prod[d],
					                   flushed_prod[d]))
						r->notifications++;
					flushed_prod[d] = prod[d];
				}
			}
		}
		if (i == count)
			break;
		enum net_dir d = events[i].dir;
		uint32_t pending = s->dir[d].pending + 1;
		prod[d]++;
		if (batch_packet(s, d, now, 1)) {
			record(r, now, d, pending);
			if (net_notify_now(s, true, flushed_prod[d], prod[d], flushed_prod[d]))
				r->notifications++;
			flushed_prod[d] = prod[d];
		}
	}
}

/* Parses text into a fresh batch state; false (and says why) on a typo in
 * a test. */
static bool start_policy(struct batch_state *s, const char *text)
{
	struct batch_params p;
	char err[200];
	if (batch_params_parse(text, &p, err, sizeof err)) {
		printf("  bad params '%s': %s\n", text, err);
		return false;
	}
	batch_init(s, &p);
	return true;
}

/* policy with those of the knobs in wishes ("tbuf=1s count=256") that it
 * has: for the tests that run every policy of the table alike. */
static struct batch_params params_for(const struct batch_policy *policy, const char *wishes)
{
	char text[BATCH_TEXT_MAX], word[64], err[200];
	size_t used = (size_t)snprintf(text, sizeof text, "policy=%s", policy->name);
	for (const char *w = wishes; *w;) {
		size_t n = strcspn(w, " ");
		snprintf(word, sizeof word, "%.*s", (int)n, w);
		for (size_t k = 0; k < policy->knob_count; k++) {
			size_t klen = strlen(policy->knobs[k].name);
			if (!strncmp(word, policy->knobs[k].name, klen) && word[klen] == '=')
				used +=
				    (size_t)snprintf(text + used, sizeof text - used, " %s", word);
		}
		w += n + (w[n] == ' ');
	}
	struct batch_params p;
	if (batch_params_parse(text, &p, err, sizeof err)) {
		printf("  params_for %s: %s\n", text, err);
		batch_params_default(&p);
	}
	return p;
}

/* The adaptive policy's send share p_s* in per mille, as a user sees it:
 * the TX buffer time of a packet sent now, with tbuf=1ms (on a copy, so the
 * run goes on untouched). */
static uint32_t send_share(const struct batch_state *s, uint64_t now_ns)
{
	struct batch_state probe = *s;
	batch_packet(&probe, NET_TX, now_ns, 1);
	const struct batch_dir *tx = &probe.dir[NET_TX];
	if (!tx->pending)
		return 0; /* flushed at once: no TX buffer */
	return (uint32_t)((batch_deadline(&probe, NET_TX) - tx->oldest_ns) / US);
}

/* RX packets at 0, 100, 200, 1000 and 1100 us. */
static const struct packet_event small_trace[] = {
    {0, NET_RX}, {100 * US, NET_RX}, {200 * US, NET_RX}, {1000 * US, NET_RX}, {1100 * US, NET_RX},
};
#define SMALL_TRACE small_trace, sizeof small_trace / sizeof small_trace[0]

#define CHECK_FLUSH(r, i, t, n)                                                                    \
	do {                                                                                       \
		CHECK_EQ((r).flushes[i].t_ns, (t));                                                \
		CHECK_EQ((r).flushes[i].packets, (n));                                             \
	} while (0)

TEST(net_batch_none_notifies_every_packet)
{
	struct batch_state s;
	struct trace_result r;
	CHECK(start_policy(&s, "policy=none"));
	run_trace(&s, SMALL_TRACE, 3 * MS, &r);
	CHECK_EQ(r.flush_count, 5);
	CHECK_EQ(r.notifications, 5);
	CHECK_FLUSH(r, 3, 1000 * US, 1);
	CHECK_EQ(batch_deadline(&s, NET_RX), 0);
	CHECK_EQ(s.dir[NET_RX].flushes_policy, 5);
	CHECK_EQ(s.dir[NET_RX].added_latency_ns, 0);
}

TEST(net_batch_fixed_time_holds_tbuf_after_first_packet)
{
	struct batch_state s;
	struct trace_result r;
	CHECK(start_policy(&s, "policy=fixed-time tbuf=500us"));
	CHECK(!batch_packet(&s, NET_RX, 0, 1));
	CHECK_EQ(batch_deadline(&s, NET_RX), 500 * US);
	CHECK(!batch_packet(&s, NET_RX, 100 * US, 2));
	CHECK_EQ(batch_deadline(&s, NET_RX), 500 * US); /* later packets do not push it */
	CHECK(!batch_timer(&s, NET_RX, 499 * US));
	CHECK(batch_timer(&s, NET_RX, 500 * US));
	CHECK_EQ(batch_deadline(&s, NET_RX), 0);
	/* Two packets waited 500 and 400 us. */
	CHECK_EQ(s.dir[NET_RX].added_latency_ns, 900 * US);

	CHECK(start_policy(&s, "policy=fixed-time tbuf=500us"));
	run_trace(&s, SMALL_TRACE, 3 * MS, &r);
	CHECK_EQ(r.flush_count, 2);
	CHECK_FLUSH(r, 0, 500 * US, 3);
	CHECK_FLUSH(r, 1, 1500 * US, 2);
	CHECK_EQ(s.dir[NET_RX].flushes_timer, 2);

	CHECK(start_policy(&s, "policy=fixed-time tbuf=0us")); /* no buffer: at once */
	CHECK(batch_packet(&s, NET_RX, 0, 1));
}

TEST(net_batch_fixed_count_every_n_with_a_safety_timer)
{
	struct batch_state s;
	struct trace_result r;
	CHECK(start_policy(&s, "policy=fixed-count count=2 tbuf=500us"));
	run_trace(&s, SMALL_TRACE, 3 * MS, &r);
	CHECK_EQ(r.flush_count, 3);
	CHECK_FLUSH(r, 0, 100 * US, 2); /* count reached */
	CHECK_FLUSH(r, 1, 700 * US, 1); /* the lone packet at 200 us: safety timer */
	CHECK_FLUSH(r, 2, 1100 * US, 2);
	CHECK_EQ(s.dir[NET_RX].flushes_policy, 2);
	CHECK_EQ(s.dir[NET_RX].flushes_timer, 1);
}

TEST(net_batch_qemu_timer_uses_qemus_constants)
{
	struct batch_state s;
	struct trace_result r;
	struct batch_params p;
	char err[200];
	/* QEMU's constants: no knobs. */
	CHECK_EQ(batch_params_parse("policy=qemu-timer tbuf=1ms", &p, err, sizeof err), -1);
	CHECK(start_policy(&s, "policy=qemu-timer"));
	run_trace(&s, SMALL_TRACE, 3 * MS, &r);
	CHECK_EQ(r.flush_count, 3);
	CHECK_FLUSH(r, 0, 150 * US, 2);
	CHECK_FLUSH(r, 1, 350 * US, 1);
	CHECK_FLUSH(r, 2, 1150 * US, 2);
}

TEST(net_batch_adaptive_starts_with_an_even_split)
{
	struct batch_state s;
	struct trace_result r;
	/* Before any period ends p_s* = 0.5: each direction waits tbuf / 2. */
	static const struct packet_event mixed[] = {
	    {0, NET_RX}, {100 * US, NET_TX}, {200 * US, NET_RX}, {700 * US, NET_TX}};
	CHECK(start_policy(&s, "policy=adaptive tbuf=1ms period=100ms"));
	run_trace(&s, mixed, 4, 3 * MS, &r);
	CHECK_EQ(r.flush_count, 3);
	CHECK_FLUSH(r, 0, 500 * US, 2);
	CHECK_EQ(r.flushes[0].dir, NET_RX);
	CHECK_FLUSH(r, 1, 600 * US, 1);
	CHECK_EQ(r.flushes[1].dir, NET_TX);
	CHECK_FLUSH(r, 2, 1200 * US, 1);
	CHECK_EQ(r.flushes[2].dir, NET_TX);
}

TEST(net_batch_napi_defers_to_the_event_index)
{
	struct batch_state s;
	CHECK(start_policy(&s, "policy=napi"));
	/* The policy always says "now"; whether anyone hears it is the
	 * consumer's event index. */
	CHECK(batch_packet(&s, NET_RX, 0, 1));
	CHECK(net_notify_now(&s, true, 0, 1, 0)); /* consumer armed at 0 */
	CHECK(batch_packet(&s, NET_RX, 10 * US, 2));
	CHECK(!net_notify_now(&s, true, 0, 2, 1)); /* it is polling */
	CHECK(batch_packet(&s, NET_RX, 20 * US, 3));
	CHECK(!net_notify_now(&s, true, 0, 3, 2));
	/* It drained and re-armed at 3. */
	CHECK(batch_packet(&s, NET_RX, 30 * US, 1));
	CHECK(net_notify_now(&s, true, 3, 4, 3));
	CHECK_EQ(batch_deadline(&s, NET_RX), 0);
}

/* A steady 10 kpps stream for one second: fixed-time 1 ms must notify at
 * least ten times less often than no batching. */
TEST(net_batch_fixed_time_1ms_cuts_notifications_tenfold)
{
	static struct packet_event stream[10000];
	for (size_t i = 0; i < 10000; i++)
		stream[i] = (struct packet_event){i * 100 * US, NET_RX};
	struct batch_state s;
	struct trace_result none, fixed;
	CHECK(start_policy(&s, "policy=none"));
	run_trace(&s, stream, 10000, 1000 * MS, &none);
	CHECK(start_policy(&s, "policy=fixed-time tbuf=1ms"));
	run_trace(&s, stream, 10000, 1000 * MS, &fixed);
	CHECK_EQ(none.notifications, 10000);
	CHECK(fixed.notifications > 0);
	CHECK(none.notifications >= 10 * fixed.notifications);
	/* And nothing waited longer than tbuf. */
	CHECK(s.dir[NET_RX].added_latency_ns <= 10000 * MS);
	CHECK_EQ(s.dir[NET_RX].packets, 10000);
	CHECK_EQ(s.dir[NET_RX].pending, 0);
}

/* A consumer that stopped reading: whatever the policy, the packet that makes
 * the ring more than half full is notified at once, and so is every one after. */
TEST(net_batch_half_full_overrides_every_policy)
{
	for (size_t i = 0; i < batch_policy_count; i++) {
		struct batch_params p = params_for(batch_policies[i], "tbuf=1s count=256");
		struct batch_state s;
		batch_init(&s, &p);
		for (uint32_t used = 1; used <= PVNET_RING_SIZE; used++) {
			bool flush = batch_packet(&s, NET_RX, used * US, used);
			if (used > PVNET_RING_SIZE / 2)
				CHECK(flush);
		}
		CHECK_EQ(s.dir[NET_RX].packets, PVNET_RING_SIZE);
		if (batch_policies[i]->deadline) /* the batching ones were overridden */
			CHECK_EQ(s.dir[NET_RX].flushes_half_full, PVNET_RING_SIZE / 2);
	}
}

TEST(net_batch_late_timer_flushes_on_the_next_packet)
{
	struct batch_state s;
	CHECK(start_policy(&s, "policy=fixed-time tbuf=100us"));
	CHECK(!batch_packet(&s, NET_TX, 0, 1));
	CHECK(batch_packet(&s, NET_TX, 250 * US, 2)); /* the deadline was 100 us */
	CHECK_EQ(s.dir[NET_TX].flushes_timer, 1);
	CHECK_EQ(s.dir[NET_RX].packets, 0);
}

TEST(net_batch_set_params_flushes_and_keeps_counters)
{
	struct batch_state s;
	struct batch_params p;
	CHECK(start_policy(&s, "policy=fixed-time tbuf=1ms"));
	CHECK(!batch_packet(&s, NET_RX, 0, 1));
	CHECK(!batch_packet(&s, NET_TX, 0, 1));
	batch_params_default(&p); /* none */
	CHECK(batch_set_params(&s, &p, 300 * US));
	CHECK(s.policy == &batch_none);
	CHECK_EQ(s.dir[NET_RX].pending, 0);
	CHECK_EQ(s.dir[NET_RX].packets, 1);
	CHECK_EQ(s.dir[NET_RX].added_latency_ns, 300 * US);
	CHECK(!batch_set_params(&s, &p, 400 * US)); /* nothing pending */
	CHECK(batch_packet(&s, NET_RX, 500 * US, 1));
}

/* Adaptive over four periods: all TX, all TX, all RX, all RX, with alpha 0.75.
 *   true EWMA: 500 -> 625 -> 719 -> 539 -> 404 (per mille)
 *   paper:     500 -> 625 -> 1000 -> 750 -> 0    (smooths the last raw sample) */
static void run_adaptive_periods(struct batch_state *s, const char *variant, uint32_t shares[4])
{
	char text[128];
	snprintf(text, sizeof text, "policy=adaptive tbuf=1ms period=1ms alpha=750 variant=%s",
	         variant);
	CHECK(start_policy(s, text));
	static const enum net_dir period_dir[4] = {NET_TX, NET_TX, NET_RX, NET_RX};
	for (int period = 0; period < 4; period++) {
		for (int k = 0; k < 4; k++) {
			uint64_t t = (uint64_t)period * MS + (uint64_t)k * 100 * US;
			batch_packet(s, period_dir[period], t, 1);
			if (period > 0 && k == 0)
				shares[period - 1] = send_share(s, t);
		}
		batch_timer(s, NET_TX, (uint64_t)period * MS + 900 * US);
		batch_timer(s, NET_RX, (uint64_t)period * MS + 900 * US);
	}
	batch_timer(s, NET_RX, 4 * MS); /* ends the fourth period */
	shares[3] = send_share(s, 4 * MS);
}

TEST(net_batch_adaptive_true_ewma_and_paper_variant_differ)
{
	struct batch_state ewma, paper;
	uint32_t e[4], p[4];
	run_adaptive_periods(&ewma, "ewma", e);
	run_adaptive_periods(&paper, "paper", p);
	CHECK_EQ(ewma.periods, 4);
	CHECK_EQ(e[0], 625);
	CHECK_EQ(e[1], 719);
	CHECK_EQ(e[2], 539);
	CHECK_EQ(e[3], 404);
	CHECK_EQ(p[0], 625);
	CHECK_EQ(p[1], 1000);
	CHECK_EQ(p[2], 750);
	CHECK_EQ(p[3], 0);
	/* What that means for the next packets: TX waits p_s* x tbuf, RX the rest. */
	uint64_t t = 4 * MS + 10 * US;
	CHECK(!batch_packet(&ewma, NET_TX, t, 1));
	CHECK_EQ(batch_deadline(&ewma, NET_TX), t + 404 * US);
	CHECK(!batch_packet(&ewma, NET_RX, t, 1));
	CHECK_EQ(batch_deadline(&ewma, NET_RX), t + 596 * US);
	CHECK(batch_packet(&paper, NET_TX, t, 1)); /* p_s* = 0: TX goes at once */
	CHECK(!batch_packet(&paper, NET_RX, t, 1));
	CHECK_EQ(batch_deadline(&paper, NET_RX), t + 1000 * US);
	CHECK_EQ(batch_next_deadline(&paper), t + 1000 * US);
}

TEST(net_batch_adaptive_idle_period_samples_zero)
{
	struct batch_state s;
	CHECK(start_policy(&s, "policy=adaptive tbuf=1ms period=1ms alpha=0"));
	batch_packet(&s, NET_TX, 0, 1);
	batch_timer(&s, NET_TX, 1 * MS); /* ends period 1: all TX */
	CHECK_EQ(send_share(&s, 1 * MS), 1000);
	batch_timer(&s, NET_TX, 50 * MS); /* one long idle gap: one sample of 0 (eq. 1) */
	CHECK_EQ(send_share(&s, 50 * MS), 0);
	CHECK_EQ(s.periods, 2);
	CHECK_EQ(s.period_end_ns, 51 * MS);
}

/* A packet at t=0 whose buffer becomes 0 at a period's end is due then:
 * oldest_ns + 0 is 0, which once read as "no deadline" and left the batch
 * pending for ever (found by fuzz_batch_run). */
TEST(net_batch_adaptive_batch_from_t0_whose_buffer_shrinks_to_zero_still_flushes)
{
	struct batch_state s;
	CHECK(start_policy(&s, "policy=adaptive tbuf=10ms period=1ms alpha=0"));
	CHECK(!batch_packet(&s, NET_RX, 0, 1)); /* held: RX buffer 5 ms */
	CHECK_EQ(batch_next_deadline(&s), 5 * MS);
	batch_timer(&s, NET_TX, 1 * MS);        /* period 1 was all RX */
	batch_packet(&s, NET_TX, 1500 * US, 1); /* period 2 all TX: RX share 0 */
	CHECK(batch_timer(&s, NET_RX, 2 * MS));
	CHECK_EQ(s.dir[NET_RX].pending, 0);
	CHECK_EQ(batch_next_deadline(&s), 0);
}

/* ---- a producer and a consumer racing, step by step ----
 * The consumer sleeps until interrupted, then polls; when it finds the ring
 * empty it re-arms (with or without the re-check). After every step: a
 * sleeping consumer with entries in the ring must have an interrupt on the
 * way, or a batch whose deadline will bring one. Otherwise a wake-up was
 * lost. */
enum consumer_state { SLEEPING, POLLING, DRAINED };

struct race {
	struct pvnet_ring_indices ring;
	struct batch_state batch;
	uint32_t flushed_prod;
	bool interrupt_pending;
	enum consumer_state consumer;
	uint64_t now, consumed, lost_wakeups, interrupts;
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)rng_state;
}

static void producer_flush(struct race *r, bool flush)
{
	uint32_t prod = r->ring.prod;
	if (net_notify_now(&r->batch, flush, r->ring.prod_event, prod, r->flushed_prod)) {
		r->interrupt_pending = true;
		r->interrupts++;
	}
	if (flush)
		r->flushed_prod = prod;
}

static void race_step(struct race *r, bool produce_allowed, bool recheck)
{
	r->now += 10 * US;
	switch (rng() % 3) {
	case 0: /* producer */
		if (produce_allowed && ring_space(r->ring.prod, r->ring.cons) > 0) {
			r->ring.prod++;
			producer_flush(r, batch_packet(&r->batch, NET_RX, r->now,
			                               ring_used(r->ring.prod, r->ring.cons)));
		}
		break;
	case 1: /* the producer's timer */
		producer_flush(r, batch_timer(&r->batch, NET_RX, r->now));
		break;
	default: /* consumer */
		if (r->consumer == SLEEPING && r->interrupt_pending) {
			r->interrupt_pending = false;
			r->consumer = POLLING;
		} else if (r->consumer == POLLING) {
			if (r->ring.cons != r->ring.prod) {
				r->ring.cons++;
				r->consumed++;
			} else {
				r->consumer = DRAINED; /* the producer may run before the re-arm */
			}
		} else if (r->consumer == DRAINED) {
			bool more = ring_consumer_rearm(&r->ring, r->ring.cons);
			r->consumer = recheck && more ? POLLING : SLEEPING;
		}
	}
	if (r->consumer == SLEEPING && !r->interrupt_pending && r->ring.cons != r->ring.prod &&
	    batch_deadline(&r->batch, NET_RX) == 0)
		r->lost_wakeups++;
}

static void race_init(struct race *r, const struct batch_policy *policy)
{
	struct batch_params p = params_for(policy, "tbuf=200us count=4 period=1ms");
	memset(r, 0, sizeof *r);
	batch_init(&r->batch, &p);
	r->consumer = SLEEPING; /* armed at 0 */
}

TEST(net_batch_rearm_and_recheck_never_lose_a_wakeup)
{
	for (size_t i = 0; i < batch_policy_count; i++) {
		struct race r;
		race_init(&r, batch_policies[i]);
		for (int step = 0; step < 200000; step++)
			race_step(&r, true, true);
		/* Stop producing: everything published must still be consumed. */
		for (int step = 0; step < 100000 && r.consumed != r.ring.prod; step++)
			race_step(&r, false, true);
		CHECK_EQ(r.lost_wakeups, 0);
		CHECK_EQ(r.consumed, r.ring.prod);
		CHECK(r.consumed > 10000);
		CHECK(r.interrupts > 0);
	}
}

/* The same race without the re-check does lose wake-ups: the test above can
 * tell. */
TEST(net_batch_rearm_without_recheck_loses_wakeups)
{
	struct race r;
	race_init(&r, &batch_napi);
	for (int step = 0; step < 200000; step++)
		race_step(&r, true, false);
	CHECK(r.lost_wakeups > 0);
}

/* ---- parameters ---- */

/* A policy's knob by name, for tests that look at one value. */
static uint64_t knob_named(const struct batch_params *p, const char *name)
{
	for (size_t i = 0; i < p->policy->knob_count; i++)
		if (!strcmp(p->policy->knobs[i].name, name))
			return p->knob[i];
	return UINT64_MAX;
}

TEST(net_batch_params_parse_and_defaults)
{
	struct batch_params p;
	char err[200] = "";
	CHECK_EQ(batch_params_parse("policy=fixed-time tbuf=250us", &p, err, sizeof err), 0);
	CHECK(p.policy == &batch_fixed_time);
	CHECK_EQ(knob_named(&p, "tbuf"), 250 * US);
	CHECK_EQ(batch_params_parse("policy=fixed-count", &p, err, sizeof err), 0);
	CHECK_EQ(knob_named(&p, "count"), 32);      /* the policy's default */
	CHECK_EQ(knob_named(&p, "tbuf"), 500 * US); /* the policy's default */
	CHECK_EQ(batch_params_parse("", &p, err, sizeof err), 0);
	CHECK(p.policy == &batch_none);
	/* Policy anywhere in the text, tabs and spaces between words. */
	CHECK_EQ(batch_params_parse("  variant=paper\tpolicy=adaptive period=5s tbuf=100000ns ", &p,
	                            err, sizeof err),
	         0);
	CHECK(p.policy == &batch_adaptive);
	CHECK_EQ(knob_named(&p, "variant"), 1); /* paper */
	CHECK_EQ(knob_named(&p, "period"), 5000 * MS);
	CHECK_EQ(knob_named(&p, "tbuf"), 100 * US);
	CHECK_EQ(knob_named(&p, "alpha"), 750);
}

#define CHECK_PARSE_ERROR(text, expected)                                                          \
	do {                                                                                       \
		struct batch_params before, after;                                                 \
		char err[300] = "";                                                                \
		batch_params_default(&before);                                                     \
		after = before;                                                                    \
		CHECK_EQ(batch_params_parse(text, &after, err, sizeof err), -1);                   \
		CHECK_STR(err, expected);                                                          \
		CHECK(batch_params_equal(&before, &after)); /* untouched */                        \
	} while (0)

TEST(net_batch_params_errors_are_clear)
{
	char known[300];
	size_t used =
	    (size_t)snprintf(known, sizeof known, "unknown batching policy 'turbo' (known:");
	for (size_t i = 0; i < batch_policy_count; i++)
		used += (size_t)snprintf(known + used, sizeof known - used, " %s",
		                         batch_policies[i]->name);
	snprintf(known + used, sizeof known - used, ")");
	CHECK_PARSE_ERROR("policy=turbo", known);
	CHECK_PARSE_ERROR("policy=none policy=napi", "policy given 2 times");
	CHECK_PARSE_ERROR("policy=fixed-time tbuf=500", "bad duration '500' for tbuf: a whole "
	                                                "number and a unit (ns, us, ms, s), e.g. "
	                                                "500us");
	CHECK_PARSE_ERROR("policy=fixed-time tbuf=0.5ms", "bad duration '0.5ms' for tbuf: a whole "
	                                                  "number and a unit (ns, us, ms, s), e.g. "
	                                                  "500us");
	CHECK_PARSE_ERROR("policy=adaptive period=1h", "bad duration '1h' for period: a whole "
	                                               "number and a unit (ns, us, ms, s), e.g. "
	                                               "500us");
	CHECK_PARSE_ERROR("policy=fixed-time tbuf=2s", "tbuf=2s out of range (0us to 1s)");
	CHECK_PARSE_ERROR("policy=fixed-time tbuf=18446744073709551615s",
	                  "tbuf=18446744073709551615s out of range (0us to 1s)");
	CHECK_PARSE_ERROR("policy=adaptive period=50us", "period=50us out of range (100us to 60s)");
	CHECK_PARSE_ERROR("policy=adaptive alpha=1001",
	                  "alpha=1001 out of range (0 to 1000 per mille)");
	CHECK_PARSE_ERROR("policy=adaptive alpha=0.7",
	                  "alpha=0.7: not a whole number of per mille");
	CHECK_PARSE_ERROR("policy=fixed-count count=0", "count=0 out of range (1 to 256 packets)");
	CHECK_PARSE_ERROR("policy=fixed-count count=257",
	                  "count=257 out of range (1 to 256 packets)");
	CHECK_PARSE_ERROR("policy=adaptive variant=best",
	                  "variant=best: not one of its choices (variant=ewma|paper (default "
	                  "ewma): ewma: smooth the estimate; paper: the previous raw sample (eq. "
	                  "2))");
	CHECK_PARSE_ERROR("policy=fixed-time speed=fast",
	                  "unknown knob 'speed' (knobs: fixed-time: tbuf)");
	/* A knob of another policy is not this one's. */
	CHECK_PARSE_ERROR("policy=none tbuf=1ms", "unknown knob 'tbuf' (knobs: none: none)");
	CHECK_PARSE_ERROR("policy=fixed-time tbuf=1ms tbuf=2ms", "tbuf given twice");
	CHECK_PARSE_ERROR("policy=adaptive fast",
	                  "expected knob=value, got 'fast' (knobs: adaptive: tbuf alpha period "
	                  "variant)");
	CHECK_PARSE_ERROR("policy=fixed-count tbuf=0us", "tbuf=0us out of range (1us to 1s)");
}

/* Every policy of the table, every knob at its minimum, its maximum and its
 * default: the text parses back to the same values and fits the blob. */
TEST(net_batch_every_policys_knobs_format_and_parse_back)
{
	for (size_t i = 0; i < batch_policy_count; i++) {
		const struct batch_policy *policy = batch_policies[i];
		CHECK(policy->knob_count <= BATCH_KNOBS_MAX);
		CHECK(policy->state_size <= BATCH_STATE_MAX);
		for (int pick = 0; pick < 3; pick++) {
			struct batch_params p = {.policy = policy}, q;
			for (size_t k = 0; k < policy->knob_count; k++) {
				const struct knob *knob = &policy->knobs[k];
				CHECK(knob->min <= knob->def && knob->def <= knob->max);
				CHECK(knob->help && *knob->help);
				p.knob[k] = pick == 0   ? knob->min
				            : pick == 1 ? knob->max
				                        : knob->def;
			}
			char text[BATCH_TEXT_MAX + 1], err[200] = "";
			int n = batch_params_format(&p, text, sizeof text);
			CHECK(n > 0 && n < BATCH_TEXT_MAX);
			CHECK_EQ(batch_params_parse(text, &q, err, sizeof err), 0);
			CHECK(batch_params_equal(&p, &q));
		}
	}
	struct batch_params p;
	char text[200];
	batch_params_default(&p);
	batch_params_format(&p, text, sizeof text);
	CHECK_STR(text, "policy=none");
	CHECK_EQ(batch_params_parse("policy=adaptive", &p, text, sizeof text), 0);
	batch_params_format(&p, text, sizeof text);
	CHECK_STR(text, "policy=adaptive tbuf=500us alpha=750 period=10ms variant=ewma");
}

/* A migration carries every policy's knobs as set, and the counters; the
 * destination refuses what it cannot read. */
TEST(net_batch_saved_blob_round_trips_every_policy)
{
	for (size_t i = 0; i < batch_policy_count; i++) {
		const struct batch_policy *policy = batch_policies[i];
		struct batch_params p = {.policy = policy};
		for (size_t k = 0; k < policy->knob_count; k++) /* not the defaults */
			p.knob[k] = policy->knobs[k].max;
		struct batch_state src, dst;
		batch_init(&src, &p);
		batch_packet(&src, NET_RX, 10 * US, 1);
		batch_packet(&src, NET_TX, 20 * US, 1);
		struct batch_saved blob;
		char err[200] = "";
		batch_save(&src, &blob);
		memset(&dst, 0xa5, sizeof dst);
		CHECK_EQ(batch_restore(&dst, &blob, err, sizeof err), 0);
		CHECK(dst.policy == policy);
		CHECK(batch_params_equal(&src.params, &dst.params));
		CHECK_EQ(dst.dir[NET_RX].packets, 1);
		CHECK_EQ(dst.dir[NET_TX].packets, 1);
		CHECK_EQ(dst.dir[NET_RX].pending, 0); /* the timers do not travel */
	}
	struct batch_state s, untouched;
	struct batch_saved blob;
	char err[200] = "";
	batch_init(&s, &(struct batch_params){.policy = &batch_none});
	untouched = s;
	batch_save(&s, &blob);
	blob.version = 1;
	CHECK_EQ(batch_restore(&s, &blob, err, sizeof err), -1);
	CHECK_STR(err, "batching saved in version 1, this hv reads version 2");
	blob.version = BATCH_SAVED_VERSION;
	snprintf(blob.text, sizeof blob.text, "policy=fixed-time warp=9");
	CHECK_EQ(batch_restore(&s, &blob, err, sizeof err), -1);
	CHECK_STR(err, "unknown knob 'warp' (knobs: fixed-time: tbuf)");
	CHECK(!memcmp(&s, &untouched, sizeof s));
}

TEST(net_batch_policy_table_and_lookup)
{
	CHECK(batch_policy_count > 0);
	CHECK(batch_policies[0] == &batch_none); /* the reference, and the default */
	for (size_t i = 0; i < batch_policy_count; i++) {
		const struct batch_policy *policy = batch_policies[i];
		CHECK(policy->on_packet != NULL);
		CHECK(policy->summary != NULL);
		CHECK(batch_policy_find(policy->name) == policy);
		for (size_t j = 0; j < i; j++) /* names are unique */
			CHECK(strcmp(batch_policies[j]->name, policy->name) != 0);
	}
	CHECK(batch_policy_find("fixed-time") == &batch_fixed_time);
	CHECK(batch_policy_find("fixed") == NULL);
	CHECK(batch_policy_find("") == NULL);
}

/* ---- the example policy of docs/policies.md: idle ---- */

TEST(net_batch_idle_notifies_at_count_or_when_the_burst_ends)
{
	static const struct packet_event bursts[] = {
	    {0, NET_RX},        {10 * US, NET_RX},  {20 * US, NET_RX}, /* 3 < count, then quiet */
	    {500 * US, NET_RX}, {510 * US, NET_RX}, {520 * US, NET_RX}, {530 * US, NET_RX},
	};
	struct batch_state s;
	struct trace_result r;
	CHECK(start_policy(&s, "policy=idle count=4 idle=100us tbuf=1ms"));
	run_trace(&s, bursts, sizeof bursts / sizeof bursts[0], 2 * MS, &r);
	CHECK_EQ(r.flush_count, 2);
	CHECK_FLUSH(r, 0, 120 * US, 3); /* 100 us after the last packet of the burst */
	CHECK_FLUSH(r, 1, 530 * US, 4); /* the fourth packet */
	CHECK_EQ(s.dir[NET_RX].flushes_timer, 1);
	CHECK_EQ(s.dir[NET_RX].flushes_policy, 1);
}

TEST(net_batch_idle_never_waits_longer_than_tbuf)
{
	/* A packet every 90 us is never idle for 100 us: tbuf ends each batch. */
	static struct packet_event stream[23];
	for (size_t i = 0; i < 23; i++)
		stream[i] = (struct packet_event){i * 90 * US, NET_RX};
	struct batch_state s;
	struct trace_result r;
	CHECK(start_policy(&s, "policy=idle count=64 idle=100us tbuf=1ms"));
	run_trace(&s, stream, 23, 3 * MS, &r);
	CHECK_EQ(r.flush_count, 2);
	CHECK_FLUSH(r, 0, 1000 * US, 12); /* 0..990 us */
	CHECK_FLUSH(r, 1, 2080 * US, 11); /* from 1080 us: tbuf and idle agree */
}

TEST(net_batch_idle_knobs_parse_refuse_and_survive_the_blob)
{
	struct batch_params p;
	char err[300] = "", text[BATCH_TEXT_MAX];
	CHECK_EQ(batch_params_parse("policy=idle", &p, err, sizeof err), 0);
	batch_params_format(&p, text, sizeof text);
	CHECK_STR(text, "policy=idle count=16 idle=100us tbuf=1ms"); /* its defaults */
	CHECK_EQ(batch_params_parse("policy=idle idle=0us", &p, err, sizeof err), -1);
	CHECK_STR(err, "idle=0us out of range (1us to 1s)");
	CHECK_EQ(batch_params_parse("policy=idle count=300", &p, err, sizeof err), -1);
	CHECK_STR(err, "count=300 out of range (1 to 256 packets)");
	CHECK_EQ(batch_params_parse("policy=idle alpha=5", &p, err, sizeof err), -1);
	CHECK_STR(err, "unknown knob 'alpha' (knobs: idle: count idle tbuf)");
	/* A vNIC set to idle with its own knobs migrates with them. */
	struct batch_state src, dst;
	CHECK(start_policy(&src, "policy=idle count=5 idle=50us tbuf=2ms"));
	struct batch_saved blob;
	batch_save(&src, &blob);
	CHECK_STR(blob.text, "policy=idle count=5 idle=50us tbuf=2ms");
	CHECK_EQ(batch_restore(&dst, &blob, err, sizeof err), 0);
	CHECK(dst.policy == &batch_idle);
	CHECK(batch_params_equal(&src.params, &dst.params));
}

/* libFuzzer target: the batching knobs as a struct, and the mechanism
 * driven by them (hv/net/batch*.c).
 *
 * Input: the policy index and raw values for its knobs (in its table's
 * order), then a stream of events. The knobs get the check a migrated
 * vNIC's blob gets (batch_saved_check): written out as text and parsed
 * back; refused ones end the run, accepted ones must come back unchanged. Then, one op byte each: a
 * packet (direction, time step, ring fill), a timer call, the caller's timer loop up to a time, or
 * new knobs at run time. Checked throughout: a batch never outlives its
 * deadline once hv has looked, a flush empties the batch, the counters add
 * up. */
#include "fuzz_common.h"
#include "lib/lib.h"
#include "net/net.h"

/* Knobs from the input through the text round trip; false if refused. */
static bool read_params(struct fuzz_in *in, struct batch_params *out)
{
	struct batch_params p;
	batch_params_default(&p);
	unsigned index = fuzz_u8(in) % batch_policy_count;
	p.policy = batch_policies[index];
	knobs_default(p.policy->knobs, p.policy->knob_count, p.knob);
	uint8_t which = fuzz_u8(in); /* which knobs the input sets; the rest keep defaults */
	uint8_t small = fuzz_u8(in); /* of those, which get small values (in us) */
	for (size_t k = 0; k < p.policy->knob_count && k < 8; k++) {
		if (!(which & (1u << k)))
			continue;
		p.knob[k] = small & (1u << k) ? fuzz_u16(in) * 1000ull : fuzz_u64(in);
	}

	char text[BATCH_TEXT_MAX], err[160];
	int n = batch_params_format(&p, text, sizeof text);
	FUZZ_ASSERT(n > 0 && (size_t)n < sizeof text);
	struct batch_params back;
	if (batch_params_parse(text, &back, err, sizeof err)) {
		FUZZ_ASSERT(fuzz_terminated(err, sizeof err));
		return false;
	}
	FUZZ_ASSERT(batch_params_equal(&p, &back));
	*out = back;
	return true;
}

struct model {
	uint64_t now;
	uint64_t packets[NET_DIRS];
	uint32_t prod[NET_DIRS], flushed_prod[NET_DIRS];
};

static void check_state(const struct batch_state *s, const struct model *m)
{
	uint64_t next = batch_next_deadline(s);
	for (int d = 0; d < NET_DIRS; d++) {
		const struct batch_dir *b = &s->dir[d];
		FUZZ_ASSERT(b->packets == m->packets[d]);
		/* Every flush ends a batch of at least one packet. */
		FUZZ_ASSERT(b->flushes_policy + b->flushes_timer + b->flushes_half_full <=
		            b->packets);
		uint64_t dl = batch_deadline(s, d);
		if (!b->pending)
			FUZZ_ASSERT(dl == 0);
		if (dl)
			FUZZ_ASSERT(next && next <= dl);
	}
}

static void flushed(struct batch_state *s, struct model *m, int d)
{
	FUZZ_ASSERT(s->dir[d].pending == 0);
	FUZZ_ASSERT(s->dir[d].oldest_ns == 0);
	/* The notification decision, with the consumer re-armed at the last
	 * flush: a policy without the event index always notifies. */
	bool notify = net_notify_now(s, true, m->flushed_prod[d], m->prod[d], m->flushed_prod[d]);
	if (!s->policy->uses_event_index)
		FUZZ_ASSERT(notify);
	m->flushed_prod[d] = m->prod[d];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = fuzz_in_make(data, size);
	struct batch_params p;
	if (!read_params(&in, &p))
		return 0;
	struct batch_state s;
	batch_init(&s, &p);
	struct model m = {.now = fuzz_u32(&in)};

	for (unsigned ops = 0; !fuzz_empty(&in) && ops < 4096; ops++) {
		uint8_t op = fuzz_u8(&in);
		int d = op >> 7;
		switch (op & 3) {
		case 0: { /* a packet */
			m.now += fuzz_u16(&in) * (op & 4 ? 1000ull : 1ull);
			uint32_t used = fuzz_u16(&in) % (PVNET_RING_SIZE + 1);
			m.prod[d]++;
			m.packets[d]++;
			bool flush = batch_packet(&s, d, m.now, used);
			if (used > PVNET_RING_SIZE / 2 || s.policy == &batch_none)
				FUZZ_ASSERT(flush);
			if (flush) {
				flushed(&s, &m, d);
			} else {
				/* Waiting: never without a deadline, and for one
				 * still ahead (a passed one flushes now). */
				uint64_t dl = batch_deadline(&s, d);
				FUZZ_ASSERT(s.dir[d].pending > 0);
				FUZZ_ASSERT(dl != 0 && dl > m.now);
			}
			break;
		}
		case 1: { /* the caller's timer fires, on time or late */
			m.now += fuzz_u16(&in) * 1000ull;
			uint64_t dl = batch_deadline(&s, d);
			bool pending = s.dir[d].pending;
			bool flush = batch_timer(&s, d, m.now);
			/* (A period ending in this call may move the deadline.) */
			if (!s.policy->on_period)
				FUZZ_ASSERT(flush == (pending && dl && m.now >= dl));
			if (flush)
				flushed(&s, &m, d);
			break;
		}
		case 2: { /* the timer loop of backend.c up to a time */
			uint64_t until = m.now + fuzz_u32(&in);
			unsigned rounds = 0;
			for (uint64_t dl; (dl = batch_next_deadline(&s)) != 0 && dl <= until;) {
				m.now = MAX(m.now, dl);
				bool any = false;
				for (int e = 0; e < NET_DIRS; e++)
					if (batch_timer(&s, e, m.now)) {
						flushed(&s, &m, e);
						any = true;
					}
				/* Progress: a flush, or a period that moved the
				 * deadline past now; never the same deadline again.
				 * (Periods of >= 100 us within a T_buf of <= 1 s
				 * bound the moves to 10^4; more is a hang.) */
				if (!any)
					FUZZ_ASSERT(batch_next_deadline(&s) > m.now);
				FUZZ_ASSERT(++rounds < 100000);
			}
			m.now = until;
			break;
		}
		case 3: { /* new knobs at run time */
			struct batch_params q;
			if (!read_params(&in, &q))
				break;
			bool had = s.dir[0].pending || s.dir[1].pending;
			FUZZ_ASSERT(batch_set_params(&s, &q, m.now) == had);
			FUZZ_ASSERT(!s.dir[0].pending && !s.dir[1].pending);
			for (int e = 0; e < NET_DIRS; e++)
				m.flushed_prod[e] = m.prod[e];
			break;
		}
		}
		check_state(&s, &m);
	}
	return 0;
}

/* The simulated lossy link of the migration unit tests (host only). */
#include <string.h>

#include "test_migrate_sim.h"

uint64_t sim_rand(uint64_t *state)
{
	/* xorshift64*: deterministic, good enough to scatter faults */
	uint64_t x = *state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545f4914f6cdd1dull;
}

void sim_pipe_init(struct sim_pipe *p, const uint64_t *clock, uint64_t latency_ns,
                   struct sim_faults faults, uint64_t seed)
{
	memset(p, 0, sizeof *p);
	p->clock = clock;
	p->latency_ns = latency_ns;
	p->faults = faults;
	p->rng = seed ? seed : 1;
}

static bool chance(struct sim_pipe *p, unsigned pct)
{
	return pct && sim_rand(&p->rng) % 100 < pct;
}

static void enqueue(struct sim_pipe *p, const uint8_t *bytes, size_t len, uint64_t delay_ns)
{
	unsigned capacity = p->capacity ? p->capacity : SIM_QUEUE_MAX;
	if (p->count >= capacity) {
		p->overruns++;
		return;
	}
	struct sim_packet *q = &p->q[p->count++];
	q->due_ns = *p->clock + delay_ns;
	q->order = p->order++;
	q->len = (uint16_t)len;
	memcpy(q->bytes, bytes, len);
	if (chance(p, p->faults.corrupt_pct)) {
		uint64_t bit = sim_rand(&p->rng) % (len * 8);
		q->bytes[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		p->corrupted++;
	}
}

void sim_send(void *ctx, const uint8_t *bytes, size_t len)
{
	struct sim_pipe *p = ctx;
	p->sent++;
	if (len > 3 && bytes[3] < MIGRATE_TYPE_END)
		p->sent_by_type[bytes[3]]++;
	if (p->cut_on_type && len > 3 && bytes[3] == p->cut_on_type)
		p->cut = true;
	if (p->cut) {
		p->cut_lost++;
		return;
	}
	if (p->sent == p->drop_nth || p->sent == p->drop_nth_too || chance(p, p->faults.drop_pct)) {
		p->dropped++;
		return;
	}
	uint64_t delay = p->latency_ns;
	if (chance(p, p->faults.reorder_pct)) {
		delay += p->latency_ns * 2 + sim_rand(&p->rng) % (p->latency_ns * 2 + 1);
		p->reordered++;
	}
	enqueue(p, bytes, len, delay);
	if (chance(p, p->faults.dup_pct)) {
		enqueue(p, bytes, len, delay + sim_rand(&p->rng) % (p->latency_ns + 1));
		p->duplicated++;
	}
}

void sim_cut(struct sim_pipe *p)
{
	p->cut = true;
	p->cut_lost += p->count;
	p->count = 0;
}

bool sim_receive(struct sim_pipe *p, uint8_t *buf, size_t *len)
{
	uint64_t now = *p->clock;
	if (p->rx_gap_ns && now < p->next_rx_ns)
		return false;
	int best = -1;
	for (unsigned i = 0; i < p->count; i++) {
		if (p->q[i].due_ns > now)
			continue;
		if (best < 0 || p->q[i].due_ns < p->q[best].due_ns ||
		    (p->q[i].due_ns == p->q[best].due_ns && p->q[i].order < p->q[best].order))
			best = (int)i;
	}
	if (best < 0)
		return false;
	*len = p->q[best].len;
	memcpy(buf, p->q[best].bytes, *len);
	p->q[best] = p->q[--p->count];
	p->delivered++;
	if (p->rx_gap_ns)
		p->next_rx_ns = now + p->rx_gap_ns;
	return true;
}

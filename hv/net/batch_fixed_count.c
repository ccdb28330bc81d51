/* Runs in VM-exit context (and on the host in unit tests): fixed-count
 * batching. Notify every count packets; a batch that never fills is flushed
 * tbuf after its first packet, so a slow stream is delayed, never stuck. */
#include "net/net.h"

static bool fixed_count_on_packet(struct batch_state *s, enum net_dir dir, uint64_t now_ns)
{
	(void)now_ns;
	return s->dir[dir].pending >= s->params.count;
}

static uint64_t fixed_count_deadline(const struct batch_state *s, enum net_dir dir)
{
	return s->dir[dir].oldest_ns + s->params.tbuf_ns;
}

const struct batch_policy batch_fixed_count = {
    .name = "fixed-count",
    .summary = "notify every count packets, or tbuf after the first",
    .uses_event_index = true,
    .on_packet = fixed_count_on_packet,
    .deadline = fixed_count_deadline,
};

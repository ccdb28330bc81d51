/* Runs in VM-exit context (and on the host in unit tests): fixed-time
 * buffering. The first packet of a batch starts a T_buf timer; every packet
 * until it fires goes out with one notification. tbuf=0 notifies at once. */
#include "net/net.h"

static bool fixed_time_on_packet(struct batch_state *s, enum net_dir dir, uint64_t now_ns)
{
	(void)dir;
	(void)now_ns;
	return s->params.tbuf_ns == 0;
}

static uint64_t fixed_time_deadline(const struct batch_state *s, enum net_dir dir)
{
	return s->dir[dir].oldest_ns + s->params.tbuf_ns;
}

const struct batch_policy batch_fixed_time = {
    .name = "fixed-time",
    .summary = "hold packets up to tbuf after the first one",
    .uses_event_index = true,
    .on_packet = fixed_time_on_packet,
    .deadline = fixed_time_deadline,
};

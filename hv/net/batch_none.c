/* Runs in VM-exit context (and on the host in unit tests): the reference
 * policy, no batching. Every packet is notified at once, whatever the
 * consumer's event index says: the baseline the other policies are measured
 * against. */
#include "net/net.h"

static bool none_on_packet(struct batch_state *s, enum net_dir dir, uint64_t now_ns)
{
	(void)s;
	(void)dir;
	(void)now_ns;
	return true;
}

const struct batch_policy batch_none = {
    .name = "none",
    .summary = "notify every packet at once",
    .uses_event_index = false,
    .on_packet = none_on_packet,
};

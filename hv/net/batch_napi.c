/* Runs in VM-exit context (and on the host in unit tests): NAPI-style
 * suppression. The producer notifies at once, but only when the consumer
 * asked for it through the ring's event index: a consumer that is polling
 * leaves prod_event behind and hears nothing; when it runs dry it re-arms and
 * re-checks (ring_consumer_rearm), so no wake-up is lost. The policy itself
 * is trivial; the suppression is the protocol in pvnet.h. */
#include "net/net.h"

static bool napi_on_packet(struct batch_state *s, enum net_dir dir, uint64_t now_ns)
{
	(void)s;
	(void)dir;
	(void)now_ns;
	return true;
}

const struct batch_policy batch_napi = {
    .name = "napi",
    .summary = "notify at once unless the consumer is polling (event index)",
    .uses_event_index = true,
    .on_packet = napi_on_packet,
};

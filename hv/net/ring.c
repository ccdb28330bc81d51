/* Runs in VM-exit context (and on the host in unit tests): checks of what a
 * guest wrote into a pvnet ring, and the "notify now?" decision. The guest
 * is not trusted: every index pair and descriptor is checked before use. */
#include "lib/lib.h"
#include "net/net.h"

const char *net_error_name(enum net_error e)
{
	static const char *const names[NET_ERR_COUNT] = {
	    [NET_OK] = "ok",
	    [NET_ERR_RING_CORRUPT] = "ring_corrupt",
	    [NET_ERR_DESC_LEN] = "desc_len",
	    [NET_ERR_DESC_ADDR] = "desc_addr",
	};
	return (unsigned)e < NET_ERR_COUNT ? names[e] : "unknown";
}

enum net_error ring_check_indices(uint32_t prod, uint32_t cons)
{
	/* Unsigned difference: a cons ahead of prod wraps to a huge count. */
	return prod - cons <= PVNET_RING_SIZE ? NET_OK : NET_ERR_RING_CORRUPT;
}

enum net_error ring_check_desc(const struct pvnet_desc *desc, uint64_t guest_mem_size)
{
	if (desc->len == 0 || desc->len > PVNET_FRAME_MAX)
		return NET_ERR_DESC_LEN;
	/* Written so that addr + len cannot overflow. */
	if (desc->len > guest_mem_size || desc->addr > guest_mem_size - desc->len)
		return NET_ERR_DESC_ADDR;
	return NET_OK;
}

bool ring_consumer_rearm(struct pvnet_ring_indices *ring, uint32_t cons)
{
	pvnet_store(&ring->prod_event, cons);
	/* Store then load: the one place TSO needs a real fence (see pvnet.h). */
	pvnet_full_barrier();
	return pvnet_load(&ring->prod) != cons;
}

bool net_notify_now(const struct batch_state *s, bool flush, uint32_t event, uint32_t new_idx,
                    uint32_t old_idx)
{
	if (!flush)
		return false;
	if (!s->policy->uses_event_index)
		return true;
	return pvnet_need_event(event, new_idx, old_idx);
}

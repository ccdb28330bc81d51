/* Runs in the scheduler loop: the two links a migration runs over. Local:
 * two in-memory queues between a VM and a new one on this host, so the
 * whole path runs in one bochs. Peer: frames of ETH_TYPE_MIGRATE through
 * the e1000 (the peer's listener starts an incoming migration on a
 * HELLO), with the faults linkfault= injects. And per link, what its
 * stop-and-copies measured, for the next forecast. */
#include "lib/lib.h"
#include "migration/job.h"
#include "migration/migration.h"
#include "net/net.h"

void pipe_send(void *ctx, const uint8_t *bytes, size_t len)
{
	struct pipe *p = ctx;
	if (p->cut_after && ++p->sent > p->cut_after) {
		p->dropped++; /* the link is cut: the peer is gone */
		return;
	}
	if (p->head - p->tail == PIPE_SLOTS || len > MIGRATE_MTU) {
		p->dropped++; /* like a full NIC queue: the transport retransmits */
		return;
	}
	memcpy(p->frame[p->head % PIPE_SLOTS], bytes, len);
	p->len[p->head % PIPE_SLOTS] = (uint16_t)len;
	p->head++;
}

/* Faults injected on the frames this host sends (linkfault=, soak tests),
 * and the one frame held back to be sent after the next (a reorder). */
struct linkfault link_faults;
static uint8_t held_frame[MIGRATE_ETH_FRAME_MAX];
static uint16_t held_len;

bool migration_set_linkfault(const char *spec, char *err, size_t err_size)
{
	return linkfault_parse(&link_faults, spec, err, err_size);
}

static void e1000_send_one(const uint8_t *frame, size_t len)
{
	struct net_frame f = {frame, (uint16_t)len};
	e1000_send_batch(&f, 1); /* a full ring loses it: the transport resends */
}

/* What the link does to this frame (linkfault=): sent, lost, sent twice,
 * or held and sent after the next one. */
static void send_with_faults(const uint8_t *frame, size_t len)
{
	enum linkfault_action a =
	    linkfault_active(&link_faults) ? linkfault_decide(&link_faults) : LINKFAULT_SEND;
	if (a == LINKFAULT_DROP)
		return;
	if (a == LINKFAULT_HOLD && !held_len) {
		memcpy(held_frame, frame, len);
		held_len = (uint16_t)len;
		return;
	}
	e1000_send_one(frame, len);
	if (a == LINKFAULT_DUPLICATE)
		e1000_send_one(frame, len);
	if (held_len) { /* overtaken: it arrives after this one */
		e1000_send_one(held_frame, held_len);
		held_len = 0;
	}
}

/* Remote roles: our frames ride in an Ethernet frame of ETH_TYPE_MIGRATE
 * from this host's NIC to the peer's. Broadcast, like the switch's tunnel:
 * unicast through bxhub depends on what it learned (PLATFORM.md B1); the
 * session id makes other hosts ignore frames that are not theirs. */
void remote_send(void *ctx, const uint8_t *bytes, size_t len)
{
	(void)ctx;
	static uint8_t frame[ETH_FRAME_MAX];
	if (len > MIGRATE_MTU || !e1000_present())
		return;
	size_t total = eth_frame(frame, sizeof frame, eth_broadcast, e1000_mac(), ETH_TYPE_MIGRATE,
	                         bytes, len);
	if (total)
		send_with_faults(frame, total);
}

void link_flush_held(void)
{
	if (held_len) { /* late, but it does go out (the peer drops it as old) */
		e1000_send_one(held_frame, held_len);
		held_len = 0;
	}
}

/* The faults injected on this host's frames since the migration started. */
const char *link_faults_text(void)
{
	static char text[160];
	const struct linkfault *s = &job.fault_at_start;
	fmt_snprintf(text, sizeof text,
	             "\"sent\":%llu,\"dropped\":%llu,\"duplicated\":%llu,\"reordered\":%llu,"
	             "\"per_mille\":[%u,%u,%u],\"seed\":%llu",
	             (unsigned long long)(link_faults.frames - s->frames),
	             (unsigned long long)(link_faults.dropped - s->dropped),
	             (unsigned long long)(link_faults.duplicated - s->duplicated),
	             (unsigned long long)(link_faults.reordered - s->reordered), link_faults.drop,
	             link_faults.dup, link_faults.reorder, (unsigned long long)link_faults.seed);
	return text;
}

/* What earlier stop-and-copies did, per link (local pipe or the e1000
 * peer) and payload size, for the forecast of the next one
 * (migrate_link_model). A few links at most; a new one takes the oldest
 * slot. */
static struct link_model_slot {
	bool used, remote;
	unsigned payload;
	struct migrate_link_model model;
} link_models[8];
static unsigned link_model_next;

struct migrate_link_model *link_model(bool remote, unsigned payload)
{
	for (unsigned i = 0; i < ARRAY_SIZE(link_models); i++)
		if (link_models[i].used && link_models[i].remote == remote &&
		    link_models[i].payload == payload)
			return &link_models[i].model;
	struct link_model_slot *slot = &link_models[link_model_next++ % ARRAY_SIZE(link_models)];
	*slot = (struct link_model_slot){.used = true, .remote = remote, .payload = payload};
	return &slot->model;
}

/* Runs in VM-exit context (and on the host in unit tests): a learning
 * Ethernet switch between the vNICs of local VMs and the uplink. It only
 * decides: it returns the ports a frame goes to and the caller copies. */
#include "lib/lib.h"
#include "net/net.h"

/* Group (multicast or broadcast) addresses have bit 0 of the first byte set. */
static bool is_group_address(const uint8_t *mac)
{
	return mac[0] & 1;
}

static bool is_expired(const struct vswitch *sw, const struct vswitch_entry *e, uint64_t now_ns)
{
	/* now before last_seen (a clock that went back) counts as fresh. */
	return sw->aging_ns && now_ns > e->last_seen_ns && now_ns - e->last_seen_ns >= sw->aging_ns;
}

/* The entry for mac, live or expired; NULL if none. */
static struct vswitch_entry *find_entry(struct vswitch *sw, const uint8_t *mac)
{
	for (unsigned i = 0; i < VSWITCH_TABLE_SIZE; i++)
		if (sw->table[i].in_use && !memcmp(sw->table[i].mac, mac, ETH_ADDR_LEN))
			return &sw->table[i];
	return NULL;
}

/* A slot for a new MAC: a free or expired one, else the least recently seen
 * (evicted). */
static struct vswitch_entry *slot_for_new_entry(struct vswitch *sw, uint64_t now_ns)
{
	struct vswitch_entry *oldest = &sw->table[0];
	for (unsigned i = 0; i < VSWITCH_TABLE_SIZE; i++) {
		struct vswitch_entry *e = &sw->table[i];
		if (!e->in_use || is_expired(sw, e, now_ns))
			return e;
		if (e->last_seen_ns < oldest->last_seen_ns)
			oldest = e;
	}
	sw->evictions++;
	return oldest;
}

static void learn(struct vswitch *sw, const uint8_t *mac, unsigned port, uint64_t now_ns)
{
	struct vswitch_entry *e = find_entry(sw, mac);
	if (e && !is_expired(sw, e, now_ns)) {
		if (e->port != port) /* the host moved (or a VM migrated) */
			sw->moves++;
	} else {
		if (!e)
			e = slot_for_new_entry(sw, now_ns);
		memcpy(e->mac, mac, ETH_ADDR_LEN);
		e->in_use = true;
		sw->learned++;
	}
	e->port = (uint8_t)port;
	e->last_seen_ns = now_ns;
}

void vswitch_init(struct vswitch *sw, uint64_t aging_ns)
{
	memset(sw, 0, sizeof *sw);
	sw->aging_ns = aging_ns;
}

bool vswitch_attach(struct vswitch *sw, unsigned port)
{
	if (port >= VSWITCH_PORTS)
		return false;
	sw->ports |= (uint16_t)(1u << port);
	return true;
}

void vswitch_detach(struct vswitch *sw, unsigned port)
{
	if (port >= VSWITCH_PORTS)
		return;
	sw->ports &= (uint16_t) ~(1u << port);
	for (unsigned i = 0; i < VSWITCH_TABLE_SIZE; i++)
		if (sw->table[i].port == port)
			sw->table[i].in_use = false;
}

uint16_t vswitch_forward(struct vswitch *sw, unsigned in_port, const uint8_t *frame, size_t len,
                         uint64_t now_ns)
{
	sw->frames++;
	if (in_port >= VSWITCH_PORTS || !(sw->ports & (1u << in_port))) {
		sw->drops_bad_port++;
		return 0;
	}
	if (len < ETH_HEADER_LEN) {
		sw->drops_runt++;
		return 0;
	}
	const uint8_t *dst = frame, *src = frame + ETH_ADDR_LEN;
	if (!is_group_address(src)) /* a group address is never a sender */
		learn(sw, src, in_port, now_ns);

	if (!is_group_address(dst)) {
		int port = vswitch_lookup(sw, dst, now_ns);
		if (port == (int)in_port) { /* both ends behind one port: it is already there */
			sw->drops_hairpin++;
			return 0;
		}
		if (port >= 0) {
			sw->unicasts++;
			return (uint16_t)(1u << port);
		}
	}
	sw->floods++; /* broadcast, multicast or unknown unicast */
	return (uint16_t)(sw->ports & ~(1u << in_port));
}

int vswitch_lookup(const struct vswitch *sw, const uint8_t *mac, uint64_t now_ns)
{
	for (unsigned i = 0; i < VSWITCH_TABLE_SIZE; i++) {
		const struct vswitch_entry *e = &sw->table[i];
		if (e->in_use && !is_expired(sw, e, now_ns) && !memcmp(e->mac, mac, ETH_ADDR_LEN))
			return e->port;
	}
	return -1;
}

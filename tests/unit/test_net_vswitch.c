/* Unit tests of the learning switch (hv/net/vswitch.c). */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "net/net.h"

#define UPLINK 15
#define MS     1000000ull

/* A 60-byte frame from host src to host dst; host n has MAC 02:00:00:00:00:n
 * (locally administered unicast). */
static const uint8_t *frame(unsigned dst, unsigned src)
{
	static uint8_t f[60];
	memset(f, 0, sizeof f);
	f[0] = 0x02, f[5] = (uint8_t)dst;
	f[6] = 0x02, f[11] = (uint8_t)src;
	return f;
}

static const uint8_t *mac(unsigned host)
{
	static uint8_t m[ETH_ADDR_LEN];
	memset(m, 0, sizeof m);
	m[0] = 0x02, m[5] = (uint8_t)host;
	return m;
}

#define PORT(p) (1u << (p))

static void four_ports(struct vswitch *sw, uint64_t aging_ns)
{
	vswitch_init(sw, aging_ns);
	vswitch_attach(sw, 0);
	vswitch_attach(sw, 1);
	vswitch_attach(sw, 2);
	vswitch_attach(sw, UPLINK);
}

TEST(net_vswitch_learns_and_forwards_unicast)
{
	struct vswitch sw;
	four_ports(&sw, 0);
	/* A (on 0) to B, not yet known: flooded, never back to port 0. */
	CHECK_EQ(vswitch_forward(&sw, 0, frame(2, 1), 60, 1), PORT(1) | PORT(2) | PORT(UPLINK));
	CHECK_EQ(vswitch_lookup(&sw, mac(1), 1), 0);
	/* B answers from port 2: straight to A's port, and B is learned. */
	CHECK_EQ(vswitch_forward(&sw, 2, frame(1, 2), 60, 2), PORT(0));
	CHECK_EQ(vswitch_forward(&sw, 0, frame(2, 1), 60, 3), PORT(2));
	CHECK_EQ(sw.learned, 2);
	CHECK_EQ(sw.floods, 1);
	CHECK_EQ(sw.unicasts, 2);
}

TEST(net_vswitch_floods_broadcast_and_multicast)
{
	struct vswitch sw;
	four_ports(&sw, 0);
	uint8_t f[60];
	memcpy(f, frame(0, 1), sizeof f);
	memset(f, 0xff, ETH_ADDR_LEN); /* broadcast */
	CHECK_EQ(vswitch_forward(&sw, 1, f, sizeof f, 1), PORT(0) | PORT(2) | PORT(UPLINK));
	f[0] = 0x01, f[1] = 0x00, f[2] = 0x5e; /* IPv4 multicast */
	CHECK_EQ(vswitch_forward(&sw, UPLINK, f, sizeof f, 2), PORT(0) | PORT(1) | PORT(2));
	/* A group address as source is never learned. */
	memcpy(f, frame(3, 4), sizeof f);
	f[6] |= 1;
	vswitch_forward(&sw, 2, f, sizeof f, 3);
	f[6] &= (uint8_t)~1;
	CHECK_EQ(vswitch_lookup(&sw, f + 6, 3), -1);
	CHECK_EQ(sw.learned, 1);
}

TEST(net_vswitch_no_hairpin)
{
	struct vswitch sw;
	four_ports(&sw, 0);
	/* Two hosts behind the uplink talk to each other: the frame is already
	 * on their segment. */
	vswitch_forward(&sw, UPLINK, frame(0x21, 0x20), 60, 1);
	CHECK_EQ(vswitch_forward(&sw, UPLINK, frame(0x20, 0x21), 60, 2), 0);
	CHECK_EQ(sw.drops_hairpin, 1);
	/* A flood never includes the ingress port, even with every port attached. */
	struct vswitch all;
	vswitch_init(&all, 0);
	for (unsigned p = 0; p < VSWITCH_PORTS; p++)
		CHECK(vswitch_attach(&all, p));
	CHECK(!vswitch_attach(&all, VSWITCH_PORTS));
	CHECK_EQ(vswitch_forward(&all, 0, frame(9, 1), 60, 1), 0xfffe);
	CHECK_EQ(vswitch_forward(&all, 15, frame(9, 2), 60, 1), 0x7fff);
}

TEST(net_vswitch_ages_out_silent_hosts)
{
	struct vswitch sw;
	four_ports(&sw, 300 * MS);
	vswitch_forward(&sw, 1, frame(9, 1), 60, 0);
	CHECK_EQ(vswitch_lookup(&sw, mac(1), 299 * MS), 1);
	CHECK_EQ(vswitch_forward(&sw, 0, frame(1, 5), 60, 299 * MS), PORT(1));
	CHECK_EQ(vswitch_lookup(&sw, mac(1), 300 * MS), -1); /* silent for 300 ms */
	CHECK_EQ(vswitch_forward(&sw, 0, frame(1, 5), 60, 300 * MS),
	         PORT(1) | PORT(2) | PORT(UPLINK));
	/* Traffic from a host keeps it: learned again, then refreshed. */
	vswitch_forward(&sw, 1, frame(9, 1), 60, 400 * MS);
	vswitch_forward(&sw, 1, frame(9, 1), 60, 600 * MS);
	CHECK_EQ(vswitch_lookup(&sw, mac(1), 800 * MS), 1);
	CHECK_EQ(sw.learned, 3); /* 1, 5, 1 again */
	/* Aging 0: never forgotten. */
	four_ports(&sw, 0);
	vswitch_forward(&sw, 1, frame(9, 1), 60, 0);
	CHECK_EQ(vswitch_lookup(&sw, mac(1), ~0ull), 1);
}

TEST(net_vswitch_evicts_the_least_recently_seen)
{
	struct vswitch sw;
	four_ports(&sw, 0);
	for (unsigned host = 1; host <= VSWITCH_TABLE_SIZE; host++)
		vswitch_forward(&sw, 1, frame(0xee, host), 60, host);
	CHECK_EQ(sw.evictions, 0);
	vswitch_forward(&sw, 1, frame(0xee, 1), 60, 100); /* host 1 is seen again */
	vswitch_forward(&sw, 2, frame(0xee, 0x80), 60, 101);
	CHECK_EQ(sw.evictions, 1);
	CHECK_EQ(vswitch_lookup(&sw, mac(2), 101), -1); /* host 2 was the oldest */
	CHECK_EQ(vswitch_lookup(&sw, mac(1), 101), 1);
	CHECK_EQ(vswitch_lookup(&sw, mac(3), 101), 1);
	CHECK_EQ(vswitch_lookup(&sw, mac(0x80), 101), 2);
	/* An expired entry is reused before anything live is evicted. */
	four_ports(&sw, 95);
	for (unsigned host = 1; host <= VSWITCH_TABLE_SIZE; host++)
		vswitch_forward(&sw, 1, frame(0xee, host), 60, host < 5 ? 0 : 10);
	CHECK_EQ(sw.learned, VSWITCH_TABLE_SIZE); /* full; hosts 1-4 expire at 95 */
	vswitch_forward(&sw, 2, frame(0xee, 0x80), 60, 100);
	CHECK_EQ(sw.evictions, 0);
	CHECK_EQ(vswitch_lookup(&sw, mac(5), 100), 1);
}

TEST(net_vswitch_mac_move_updates_the_port)
{
	struct vswitch sw;
	four_ports(&sw, 0);
	vswitch_forward(&sw, 0, frame(9, 1), 60, 1);
	CHECK_EQ(vswitch_forward(&sw, 2, frame(1, 7), 60, 2), PORT(0));
	vswitch_forward(&sw, UPLINK, frame(9, 1), 60, 3); /* host 1 migrated away */
	CHECK_EQ(sw.moves, 1);
	CHECK_EQ(vswitch_lookup(&sw, mac(1), 3), UPLINK);
	CHECK_EQ(vswitch_forward(&sw, 2, frame(1, 7), 60, 4), PORT(UPLINK));
	CHECK_EQ(sw.learned, 2);
}

TEST(net_vswitch_drops_runts_and_unknown_ports)
{
	struct vswitch sw;
	four_ports(&sw, 0);
	CHECK_EQ(vswitch_forward(&sw, 0, frame(1, 2), ETH_HEADER_LEN - 1, 1), 0);
	CHECK_EQ(sw.drops_runt, 1);
	CHECK_EQ(vswitch_forward(&sw, 3, frame(1, 2), 60, 1), 0); /* not attached */
	CHECK_EQ(vswitch_forward(&sw, 99, frame(1, 2), 60, 1), 0);
	CHECK_EQ(sw.drops_bad_port, 2);
	CHECK_EQ(sw.learned, 0);
	/* Detaching a port forgets what was learned on it. */
	vswitch_forward(&sw, 2, frame(9, 1), 60, 1);
	vswitch_detach(&sw, 2);
	CHECK_EQ(vswitch_lookup(&sw, mac(1), 1), -1);
	CHECK_EQ(vswitch_forward(&sw, 0, frame(1, 5), 60, 2), PORT(1) | PORT(UPLINK));
}

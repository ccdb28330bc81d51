/* Ethernet II framing (hv/net/ether.c): what every frame hv sends carries
 * on the wire. */
#include <string.h>

#include "check.h"
#include "net/net.h"

static const uint8_t src[ETH_ADDR_LEN] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

TEST(eth_frame_writes_the_header_big_endian_and_pads_short_frames_with_zeros)
{
	uint8_t frame[ETH_FRAME_MAX];
	memset(frame, 0xAA, sizeof frame); /* stale bytes must not reach the wire */
	size_t n = eth_frame(frame, sizeof frame, eth_broadcast, src, ETH_TYPE_MIGRATE, "hi", 2);
	CHECK_EQ(n, ETH_FRAME_MIN);
	CHECK(memcmp(frame, "\xff\xff\xff\xff\xff\xff", 6) == 0);
	CHECK(memcmp(frame + 6, src, 6) == 0);
	CHECK_EQ(frame[12], 0x88);
	CHECK_EQ(frame[13], 0xB6);
	CHECK(memcmp(frame + 14, "hi", 2) == 0);
	for (size_t i = 16; i < ETH_FRAME_MIN; i++)
		CHECK_EQ(frame[i], 0);
	CHECK_EQ(eth_type_of(frame, n), ETH_TYPE_MIGRATE);
}

TEST(eth_frame_refuses_what_does_not_fit_the_buffer_or_the_wire)
{
	static uint8_t frame[2 * ETH_FRAME_MAX], payload[ETH_FRAME_MAX];
	/* The largest payload fits exactly; one byte more is refused. */
	CHECK_EQ(eth_frame(frame, sizeof frame, eth_broadcast, src, ETH_TYPE_TUNNEL, payload,
	                   ETH_FRAME_MAX - ETH_HEADER_LEN),
	         ETH_FRAME_MAX);
	CHECK_EQ(eth_frame(frame, sizeof frame, eth_broadcast, src, ETH_TYPE_TUNNEL, payload,
	                   ETH_FRAME_MAX - ETH_HEADER_LEN + 1),
	         0);
	/* A buffer smaller than the padded minimum, or than the frame. */
	CHECK_EQ(
	    eth_frame(frame, ETH_FRAME_MIN - 1, eth_broadcast, src, ETH_TYPE_ANNOUNCE, NULL, 0), 0);
	CHECK_EQ(eth_frame(frame, 100, eth_broadcast, src, ETH_TYPE_TUNNEL, payload, 87), 0);
	CHECK_EQ(eth_frame(frame, 100, eth_broadcast, src, ETH_TYPE_TUNNEL, payload, 86), 100);
}

TEST(eth_frame_takes_a_payload_already_in_place)
{
	uint8_t frame[ETH_FRAME_MAX];
	memcpy(frame + ETH_HEADER_LEN, "in place payload", 16);
	CHECK_EQ(
	    eth_frame(frame, sizeof frame, src, src, ETH_TYPE_LINKTEST, frame + ETH_HEADER_LEN, 16),
	    ETH_FRAME_MIN);
	CHECK(memcmp(frame + ETH_HEADER_LEN, "in place payload", 16) == 0);
	CHECK_EQ(eth_type_of(frame, ETH_FRAME_MIN), ETH_TYPE_LINKTEST);
}

TEST(eth_type_of_a_frame_shorter_than_a_header_is_none)
{
	uint8_t frame[ETH_HEADER_LEN] = {0};
	frame[12] = 0x88;
	frame[13] = 0xB8;
	CHECK_EQ(eth_type_of(frame, ETH_HEADER_LEN), ETH_TYPE_TUNNEL);
	CHECK_EQ(eth_type_of(frame, ETH_HEADER_LEN - 1), 0);
	CHECK_EQ(eth_type_of(frame, 0), 0);
}

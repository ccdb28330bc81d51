/* Pure (built on the host too): Ethernet II framing, the one place that
 * writes and reads the 14-byte header of every frame hv itself puts on a
 * wire (the switch's tunnel and announces, migration, the link test). */
#include "lib/lib.h"
#include "migrate/migrate.h"
#include "net/net.h"

_Static_assert(ETH_TYPE_MIGRATE == MIGRATE_ETHERTYPE, "migrate/ frames its link with this type");

const uint8_t eth_broadcast[ETH_ADDR_LEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

void eth_write_header(uint8_t *frame, const uint8_t *dst, const uint8_t *src, uint16_t type)
{
	memcpy(frame, dst, ETH_ADDR_LEN);
	memcpy(frame + ETH_ADDR_LEN, src, ETH_ADDR_LEN);
	frame[12] = (uint8_t)(type >> 8); /* big-endian on the wire */
	frame[13] = (uint8_t)type;
}

size_t eth_frame(uint8_t *frame, size_t cap, const uint8_t *dst, const uint8_t *src, uint16_t type,
                 const void *payload, size_t len)
{
	size_t total = ETH_HEADER_LEN + len;
	if (len > ETH_FRAME_MAX - ETH_HEADER_LEN || MAX(total, (size_t)ETH_FRAME_MIN) > cap)
		return 0;
	eth_write_header(frame, dst, src, type);
	if (len)
		memmove(frame + ETH_HEADER_LEN, payload, len);
	if (total < ETH_FRAME_MIN) {
		/* The NIC pads a short frame anyway; zeros here, not stale bytes. */
		memset(frame + total, 0, ETH_FRAME_MIN - total);
		total = ETH_FRAME_MIN;
	}
	return total;
}

uint16_t eth_type_of(const uint8_t *frame, size_t len)
{
	return len < ETH_HEADER_LEN ? 0 : (uint16_t)(frame[12] << 8 | frame[13]);
}

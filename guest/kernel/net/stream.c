/* Runs in the guest: the test stream of netsrc and netsink, and the
 * request/answer frames of netping and netrr (net.h has the frame types).
 * Every tool builds and checks frames here, so they cannot disagree on the
 * layout, the payload or the checksum. */
#include "net/net.h"

#include <stddef.h>
#include <string.h>

#include "boot/boot.h"
#include "x86/x86.h"

#define FNV_PRIME 0x100000001b3ull

void stream_build(uint8_t *frame, size_t length, const uint8_t *destination, enum stream_type type,
                  uint32_t seq, uint32_t total)
{
	memcpy(frame, destination, NET_MAC_LEN);
	memcpy(frame + NET_MAC_LEN, net_mac(), NET_MAC_LEN);
	frame[12] = STREAM_ETHERTYPE >> 8; /* network byte order */
	frame[13] = STREAM_ETHERTYPE & 0xFF;
	struct stream_header header = {
	    .magic = STREAM_MAGIC | type, .seq = seq, .total = total, .tsc = rdtsc()};
	memcpy(frame + NET_HEADER_LEN, &header, sizeof header);
	uint8_t *payload = frame + STREAM_MIN_FRAME;
	size_t payload_length = length - STREAM_MIN_FRAME;
	if (type == STREAM_DATA || type == STREAM_PING || type == STREAM_REQUEST ||
	    type == STREAM_RESPONSE)
		stream_payload(payload, payload_length, seq);
	else
		memset(payload, 0, payload_length);
}

const struct stream_header *stream_parse(const uint8_t *frame, size_t length,
                                         enum stream_type *type)
{
	if (length < STREAM_MIN_FRAME || frame[12] != STREAM_ETHERTYPE >> 8 ||
	    frame[13] != (STREAM_ETHERTYPE & 0xFF))
		return NULL;
	const struct stream_header *header = (const void *)(frame + NET_HEADER_LEN);
	uint32_t magic = header->magic;
	if ((magic & 0xFFFF0000u) != STREAM_MAGIC || (magic & 0xFFFF) < STREAM_HELLO ||
	    (magic & 0xFFFF) > STREAM_RESPONSE)
		return NULL;
	*type = (enum stream_type)(magic & 0xFFFF);
	return header;
}

void stream_turn_around(uint8_t *frame, enum stream_type type)
{
	memcpy(frame, frame + NET_MAC_LEN, NET_MAC_LEN);
	memcpy(frame + NET_MAC_LEN, net_mac(), NET_MAC_LEN);
	uint32_t magic = STREAM_MAGIC | type;
	memcpy(frame + NET_HEADER_LEN + offsetof(struct stream_header, magic), &magic,
	       sizeof magic);
}

/* Byte i of frame seq is the top byte of the i-th step of a linear
 * congruential generator seeded from seq (Numerical Recipes' constants):
 * cheap, and a byte out of place or from another frame shows. */
static uint32_t payload_seed(uint32_t seq)
{
	return seq * 0x9E3779B1u ^ 0x5BD1E995u;
}

static uint32_t payload_step(uint32_t state)
{
	return state * 1664525u + 1013904223u;
}

void stream_payload(uint8_t *payload, size_t length, uint32_t seq)
{
	uint32_t state = payload_seed(seq);
	for (size_t i = 0; i < length; i++) {
		state = payload_step(state);
		payload[i] = (uint8_t)(state >> 24);
	}
}

bool stream_payload_ok(const uint8_t *payload, size_t length, uint32_t seq)
{
	uint32_t state = payload_seed(seq);
	for (size_t i = 0; i < length; i++) {
		state = payload_step(state);
		if (payload[i] != (uint8_t)(state >> 24))
			return false;
	}
	return true;
}

uint64_t stream_checksum(uint64_t sum, uint32_t seq, const uint8_t *payload, size_t length)
{
	for (int i = 0; i < 4; i++) {
		sum ^= (seq >> (8 * i)) & 0xFF;
		sum *= FNV_PRIME;
	}
	for (size_t i = 0; i < length; i++) {
		sum ^= payload[i];
		sum *= FNV_PRIME;
	}
	return sum;
}

bool stream_join_words(int argc, char **argv, int *index, char *text, size_t size)
{
	size_t used = 0;
	int i = *index;
	for (; i < argc && (i == *index || strncmp(argv[i], "--", 2) != 0); i++) {
		for (const char *c = argv[i]; *c; c++) {
			if (*c == '"' || *c == '\'')
				continue;
			if (used + 2 > size)
				return false;
			text[used++] = *c == ',' ? ' ' : *c;
		}
		if (used + 2 > size)
			return false;
		text[used++] = ' ';
	}
	while (used > 0 && text[used - 1] == ' ')
		used--;
	text[used] = '\0';
	*index = i - 1;
	return used > 0;
}

int stream_attach(const char *batching)
{
	if (!net_attach())
		return GUEST_EXIT_FAILURE;
	if (batching[0] && !net_set_batching(batching))
		return GUEST_EXIT_USAGE;
	return GUEST_EXIT_OK;
}

void stream_send_end(const uint8_t *to, uint32_t seq, uint32_t total, int copies)
{
	uint8_t frame[STREAM_MIN_FRAME];
	for (int i = 0; i < copies; i++) {
		stream_build(frame, sizeof frame, to, STREAM_END, seq, total);
		net_send(frame, sizeof frame);
	}
	net_flush();
}

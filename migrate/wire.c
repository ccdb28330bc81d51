/* Runs anywhere (hv's migration loop, host unit tests): the migration frame
 * format. Every field is written and read byte by byte in little-endian
 * order, so no struct layout or alignment ever reaches the wire, and every
 * length is checked before it is used: a frame is never trusted. */
#include "lib/lib.h"
#include "migrate.h"

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	return get16(p) | (uint32_t)get16(p + 2) << 16;
}

static uint64_t get64(const uint8_t *p)
{
	return get32(p) | (uint64_t)get32(p + 4) << 32;
}

#define FNV_PRIME_64 0x100000001b3ull

uint64_t migrate_hash64(uint64_t hash, const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t i = 0;
	/* Each step is a bijection of the state for a given word, so one
	 * changed word always shows; the shift keeps a flip of a top bit from
	 * staying in the top bit, where a second one would cancel it. */
	for (; i + 8 <= len; i += 8) {
		uint64_t word;
		__builtin_memcpy(&word, p + i, 8); /* inlined even under -fno-builtin */
		hash = (hash ^ word) * FNV_PRIME_64;
		hash ^= hash >> 29;
	}
	for (; i < len; i++)
		hash = (hash ^ p[i]) * FNV_PRIME_64;
	return hash;
}

uint64_t migrate_page_checksum(const uint8_t *page)
{
	return migrate_hash64(MIGRATE_HASH_START, page, MIGRATE_PAGE_SIZE);
}

/* migrate_hash64 changes its state for any change within one word, so one
 * flipped bit is always caught (folded to 32 bits, other damage slips
 * through with odds of 2^-32); the checksum field is last in the header,
 * so it is simply left out of the sum. */
static uint32_t frame_checksum(const uint8_t *header, const uint8_t *payload, size_t len)
{
	uint64_t h = migrate_hash64(MIGRATE_HASH_START, header, MIGRATE_HEADER_SIZE - 4);
	h = migrate_hash64(h, payload, len);
	return (uint32_t)(h ^ (h >> 32));
}

size_t migrate_frame_encode(uint8_t *buf, size_t cap, const struct migrate_frame *f)
{
	size_t len = MIGRATE_HEADER_SIZE + (size_t)f->payload_len;
	if (f->payload_len > MIGRATE_PAYLOAD_MAX || len > cap)
		return 0;
	put16(buf, MIGRATE_MAGIC);
	buf[2] = MIGRATE_VERSION;
	buf[3] = f->type;
	put32(buf + 4, f->session);
	put32(buf + 8, f->seq);
	put16(buf + 12, f->payload_len);
	if (f->payload_len)
		memcpy(buf + MIGRATE_HEADER_SIZE, f->payload, f->payload_len);
	put32(buf + 14, frame_checksum(buf, buf + MIGRATE_HEADER_SIZE, f->payload_len));
	return len;
}

enum migrate_error migrate_frame_decode(const uint8_t *buf, size_t len, struct migrate_frame *out)
{
	if (len < MIGRATE_HEADER_SIZE)
		return MIGRATE_ERR_TRUNCATED;
	if (get16(buf) != MIGRATE_MAGIC)
		return MIGRATE_ERR_BAD_MAGIC;
	if (buf[2] != MIGRATE_VERSION)
		return MIGRATE_ERR_BAD_VERSION;
	uint16_t payload_len = get16(buf + 12);
	if (payload_len > MIGRATE_PAYLOAD_MAX)
		return MIGRATE_ERR_BAD_LENGTH;
	/* Longer is fine: what follows the payload is Ethernet padding. */
	if (len < MIGRATE_HEADER_SIZE + (size_t)payload_len)
		return MIGRATE_ERR_TRUNCATED;
	const uint8_t *payload = buf + MIGRATE_HEADER_SIZE;
	if (get32(buf + 14) != frame_checksum(buf, payload, payload_len))
		return MIGRATE_ERR_BAD_CHECKSUM;
	if (buf[3] == 0 || buf[3] >= MIGRATE_TYPE_END)
		return MIGRATE_ERR_BAD_TYPE;
	out->type = buf[3];
	out->session = get32(buf + 4);
	out->seq = get32(buf + 8);
	out->payload_len = payload_len;
	out->payload = payload;
	return MIGRATE_OK;
}

#define PAGE_CHUNK_HEADER  MIGRATE_PAGE_CHUNK_HEADER  /* pfn u64, offset u16, len u16 */
#define STATE_CHUNK_HEADER MIGRATE_STATE_CHUNK_HEADER /* offset u32, total u32 */

bool migrate_msg_encode(uint8_t *buf, size_t cap, const struct migrate_msg *m, uint16_t *len)
{
	size_t n;
	switch (m->type) {
	case MIGRATE_HELLO: n = 16; break;
	case MIGRATE_HELLO_ACK: n = 8; break;
	case MIGRATE_PAGE:
		n = PAGE_CHUNK_HEADER + (size_t)m->page.len + (m->page.last ? 8 : 0);
		break;
	case MIGRATE_PAGE_MORE: n = (size_t)m->page.len; break;
	case MIGRATE_PAGE_END: n = (size_t)m->page.len + 8; break;
	case MIGRATE_ZERO_PAGES: n = 8 * (size_t)m->zero.count; break;
	case MIGRATE_STATE: n = STATE_CHUNK_HEADER + (size_t)m->state.len; break;
	case MIGRATE_ROUND_END: n = 8; break;
	case MIGRATE_COMMIT: n = 16; break;
	case MIGRATE_COMMIT_ACK: n = 0; break;
	case MIGRATE_ABORT: n = 2; break;
	case MIGRATE_ACK: n = 12; break;
	default: return false;
	}
	if (n > cap || n > MIGRATE_PAYLOAD_MAX)
		return false;
	switch (m->type) {
	case MIGRATE_HELLO:
		put64(buf, m->hello.nr_pages);
		put32(buf + 8, m->hello.page_size);
		put32(buf + 12, m->hello.state_max);
		break;
	case MIGRATE_HELLO_ACK: put64(buf, m->hello_ack.nr_pages); break;
	case MIGRATE_PAGE:
		put64(buf, m->page.pfn);
		put16(buf + 8, m->page.offset);
		put16(buf + 10, m->page.len);
		memcpy(buf + PAGE_CHUNK_HEADER, m->page.data, m->page.len);
		if (m->page.last)
			put64(buf + PAGE_CHUNK_HEADER + m->page.len, m->page.page_checksum);
		break;
	case MIGRATE_PAGE_MORE: memcpy(buf, m->page.data, m->page.len); break;
	case MIGRATE_PAGE_END:
		memcpy(buf, m->page.data, m->page.len);
		put64(buf + m->page.len, m->page.page_checksum);
		break;
	case MIGRATE_ZERO_PAGES:
		for (unsigned i = 0; i < m->zero.count; i++)
			put64(buf + 8 * (size_t)i, m->zero.pfns[i]);
		break;
	case MIGRATE_STATE:
		put32(buf, m->state.offset);
		put32(buf + 4, m->state.total);
		memcpy(buf + STATE_CHUNK_HEADER, m->state.data, m->state.len);
		break;
	case MIGRATE_ROUND_END:
		put32(buf, m->round_end.round);
		put32(buf + 4, m->round_end.pages);
		break;
	case MIGRATE_COMMIT:
		put32(buf, m->commit.state_len);
		put32(buf + 4, m->commit.rounds);
		put64(buf + 8, m->commit.state_checksum);
		break;
	case MIGRATE_ABORT: put16(buf, (uint16_t)m->abort.reason); break;
	case MIGRATE_ACK:
		put32(buf, m->ack.next);
		put64(buf + 4, m->ack.sack);
		break;
	default: break;
	}
	*len = (uint16_t)n;
	return true;
}

enum migrate_error migrate_msg_decode(const struct migrate_frame *f, struct migrate_msg *out)
{
	const uint8_t *p = f->payload;
	size_t n = f->payload_len;
	memset(out, 0, sizeof *out);
	out->type = f->type;
	switch (f->type) {
	case MIGRATE_HELLO:
		if (n != 16)
			return MIGRATE_ERR_BAD_PAYLOAD;
		out->hello.nr_pages = get64(p);
		out->hello.page_size = get32(p + 8);
		out->hello.state_max = get32(p + 12);
		return MIGRATE_OK;
	case MIGRATE_HELLO_ACK:
		if (n != 8)
			return MIGRATE_ERR_BAD_PAYLOAD;
		out->hello_ack.nr_pages = get64(p);
		return MIGRATE_OK;
	case MIGRATE_PAGE: {
		if (n < PAGE_CHUNK_HEADER)
			return MIGRATE_ERR_BAD_PAYLOAD;
		struct migrate_page_chunk *c = &out->page;
		c->pfn = get64(p);
		c->offset = get16(p + 8);
		c->len = get16(p + 10);
		if (c->len == 0 || c->offset >= MIGRATE_PAGE_SIZE ||
		    c->len > MIGRATE_PAGE_SIZE - c->offset)
			return MIGRATE_ERR_BAD_PAYLOAD;
		c->last = c->offset + c->len == MIGRATE_PAGE_SIZE;
		if (n != PAGE_CHUNK_HEADER + (size_t)c->len + (c->last ? 8 : 0))
			return MIGRATE_ERR_BAD_PAYLOAD;
		c->data = p + PAGE_CHUNK_HEADER;
		if (c->last)
			c->page_checksum = get64(p + PAGE_CHUNK_HEADER + c->len);
		return MIGRATE_OK;
	}
	case MIGRATE_PAGE_MORE:
	case MIGRATE_PAGE_END: {
		/* Whether it fits the open page only the destination knows. */
		struct migrate_page_chunk *c = &out->page;
		c->continued = true;
		c->last = f->type == MIGRATE_PAGE_END;
		size_t data = c->last ? n - MIN(n, (size_t)8) : n;
		if (data == 0 || data > MIGRATE_PAGE_SIZE)
			return MIGRATE_ERR_BAD_PAYLOAD;
		c->len = (uint16_t)data;
		c->data = p;
		if (c->last)
			c->page_checksum = get64(p + data);
		return MIGRATE_OK;
	}
	case MIGRATE_ZERO_PAGES:
		if (n == 0 || n % 8)
			return MIGRATE_ERR_BAD_PAYLOAD;
		out->zero.count = (uint16_t)(n / 8);
		out->zero.raw = p;
		return MIGRATE_OK;
	case MIGRATE_STATE: {
		if (n <= STATE_CHUNK_HEADER)
			return MIGRATE_ERR_BAD_PAYLOAD;
		struct migrate_state_chunk *c = &out->state;
		c->offset = get32(p);
		c->total = get32(p + 4);
		c->len = (uint16_t)(n - STATE_CHUNK_HEADER);
		c->data = p + STATE_CHUNK_HEADER;
		if (c->total > MIGRATE_STATE_MAX || c->offset > c->total ||
		    c->len > c->total - c->offset)
			return MIGRATE_ERR_BAD_PAYLOAD;
		return MIGRATE_OK;
	}
	case MIGRATE_ROUND_END:
		if (n != 8)
			return MIGRATE_ERR_BAD_PAYLOAD;
		out->round_end.round = get32(p);
		out->round_end.pages = get32(p + 4);
		return MIGRATE_OK;
	case MIGRATE_COMMIT:
		if (n != 16)
			return MIGRATE_ERR_BAD_PAYLOAD;
		out->commit.state_len = get32(p);
		out->commit.rounds = get32(p + 4);
		out->commit.state_checksum = get64(p + 8);
		return out->commit.state_len <= MIGRATE_STATE_MAX ? MIGRATE_OK
		                                                  : MIGRATE_ERR_BAD_PAYLOAD;
	case MIGRATE_COMMIT_ACK: return n == 0 ? MIGRATE_OK : MIGRATE_ERR_BAD_PAYLOAD;
	case MIGRATE_ABORT: {
		if (n != 2)
			return MIGRATE_ERR_BAD_PAYLOAD;
		unsigned reason = get16(p);
		/* An ABORT must still stop us when its reason is one we do
		 * not know (a newer peer): call it a protocol error. */
		out->abort.reason = reason > MIGRATE_OK && reason < MIGRATE_ERR_END
		                        ? (enum migrate_error)reason
		                        : MIGRATE_ERR_PROTOCOL;
		return MIGRATE_OK;
	}
	case MIGRATE_ACK:
		if (n != 12)
			return MIGRATE_ERR_BAD_PAYLOAD;
		out->ack.next = get32(p);
		out->ack.sack = get64(p + 4);
		return MIGRATE_OK;
	default: return MIGRATE_ERR_BAD_TYPE;
	}
}

uint64_t migrate_zero_pfn(const struct migrate_zero_pages *z, unsigned i)
{
	return i < z->count ? get64(z->raw + 8 * (size_t)i) : UINT64_MAX;
}

const char *migrate_error_name(enum migrate_error e)
{
	static const char *const names[MIGRATE_ERR_END] = {
	    [MIGRATE_OK] = "ok",
	    [MIGRATE_ERR_TRUNCATED] = "truncated frame",
	    [MIGRATE_ERR_BAD_MAGIC] = "bad magic",
	    [MIGRATE_ERR_BAD_VERSION] = "unknown version",
	    [MIGRATE_ERR_BAD_LENGTH] = "payload length too large",
	    [MIGRATE_ERR_BAD_CHECKSUM] = "bad frame checksum",
	    [MIGRATE_ERR_BAD_TYPE] = "unknown frame type",
	    [MIGRATE_ERR_BAD_PAYLOAD] = "malformed payload",
	    [MIGRATE_ERR_PEER_GONE] = "peer gone (retransmissions exhausted)",
	    [MIGRATE_ERR_PEER_SILENT] = "peer silent (idle timeout)",
	    [MIGRATE_ERR_PROTOCOL] = "protocol error",
	    [MIGRATE_ERR_NO_MEMORY] = "destination out of memory",
	    [MIGRATE_ERR_STATE_TOO_BIG] = "state blob too big",
	    [MIGRATE_ERR_PAGE_CHECKSUM] = "page checksum mismatch",
	    [MIGRATE_ERR_STATE_CHECKSUM] = "state checksum mismatch",
	    [MIGRATE_ERR_INCOMPLETE] = "commit before everything arrived",
	    [MIGRATE_ERR_CANCELLED] = "cancelled",
	    [MIGRATE_ERR_STATE_REFUSED] = "state refused by the destination",
	};
	return (unsigned)e < MIGRATE_ERR_END && names[e] ? names[e] : "unknown error";
}

const char *migrate_type_name(unsigned type)
{
	static const char *const names[MIGRATE_TYPE_END] = {
	    [MIGRATE_HELLO] = "HELLO",         [MIGRATE_HELLO_ACK] = "HELLO_ACK",
	    [MIGRATE_PAGE] = "PAGE",           [MIGRATE_ZERO_PAGES] = "ZERO_PAGES",
	    [MIGRATE_STATE] = "STATE",         [MIGRATE_ROUND_END] = "ROUND_END",
	    [MIGRATE_COMMIT] = "COMMIT",       [MIGRATE_COMMIT_ACK] = "COMMIT_ACK",
	    [MIGRATE_ABORT] = "ABORT",         [MIGRATE_ACK] = "ACK",
	    [MIGRATE_PAGE_MORE] = "PAGE_MORE", [MIGRATE_PAGE_END] = "PAGE_END",
	};
	return type < MIGRATE_TYPE_END && names[type] ? names[type] : "?";
}

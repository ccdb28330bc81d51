/* Unit tests of the migration frame format (migrate/wire.c). */
#include <string.h>

#include "check.h"
#include "migrate/migrate.h"

static uint8_t frame[MIGRATE_MTU + 64];
static uint8_t payload[MIGRATE_PAYLOAD_MAX];
static uint8_t page[MIGRATE_PAGE_SIZE];

/* Encodes m as a whole frame of session 0x1234, seq 7; returns its length. */
static size_t build(const struct migrate_msg *m)
{
	struct migrate_frame f = {
	    .type = (uint8_t)m->type, .session = 0x1234, .seq = 7, .payload = payload};
	if (!migrate_msg_encode(payload, sizeof payload, m, &f.payload_len))
		return 0;
	return migrate_frame_encode(frame, sizeof frame, &f);
}

/* A frame with a correct checksum around a hand-made payload. */
static size_t build_raw(uint8_t type, const uint8_t *raw, uint16_t len)
{
	struct migrate_frame f = {
	    .type = type, .session = 0x1234, .seq = 7, .payload_len = len, .payload = raw};
	return migrate_frame_encode(frame, sizeof frame, &f);
}

static enum migrate_error parse(size_t len, struct migrate_msg *out)
{
	struct migrate_frame f;
	enum migrate_error e = migrate_frame_decode(frame, len, &f);
	return e != MIGRATE_OK ? e : migrate_msg_decode(&f, out);
}

TEST(migrate_wire_header_round_trip)
{
	struct migrate_msg m = {.type = MIGRATE_ROUND_END};
	m.round_end.round = 3;
	m.round_end.pages = 99;
	size_t len = build(&m);
	CHECK_EQ(len, MIGRATE_HEADER_SIZE + 8);
	struct migrate_frame f;
	CHECK_EQ(migrate_frame_decode(frame, len, &f), MIGRATE_OK);
	CHECK_EQ(f.type, MIGRATE_ROUND_END);
	CHECK_EQ(f.session, 0x1234);
	CHECK_EQ(f.seq, 7);
	CHECK_EQ(f.payload_len, 8);
	CHECK_EQ(frame[0] | frame[1] << 8, MIGRATE_MAGIC); /* little-endian on the wire */
	struct migrate_msg out;
	CHECK_EQ(migrate_msg_decode(&f, &out), MIGRATE_OK);
	CHECK_EQ(out.round_end.round, 3);
	CHECK_EQ(out.round_end.pages, 99);
}

TEST(migrate_wire_every_message_round_trips)
{
	struct migrate_msg m, out;

	m = (struct migrate_msg){.type = MIGRATE_HELLO};
	m.hello.nr_pages = 1ull << 40;
	m.hello.page_size = MIGRATE_PAGE_SIZE;
	m.hello.state_max = 65536;
	CHECK_EQ(parse(build(&m), &out), MIGRATE_OK);
	CHECK_EQ(out.hello.nr_pages, 1ull << 40);
	CHECK_EQ(out.hello.page_size, MIGRATE_PAGE_SIZE);
	CHECK_EQ(out.hello.state_max, 65536);

	m = (struct migrate_msg){.type = MIGRATE_HELLO_ACK};
	m.hello_ack.nr_pages = 64;
	CHECK_EQ(parse(build(&m), &out), MIGRATE_OK);
	CHECK_EQ(out.hello_ack.nr_pages, 64);

	for (size_t i = 0; i < sizeof page; i++)
		page[i] = (uint8_t)(i * 7 + 1);
	m = (struct migrate_msg){.type = MIGRATE_PAGE};
	m.page.pfn = 0x123456789ull;
	m.page.offset = 1000;
	m.page.len = 500;
	m.page.data = page + 1000;
	CHECK_EQ(parse(build(&m), &out), MIGRATE_OK);
	CHECK_EQ(out.page.pfn, 0x123456789ull);
	CHECK_EQ(out.page.offset, 1000);
	CHECK_EQ(out.page.len, 500);
	CHECK(!out.page.last);
	CHECK(memcmp(out.page.data, page + 1000, 500) == 0);

	m.page.offset = MIGRATE_PAGE_SIZE - 100; /* the last piece carries the checksum */
	m.page.len = 100;
	m.page.data = page + m.page.offset;
	m.page.last = true;
	m.page.page_checksum = migrate_page_checksum(page);
	CHECK_EQ(parse(build(&m), &out), MIGRATE_OK);
	CHECK(out.page.last);
	CHECK_EQ(out.page.page_checksum, migrate_page_checksum(page));

	/* A page's later pieces carry no header: data, or data and checksum. */
	m = (struct migrate_msg){.type = MIGRATE_PAGE_MORE};
	m.page.len = 32;
	m.page.data = page + 20;
	CHECK_EQ(build(&m), MIGRATE_HEADER_SIZE + 32);
	CHECK_EQ(parse(MIGRATE_HEADER_SIZE + 32, &out), MIGRATE_OK);
	CHECK(out.page.continued && !out.page.last && out.page.len == 32);
	CHECK(memcmp(out.page.data, page + 20, 32) == 0);
	m = (struct migrate_msg){.type = MIGRATE_PAGE_END};
	m.page.len = 24;
	m.page.data = page + MIGRATE_PAGE_SIZE - 24;
	m.page.last = true;
	m.page.page_checksum = migrate_page_checksum(page);
	CHECK_EQ(parse(build(&m), &out), MIGRATE_OK);
	CHECK(out.page.continued && out.page.last && out.page.len == 24);
	CHECK_EQ(out.page.page_checksum, migrate_page_checksum(page));

	uint64_t pfns[3] = {0, 5, 1ull << 33};
	m = (struct migrate_msg){.type = MIGRATE_ZERO_PAGES};
	m.zero.count = 3;
	m.zero.pfns = pfns;
	CHECK_EQ(parse(build(&m), &out), MIGRATE_OK);
	CHECK_EQ(out.zero.count, 3);
	for (unsigned i = 0; i < 3; i++)
		CHECK_EQ(migrate_zero_pfn(&out.zero, i), pfns[i]);
	CHECK_EQ(migrate_zero_pfn(&out.zero, 3), UINT64_MAX);

	m = (struct migrate_msg){.type = MIGRATE_STATE};
	m.state.offset = 1400;
	m.state.total = 3000;
	m.state.len = 1000;
	m.state.data = page;
	CHECK_EQ(parse(build(&m), &out), MIGRATE_OK);
	CHECK_EQ(out.state.offset, 1400);
	CHECK_EQ(out.state.total, 3000);
	CHECK_EQ(out.state.len, 1000);
	CHECK(memcmp(out.state.data, page, 1000) == 0);

	m = (struct migrate_msg){.type = MIGRATE_COMMIT};
	m.commit.state_len = 3000;
	m.commit.rounds = 4;
	m.commit.state_checksum = 0xfeedfacecafebeefull;
	CHECK_EQ(parse(build(&m), &out), MIGRATE_OK);
	CHECK_EQ(out.commit.state_len, 3000);
	CHECK_EQ(out.commit.rounds, 4);
	CHECK_EQ(out.commit.state_checksum, 0xfeedfacecafebeefull);

	m = (struct migrate_msg){.type = MIGRATE_COMMIT_ACK};
	CHECK_EQ(build(&m), MIGRATE_HEADER_SIZE);
	CHECK_EQ(parse(MIGRATE_HEADER_SIZE, &out), MIGRATE_OK);
	CHECK_EQ(out.type, MIGRATE_COMMIT_ACK);

	m = (struct migrate_msg){.type = MIGRATE_ABORT};
	m.abort.reason = MIGRATE_ERR_NO_MEMORY;
	CHECK_EQ(parse(build(&m), &out), MIGRATE_OK);
	CHECK_EQ(out.abort.reason, MIGRATE_ERR_NO_MEMORY);

	m = (struct migrate_msg){.type = MIGRATE_ACK};
	m.ack.next = 0xfffffff0u;
	m.ack.sack = 0x8000000000000005ull;
	CHECK_EQ(parse(build(&m), &out), MIGRATE_OK);
	CHECK_EQ(out.ack.next, 0xfffffff0u);
	CHECK_EQ(out.ack.sack, 0x8000000000000005ull);
}

/* A page piece of the largest payload, used by the corruption tests. */
static size_t big_page_frame(void)
{
	for (size_t i = 0; i < sizeof page; i++)
		page[i] = (uint8_t)(i ^ (i >> 8));
	struct migrate_msg m = {.type = MIGRATE_PAGE};
	m.page.pfn = 42;
	m.page.len = MIGRATE_PAYLOAD_MAX - MIGRATE_PAGE_CHUNK_HEADER;
	m.page.data = page;
	return build(&m);
}

TEST(migrate_wire_largest_frame_fits_ethernet)
{
	size_t len = big_page_frame();
	CHECK_EQ(len, MIGRATE_MTU);
	CHECK_EQ(len + MIGRATE_ETH_HEADER, 1514);
	/* One byte more does not encode. */
	struct migrate_frame f = {
	    .type = MIGRATE_PAGE, .payload_len = MIGRATE_PAYLOAD_MAX + 1, .payload = payload};
	CHECK_EQ(migrate_frame_encode(frame, sizeof frame, &f), 0);
	f.payload_len = 10;
	CHECK_EQ(migrate_frame_encode(frame, MIGRATE_HEADER_SIZE + 9, &f),
	         0); /* buffer too small */
}

TEST(migrate_wire_every_single_bit_flip_is_rejected)
{
	size_t len = big_page_frame();
	struct migrate_frame f;
	for (size_t bit = 0; bit < len * 8; bit++) {
		frame[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		enum migrate_error e = migrate_frame_decode(frame, len, &f);
		frame[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		if (e == MIGRATE_OK) {
			char what[64];
			snprintf(what, sizeof what, "flipping bit %zu was not noticed", bit);
			test_fail(__FILE__, __LINE__, what);
			return;
		}
	}
	CHECK_EQ(migrate_frame_decode(frame, len, &f), MIGRATE_OK); /* restored */
}

TEST(migrate_wire_two_bit_flips_in_payload_are_rejected)
{
	size_t len = big_page_frame();
	struct migrate_frame f;
	for (size_t i = 0; i < 2000; i++) {
		size_t a = MIGRATE_HEADER_SIZE * 8 + (i * 7919) % ((len - MIGRATE_HEADER_SIZE) * 8);
		size_t b =
		    MIGRATE_HEADER_SIZE * 8 + (i * 104729 + 13) % ((len - MIGRATE_HEADER_SIZE) * 8);
		if (a == b)
			continue;
		frame[a / 8] ^= (uint8_t)(1u << (a % 8));
		frame[b / 8] ^= (uint8_t)(1u << (b % 8));
		enum migrate_error e = migrate_frame_decode(frame, len, &f);
		frame[a / 8] ^= (uint8_t)(1u << (a % 8));
		frame[b / 8] ^= (uint8_t)(1u << (b % 8));
		CHECK_EQ(e, MIGRATE_ERR_BAD_CHECKSUM);
	}
}

TEST(migrate_wire_every_truncation_is_rejected)
{
	size_t len = big_page_frame();
	struct migrate_frame f;
	for (size_t cut = 0; cut < len; cut++)
		CHECK_EQ(migrate_frame_decode(frame, cut, &f), MIGRATE_ERR_TRUNCATED);
	CHECK_EQ(migrate_frame_decode(frame, len, &f), MIGRATE_OK);
}

TEST(migrate_wire_ethernet_padding_is_ignored)
{
	struct migrate_msg m = {.type = MIGRATE_ACK};
	m.ack.next = 5;
	size_t len = build(&m);
	CHECK_EQ(len, 30);
	memset(frame + len, 0xa5, 60 - len); /* the e1000 pads short frames to 60 bytes */
	struct migrate_msg out;
	CHECK_EQ(parse(60, &out), MIGRATE_OK);
	CHECK_EQ(out.ack.next, 5);
}

TEST(migrate_wire_header_faults_have_their_reason)
{
	struct migrate_msg m = {.type = MIGRATE_COMMIT_ACK};
	size_t len = build(&m);
	struct migrate_frame f;

	frame[0] = 'X';
	CHECK_EQ(migrate_frame_decode(frame, len, &f), MIGRATE_ERR_BAD_MAGIC);
	len = build(&m);
	frame[2] = MIGRATE_VERSION + 1;
	CHECK_EQ(migrate_frame_decode(frame, len, &f), MIGRATE_ERR_BAD_VERSION);
	len = build(&m);
	frame[12] = 0xff; /* payload length 0x..ff, more than fits */
	frame[13] = 0x0f;
	CHECK_EQ(migrate_frame_decode(frame, sizeof frame, &f), MIGRATE_ERR_BAD_LENGTH);
	len = build(&m);
	frame[12] = 4; /* says 4 bytes of payload, has none */
	CHECK_EQ(migrate_frame_decode(frame, len, &f), MIGRATE_ERR_TRUNCATED);
	len = build(&m);
	frame[17] ^= 0x80; /* the checksum itself */
	CHECK_EQ(migrate_frame_decode(frame, len, &f), MIGRATE_ERR_BAD_CHECKSUM);

	/* Unknown types are refused even with a correct checksum. */
	CHECK_EQ(migrate_frame_decode(frame, build_raw(0, NULL, 0), &f), MIGRATE_ERR_BAD_TYPE);
	CHECK_EQ(migrate_frame_decode(frame, build_raw(MIGRATE_TYPE_END, NULL, 0), &f),
	         MIGRATE_ERR_BAD_TYPE);
	CHECK_EQ(migrate_frame_decode(frame, build_raw(200, NULL, 0), &f), MIGRATE_ERR_BAD_TYPE);
}

/* Little-endian helpers for hand-made payloads. */
static void le(uint8_t *p, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static enum migrate_error raw(uint8_t type, const uint8_t *bytes, uint16_t len)
{
	struct migrate_msg out;
	return parse(build_raw(type, bytes, len), &out);
}

TEST(migrate_wire_malformed_payloads_are_rejected)
{
	uint8_t p[64] = {0};
	/* Fixed-size messages must be exactly their size. */
	CHECK_EQ(raw(MIGRATE_HELLO, p, 15), MIGRATE_ERR_BAD_PAYLOAD);
	CHECK_EQ(raw(MIGRATE_HELLO, p, 17), MIGRATE_ERR_BAD_PAYLOAD);
	CHECK_EQ(raw(MIGRATE_HELLO_ACK, p, 7), MIGRATE_ERR_BAD_PAYLOAD);
	CHECK_EQ(raw(MIGRATE_ROUND_END, p, 0), MIGRATE_ERR_BAD_PAYLOAD);
	CHECK_EQ(raw(MIGRATE_COMMIT, p, 15), MIGRATE_ERR_BAD_PAYLOAD);
	CHECK_EQ(raw(MIGRATE_COMMIT_ACK, p, 1), MIGRATE_ERR_BAD_PAYLOAD);
	CHECK_EQ(raw(MIGRATE_ABORT, p, 3), MIGRATE_ERR_BAD_PAYLOAD);
	CHECK_EQ(raw(MIGRATE_ACK, p, 11), MIGRATE_ERR_BAD_PAYLOAD);
	/* Continuation pieces: never empty; PAGE_END has its 8-byte checksum
	 * and at least one byte of data. */
	CHECK_EQ(raw(MIGRATE_PAGE_MORE, p, 0), MIGRATE_ERR_BAD_PAYLOAD);
	CHECK_EQ(raw(MIGRATE_PAGE_MORE, p, 1), MIGRATE_OK);
	CHECK_EQ(raw(MIGRATE_PAGE_END, p, 8), MIGRATE_ERR_BAD_PAYLOAD);
	CHECK_EQ(raw(MIGRATE_PAGE_END, p, 9), MIGRATE_OK);

	/* PAGE: header too short, empty piece, offset past the page, piece
	 * running past the page, lengths that disagree, a last piece
	 * without its checksum, a middle piece with one. */
	CHECK_EQ(raw(MIGRATE_PAGE, p, 11), MIGRATE_ERR_BAD_PAYLOAD);
	le(p + 10, 0, 2);
	CHECK_EQ(raw(MIGRATE_PAGE, p, 12), MIGRATE_ERR_BAD_PAYLOAD);
	le(p + 8, 4096, 2);
	le(p + 10, 1, 2);
	CHECK_EQ(raw(MIGRATE_PAGE, p, 13), MIGRATE_ERR_BAD_PAYLOAD);
	le(p + 8, 4090, 2);
	le(p + 10, 10, 2);
	CHECK_EQ(raw(MIGRATE_PAGE, p, 12 + 10 + 8), MIGRATE_ERR_BAD_PAYLOAD);
	le(p + 8, 0, 2);
	le(p + 10, 10, 2);
	CHECK_EQ(raw(MIGRATE_PAGE, p, 12 + 9), MIGRATE_ERR_BAD_PAYLOAD);
	CHECK_EQ(raw(MIGRATE_PAGE, p, 12 + 10 + 8), MIGRATE_ERR_BAD_PAYLOAD);
	CHECK_EQ(raw(MIGRATE_PAGE, p, 12 + 10), MIGRATE_OK);
	le(p + 8, 4086, 2);
	CHECK_EQ(raw(MIGRATE_PAGE, p, 12 + 10), MIGRATE_ERR_BAD_PAYLOAD);
	CHECK_EQ(raw(MIGRATE_PAGE, p, 12 + 10 + 8), MIGRATE_OK);

	/* ZERO_PAGES: a whole number of pfns, at least one. */
	CHECK_EQ(raw(MIGRATE_ZERO_PAGES, p, 0), MIGRATE_ERR_BAD_PAYLOAD);
	CHECK_EQ(raw(MIGRATE_ZERO_PAGES, p, 12), MIGRATE_ERR_BAD_PAYLOAD);
	CHECK_EQ(raw(MIGRATE_ZERO_PAGES, p, 16), MIGRATE_OK);

	/* STATE: no data, total above the maximum, piece past the total. */
	memset(p, 0, sizeof p);
	CHECK_EQ(raw(MIGRATE_STATE, p, 8), MIGRATE_ERR_BAD_PAYLOAD);
	le(p + 4, MIGRATE_STATE_MAX + 1, 4);
	CHECK_EQ(raw(MIGRATE_STATE, p, 9), MIGRATE_ERR_BAD_PAYLOAD);
	le(p, 95, 4);
	le(p + 4, 100, 4);
	CHECK_EQ(raw(MIGRATE_STATE, p, 8 + 6), MIGRATE_ERR_BAD_PAYLOAD);
	CHECK_EQ(raw(MIGRATE_STATE, p, 8 + 5), MIGRATE_OK);

	/* COMMIT: a state larger than any blob can be. */
	memset(p, 0, sizeof p);
	le(p, MIGRATE_STATE_MAX + 1, 4);
	CHECK_EQ(raw(MIGRATE_COMMIT, p, 16), MIGRATE_ERR_BAD_PAYLOAD);

	/* ABORT with a reason we do not know still aborts, as a protocol error. */
	struct migrate_msg out;
	le(p, 0, 2);
	CHECK_EQ(parse(build_raw(MIGRATE_ABORT, p, 2), &out), MIGRATE_OK);
	CHECK_EQ(out.abort.reason, MIGRATE_ERR_PROTOCOL);
	le(p, 9999, 2);
	CHECK_EQ(parse(build_raw(MIGRATE_ABORT, p, 2), &out), MIGRATE_OK);
	CHECK_EQ(out.abort.reason, MIGRATE_ERR_PROTOCOL);
}

TEST(migrate_wire_message_too_big_for_payload_size_is_refused)
{
	struct migrate_msg m = {.type = MIGRATE_PAGE};
	m.page.len = 100;
	m.page.data = page;
	uint16_t len;
	CHECK(!migrate_msg_encode(payload, MIGRATE_PAYLOAD_MIN, &m, &len));
	CHECK(migrate_msg_encode(payload, 112, &m, &len));
	CHECK_EQ(len, 112);
}

TEST(migrate_wire_page_checksum_sees_any_change)
{
	memset(page, 0, sizeof page);
	uint64_t zero = migrate_page_checksum(page);
	CHECK(zero != MIGRATE_HASH_START);
	for (size_t i = 0; i < sizeof page; i += 511) {
		page[i] = 1;
		CHECK(migrate_page_checksum(page) != zero);
		page[i] = 0;
	}
	/* Chained pieces give the same sum as one call. */
	uint64_t h = migrate_hash64(MIGRATE_HASH_START, page, 1000);
	CHECK_EQ(migrate_hash64(h, page + 1000, sizeof page - 1000), zero);
}

TEST(migrate_wire_every_error_and_type_has_a_name)
{
	for (int e = 0; e < MIGRATE_ERR_END; e++)
		CHECK(strcmp(migrate_error_name((enum migrate_error)e), "unknown error") != 0);
	CHECK_STR(migrate_error_name(MIGRATE_ERR_END), "unknown error");
	for (unsigned t = MIGRATE_HELLO; t < MIGRATE_TYPE_END; t++)
		CHECK(strcmp(migrate_type_name(t), "?") != 0);
	CHECK_STR(migrate_type_name(0), "?");
	CHECK_STR(migrate_type_name(MIGRATE_PAGE), "PAGE");
}

/* libFuzzer target: the migration wire format (migrate/wire.c), frames as
 * they come off the link.
 *
 * The first input byte chooses how the rest is used: as it is (even bit
 * 0), which mostly exercises the header checks since a random checksum
 * rarely matches; or with the checksum recomputed first (odd), so that the
 * payload decoders see every layout the fuzzer comes up with. A decoded
 * frame must point inside the buffer, re-encode to the same bytes, and a
 * decoded message must re-encode to the same payload (ABORT's unknown
 * reasons aside, which become "protocol error" on purpose). */
#include "fuzz_common.h"
#include "lib/lib.h"
#include "migrate/migrate.h"

/* Writes the checksum the header should have (what wire.c computes: the
 * hash of the 14 header bytes before the field, chained with the payload,
 * folded to 32 bits). */
static void fix_checksum(uint8_t *buf, size_t len)
{
	if (len < MIGRATE_HEADER_SIZE)
		return;
	size_t payload_len = (size_t)(buf[12] | buf[13] << 8);
	if (payload_len > len - MIGRATE_HEADER_SIZE)
		payload_len = len - MIGRATE_HEADER_SIZE;
	uint64_t h = migrate_hash64(MIGRATE_HASH_START, buf, MIGRATE_HEADER_SIZE - 4);
	h = migrate_hash64(h, buf + MIGRATE_HEADER_SIZE, payload_len);
	uint32_t sum = (uint32_t)(h ^ (h >> 32));
	for (int i = 0; i < 4; i++)
		buf[14 + i] = (uint8_t)(sum >> (8 * i));
}

static void check_message(const struct migrate_frame *f, const struct migrate_msg *m)
{
	FUZZ_ASSERT(m->type == f->type);
	switch (m->type) {
	case MIGRATE_PAGE:
		FUZZ_ASSERT(m->page.len >= 1 && m->page.offset < MIGRATE_PAGE_SIZE);
		FUZZ_ASSERT(m->page.offset + m->page.len <= MIGRATE_PAGE_SIZE);
		FUZZ_ASSERT(m->page.data >= f->payload &&
		            m->page.data + m->page.len <= f->payload + f->payload_len);
		FUZZ_ASSERT(m->page.last == (m->page.offset + m->page.len == MIGRATE_PAGE_SIZE));
		break;
	case MIGRATE_ZERO_PAGES:
		FUZZ_ASSERT(m->zero.count >= 1 && 8u * m->zero.count == f->payload_len);
		for (unsigned i = 0; i < m->zero.count; i++)
			(void)migrate_zero_pfn(&m->zero, i);
		FUZZ_ASSERT(migrate_zero_pfn(&m->zero, m->zero.count) == UINT64_MAX);
		break;
	case MIGRATE_STATE:
		FUZZ_ASSERT(m->state.len >= 1 && m->state.total <= MIGRATE_STATE_MAX);
		FUZZ_ASSERT(m->state.offset <= m->state.total &&
		            m->state.len <= m->state.total - m->state.offset);
		FUZZ_ASSERT(m->state.data + m->state.len <= f->payload + f->payload_len);
		break;
	case MIGRATE_COMMIT: FUZZ_ASSERT(m->commit.state_len <= MIGRATE_STATE_MAX); break;
	case MIGRATE_ABORT:
		FUZZ_ASSERT(m->abort.reason > MIGRATE_OK && m->abort.reason < MIGRATE_ERR_END);
		break;
	default: break;
	}
	FUZZ_ASSERT(migrate_error_name(MIGRATE_OK) != NULL);

	/* Back to bytes: the same payload. */
	uint8_t again[MIGRATE_PAYLOAD_MAX];
	uint64_t pfns[MIGRATE_PAYLOAD_MAX / 8];
	struct migrate_msg copy = *m;
	if (m->type == MIGRATE_ZERO_PAGES) {
		for (unsigned i = 0; i < m->zero.count; i++)
			pfns[i] = migrate_zero_pfn(&m->zero, i);
		copy.zero.pfns = pfns;
	}
	uint16_t len = 0;
	FUZZ_ASSERT(migrate_msg_encode(again, sizeof again, &copy, &len));
	FUZZ_ASSERT(len == f->payload_len);
	bool abort_reason_mapped =
	    m->type == MIGRATE_ABORT && m->abort.reason == MIGRATE_ERR_PROTOCOL;
	if (!abort_reason_mapped)
		FUZZ_ASSERT(!memcmp(again, f->payload, len));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	bool fix = data[0] & 1;
	size--;
	data++;
	/* An exact-size copy: a read past the frame is an overflow for ASan. */
	uint8_t *buf = malloc(size ? size : 1);
	if (!buf)
		abort();
	memcpy(buf, data, size);
	if (fix)
		fix_checksum(buf, size);

	struct migrate_frame f;
	enum migrate_error e = migrate_frame_decode(buf, size, &f);
	FUZZ_ASSERT(e < MIGRATE_ERR_END);
	FUZZ_ASSERT(migrate_error_name(e) != NULL);
	if (e == MIGRATE_OK) {
		FUZZ_ASSERT(f.type >= 1 && f.type < MIGRATE_TYPE_END);
		FUZZ_ASSERT(f.payload_len <= MIGRATE_PAYLOAD_MAX);
		FUZZ_ASSERT(f.payload == buf + MIGRATE_HEADER_SIZE);
		FUZZ_ASSERT(MIGRATE_HEADER_SIZE + (size_t)f.payload_len <= size);
		FUZZ_ASSERT(migrate_type_name(f.type)[0] != '?');
		/* Re-encoded: the frame's own bytes (padding after it aside). */
		uint8_t again[MIGRATE_MTU];
		size_t n = migrate_frame_encode(again, sizeof again, &f);
		FUZZ_ASSERT(n == MIGRATE_HEADER_SIZE + (size_t)f.payload_len);
		FUZZ_ASSERT(!memcmp(again, buf, n));

		struct migrate_msg m;
		enum migrate_error me = migrate_msg_decode(&f, &m);
		FUZZ_ASSERT(me == MIGRATE_OK || me == MIGRATE_ERR_BAD_PAYLOAD);
		if (me == MIGRATE_OK)
			check_message(&f, &m);
	} else {
		FUZZ_ASSERT(e >= MIGRATE_ERR_TRUNCATED && e <= MIGRATE_ERR_BAD_TYPE);
	}
	free(buf);
	return 0;
}

/* libFuzzer target: the destination's state machine (migrate/engine.c) fed
 * arbitrary frame sequences by a source the input plays (fuzz_migrate.h).
 *
 * Input: link configuration, the destination's capacity in pages, whether
 * its memory starts zeroed, its state buffer's size, the answer of its
 * state check; then ops: source frames (any, and shortcuts that a fuzzer
 * could not build alone: a HELLO, a whole page with its right checksum,
 * zero-page markers, a state blob in pieces, COMMIT with the blob's right
 * checksum or a wrong one), time steps, cancel.
 *
 * The destination's memory, seen-bitmap and state buffer are buffers of
 * exactly their sizes, so a write the checks let through past them is a
 * heap overflow for ASan. Checked too: it answers COMMIT only when every
 * page and the whole state arrived and the state check agreed, and then its
 * image is the one the harness sent; an ended migration stays ended. */
#include "fuzz_migrate.h"

#define MAX_PAGES 16

static struct {
	struct peer peer;
	struct migrate_dest dst;
	uint8_t *memory, *state_buf;
	uint64_t *seen, *data; /* data: the destination's data_bitmap, or NULL */
	uint64_t nr_pages;
	size_t state_cap;
	bool state_ok;
	unsigned state_checks;
	enum migrate_status last;
	bool commit_ack_seen;
	/* What the harness sent, to compare with at COMMIT_ACK. Only runs of
	 * well-formed, in-order frames (the shortcut ops) are compared: any
	 * other frame may be taken in place of one of them, so after one the
	 * image is no longer known. */
	bool image_unknown;
	uint8_t image[MAX_PAGES * MIGRATE_PAGE_SIZE];
	bool page_valid[MAX_PAGES];
	uint8_t state[MIGRATE_STATE_MAX];
	uint32_t state_len;
} w;

static bool state_check(void *ctx, const uint8_t *state, size_t len)
{
	(void)ctx;
	w.state_checks++;
	FUZZ_ASSERT(len <= w.state_cap);
	FUZZ_ASSERT(state == w.state_buf);
	return w.state_ok;
}

static void deliver(void *ctx, const uint8_t *bytes, size_t len, uint64_t now)
{
	(void)ctx;
	(void)migrate_dest_receive(&w.dst, bytes, len, now);
}

static void on_engine_frame(void *ctx, const struct migrate_frame *f, const struct migrate_msg *m)
{
	(void)ctx;
	if (f->type == MIGRATE_ACK || f->type == MIGRATE_ABORT)
		return;
	/* A destination answers HELLO and COMMIT, nothing else. */
	FUZZ_ASSERT(m->type == MIGRATE_HELLO_ACK || m->type == MIGRATE_COMMIT_ACK);
	if (m->type == MIGRATE_HELLO_ACK) {
		FUZZ_ASSERT(m->hello_ack.nr_pages == w.nr_pages);
		return;
	}
	/* COMMIT_ACK: everything is in and checked. Only its first copy is
	 * looked at: a resend comes after frames the destination ignores,
	 * as it must once it has committed. */
	if (w.commit_ack_seen)
		return;
	w.commit_ack_seen = true;
	const struct migrate_dest_report *r = &w.dst.report;
	FUZZ_ASSERT(r->vm_pages >= 1 && r->vm_pages <= w.nr_pages);
	FUZZ_ASSERT(r->pages_distinct == r->vm_pages);
	FUZZ_ASSERT(w.dst.state_received == w.dst.state_total || w.dst.state_received == 0);
	FUZZ_ASSERT(w.state_ok);
	FUZZ_ASSERT(w.state_checks > 0 || !w.dst.cfg.state_check);
	if (w.image_unknown)
		return;
	uint64_t data_pages = 0;
	for (uint64_t pfn = 0; pfn < r->vm_pages; pfn++) {
		FUZZ_ASSERT(w.page_valid[pfn]);
		FUZZ_ASSERT(!memcmp(w.memory + pfn * MIGRATE_PAGE_SIZE,
		                    w.image + pfn * MIGRATE_PAGE_SIZE, MIGRATE_PAGE_SIZE));
		if (w.data)
			data_pages += w.data[pfn / 64] >> (pfn % 64) & 1;
	}
	/* The count is the pages whose last copy came as data (hv's source
	 * sends a zero page as a marker, so there they are the non-zero ones;
	 * this peer may send zeros as data). */
	if (w.data)
		FUZZ_ASSERT(r->nonzero_pages == data_pages);
	FUZZ_ASSERT(!memcmp(w.state_buf, w.state, w.dst.state_received));
}

static void check(enum migrate_status s)
{
	FUZZ_ASSERT(s <= MIGRATE_IN_DOUBT && s != MIGRATE_NEED_PAUSE);
	if (w.last != MIGRATE_RUNNING)
		FUZZ_ASSERT(s == w.last);
	const struct migrate_dest_report *r = &w.dst.report;
	FUZZ_ASSERT(r->vm_pages <= w.nr_pages);
	FUZZ_ASSERT(r->pages_distinct <= r->vm_pages);
	FUZZ_ASSERT(r->nonzero_pages <= r->pages_distinct);
	FUZZ_ASSERT(w.dst.state_received <= w.state_cap);
	if (s == MIGRATE_COMMITTED || s == MIGRATE_IN_DOUBT)
		FUZZ_ASSERT(w.commit_ack_seen);
	w.last = s;
}

/* A whole page with its right checksum (or, with op bit 4, a wrong one),
 * in as many pieces as the payload size needs, as a source sends it. */
static void send_page(struct fuzz_in *in, uint8_t op)
{
	uint64_t pfn = fuzz_u8(in) % (MAX_PAGES + 1);
	uint8_t page[MIGRATE_PAGE_SIZE];
	memset(page, fuzz_u8(in), sizeof page);
	fuzz_bytes(in, page + fuzz_u8(in) * 16, 16);
	uint64_t sum = migrate_page_checksum(page);
	if (op & 16)
		sum ^= 1; /* a page damaged end to end: the destination must abort */
	/* op & 32: later pieces as PAGE_MORE/PAGE_END, as the source sends
	 * them; else each piece a PAGE with its offset (also valid). */
	bool continued = op & 32;
	for (uint16_t offset = 0; offset < MIGRATE_PAGE_SIZE;) {
		bool bare = continued && offset > 0;
		unsigned room = w.peer.cfg.payload_size - (bare ? 0 : MIGRATE_PAGE_CHUNK_HEADER);
		unsigned left = MIGRATE_PAGE_SIZE - offset;
		struct migrate_msg m = {.type = MIGRATE_PAGE};
		m.page.pfn = pfn;
		m.page.offset = offset;
		m.page.data = page + offset;
		if (left + 8 <= room) {
			m.page.len = (uint16_t)left;
			m.page.last = true;
			m.page.page_checksum = sum;
		} else {
			m.page.len = (uint16_t)MIN(room, left - 1);
		}
		if (bare)
			m.type = m.page.last ? MIGRATE_PAGE_END : MIGRATE_PAGE_MORE;
		peer_send_msg(&w.peer, &m);
		offset += m.page.len;
	}
	if (pfn < MAX_PAGES) {
		memcpy(w.image + pfn * MIGRATE_PAGE_SIZE, page, sizeof page);
		w.page_valid[pfn] = true;
	}
}

static void send_zero_pages(struct fuzz_in *in)
{
	uint64_t pfns[8];
	struct migrate_msg m = {.type = MIGRATE_ZERO_PAGES};
	m.zero.count = 1 + fuzz_u8(in) % 8;
	for (unsigned i = 0; i < m.zero.count; i++)
		pfns[i] = fuzz_u8(in) % (MAX_PAGES + 1);
	m.zero.pfns = pfns;
	peer_send_msg(&w.peer, &m);
	for (unsigned i = 0; i < m.zero.count; i++)
		if (pfns[i] < MAX_PAGES) {
			memset(w.image + pfns[i] * MIGRATE_PAGE_SIZE, 0, MIGRATE_PAGE_SIZE);
			w.page_valid[pfns[i]] = true;
		}
}

static void send_state(struct fuzz_in *in)
{
	uint32_t len = fuzz_u16(in) % (w.state_cap + 64);
	if (len > MIGRATE_STATE_MAX)
		len = MIGRATE_STATE_MAX;
	uint8_t fill = fuzz_u8(in);
	memset(w.state, fill, len);
	fuzz_bytes(in, w.state, MIN(len, 32u));
	w.state_len = len;
	unsigned room = w.peer.cfg.payload_size - MIGRATE_STATE_CHUNK_HEADER;
	for (uint32_t sent = 0; sent < len;) {
		struct migrate_msg m = {.type = MIGRATE_STATE};
		m.state.offset = sent;
		m.state.total = len;
		m.state.len = (uint16_t)MIN(room, len - sent);
		m.state.data = w.state + sent;
		peer_send_msg(&w.peer, &m);
		sent += m.state.len;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = fuzz_in_make(data, size);
	memset(&w, 0, sizeof w);
	struct migrate_link_config link;
	fuzz_link_config(&in, &link);
	peer_init(&w.peer, &link, 1 + fuzz_u16(&in));
	w.peer.deliver = deliver;
	w.peer.on_engine_frame = on_engine_frame;

	w.nr_pages = 1 + fuzz_u8(&in) % MAX_PAGES;
	uint8_t flags = fuzz_u8(&in);
	w.state_cap = fuzz_u16(&in) % (8 * 1024 + 1);
	w.state_ok = !(flags & 2);
	/* Exact sizes: see the top. */
	w.memory = calloc(w.nr_pages, MIGRATE_PAGE_SIZE);
	w.seen = malloc((w.nr_pages + 63) / 64 * sizeof *w.seen);
	w.data = flags & 8 ? NULL : malloc((w.nr_pages + 63) / 64 * sizeof *w.data);
	w.state_buf = malloc(w.state_cap ? w.state_cap : 1);
	if (!w.memory || !w.seen || !w.state_buf)
		abort();
	struct migrate_dest_config cfg = {
	    .memory = w.memory,
	    .nr_pages = w.nr_pages,
	    .seen_bitmap = w.seen,
	    .data_bitmap = w.data,
	    .memory_is_zero = flags & 1,
	    .state_check = flags & 4 ? NULL : state_check,
	    .state_buf = w.state_buf,
	    .state_cap = w.state_cap,
	    .link = w.peer.cfg,
	};
	if (!cfg.state_check)
		w.state_ok = true; /* no check: everything restores */
	FUZZ_ASSERT(migrate_dest_listen(&w.dst, &cfg, w.peer.now));

	for (unsigned ops = 0; !fuzz_empty(&in) && ops < 4096; ops++) {
		uint8_t op = fuzz_u8(&in);
		if (fuzz_peer_op(&w.peer, &in, op)) {
			if ((op & 15) != 3) /* an ACK carries no page */
				w.image_unknown = true;
		} else {
			switch (op & 15) {
			case 8: { /* HELLO */
				struct migrate_msg m = {.type = MIGRATE_HELLO};
				m.hello.nr_pages = 1 + fuzz_u8(&in) % (MAX_PAGES + 1);
				m.hello.page_size = op & 16 ? fuzz_u32(&in) : MIGRATE_PAGE_SIZE;
				m.hello.state_max = fuzz_u16(&in) % (8 * 1024 + 64);
				peer_send_msg(&w.peer, &m);
				break;
			}
			case 9: send_page(&in, op); break;
			case 10: send_zero_pages(&in); break;
			case 11: send_state(&in); break;
			case 12: { /* COMMIT, right or wrong */
				struct migrate_msg m = {.type = MIGRATE_COMMIT};
				m.commit.state_len = w.state_len;
				m.commit.rounds = fuzz_u8(&in);
				m.commit.state_checksum =
				    migrate_hash64(MIGRATE_HASH_START, w.state, w.state_len);
				if (op & 16)
					m.commit.state_checksum ^= 1u << (fuzz_u8(&in) % 32);
				peer_send_msg(&w.peer, &m);
				break;
			}
			case 13:
				if (op & 16) {
					enum migrate_status s =
					    migrate_dest_cancel(&w.dst, w.peer.now);
					FUZZ_ASSERT(s == MIGRATE_ABORTED || s == MIGRATE_IN_DOUBT ||
					            s == w.last);
				}
				break;
			default: /* time passes */ fuzz_time_step(&w.peer, &in, op); break;
			}
		}
		check(migrate_dest_step(&w.dst, w.peer.now));
	}
#ifdef FUZZ_TRACE /* -DFUZZ_TRACE: how far an input got (to check the seeds) */
	fprintf(stderr, "dest: status %d reason %d pages %llu/%llu state %u image %s\n",
	        w.dst.report.status, w.dst.report.reason,
	        (unsigned long long)w.dst.report.pages_distinct,
	        (unsigned long long)w.dst.report.vm_pages, w.dst.state_received,
	        w.image_unknown ? "unknown" : "compared");
#endif
	free(w.memory);
	free(w.seen);
	free(w.data);
	free(w.state_buf);
	return 0;
}

/* libFuzzer target: the source's pre-copy state machine (migrate/engine.c)
 * fed arbitrary frame sequences by a destination the input plays
 * (fuzz_migrate.h), with a VM that writes to its memory and a dirty
 * tracker whose answers come from the input.
 *
 * Input: link configuration, session, the VM (pages, which are zero, their
 * contents), the policy (one of the table, or one that stops after a given
 * round), the state-blob limit; then ops: destination frames, time steps
 * and source steps, VM writes, HELLO_ACK, COMMIT_ACK, the pause with a
 * state blob, cancel, and "acknowledge everything".
 *
 * Checked, besides what fuzz_migrate.h checks of every frame: the source
 * reads only the VM's memory (an exact-size buffer) and the state blob
 * it was given; every page it sends reassembles to the checksum it sends
 * with it; the state it sends is the blob and COMMIT carries its checksum;
 * it commits only after a COMMIT_ACK; an ended migration stays ended, with
 * the tracker stopped; the throttle stays below 100 %. */
#include "fuzz_migrate.h"

#define MAX_PAGES   16
#define DIRTY_QUEUE 64

static struct {
	struct peer peer;
	struct migrate_source src;
	uint8_t *memory;
	uint64_t nr_pages;
	uint64_t *pfn_buf;
	uint8_t *state; /* the blob given at the pause, exact size */
	uint32_t state_len;
	bool paused, commit_ack_sent;
	enum migrate_status last;
	/* the fake tracker */
	bool running;
	unsigned starts, stops;
	uint64_t dirty[DIRTY_QUEUE];
	unsigned dirty_count;
	/* what the source sent, reassembled */
	uint32_t next_new_seq;
	bool page_open;
	uint64_t page_pfn;
	uint32_t page_next;
	uint8_t page[MIGRATE_PAGE_SIZE];
	uint8_t state_seen[MIGRATE_STATE_MAX];
	uint32_t state_seen_len;
	unsigned stop_round; /* the harness policy */
	unsigned throttle;
} w;

static void tracker_start(void *ctx)
{
	(void)ctx;
	FUZZ_ASSERT(!w.running);
	w.running = true;
	w.dirty_count = 0;
	w.starts++;
}

static size_t tracker_harvest(void *ctx, uint64_t *pfns, size_t max)
{
	(void)ctx;
	size_t n = MIN(max, (size_t)w.dirty_count);
	memcpy(pfns, w.dirty, n * sizeof *pfns);
	memmove(w.dirty, w.dirty + n, (w.dirty_count - n) * sizeof *w.dirty);
	w.dirty_count -= (unsigned)n;
	return n;
}

static void tracker_stop(void *ctx)
{
	(void)ctx;
	FUZZ_ASSERT(w.running);
	w.running = false;
	w.stops++;
}

/* Written since the last harvest: in the list the next harvest returns. */
static bool tracker_written(void *ctx, uint64_t pfn)
{
	(void)ctx;
	for (unsigned i = 0; i < w.dirty_count; i++)
		if (w.dirty[i] == pfn)
			return true;
	return false;
}

static const struct dirty_tracker_ops tracker = {.name = "fuzz",
                                                 .start = tracker_start,
                                                 .harvest = tracker_harvest,
                                                 .stop = tracker_stop,
                                                 .written_since_harvest = tracker_written};

static bool harness_should_stop(const struct migrate_round_stats *s, const struct migrate_params *p)
{
	(void)p;
	return s->round >= w.stop_round;
}

static unsigned harness_throttle(const struct migrate_round_stats *s,
                                 const struct migrate_params *p)
{
	(void)s, (void)p;
	return w.throttle;
}

static const struct migrate_policy harness_policy = {
    .name = "fuzz", .should_stop = harness_should_stop, .throttle_percent = harness_throttle};

/* The VM writes to a page; the tracker notes it (once) while it runs. A
 * tracker may also report a page number past the VM: the engine must skip
 * it. */
static void vm_write(uint64_t pfn, uint8_t byte, uint16_t at)
{
	if (w.paused)
		return;
	if (pfn < w.nr_pages)
		w.memory[pfn * MIGRATE_PAGE_SIZE + at % MIGRATE_PAGE_SIZE] = byte;
	if (!w.running || w.dirty_count == DIRTY_QUEUE)
		return;
	for (unsigned i = 0; i < w.dirty_count; i++)
		if (w.dirty[i] == pfn)
			return;
	w.dirty[w.dirty_count++] = pfn;
}

static void on_engine_frame(void *ctx, const struct migrate_frame *f, const struct migrate_msg *m)
{
	(void)ctx;
	if (f->type == MIGRATE_ACK || f->type == MIGRATE_ABORT)
		return;
	FUZZ_ASSERT(f->type != MIGRATE_HELLO_ACK && f->type != MIGRATE_COMMIT_ACK);
	if (f->seq < w.next_new_seq)
		return; /* a resend: transport.c's business */
	w.next_new_seq = f->seq + 1;
	switch (m->type) {
	case MIGRATE_HELLO:
		FUZZ_ASSERT(f->seq == 0);
		FUZZ_ASSERT(m->hello.nr_pages == w.nr_pages);
		FUZZ_ASSERT(m->hello.page_size == MIGRATE_PAGE_SIZE);
		break;
	case MIGRATE_PAGE_MORE:
	case MIGRATE_PAGE_END:
	case MIGRATE_PAGE: {
		struct migrate_page_chunk piece = m->page, *c = &piece;
		if (c->continued) { /* the open page, where it left off */
			FUZZ_ASSERT(w.page_open && w.page_next > 0);
			c->pfn = w.page_pfn;
			c->offset = (uint16_t)w.page_next;
			FUZZ_ASSERT(c->offset + c->len <= MIGRATE_PAGE_SIZE);
			FUZZ_ASSERT(c->last == (c->offset + c->len == MIGRATE_PAGE_SIZE));
		} else {
			/* The source opens a page with PAGE and goes on without. */
			FUZZ_ASSERT(c->offset == 0);
		}
		FUZZ_ASSERT(c->pfn < w.nr_pages);
		if (c->offset == 0) {
			FUZZ_ASSERT(!w.page_open); /* pieces of one page go back to back */
			w.page_open = true;
			w.page_pfn = c->pfn;
			w.page_next = 0;
		}
		FUZZ_ASSERT(w.page_open && c->pfn == w.page_pfn && c->offset == w.page_next);
		memcpy(w.page + c->offset, c->data, c->len);
		w.page_next += c->len;
		if (c->last) {
			FUZZ_ASSERT(migrate_page_checksum(w.page) == c->page_checksum);
			w.page_open = false;
		}
		break;
	}
	case MIGRATE_ZERO_PAGES:
		FUZZ_ASSERT(!w.page_open);
		for (unsigned i = 0; i < m->zero.count; i++)
			FUZZ_ASSERT(migrate_zero_pfn(&m->zero, i) < w.nr_pages);
		break;
	case MIGRATE_STATE:
		FUZZ_ASSERT(w.paused && !w.page_open);
		FUZZ_ASSERT(m->state.total == w.state_len);
		FUZZ_ASSERT(m->state.offset == w.state_seen_len);
		memcpy(w.state_seen + m->state.offset, m->state.data, m->state.len);
		w.state_seen_len += m->state.len;
		break;
	case MIGRATE_ROUND_END: FUZZ_ASSERT(!w.page_open); break;
	case MIGRATE_COMMIT:
		FUZZ_ASSERT(w.paused && !w.page_open);
		FUZZ_ASSERT(m->commit.state_len == w.state_len && w.state_seen_len == w.state_len);
		FUZZ_ASSERT(!memcmp(w.state_seen, w.state, w.state_len));
		FUZZ_ASSERT(m->commit.state_checksum ==
		            migrate_hash64(MIGRATE_HASH_START, w.state, w.state_len));
		break;
	default: FUZZ_ASSERT(false); /* a source sends nothing else */
	}
}

/* Notes a COMMIT_ACK the destination sends, as any frame may carry it. */
static void deliver(void *ctx, const uint8_t *bytes, size_t len, uint64_t now)
{
	(void)ctx;
	struct migrate_frame f;
	if (migrate_frame_decode(bytes, len, &f) == MIGRATE_OK && f.type == MIGRATE_COMMIT_ACK)
		w.commit_ack_sent = true;
	enum migrate_status s = migrate_source_receive(&w.src, bytes, len, now);
	(void)s;
}

static void check(enum migrate_status s)
{
	FUZZ_ASSERT(s <= MIGRATE_IN_DOUBT &&
	            s != MIGRATE_IN_DOUBT); /* a source is never in doubt */
	if (w.last == MIGRATE_COMMITTED || w.last == MIGRATE_ABORTED)
		FUZZ_ASSERT(s == w.last);
	if (s == MIGRATE_COMMITTED)
		FUZZ_ASSERT(w.commit_ack_sent && w.paused);
	if (s == MIGRATE_COMMITTED || s == MIGRATE_ABORTED) {
		FUZZ_ASSERT(!w.running && w.starts == w.stops);
		FUZZ_ASSERT(w.src.report.status == s);
		FUZZ_ASSERT(w.src.throttle_percent == 0);
	}
	FUZZ_ASSERT(w.src.throttle_percent <= 99);
	FUZZ_ASSERT(w.starts <= 1);
	w.last = s;
}

static enum migrate_status status_now(void)
{
	return w.src.report.status == MIGRATE_RUNNING ? migrate_source_step(&w.src, w.peer.now)
	                                              : w.src.report.status;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = fuzz_in_make(data, size);
	memset(&w, 0, sizeof w);
	struct migrate_link_config link;
	fuzz_link_config(&in, &link);
	link.session = 1 + fuzz_u16(&in);
	peer_init(&w.peer, &link, link.session);
	w.peer.deliver = deliver;
	w.peer.on_engine_frame = on_engine_frame;

	w.nr_pages = 1 + fuzz_u8(&in) % MAX_PAGES;
	w.memory = malloc(w.nr_pages * MIGRATE_PAGE_SIZE); /* exact size: see the top */
	w.pfn_buf = malloc((w.nr_pages + 2) * sizeof *w.pfn_buf);
	if (!w.memory || !w.pfn_buf)
		abort();
	for (uint64_t pfn = 0; pfn < w.nr_pages; pfn++) {
		uint8_t kind = fuzz_u8(&in);
		uint8_t *page = w.memory + pfn * MIGRATE_PAGE_SIZE;
		memset(page, kind & 1 ? 0 : kind, MIGRATE_PAGE_SIZE);
		if (kind & 2)
			fuzz_bytes(&in, page + (kind >> 2) * 64, 8);
	}
	w.stop_round = 1 + fuzz_u8(&in) % 4;
	w.throttle = fuzz_u8(&in);
	unsigned policy = fuzz_u8(&in) % (migrate_policy_count + 1);

	struct migrate_source_config cfg = {
	    .memory = w.memory,
	    .nr_pages = w.nr_pages,
	    .tracker = &tracker,
	    .pfn_buf = w.pfn_buf,
	    .pfn_buf_len = w.nr_pages + 2,
	    .policy = policy < migrate_policy_count ? migrate_policies[policy] : &harness_policy,
	    .params = {.state_bytes = fuzz_u16(&in)},
	    .state_max = fuzz_u16(&in) % (8 * 1024 + 1),
	    .link = w.peer.cfg,
	};
	/* The policy's knobs anywhere in their ranges, the engine's round limit
	 * small or at its default (0). */
	for (size_t k = 0; k < cfg.policy->knob_count; k++) {
		const struct knob *knob = &cfg.policy->knobs[k];
		cfg.params.knob[k] = knob->min + fuzz_u32(&in) % (knob->max - knob->min + 1);
	}
	cfg.params.engine[MIGRATE_ROUND_LIMIT] = fuzz_u8(&in) % 8;
	FUZZ_ASSERT(migrate_source_start(&w.src, &cfg, w.peer.now));

	for (unsigned ops = 0; !fuzz_empty(&in) && ops < 4096; ops++) {
		uint8_t op = fuzz_u8(&in);
		if (fuzz_peer_op(&w.peer, &in, op)) {
			check(status_now());
			continue;
		}
		enum migrate_status s;
		switch (op & 15) {
		case 8:
			fuzz_time_step(&w.peer, &in, op);
			s = migrate_source_step(&w.src, w.peer.now);
			break;
		case 9: { /* the VM writes */
			uint64_t pfn = fuzz_u8(&in) % (w.nr_pages + 2);
			uint8_t byte = fuzz_u8(&in);
			vm_write(pfn, byte, fuzz_u16(&in));
			s = migrate_source_step(&w.src, w.peer.now);
			break;
		}
		case 10: { /* HELLO_ACK, with a capacity near the VM's */
			struct migrate_msg m = {.type = MIGRATE_HELLO_ACK};
			m.hello_ack.nr_pages =
			    w.nr_pages + (uint64_t)(int8_t)(fuzz_u8(&in) % 8 - 2);
			peer_send_msg(&w.peer, &m);
			s = status_now();
			break;
		}
		case 11: {
			struct migrate_msg m = {.type = MIGRATE_COMMIT_ACK};
			peer_send_msg(&w.peer, &m);
			s = status_now();
			break;
		}
		case 12: { /* the caller pauses the vCPU and hands over the state */
			if (w.paused) {
				s = migrate_source_paused(&w.src, w.state, w.state_len, w.peer.now);
				break;
			}
			uint32_t len = fuzz_u16(&in) % (cfg.state_max + 8);
			bool was_waiting =
			    w.src.report.status == MIGRATE_RUNNING && w.last == MIGRATE_NEED_PAUSE;
			uint8_t *state = malloc(len ? len : 1);
			if (!state)
				abort();
			fuzz_bytes(&in, state, len);
			if (was_waiting) {
				w.paused = true; /* the VM stops writing from here on */
				w.state = state;
				w.state_len = len;
			}
			s = migrate_source_paused(&w.src, state, len, w.peer.now);
			if (!was_waiting)
				free(state);
			else if (len > cfg.state_max)
				FUZZ_ASSERT(s == MIGRATE_ABORTED);
			break;
		}
		case 13:
			if (op & 16) { /* cancel */
				s = migrate_source_cancel(&w.src, w.peer.now);
				if (w.last != MIGRATE_COMMITTED)
					FUZZ_ASSERT(s == MIGRATE_ABORTED);
				break;
			}
			/* fallthrough */
		default: /* acknowledge everything, then step: progress */
			peer_ack(&w.peer, &in, true);
			s = status_now();
			break;
		}
		check(s);
	}
#ifdef FUZZ_TRACE /* -DFUZZ_TRACE: how far an input got (to check the seeds) */
	fprintf(stderr, "source: status %d reason %d rounds %u pages %llu frames %llu\n",
	        w.src.report.status, w.src.report.reason, w.src.report.rounds,
	        (unsigned long long)w.src.report.pages_sent,
	        (unsigned long long)w.peer.engine_frames);
#endif
	free(w.memory);
	free(w.pfn_buf);
	free(w.state);
	return 0;
}

/* Runs in hv's migration loop (never in VM-exit context) and in the host
 * unit tests: the pre-copy engine, one state machine per side.
 *
 * Source: HELLO -> round 1 sends every page -> dirty rounds send what the
 * tracker harvested, until the policy says stop -> the caller pauses the
 * vCPU -> the last dirty pages and the state blob -> COMMIT -> COMMIT_ACK.
 * Destination: writes what arrives into its image, checks every page's
 * checksum, and answers COMMIT only when every page and the state are in.
 * Until COMMIT_ACK any failure aborts and the source keeps the VM. */
#include "lib/lib.h"
#include "migrate.h"

/* Sends one message through the stream; returns its bytes on the wire, 0
 * if it could not (window full, or a payload that does not fit). */
static size_t send_msg(struct migrate_transport *t, uint8_t *scratch, const struct migrate_msg *m,
                       uint64_t now_ns)
{
	uint16_t len;
	if (!migrate_msg_encode(scratch, t->cfg.payload_size, m, &len) ||
	    !migrate_transport_send(t, (uint8_t)m->type, scratch, len, now_ns))
		return 0;
	return MIGRATE_HEADER_SIZE + (size_t)len;
}

/* ============================== source ================================== */

enum source_phase {
	SRC_HANDSHAKE,   /* HELLO sent, waiting for HELLO_ACK */
	SRC_ROUND,       /* sending this round's pages */
	SRC_ROUND_DRAIN, /* ROUND_END sent; the round ends with its last ACK */
	SRC_WAIT_PAUSE,  /* the policy said stop; the caller must pause the vCPU */
	SRC_STOP_COPY,   /* vCPU stopped: the last pages, the state, COMMIT */
	SRC_COMMIT_WAIT, /* waiting for COMMIT_ACK */
	SRC_DONE,        /* report.status says committed or aborted */
};

static enum migrate_status source_end(struct migrate_source *src, enum migrate_status status,
                                      enum migrate_error reason, bool from_peer, uint64_t now_ns)
{
	if (src->tracking)
		src->cfg.tracker->stop(src->cfg.tracker_ctx);
	src->tracking = false;
	src->throttle_percent = 0;
	src->phase = SRC_DONE;
	src->report.status = status;
	src->report.reason = reason;
	src->report.reason_from_peer = from_peer;
	src->report.total_ns = now_ns - src->start_ns;
	src->report.link = src->link.stats;
	return status;
}

static enum migrate_status source_abort(struct migrate_source *src, enum migrate_error reason,
                                        bool from_peer, uint64_t now_ns)
{
	/* Tell the peer even when the link looks dead: it may be one way. */
	if (!from_peer)
		migrate_transport_send_abort(&src->link, reason, now_ns);
	return source_end(src, MIGRATE_ABORTED, reason, from_peer, now_ns);
}

static bool source_send(struct migrate_source *src, const struct migrate_msg *m, uint64_t now_ns)
{
	size_t bytes = send_msg(&src->link, src->scratch, m, now_ns);
	src->cur.bytes_sent += bytes;
	return bytes != 0;
}

static uint64_t vm_time(const struct migrate_source *src)
{
	return src->cfg.vm_time_ns ? src->cfg.vm_time_ns(src->cfg.vm_time_ctx) : 0;
}

static void begin_round(struct migrate_source *src, bool sweep, uint64_t list_len, uint64_t now_ns)
{
	memset(&src->cur, 0, sizeof src->cur);
	src->cur.round = src->report.rounds + 1;
	src->cur.vm_pages = src->cfg.nr_pages;
	src->cur.prev_dirty_pages = sweep ? src->cfg.nr_pages : list_len;
	src->cur.throttle_percent = src->throttle_percent;
	if (src->cfg.model && src->cfg.model->migrations) {
		src->cur.learned_Bps = src->cfg.model->stop_copy_Bps;
		src->cur.learned_commit_us = src->cfg.model->commit_us;
	}
	src->sweep = sweep;
	src->cursor = 0;
	src->list_len = list_len;
	src->round_start_ns = now_ns;
	src->vm_time_at_send_ns = vm_time(src);
	src->phase = SRC_ROUND;
}

/* A page the VM wrote again since the last harvest is in the next round's
 * list already: sending it now as well would send it twice. Only while the
 * VM runs; the stop-and-copy sends all it has. */
static bool leave_to_next_round(struct migrate_source *src, uint64_t pfn)
{
	const struct dirty_tracker_ops *t = src->cfg.tracker;
	if (src->phase != SRC_ROUND || !t->written_since_harvest ||
	    !t->written_since_harvest(src->cfg.tracker_ctx, pfn))
		return false;
	src->cur.pages_skipped++;
	return true;
}

/* The next page of this round's list (round 1: the non-zero pages its
 * scan found; later rounds: the harvest). */
static bool next_pfn(struct migrate_source *src, uint64_t *pfn)
{
	for (;;) {
		if (src->cursor >= src->list_len)
			return false;
		*pfn = src->cfg.pfn_buf[src->cursor++];
		if (*pfn >= src->cfg.nr_pages)
			continue; /* a tracker bug must not make us read outside the VM */
		if (!leave_to_next_round(src, *pfn))
			return true;
	}
}

/* A word at a time: most of a VM's pages are zero at first, and bochs
 * charges every instruction of this scan. */
static bool page_is_zero(const uint8_t *page)
{
	for (size_t i = 0; i < MIGRATE_PAGE_SIZE; i += 8) {
		uint64_t word;
		__builtin_memcpy(&word, page + i, 8); /* inlined even under -fno-builtin */
		if (word)
			return false;
	}
	return true;
}

/* A zero page joins the next marker frame; any other page is copied, so
 * that its pieces and its checksum agree while the VM goes on writing
 * (a write after the harvest makes it dirty again: it will be resent). */
static void take_page(struct migrate_source *src, uint64_t pfn)
{
	const uint8_t *page = src->cfg.memory + pfn * MIGRATE_PAGE_SIZE;
	src->cur.pages_sent++;
	if (page_is_zero(page)) {
		src->zero_pfns[src->zero_count++] = pfn;
		src->cur.zero_pages++;
		return;
	}
	memcpy(src->page_copy, page, MIGRATE_PAGE_SIZE);
	src->page_checksum = migrate_page_checksum(src->page_copy);
	src->page_pfn = pfn;
	src->page_offset = 0;
	src->page_open = true;
}

/* Round 1 looks at every page first: a zero page joins a marker frame, a
 * non-zero one the list the round then sends. Scanning apart from sending
 * lets the round's bandwidth leave the scan out (scan_us): the forecast
 * of a stop-and-copy, which sends written pages, not zero ones, was
 * several times too long when a round 1 of mostly zero pages counted it. */
static void scan_page(struct migrate_source *src, uint64_t pfn)
{
	if (page_is_zero(src->cfg.memory + pfn * MIGRATE_PAGE_SIZE)) {
		src->zero_pfns[src->zero_count++] = pfn;
		src->cur.pages_sent++;
		src->cur.zero_pages++;
	} else if (src->list_len < src->cfg.pfn_buf_len) {
		src->cfg.pfn_buf[src->list_len++] = pfn;
	} else {
		take_page(src, pfn); /* no room to list it: send it now */
	}
}

/* The first piece of a page says which page (PAGE); the others only go on
 * with it (PAGE_MORE, then PAGE_END with the checksum). */
static bool send_page_piece(struct migrate_source *src, uint64_t now_ns)
{
	bool first = src->page_offset == 0;
	unsigned room = src->cfg.link.payload_size - (first ? MIGRATE_PAGE_CHUNK_HEADER : 0);
	unsigned left = MIGRATE_PAGE_SIZE - src->page_offset;
	struct migrate_msg m = {.type = MIGRATE_PAGE};
	m.page.pfn = src->page_pfn;
	m.page.offset = src->page_offset;
	m.page.data = src->page_copy + src->page_offset;
	if (left + 8 <= room) {
		m.page.len = (uint16_t)left;
		m.page.last = true;
		m.page.page_checksum = src->page_checksum;
	} else {
		/* The last piece must also hold the 8-byte checksum, so this
		 * one leaves it at least one byte. */
		m.page.len = (uint16_t)MIN(room, left - 1);
	}
	if (!first)
		m.type = m.page.last ? MIGRATE_PAGE_END : MIGRATE_PAGE_MORE;
	if (!source_send(src, &m, now_ns))
		return false;
	src->page_offset += m.page.len;
	src->page_open = !m.page.last;
	return true;
}

static bool flush_zero_pages(struct migrate_source *src, uint64_t now_ns)
{
	struct migrate_msg m = {.type = MIGRATE_ZERO_PAGES};
	m.zero.count = (uint16_t)src->zero_count;
	m.zero.pfns = src->zero_pfns;
	if (!source_send(src, &m, now_ns))
		return false;
	src->zero_count = 0;
	return true;
}

/* Sends this round's pages while the window has room, looking at no more
 * than max_pages pages (the caller's step must stay short while the VM
 * runs: zero pages take no window, so one step could otherwise scan the
 * whole VM): 1 when all are out (zero markers flushed, so a later PAGE of
 * the same pfn cannot overtake them), 0 when the window is full or the
 * step's share is used, -1 on an internal error. */
static int send_pages(struct migrate_source *src, uint64_t now_ns, size_t max_pages)
{
	unsigned zero_room = src->cfg.link.payload_size / 8;
	size_t looked_at = 0;
	for (;;) {
		if (!migrate_transport_can_send(&src->link) || looked_at == max_pages)
			return 0;
		uint64_t pfn;
		bool ok = true;
		if (src->page_open)
			ok = send_page_piece(src, now_ns);
		else if (src->zero_count == zero_room)
			ok = flush_zero_pages(src, now_ns);
		else if (src->sweep && src->cursor < src->cfg.nr_pages) {
			scan_page(src, src->cursor++);
			looked_at++;
		} else if (src->sweep) {
			src->sweep = false; /* the scan is done: send what it listed */
			src->cursor = 0;
			src->cur.scan_us = (now_ns - src->round_start_ns) / 1000;
			src->vm_time_at_send_ns = vm_time(src);
		} else if (next_pfn(src, &pfn)) {
			take_page(src, pfn);
			looked_at++;
		} else if (src->zero_count)
			ok = flush_zero_pages(src, now_ns);
		else
			return 1;
		if (!ok)
			return -1;
	}
}

static void record_round(struct migrate_source *src)
{
	struct migrate_report *r = &src->report;
	if (r->rounds < MIGRATE_ROUNDS_RECORDED)
		r->round[r->rounds] = src->cur;
	r->rounds++;
	r->pages_sent += src->cur.pages_sent;
	r->zero_pages += src->cur.zero_pages;
	r->bytes_sent += src->cur.bytes_sent;
	r->pages_skipped += src->cur.pages_skipped;
}

/* Every frame of the round is acknowledged: measure it, harvest what the
 * VM dirtied meanwhile, and ask the policy whether to go on. */
static enum migrate_status end_round(struct migrate_source *src, uint64_t now_ns)
{
	struct migrate_round_stats *s = &src->cur;
	s->duration_us = MAX((now_ns - src->round_start_ns) / 1000, 1);
	uint64_t vm_now_ns = vm_time(src);
	s->vm_us = (vm_now_ns - src->vm_time_at_send_ns) / 1000;
	s->dirty_pages =
	    src->cfg.tracker->harvest(src->cfg.tracker_ctx, src->cfg.pfn_buf, src->cfg.pfn_buf_len);
	s->total_pages_sent = src->report.pages_sent + s->pages_sent;
	s->total_bytes_sent = src->report.bytes_sent + s->bytes_sent;
	s->rtt_us = src->link.stats.rtt_ns / 1000;
	/* ROUND_END's round trip, less any VM slice that came in between. */
	uint64_t lone_ns = now_ns - src->round_end_sent_ns;
	uint64_t vm_ns = vm_now_ns - src->vm_time_at_round_end_ns;
	s->commit_us = MAX((lone_ns - MIN(vm_ns, lone_ns)) / 1000, 1);
	migrate_round_measure(s, &src->cfg.params);
	record_round(src);
	uint64_t dirty = s->dirty_pages;
	enum migrate_decision d =
	    migrate_round_decide(src->cfg.policy, &src->cfg.params, s, &src->throttle_percent);
	if (d != MIGRATE_GO_ON) {
		src->report.stopped_by_round_limit = d == MIGRATE_STOP_ROUND_LIMIT;
		src->report.predicted_downtime_us = s->predicted_downtime_us;
		src->report.forecast_learned = s->learned_Bps != 0;
		src->list_len = dirty; /* sent once the vCPU is stopped */
		src->phase = SRC_WAIT_PAUSE;
		return MIGRATE_NEED_PAUSE;
	}
	begin_round(src, false, dirty, now_ns);
	return MIGRATE_RUNNING;
}

void migrate_round_measure(struct migrate_round_stats *s, const struct migrate_params *p)
{
	s->dirty_rate_pps = migrate_scale(s->dirty_pages, 1000000, s->duration_us);
	uint64_t left_out = s->scan_us + s->vm_us + s->commit_us;
	uint64_t sending_us = s->duration_us - MIN(left_out, s->duration_us - 1);
	s->bandwidth_Bps = migrate_scale(s->bytes_sent, 1000000, sending_us);
	uint64_t data_pages = s->pages_sent - MIN(s->zero_pages, s->pages_sent);
	s->page_Bps = migrate_scale(data_pages * MIGRATE_PAGE_SIZE, 1000000, sending_us);
	s->predicted_downtime_us = migrate_predict_downtime_us(s, p);
}

enum migrate_decision migrate_round_decide(const struct migrate_policy *policy,
                                           const struct migrate_params *p,
                                           const struct migrate_round_stats *s,
                                           unsigned *throttle_percent)
{
	/* The engine's limit comes first: a policy that never says stop (a
	 * bug, or a VM that dirties faster than the link) still ends. */
	if (s->round >= p->engine[MIGRATE_ROUND_LIMIT])
		return MIGRATE_STOP_ROUND_LIMIT;
	if (policy->should_stop(s, p))
		return MIGRATE_STOP_POLICY;
	if (policy->throttle_percent)
		*throttle_percent = MIN(policy->throttle_percent(s, p), 99u);
	return MIGRATE_GO_ON;
}

/* After the pause: the harvested list, then whatever was dirtied between
 * that harvest and the pause (the vCPU is stopped, so the tracker runs dry),
 * then the state blob and COMMIT. 1 when COMMIT is out, 0 when the window
 * is full, -1 on an internal error. */
static int send_stop_copy(struct migrate_source *src, uint64_t now_ns)
{
	while (!src->last_pages_sent) {
		int r = send_pages(src, now_ns, SIZE_MAX); /* the VM is paused */
		if (r <= 0)
			return r;
		size_t n = src->cfg.tracker->harvest(src->cfg.tracker_ctx, src->cfg.pfn_buf,
		                                     src->cfg.pfn_buf_len);
		src->cursor = 0;
		src->list_len = n;
		src->last_pages_sent = n == 0;
	}
	unsigned room = src->cfg.link.payload_size - MIGRATE_STATE_CHUNK_HEADER;
	while (src->state_sent < src->state_len) {
		if (!migrate_transport_can_send(&src->link))
			return 0;
		struct migrate_msg m = {.type = MIGRATE_STATE};
		m.state.offset = src->state_sent;
		m.state.total = src->state_len;
		m.state.len = (uint16_t)MIN(room, src->state_len - src->state_sent);
		m.state.data = src->state + src->state_sent;
		if (!source_send(src, &m, now_ns))
			return -1;
		src->state_sent += m.state.len;
	}
	if (!migrate_transport_can_send(&src->link))
		return 0;
	struct migrate_msg m = {.type = MIGRATE_COMMIT};
	m.commit.state_len = src->state_len;
	m.commit.rounds = src->report.rounds;
	m.commit.state_checksum = migrate_hash64(MIGRATE_HASH_START, src->state, src->state_len);
	src->commit_sent_ns = now_ns;
	return source_send(src, &m, now_ns) ? 1 : -1;
}

/* What this stop-and-copy did, for the next migration over the same link,
 * in the forecast's own terms (migrate_predict_downtime_us): the pages and
 * state it moved (4 KiB a page) over the downtime less one lone round trip
 * (the last ROUND_END's), and that round trip. The newest migration
 * counts as much as all before it (the link's load changes), so one odd
 * run does not rule. */
static void learn(struct migrate_source *src)
{
	struct migrate_link_model *m = src->cfg.model;
	const struct migrate_report *r = &src->report;
	if (!m)
		return;
	uint64_t downtime_us = r->downtime_ns / 1000;
	unsigned last = MIN(r->rounds, (unsigned)MIGRATE_ROUNDS_RECORDED);
	uint64_t commit_us = last ? r->round[last - 1].commit_us : 1;
	uint64_t moved = r->stop_copy_pages * MIGRATE_PAGE_SIZE + r->state_bytes;
	uint64_t send_us = MAX(downtime_us - MIN(commit_us, downtime_us), 1);
	uint64_t Bps = MAX(migrate_scale(moved, 1000000, send_us), 1);
	if (m->migrations == 0) {
		m->stop_copy_Bps = Bps;
		m->commit_us = commit_us;
	} else {
		m->stop_copy_Bps = (m->stop_copy_Bps + Bps) / 2;
		m->commit_us = (m->commit_us + commit_us) / 2;
	}
	m->migrations++;
}

bool migrate_source_start(struct migrate_source *src, const struct migrate_source_config *cfg,
                          uint64_t now_ns)
{
	if (!cfg->memory || cfg->nr_pages == 0 || !cfg->tracker || !cfg->tracker->start ||
	    !cfg->tracker->harvest || !cfg->tracker->stop || !cfg->pfn_buf ||
	    cfg->pfn_buf_len == 0 || !cfg->policy || !cfg->policy->should_stop ||
	    cfg->policy->knob_count > MIGRATE_KNOBS_MAX ||
	    cfg->policy->state_size > MIGRATE_POLICY_STATE_MAX ||
	    cfg->state_max > MIGRATE_STATE_MAX || cfg->link.session == 0)
		return false;
	memset(src, 0, sizeof *src);
	if (!migrate_transport_init(&src->link, &cfg->link, now_ns))
		return false;
	src->cfg = *cfg;
	for (unsigned i = 0; i < MIGRATE_ENGINE_KNOBS; i++)
		if (src->cfg.params.engine[i] == 0)
			src->cfg.params.engine[i] = migrate_engine_knobs[i].def;
	/* The policy's state lives here; it starts zeroed (memset above). */
	src->cfg.params.state = src->policy_state;
	if (src->cfg.policy->init)
		src->cfg.policy->init(&src->cfg.params);
	src->start_ns = now_ns;
	src->phase = SRC_HANDSHAKE;
	src->report.status = MIGRATE_RUNNING;
	struct migrate_msg m = {.type = MIGRATE_HELLO};
	m.hello.nr_pages = cfg->nr_pages;
	m.hello.page_size = MIGRATE_PAGE_SIZE;
	m.hello.state_max = cfg->state_max;
	return source_send(src, &m, now_ns);
}

static enum migrate_status source_status(const struct migrate_source *src)
{
	if (src->phase == SRC_DONE)
		return src->report.status;
	return src->phase == SRC_WAIT_PAUSE ? MIGRATE_NEED_PAUSE : MIGRATE_RUNNING;
}

static enum migrate_status source_handle(struct migrate_source *src, const struct migrate_frame *f,
                                         uint64_t now_ns)
{
	struct migrate_msg m;
	enum migrate_error e = migrate_msg_decode(f, &m);
	if (e != MIGRATE_OK)
		return source_abort(src, e, false, now_ns);
	if (m.type == MIGRATE_HELLO_ACK && src->phase == SRC_HANDSHAKE) {
		if (m.hello_ack.nr_pages < src->cfg.nr_pages)
			return source_abort(src, MIGRATE_ERR_NO_MEMORY, false, now_ns);
		/* Track from before the first page is read, so that no write
		 * during round 1 goes unseen. */
		src->cfg.tracker->start(src->cfg.tracker_ctx);
		src->tracking = true;
		begin_round(src, true, 0, now_ns);
		return MIGRATE_RUNNING;
	}
	if (m.type == MIGRATE_COMMIT_ACK && src->phase == SRC_COMMIT_WAIT) {
		/* The point of no return. Acknowledge at once: the destination
		 * resumes the VM only when it knows we have let go. */
		migrate_transport_ack_now(&src->link, now_ns);
		src->report.downtime_ns = now_ns - src->paused_ns;
		src->report.commit_us = (now_ns - src->commit_sent_ns) / 1000;
		learn(src);
		return source_end(src, MIGRATE_COMMITTED, MIGRATE_OK, false, now_ns);
	}
	return source_abort(src, MIGRATE_ERR_PROTOCOL, false, now_ns);
}

enum migrate_status migrate_source_receive(struct migrate_source *src, const uint8_t *bytes,
                                           size_t len, uint64_t now_ns)
{
	migrate_transport_receive(&src->link, bytes, len, now_ns);
	struct migrate_frame f;
	while (migrate_transport_next(&src->link, &f)) {
		/* Once done, frames are only taken so that they are acknowledged. */
		if (src->phase != SRC_DONE)
			source_handle(src, &f, now_ns);
	}
	if (src->phase != SRC_DONE && src->link.peer_abort != MIGRATE_OK)
		return source_abort(src, src->link.peer_abort, true, now_ns);
	return source_status(src);
}

enum migrate_status migrate_source_step(struct migrate_source *src, uint64_t now_ns)
{
	if (src->phase == SRC_DONE) {
		/* Committed: keep answering, in case our last ACK was lost. */
		if (src->report.status == MIGRATE_COMMITTED)
			migrate_transport_tick(&src->link, now_ns);
		return src->report.status;
	}
	migrate_transport_tick(&src->link, now_ns);
	if (src->link.peer_abort != MIGRATE_OK)
		return source_abort(src, src->link.peer_abort, true, now_ns);
	if (src->link.error != MIGRATE_OK)
		return source_abort(src, src->link.error, false, now_ns);
	int r;
	switch (src->phase) {
	case SRC_ROUND:
		r = send_pages(src, now_ns, MIGRATE_LIVE_PAGES_PER_STEP);
		if (r < 0)
			return source_abort(src, MIGRATE_ERR_PROTOCOL, false, now_ns);
		/* ROUND_END goes alone, once every page is acknowledged: its
		 * round trip is what COMMIT's will be (commit_us), measured
		 * on an idle link. */
		if (r > 0 && migrate_transport_all_acked(&src->link)) {
			src->round_end_sent_ns = now_ns;
			src->vm_time_at_round_end_ns = vm_time(src);
			struct migrate_msg m = {.type = MIGRATE_ROUND_END};
			m.round_end.round = src->cur.round;
			m.round_end.pages = (uint32_t)src->cur.pages_sent;
			if (!source_send(src, &m, now_ns))
				return source_abort(src, MIGRATE_ERR_PROTOCOL, false, now_ns);
			src->phase = SRC_ROUND_DRAIN;
		}
		break;
	case SRC_ROUND_DRAIN:
		if (migrate_transport_all_acked(&src->link))
			return end_round(src, now_ns);
		break;
	case SRC_STOP_COPY:
		r = send_stop_copy(src, now_ns);
		if (r < 0)
			return source_abort(src, MIGRATE_ERR_PROTOCOL, false, now_ns);
		if (r > 0) {
			src->report.stop_copy_pages = src->cur.pages_sent;
			src->report.stop_copy_bytes = src->cur.bytes_sent;
			src->report.state_bytes = src->state_len;
			src->report.pages_sent += src->cur.pages_sent;
			src->report.zero_pages += src->cur.zero_pages;
			src->report.bytes_sent += src->cur.bytes_sent;
			src->phase = SRC_COMMIT_WAIT;
		}
		break;
	default: break;
	}
	return source_status(src);
}

enum migrate_status migrate_source_paused(struct migrate_source *src, const uint8_t *state,
                                          uint32_t state_len, uint64_t now_ns)
{
	if (src->phase != SRC_WAIT_PAUSE)
		return source_status(src);
	if (state_len > src->cfg.state_max || (state_len && !state))
		return source_abort(src, MIGRATE_ERR_STATE_TOO_BIG, false, now_ns);
	src->state = state;
	src->state_len = state_len;
	src->state_sent = 0;
	src->paused_ns = now_ns;
	src->throttle_percent = 0;
	/* Reuse the round counters to measure the stop-and-copy; the list
	 * harvested at the end of the last round is sent first. */
	uint64_t list_len = src->list_len;
	begin_round(src, false, list_len, now_ns);
	src->phase = SRC_STOP_COPY;
	return migrate_source_step(src, now_ns);
}

enum migrate_status migrate_source_cancel(struct migrate_source *src, uint64_t now_ns)
{
	if (src->phase == SRC_DONE)
		return src->report.status;
	return source_abort(src, MIGRATE_ERR_CANCELLED, false, now_ns);
}

/* ============================ destination =============================== */

enum dest_phase {
	DST_LISTEN,      /* waiting for a HELLO */
	DST_RECEIVING,   /* pages, zero markers, rounds, state */
	DST_COMMIT_SENT, /* COMMIT_ACK sent, waiting for the source to acknowledge it */
	DST_DONE,        /* report.status says which way it ended */
};

static enum migrate_status dest_end(struct migrate_dest *dst, enum migrate_status status,
                                    enum migrate_error reason, bool from_peer)
{
	dst->phase = DST_DONE;
	dst->report.status = status;
	dst->report.reason = reason;
	dst->report.reason_from_peer = from_peer;
	dst->report.link = dst->link.stats;
	return status;
}

static void mark_seen(struct migrate_dest *dst, uint64_t pfn)
{
	uint64_t bit = 1ull << (pfn % 64);
	if (!(dst->cfg.seen_bitmap[pfn / 64] & bit))
		dst->report.pages_distinct++;
	dst->cfg.seen_bitmap[pfn / 64] |= bit;
}

/* A page's last copy was data (true) or a zero marker (false). */
static void mark_data(struct migrate_dest *dst, uint64_t pfn, bool data)
{
	uint64_t *word = dst->cfg.data_bitmap ? &dst->cfg.data_bitmap[pfn / 64] : NULL;
	uint64_t bit = 1ull << (pfn % 64);
	if (!word || !!(*word & bit) == data)
		return;
	*word ^= bit;
	if (data)
		dst->report.nonzero_pages++;
	else
		dst->report.nonzero_pages--;
}

static enum migrate_error dest_hello(struct migrate_dest *dst, const struct migrate_hello *h,
                                     uint64_t now_ns)
{
	if (dst->phase != DST_LISTEN || h->page_size != MIGRATE_PAGE_SIZE || h->nr_pages == 0)
		return MIGRATE_ERR_PROTOCOL;
	if (h->nr_pages > dst->cfg.nr_pages)
		return MIGRATE_ERR_NO_MEMORY;
	if (h->state_max > dst->cfg.state_cap)
		return MIGRATE_ERR_STATE_TOO_BIG;
	dst->report.session = dst->link.cfg.session;
	dst->report.vm_pages = h->nr_pages;
	memset(dst->cfg.seen_bitmap, 0, (h->nr_pages + 63) / 64 * sizeof(uint64_t));
	if (dst->cfg.data_bitmap)
		memset(dst->cfg.data_bitmap, 0, (h->nr_pages + 63) / 64 * sizeof(uint64_t));
	struct migrate_msg m = {.type = MIGRATE_HELLO_ACK};
	m.hello_ack.nr_pages = dst->cfg.nr_pages;
	if (!send_msg(&dst->link, dst->scratch, &m, now_ns))
		return MIGRATE_ERR_PROTOCOL;
	dst->phase = DST_RECEIVING;
	return MIGRATE_OK;
}

/* Pieces of a page arrive in order (the stream is in order and the source
 * sends a page's pieces back to back), straight into the image; the page
 * counts only once its checksum matches. */
static enum migrate_error dest_page(struct migrate_dest *dst, struct migrate_page_chunk *c)
{
	if (c->continued) {
		/* PAGE_MORE or PAGE_END: the open page, where it left off; a
		 * piece that would end it without its checksum, or run past
		 * it, is refused. */
		if (!dst->page_open)
			return MIGRATE_ERR_PROTOCOL;
		c->pfn = dst->page_pfn;
		c->offset = dst->page_next_offset;
		uint32_t end = (uint32_t)c->offset + c->len;
		if (c->last ? end != MIGRATE_PAGE_SIZE : end >= MIGRATE_PAGE_SIZE)
			return MIGRATE_ERR_PROTOCOL;
	}
	if (c->pfn >= dst->report.vm_pages)
		return MIGRATE_ERR_PROTOCOL;
	if (c->offset == 0) {
		if (dst->page_open)
			return MIGRATE_ERR_PROTOCOL; /* the previous page never ended */
		dst->page_open = true;
		dst->page_pfn = c->pfn;
		dst->page_next_offset = 0;
	} else if (!dst->page_open || c->pfn != dst->page_pfn ||
	           c->offset != dst->page_next_offset) {
		return MIGRATE_ERR_PROTOCOL;
	}
	uint8_t *page = dst->cfg.memory + c->pfn * MIGRATE_PAGE_SIZE;
	memcpy(page + c->offset, c->data, c->len);
	dst->page_next_offset += c->len;
	if (!c->last)
		return MIGRATE_OK;
	dst->page_open = false;
	if (migrate_page_checksum(page) != c->page_checksum)
		return MIGRATE_ERR_PAGE_CHECKSUM;
	mark_seen(dst, c->pfn);
	mark_data(dst, c->pfn, true);
	dst->report.pages_received++;
	return MIGRATE_OK;
}

static enum migrate_error dest_zero_pages(struct migrate_dest *dst,
                                          const struct migrate_zero_pages *z)
{
	for (unsigned i = 0; i < z->count; i++) {
		uint64_t pfn = migrate_zero_pfn(z, i);
		if (pfn >= dst->report.vm_pages)
			return MIGRATE_ERR_PROTOCOL;
		bool seen = dst->cfg.seen_bitmap[pfn / 64] & (1ull << (pfn % 64));
		if (seen || !dst->cfg.memory_is_zero)
			memset(dst->cfg.memory + pfn * MIGRATE_PAGE_SIZE, 0, MIGRATE_PAGE_SIZE);
		mark_seen(dst, pfn);
		mark_data(dst, pfn, false);
		dst->report.pages_received++;
		dst->report.zero_pages++;
	}
	return MIGRATE_OK;
}

static enum migrate_error dest_state(struct migrate_dest *dst, const struct migrate_state_chunk *c)
{
	if (c->total > dst->cfg.state_cap)
		return MIGRATE_ERR_STATE_TOO_BIG;
	if (c->offset == 0 && dst->state_received == 0)
		dst->state_total = c->total;
	else if (c->total != dst->state_total || c->offset != dst->state_received)
		return MIGRATE_ERR_PROTOCOL;
	memcpy(dst->cfg.state_buf + c->offset, c->data, c->len);
	dst->state_received += c->len;
	return MIGRATE_OK;
}

/* COMMIT_ACK only when everything is in and verified: every page of the
 * VM at least once, no page half done, the whole state with its checksum. */
static enum migrate_error dest_commit(struct migrate_dest *dst, const struct migrate_commit *c,
                                      uint64_t now_ns)
{
	if (dst->page_open || dst->report.pages_distinct != dst->report.vm_pages ||
	    c->state_len != dst->state_received ||
	    (dst->state_received && dst->state_received != dst->state_total))
		return MIGRATE_ERR_INCOMPLETE;
	if (migrate_hash64(MIGRATE_HASH_START, dst->cfg.state_buf, c->state_len) !=
	    c->state_checksum)
		return MIGRATE_ERR_STATE_CHECKSUM;
	if (dst->cfg.state_check &&
	    !dst->cfg.state_check(dst->cfg.state_check_ctx, dst->cfg.state_buf, c->state_len))
		return MIGRATE_ERR_STATE_REFUSED;
	struct migrate_msg m = {.type = MIGRATE_COMMIT_ACK};
	if (!send_msg(&dst->link, dst->scratch, &m, now_ns))
		return MIGRATE_ERR_PROTOCOL;
	dst->report.state_len = c->state_len;
	dst->phase = DST_COMMIT_SENT;
	return MIGRATE_OK;
}

static enum migrate_error dest_handle(struct migrate_dest *dst, const struct migrate_frame *f,
                                      uint64_t now_ns)
{
	struct migrate_msg m;
	enum migrate_error e = migrate_msg_decode(f, &m);
	if (e != MIGRATE_OK)
		return e;
	if (m.type == MIGRATE_HELLO)
		return dest_hello(dst, &m.hello, now_ns);
	if (dst->phase != DST_RECEIVING)
		return MIGRATE_ERR_PROTOCOL;
	if (m.type == MIGRATE_PAGE || m.type == MIGRATE_PAGE_MORE || m.type == MIGRATE_PAGE_END)
		return dest_page(dst, &m.page);
	if (dst->page_open)
		return MIGRATE_ERR_PROTOCOL; /* nothing may come between a page's pieces */
	switch (m.type) {
	case MIGRATE_ZERO_PAGES: return dest_zero_pages(dst, &m.zero);
	case MIGRATE_STATE: return dest_state(dst, &m.state);
	case MIGRATE_ROUND_END:
		/* The source measures the round up to this ACK: send it now,
		 * not after the delayed-ACK timer (which would be counted as
		 * link time in the round's bandwidth). */
		dst->report.rounds++;
		dst->link.ack_now = true;
		return MIGRATE_OK;
	case MIGRATE_COMMIT: return dest_commit(dst, &m.commit, now_ns);
	default: return MIGRATE_ERR_PROTOCOL;
	}
}

static enum migrate_status dest_abort(struct migrate_dest *dst, enum migrate_error reason,
                                      uint64_t now_ns)
{
	migrate_transport_send_abort(&dst->link, reason, now_ns);
	return dest_end(dst, MIGRATE_ABORTED, reason, false);
}

bool migrate_dest_listen(struct migrate_dest *dst, const struct migrate_dest_config *cfg,
                         uint64_t now_ns)
{
	if (!cfg->memory || cfg->nr_pages == 0 || !cfg->seen_bitmap ||
	    (cfg->state_cap && !cfg->state_buf))
		return false;
	memset(dst, 0, sizeof *dst);
	struct migrate_link_config link = cfg->link;
	link.session = 0; /* the first HELLO's */
	if (!migrate_transport_init(&dst->link, &link, now_ns))
		return false;
	dst->cfg = *cfg;
	dst->phase = DST_LISTEN;
	dst->report.status = MIGRATE_RUNNING;
	return true;
}

enum migrate_status migrate_dest_receive(struct migrate_dest *dst, const uint8_t *bytes, size_t len,
                                         uint64_t now_ns)
{
	if (dst->phase == DST_DONE)
		return dst->report.status;
	migrate_transport_receive(&dst->link, bytes, len, now_ns);
	if (dst->link.peer_abort != MIGRATE_OK)
		return dest_end(dst, MIGRATE_ABORTED, dst->link.peer_abort, true);
	struct migrate_frame f;
	while (migrate_transport_next(&dst->link, &f)) {
		if (dst->phase == DST_COMMIT_SENT)
			continue; /* nothing should follow COMMIT; it cannot matter */
		enum migrate_error e = dest_handle(dst, &f, now_ns);
		if (e != MIGRATE_OK)
			return dest_abort(dst, e, now_ns);
	}
	if (dst->phase == DST_COMMIT_SENT && migrate_transport_all_acked(&dst->link))
		return dest_end(dst, MIGRATE_COMMITTED, MIGRATE_OK, false);
	return MIGRATE_RUNNING;
}

enum migrate_status migrate_dest_step(struct migrate_dest *dst, uint64_t now_ns)
{
	if (dst->phase == DST_DONE)
		return dst->report.status;
	if (dst->phase == DST_COMMIT_SENT && migrate_transport_all_acked(&dst->link))
		return dest_end(dst, MIGRATE_COMMITTED, MIGRATE_OK, false);
	migrate_transport_tick(&dst->link, now_ns);
	if (dst->link.error != MIGRATE_OK) {
		/* After COMMIT_ACK we cannot know whether the source let go. */
		if (dst->phase == DST_COMMIT_SENT)
			return dest_end(dst, MIGRATE_IN_DOUBT, dst->link.error, false);
		return dest_abort(dst, dst->link.error, now_ns);
	}
	return MIGRATE_RUNNING;
}

enum migrate_status migrate_dest_cancel(struct migrate_dest *dst, uint64_t now_ns)
{
	if (dst->phase == DST_DONE)
		return dst->report.status;
	if (dst->phase == DST_COMMIT_SENT)
		return dest_end(dst, MIGRATE_IN_DOUBT, MIGRATE_ERR_CANCELLED, false);
	return dest_abort(dst, MIGRATE_ERR_CANCELLED, now_ns);
}

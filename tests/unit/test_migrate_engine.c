/* Unit tests of the pre-copy engine (migrate/engine.c): whole migrations of
 * a small VM between a source and a destination over the simulated link of
 * test_migrate_sim.c, with a fake dirty tracker and a fake VM that keeps
 * writing to its memory until it is paused. */
#include <string.h>

#include "check.h"
#include "test_migrate_sim.h"

#define MS        1000000ull
#define US        1000ull
#define TICK      (50 * US)
#define MAX_PAGES 64
#define STATE_LEN 3000

/* ---- a fake dirty tracker: one bit per page ---- */
struct fake_tracker {
	uint64_t dirty[(MAX_PAGES + 63) / 64];
	uint64_t nr_pages;
	bool running;
	unsigned starts, stops;
};

static void fake_start(void *ctx)
{
	struct fake_tracker *t = ctx;
	memset(t->dirty, 0, sizeof t->dirty);
	t->running = true;
	t->starts++;
}

static size_t fake_harvest(void *ctx, uint64_t *pfns, size_t max)
{
	struct fake_tracker *t = ctx;
	size_t n = 0;
	for (uint64_t pfn = 0; pfn < t->nr_pages && n < max; pfn++) {
		if (t->dirty[pfn / 64] >> (pfn % 64) & 1) {
			t->dirty[pfn / 64] &= ~(1ull << (pfn % 64));
			pfns[n++] = pfn;
		}
	}
	return n;
}

static void fake_stop(void *ctx)
{
	struct fake_tracker *t = ctx;
	t->running = false;
	t->stops++;
}

static const struct dirty_tracker_ops fake_tracker_ops = {
    .name = "fake", .start = fake_start, .harvest = fake_harvest, .stop = fake_stop};

static bool fake_written(void *ctx, uint64_t pfn)
{
	const struct fake_tracker *t = ctx;
	return t->dirty[pfn / 64] >> (pfn % 64) & 1;
}

/* The same tracker, able to say which pages were written again. */
static const struct dirty_tracker_ops fake_tracker_skipping_ops = {.name = "fake-skipping",
                                                                   .start = fake_start,
                                                                   .harvest = fake_harvest,
                                                                   .stop = fake_stop,
                                                                   .written_since_harvest =
                                                                       fake_written};

/* ---- a test policy: a fixed number of live rounds ---- */
static unsigned rounds_wanted = 4;

static bool stop_after_rounds(const struct migrate_round_stats *s, const struct migrate_params *p)
{
	(void)p;
	return s->round >= rounds_wanted;
}

static unsigned throttle_by(const struct migrate_round_stats *s, const struct migrate_params *p)
{
	(void)s, (void)p;
	return 40;
}

static const struct migrate_policy fixed_rounds = {.name = "fixed-rounds",
                                                   .should_stop = stop_after_rounds};
static const struct migrate_policy fixed_rounds_throttled = {.name = "fixed-rounds-throttled",
                                                             .should_stop = stop_after_rounds,
                                                             .throttle_percent = throttle_by};

/* ---- the world: two hosts, two pipes, one VM ---- */
static struct {
	uint64_t now;
	struct sim_pipe a2b, b2a;
	struct migrate_source src;
	struct migrate_dest dst;
	struct fake_tracker tracker;
	_Alignas(4096) uint8_t src_mem[MAX_PAGES * MIGRATE_PAGE_SIZE];
	uint8_t vm_view[MAX_PAGES * MIGRATE_PAGE_SIZE]; /* what the VM wrote, kept apart */
	_Alignas(4096) uint8_t dst_mem[MAX_PAGES * MIGRATE_PAGE_SIZE];
	uint64_t seen[(MAX_PAGES + 63) / 64];
	uint64_t data[(MAX_PAGES + 63) / 64]; /* the destination's data_bitmap */
	uint64_t pfn_buf[MAX_PAGES];
	uint8_t state_out[STATE_LEN], state_in[MIGRATE_STATE_MAX];
	uint64_t pages, rng;
	unsigned write_pct; /* chance per tick that the VM writes a page */
	bool paused;
	unsigned pause_delay; /* ticks from NEED_PAUSE to the vCPU stopped */
	unsigned pauses, vm_writes, initial_zero_pages;
	enum migrate_status s, d;
	/* fault hooks */
	bool cut_on_pause, cut_a2b_on_source_commit;
	uint64_t cut_at_ns;
	unsigned stranger_every; /* ticks between frames from a stranger (0: none) */
} w;

struct setup {
	unsigned pages, dest_pages, payload, window, write_pct;
	uint32_t state_len, state_max;
	size_t state_cap;
	struct sim_faults faults;
	const struct migrate_policy *policy;
	uint64_t round_limit; /* the engine's knob; 0: its default */
	uint64_t latency_ns, rto_ns, idle_ns;
	bool dest_zeroed; /* the destination starts all zero and says so */
	bool (*state_check)(void *ctx, const uint8_t *state, size_t len);
	const struct dirty_tracker_ops *tracker; /* NULL: fake_tracker_ops */
	struct migrate_link_model *model;        /* the link's history, if any */
};

static struct setup defaults(void)
{
	return (struct setup){.pages = MAX_PAGES,
	                      .dest_pages = MAX_PAGES,
	                      .payload = MIGRATE_PAYLOAD_MAX,
	                      .window = 32,
	                      .write_pct = 30,
	                      .state_len = STATE_LEN,
	                      .state_max = STATE_LEN,
	                      .state_cap = MIGRATE_STATE_MAX,
	                      .policy = &fixed_rounds,
	                      .latency_ns = 200 * US,
	                      .rto_ns = 3 * MS,
	                      .idle_ns = 100 * MS};
}

static void link_config(struct migrate_link_config *l, const struct setup *s, struct sim_pipe *out)
{
	migrate_link_defaults(l);
	l->window = s->window;
	l->payload_size = s->payload;
	l->rto_ns = s->rto_ns;
	l->max_retries = 8;
	l->idle_timeout_ns = s->idle_ns;
	l->ack_delay_ns = 500 * US;
	l->send_frame = sim_send;
	l->send_ctx = out;
}

/* Memory: every fifth page zero, the others a pattern of their number. */
static void fill_memory(uint64_t pages)
{
	w.initial_zero_pages = 0;
	for (uint64_t pfn = 0; pfn < pages; pfn++) {
		uint8_t *page = w.src_mem + pfn * MIGRATE_PAGE_SIZE;
		if (pfn % 5 == 0) {
			memset(page, 0, MIGRATE_PAGE_SIZE);
			w.initial_zero_pages++;
			continue;
		}
		for (unsigned i = 0; i < MIGRATE_PAGE_SIZE; i++)
			page[i] = (uint8_t)(pfn * 13 + i * 7 + (i >> 8));
	}
	memcpy(w.vm_view, w.src_mem, pages * MIGRATE_PAGE_SIZE);
	memset(w.dst_mem, 0xee, sizeof w.dst_mem); /* garbage the migration must replace */
	for (unsigned i = 0; i < STATE_LEN; i++)
		w.state_out[i] = (uint8_t)(i * 131 + 7);
}

static bool start(const struct setup *s, uint64_t seed)
{
	memset(&w, 0, sizeof w);
	w.pages = s->pages;
	w.rng = seed;
	w.write_pct = s->write_pct;
	w.pause_delay = 3;
	w.s = w.d = MIGRATE_RUNNING;
	fill_memory(s->pages);
	if (s->dest_zeroed)
		memset(w.dst_mem, 0, sizeof w.dst_mem);
	sim_pipe_init(&w.a2b, &w.now, s->latency_ns, s->faults, seed * 3 + 1);
	sim_pipe_init(&w.b2a, &w.now, s->latency_ns, s->faults, seed * 5 + 2);
	w.tracker.nr_pages = s->pages;

	struct migrate_dest_config dc = {.memory = w.dst_mem,
	                                 .nr_pages = s->dest_pages,
	                                 .seen_bitmap = w.seen,
	                                 .data_bitmap = w.data,
	                                 .memory_is_zero = s->dest_zeroed,
	                                 .state_check = s->state_check,
	                                 .state_check_ctx = &w,
	                                 .state_buf = w.state_in,
	                                 .state_cap = s->state_cap};
	link_config(&dc.link, s, &w.b2a);
	if (!migrate_dest_listen(&w.dst, &dc, 0))
		return false;

	struct migrate_source_config sc = {.memory = w.src_mem,
	                                   .nr_pages = s->pages,
	                                   .tracker = s->tracker ? s->tracker : &fake_tracker_ops,
	                                   .tracker_ctx = &w.tracker,
	                                   .pfn_buf = w.pfn_buf,
	                                   .pfn_buf_len = MAX_PAGES,
	                                   .policy = s->policy,
	                                   .params = {.state_bytes = STATE_LEN},
	                                   .state_max = s->state_max};
	knobs_default(s->policy->knobs, s->policy->knob_count, sc.params.knob);
	sc.params.engine[MIGRATE_ROUND_LIMIT] = s->round_limit;
	sc.model = s->model;
	link_config(&sc.link, s, &w.a2b);
	sc.link.session = 0x5e55 + (uint32_t)seed;
	return migrate_source_start(&w.src, &sc, 0);
}

/* The VM writes one byte of a page (mostly a hot set of 8 pages), or now
 * and then zeroes a whole page; the tracker sees it if it runs. */
static void vm_write(void)
{
	uint64_t r = sim_rand(&w.rng);
	uint64_t pfn = r % 4 ? 8 + (r >> 8) % 8 : (r >> 8) % w.pages;
	uint8_t *page = w.src_mem + pfn * MIGRATE_PAGE_SIZE;
	if ((r >> 32) % 16 == 0)
		memset(page, 0, MIGRATE_PAGE_SIZE);
	else
		page[(r >> 20) % MIGRATE_PAGE_SIZE] = (uint8_t)((r >> 40) | 1);
	memcpy(w.vm_view + pfn * MIGRATE_PAGE_SIZE, page, MIGRATE_PAGE_SIZE);
	if (w.tracker.running)
		w.tracker.dirty[pfn / 64] |= 1ull << (pfn % 64);
	w.vm_writes++;
}

static bool vm_runs(void)
{
	return !w.paused || w.s == MIGRATE_ABORTED;
}

static bool ended(enum migrate_status s)
{
	return s == MIGRATE_COMMITTED || s == MIGRATE_ABORTED || s == MIGRATE_IN_DOUBT;
}

/* A well-formed frame of another session. */
static void stranger_frame(uint8_t type, uint32_t seq, struct sim_pipe *into)
{
	static uint8_t junk[200], payload[MIGRATE_PAYLOAD_MAX], frame[MIGRATE_MTU];
	memset(junk, 0x66, sizeof junk);
	struct migrate_msg m = {.type = type};
	if (type == MIGRATE_PAGE) {
		m.page.pfn = 1;
		m.page.len = sizeof junk;
		m.page.data = junk;
	} else if (type == MIGRATE_ACK) {
		m.ack.next = seq; /* "everything up to here arrived": it did not */
		m.ack.sack = ~0ull;
	} else if (type == MIGRATE_ABORT) {
		m.abort.reason = MIGRATE_ERR_CANCELLED;
	} else if (type == MIGRATE_HELLO) {
		m.hello.nr_pages = 1;
		m.hello.page_size = MIGRATE_PAGE_SIZE;
	}
	struct migrate_frame f = {.type = type,
	                          .session = w.src.link.cfg.session ^ 0x5a5a,
	                          .seq = seq,
	                          .payload = payload};
	migrate_msg_encode(payload, sizeof payload, &m, &f.payload_len);
	size_t len = migrate_frame_encode(frame, sizeof frame, &f);
	sim_send(into, frame, len);
}

static void inject_strangers(void)
{
	stranger_frame(MIGRATE_PAGE, w.dst.link.rx_next, &w.a2b);
	stranger_frame(MIGRATE_HELLO, 0, &w.a2b);
	stranger_frame(MIGRATE_ABORT, 0, &w.a2b);
	stranger_frame(MIGRATE_COMMIT_ACK, w.src.link.rx_next, &w.b2a);
	stranger_frame(MIGRATE_ACK, w.src.link.tx_next, &w.b2a);
	stranger_frame(MIGRATE_ABORT, 0, &w.b2a);
}

/* Runs both hosts until both have ended (or limit_ns): true if they did. */
static bool run(uint64_t limit_ns)
{
	uint8_t buf[MIGRATE_MTU];
	size_t len;
	for (; w.now < limit_ns; w.now += TICK) {
		if (vm_runs() &&
		    sim_rand(&w.rng) % 100 < w.write_pct * (100 - w.src.throttle_percent) / 100)
			vm_write();
		w.s = migrate_source_step(&w.src, w.now);
		/* Stopping a vCPU takes the caller a moment, and the VM
		 * writes meanwhile: those pages must still get across. */
		if (w.s == MIGRATE_NEED_PAUSE && w.pause_delay) {
			w.pause_delay--;
			vm_write();
		} else if (w.s == MIGRATE_NEED_PAUSE) {
			w.paused = true;
			w.pauses++;
			if (w.cut_on_pause) {
				sim_cut(&w.a2b);
				sim_cut(&w.b2a);
			}
			w.s = migrate_source_paused(&w.src, w.state_out, STATE_LEN, w.now);
		}
		w.d = migrate_dest_step(&w.dst, w.now);
		if (w.cut_at_ns && w.now >= w.cut_at_ns && !w.a2b.cut) {
			sim_cut(&w.a2b);
			sim_cut(&w.b2a);
		}
		if (w.stranger_every && w.now && (w.now / TICK) % w.stranger_every == 0)
			inject_strangers();
		while (sim_receive(&w.a2b, buf, &len))
			w.d = migrate_dest_receive(&w.dst, buf, len, w.now);
		while (sim_receive(&w.b2a, buf, &len)) {
			enum migrate_status was = w.s;
			w.s = migrate_source_receive(&w.src, buf, len, w.now);
			if (w.cut_a2b_on_source_commit && was != w.s && w.s == MIGRATE_COMMITTED)
				sim_cut(&w.a2b); /* our ACK of COMMIT_ACK is lost, and all after */
		}
		if (ended(w.s) && ended(w.d))
			return true;
	}
	return false;
}

/* The destination holds exactly the source's final image and state. */
static bool images_equal(void)
{
	return memcmp(w.dst_mem, w.src_mem, w.pages * MIGRATE_PAGE_SIZE) == 0 &&
	       memcmp(w.src_mem, w.vm_view, w.pages * MIGRATE_PAGE_SIZE) == 0 &&
	       memcmp(w.state_in, w.state_out, STATE_LEN) == 0;
}

/* The destination image's non-zero pages, counted. */
static uint64_t nonzero_pages_in_image(void)
{
	uint64_t n = 0;
	for (uint64_t pfn = 0; pfn < w.pages; pfn++) {
		const uint8_t *page = w.dst_mem + pfn * MIGRATE_PAGE_SIZE;
		for (unsigned i = 0; i < MIGRATE_PAGE_SIZE; i++)
			if (page[i]) {
				n++;
				break;
			}
	}
	return n;
}

TEST(migrate_engine_clean_link_copies_memory_and_state)
{
	struct setup s = defaults();
	CHECK(start(&s, 1));
	CHECK(run(10000 * MS));
	CHECK_EQ(w.s, MIGRATE_COMMITTED);
	CHECK_EQ(w.d, MIGRATE_COMMITTED);
	CHECK(images_equal());
	CHECK_EQ(w.pauses, 1);
	/* The tracker ran from the first round to the end, once. */
	CHECK_EQ(w.tracker.starts, 1);
	CHECK_EQ(w.tracker.stops, 1);
	CHECK(!w.tracker.running);
	/* Round 1 sends every page; zero pages go as markers. */
	const struct migrate_report *r = &w.src.report;
	CHECK_EQ(r->rounds, 4);
	CHECK_EQ(r->round[0].round, 1);
	CHECK_EQ(r->round[0].pages_sent, MAX_PAGES);
	/* (the VM may write to a zero page before the sweep gets there) */
	CHECK(r->round[0].zero_pages >= w.initial_zero_pages - 2);
	CHECK(r->round[0].zero_pages <= w.initial_zero_pages + 2);
	CHECK(r->round[0].bandwidth_Bps > 0);
	CHECK(r->round[0].duration_us > 0);
	/* The dirty rounds send only what the VM wrote. */
	for (unsigned i = 1; i < 4; i++) {
		CHECK_EQ(r->round[i].round, i + 1);
		CHECK_EQ(r->round[i].pages_sent, r->round[i - 1].dirty_pages);
		CHECK(r->round[i].pages_sent < MAX_PAGES / 2);
	}
	CHECK(r->round[1].pages_sent > 0);
	CHECK(r->round[0].dirty_rate_pps > 0);
	CHECK_EQ(r->state_bytes, STATE_LEN);
	CHECK(r->downtime_ns > 0 && r->downtime_ns < r->total_ns);
	CHECK(r->predicted_downtime_us > 0);
	CHECK_EQ(r->link.retransmits, 0);
	CHECK_EQ(r->reason, MIGRATE_OK);
	/* The destination agrees. */
	CHECK_EQ(w.dst.report.rounds, 4);
	CHECK_EQ(w.dst.report.vm_pages, MAX_PAGES);
	CHECK_EQ(w.dst.report.pages_distinct, MAX_PAGES);
	CHECK_EQ(w.dst.report.pages_received, r->pages_sent);
	CHECK_EQ(w.dst.report.zero_pages, r->zero_pages);
	CHECK_EQ(w.dst.report.state_len, STATE_LEN);
	/* What the guest had touched: the image's non-zero pages. */
	CHECK_EQ(w.dst.report.nonzero_pages, nonzero_pages_in_image());
	CHECK(w.dst.report.nonzero_pages >= MAX_PAGES - w.initial_zero_pages - 2);
}

/* A page written again while it waits for its turn in a live round is in
 * the next round's list already: it is left to that round, not sent twice
 * (issue 15, item 6). Per round, sent + left = the list; the image is
 * exact; and fewer pages cross than with a tracker that cannot tell. */
TEST(migrate_engine_pages_written_again_are_sent_once_not_twice)
{
	uint64_t sent[2], skipped[2];
	for (int skipping = 0; skipping < 2; skipping++) {
		struct setup s = defaults();
		s.write_pct = 60; /* mostly the hot set of 8 pages */
		s.window = 4;     /* a slow link: pages wait their turn */
		if (skipping)
			s.tracker = &fake_tracker_skipping_ops;
		CHECK(start(&s, 7));
		CHECK(run(10000 * MS));
		CHECK_EQ(w.s, MIGRATE_COMMITTED);
		CHECK(images_equal());
		const struct migrate_report *r = &w.src.report;
		uint64_t live_sent = 0;
		for (unsigned i = 0; i < r->rounds; i++) {
			const struct migrate_round_stats *k = &r->round[i];
			CHECK_EQ(k->pages_sent + k->pages_skipped, k->prev_dirty_pages);
			live_sent += k->pages_sent;
		}
		sent[skipping] = live_sent;
		skipped[skipping] = r->pages_skipped;
	}
	CHECK_EQ(skipped[0], 0);
	CHECK(skipped[1] > 0);
	CHECK(sent[1] < sent[0]);
}

/* The forecast of a link's first migration comes from its rounds; each
 * commit teaches the link's model what a stop-and-copy took (bytes over
 * time, and the COMMIT round trip), and the next migration over that link
 * forecasts from it (issue 15, item 4). */
TEST(migrate_engine_link_model_learns_from_each_stop_and_copy)
{
	struct migrate_link_model model = {0};
	struct setup s = defaults();
	s.model = &model;
	CHECK(start(&s, 3));
	CHECK(run(10000 * MS));
	CHECK_EQ(w.s, MIGRATE_COMMITTED);
	const struct migrate_report *r = &w.src.report;
	CHECK(!r->forecast_learned);
	CHECK_EQ(r->round[0].learned_Bps, 0);
	/* ROUND_END alone over this link: 200 us each way. */
	CHECK(r->round[0].commit_us >= 400 && r->round[0].commit_us <= 500);
	CHECK_EQ(model.migrations, 1);
	/* (This link sends a whole window in one tick: the commit round trip
	 * can be all of the downtime.) */
	CHECK(r->commit_us > 0 && r->commit_us <= r->downtime_ns / 1000);
	CHECK_EQ(model.commit_us, r->round[r->rounds - 1].commit_us);
	uint64_t moved = r->stop_copy_pages * MIGRATE_PAGE_SIZE + STATE_LEN;
	uint64_t down_us = r->downtime_ns / 1000;
	uint64_t send_us = MAX(down_us - MIN(model.commit_us, down_us), 1);
	CHECK_EQ(model.stop_copy_Bps, migrate_scale(moved, 1000000, send_us));
	struct migrate_link_model first = model;

	CHECK(start(&s, 4)); /* the same link again */
	CHECK(run(10000 * MS));
	CHECK_EQ(w.s, MIGRATE_COMMITTED);
	CHECK(images_equal());
	CHECK(r->forecast_learned);
	CHECK_EQ(r->round[0].learned_Bps, first.stop_copy_Bps);
	CHECK_EQ(r->round[0].learned_commit_us, first.commit_us);
	/* The forecast is the model's: what was left over its rate, plus its
	 * commit round trip. */
	const struct migrate_round_stats *last = &r->round[r->rounds - 1];
	uint64_t left = last->dirty_pages * MIGRATE_PAGE_SIZE + STATE_LEN;
	CHECK_EQ(r->predicted_downtime_us,
	         migrate_scale(left, 1000000, first.stop_copy_Bps) + first.commit_us);
	CHECK_EQ(model.migrations, 2);
}

TEST(migrate_engine_lossy_link_gives_identical_image)
{
	struct setup s = defaults();
	s.faults =
	    (struct sim_faults){.drop_pct = 10, .dup_pct = 5, .reorder_pct = 10, .corrupt_pct = 5};
	for (uint64_t seed = 1; seed <= 3; seed++) {
		CHECK(start(&s, seed));
		CHECK(run(20000 * MS));
		CHECK_EQ(w.s, MIGRATE_COMMITTED);
		CHECK_EQ(w.d, MIGRATE_COMMITTED);
		CHECK(images_equal());
		/* It was a bad link, and the transport paid for it. */
		CHECK(w.a2b.dropped > 0 && w.a2b.duplicated > 0 && w.a2b.reordered > 0);
		CHECK(w.a2b.corrupted > 0);
		CHECK(w.src.report.link.retransmits > 0);
		CHECK(w.dst.link.stats.duplicates > 0);
		CHECK(w.dst.link.stats.rejected > 0);
	}
}

/* A destination that starts zeroed skips clearing pages on their first
 * zero marker; a page the VM zeroes after it was sent must still be
 * cleared on its second (vm_write zeroes whole pages now and then). */
TEST(migrate_engine_zeroed_destination_gives_identical_image)
{
	struct setup s = defaults();
	s.dest_zeroed = true;
	s.write_pct = 60;
	for (uint64_t seed = 1; seed <= 3; seed++) {
		CHECK(start(&s, seed));
		CHECK(run(20000 * MS));
		CHECK_EQ(w.s, MIGRATE_COMMITTED);
		CHECK_EQ(w.d, MIGRATE_COMMITTED);
		CHECK(images_equal());
		/* Pages zeroed after they were sent as data count as zero. */
		CHECK_EQ(w.dst.report.nonzero_pages, nonzero_pages_in_image());
	}
}

TEST(migrate_engine_payload_sizes_1500_1000_32)
{
	static const unsigned payloads[] = {MIGRATE_PAYLOAD_MAX, 1000 - MIGRATE_HEADER_SIZE,
	                                    MIGRATE_PAYLOAD_MIN};
	uint64_t frames[3];
	for (unsigned i = 0; i < 3; i++) {
		struct setup s = defaults();
		s.payload = payloads[i];
		s.faults = (struct sim_faults){.drop_pct = 3, .reorder_pct = 3};
		CHECK(start(&s, 7));
		CHECK(run(20000 * MS));
		CHECK_EQ(w.s, MIGRATE_COMMITTED);
		CHECK_EQ(w.d, MIGRATE_COMMITTED);
		CHECK(images_equal());
		frames[i] = w.src.report.link.data_frames;
	}
	/* Smaller frames, more of them, and far more for 32 bytes. */
	CHECK(frames[0] < frames[1]);
	CHECK(frames[1] * 10 < frames[2]);
}

TEST(migrate_engine_every_policy_commits)
{
	for (size_t i = 0; i < migrate_policy_count; i++) {
		struct setup s = defaults();
		s.policy = migrate_policies[i];
		s.write_pct = 60;
		CHECK(start(&s, 3 + i));
		CHECK(run(20000 * MS));
		CHECK_EQ(w.s, MIGRATE_COMMITTED);
		CHECK_EQ(w.d, MIGRATE_COMMITTED);
		CHECK(images_equal());
		CHECK(w.src.report.rounds >= 1);
	}
}

static bool never_stop(const struct migrate_round_stats *s, const struct migrate_params *p)
{
	(void)s, (void)p;
	return false;
}
static const struct migrate_policy buggy_never_stops = {.name = "never", .should_stop = never_stop};

/* A policy that never says stop: the engine's own limit ends the pre-copy,
 * the migration commits, and the report says who stopped it. */
TEST(migrate_engine_round_limit_stops_a_policy_that_never_does)
{
	struct setup s = defaults();
	s.policy = &buggy_never_stops;
	s.round_limit = 7;
	CHECK(start(&s, 21));
	CHECK(run(60000 * MS));
	CHECK_EQ(w.s, MIGRATE_COMMITTED);
	CHECK(images_equal());
	CHECK_EQ(w.src.report.rounds, 7);
	CHECK(w.src.report.stopped_by_round_limit);
	/* The default limit too, and a policy that stops is not flagged. */
	s.round_limit = 0;
	CHECK(start(&s, 22));
	CHECK(run(200000 * MS));
	CHECK_EQ(w.s, MIGRATE_COMMITTED);
	CHECK_EQ(w.src.report.rounds, migrate_engine_knobs[MIGRATE_ROUND_LIMIT].def);
	s.policy = &fixed_rounds;
	CHECK(start(&s, 23));
	CHECK(run(60000 * MS));
	CHECK_EQ(w.s, MIGRATE_COMMITTED);
	CHECK(!w.src.report.stopped_by_round_limit);
}

TEST(migrate_engine_throttle_from_policy_reaches_caller)
{
	struct setup s = defaults();
	s.policy = &fixed_rounds_throttled;
	CHECK(start(&s, 13));
	while (w.now < 1000 * MS && w.src.report.rounds < 2)
		CHECK(!run(w.now + TICK));
	CHECK_EQ(w.src.throttle_percent, 40); /* the caller slows the vCPU by this */
	CHECK(run(10000 * MS));
	CHECK_EQ(w.s, MIGRATE_COMMITTED);
	CHECK(images_equal());
	CHECK_EQ(w.src.report.round[0].throttle_percent, 0);
	CHECK_EQ(w.src.report.round[1].throttle_percent, 40);
	CHECK_EQ(w.src.throttle_percent, 0); /* nothing to slow any more */
}

TEST(migrate_engine_bochs_like_link_never_overruns)
{
	/* One frame per ms at each receiver from a 92-frame buffer, as the
	 * bochs socket link does: the window keeps the sender under it. */
	struct setup s = defaults();
	s.rto_ns = 200 * MS;
	s.idle_ns = 3000 * MS;
	s.latency_ns = 100 * US;
	s.write_pct = 1;
	s.pages = 32;
	rounds_wanted = 2;
	CHECK(start(&s, 9));
	w.a2b.rx_gap_ns = w.b2a.rx_gap_ns = MS;
	w.a2b.capacity = w.b2a.capacity = 92;
	w.dst.link.cfg.ack_delay_ns = w.src.link.cfg.ack_delay_ns = 5 * MS;
	bool done = run(60000 * MS);
	rounds_wanted = 4;
	CHECK(done);
	CHECK_EQ(w.s, MIGRATE_COMMITTED);
	CHECK_EQ(w.d, MIGRATE_COMMITTED);
	CHECK(images_equal());
	CHECK_EQ(w.a2b.overruns, 0);
	CHECK_EQ(w.b2a.overruns, 0);
	CHECK_EQ(w.src.report.link.retransmits, 0);
	/* About a frame per ms: the link, not the engine, sets the pace. */
	CHECK(w.src.report.round[0].bandwidth_Bps < 1600 * 1000);
}

TEST(migrate_engine_destination_killed_mid_round_leaves_vm_on_source)
{
	struct setup s = defaults();
	CHECK(start(&s, 4));
	w.cut_at_ns = 2 * MS; /* during round 1 */
	CHECK(run(10000 * MS));
	CHECK_EQ(w.s, MIGRATE_ABORTED);
	CHECK(w.src.report.reason == MIGRATE_ERR_PEER_GONE ||
	      w.src.report.reason == MIGRATE_ERR_PEER_SILENT);
	CHECK(!w.src.report.reason_from_peer);
	CHECK_EQ(w.pauses, 0); /* the VM never stopped */
	CHECK_EQ(w.tracker.stops, 1);
	CHECK(!w.tracker.running);
	CHECK_EQ(w.src.throttle_percent, 0);
	/* The source's memory is the VM's, untouched by the engine. */
	CHECK(memcmp(w.src_mem, w.vm_view, w.pages * MIGRATE_PAGE_SIZE) == 0);
	/* The destination noticed too and will not run the half copy. */
	CHECK_EQ(w.d, MIGRATE_ABORTED);
	/* The source goes on running; its memory stays its own. */
	uint64_t writes = w.vm_writes;
	for (unsigned i = 0; i < 100; i++)
		vm_write();
	CHECK_EQ(w.vm_writes, writes + 100);
	CHECK(memcmp(w.src_mem, w.vm_view, w.pages * MIGRATE_PAGE_SIZE) == 0);
}

TEST(migrate_engine_destination_killed_in_stop_and_copy_resumes_source)
{
	struct setup s = defaults();
	CHECK(start(&s, 5));
	w.cut_on_pause = true;
	CHECK(run(10000 * MS));
	CHECK_EQ(w.pauses, 1);
	CHECK_EQ(w.s, MIGRATE_ABORTED); /* the caller resumes the paused VM */
	CHECK(w.src.report.reason == MIGRATE_ERR_PEER_GONE ||
	      w.src.report.reason == MIGRATE_ERR_PEER_SILENT);
	CHECK_EQ(w.d, MIGRATE_ABORTED);
	CHECK(memcmp(w.src_mem, w.vm_view, w.pages * MIGRATE_PAGE_SIZE) == 0);
	CHECK(!w.tracker.running);
}

static unsigned state_checks;

static bool refuse_state(void *ctx, const uint8_t *state, size_t len)
{
	(void)ctx;
	(void)state;
	(void)len;
	state_checks++;
	return false;
}

static bool accept_state(void *ctx, const uint8_t *state, size_t len)
{
	(void)ctx;
	state_checks++;
	return len == STATE_LEN && state[1] == (uint8_t)(1 * 131 + 7);
}

/* A destination that cannot restore the state (another build, another
 * layout) says so before its COMMIT_ACK: the source aborts and keeps the
 * VM, instead of both letting it go. One that can commits as usual. */
TEST(migrate_engine_state_refused_before_commit_keeps_vm_on_source)
{
	struct setup s = defaults();
	s.state_check = refuse_state;
	state_checks = 0;
	CHECK(start(&s, 8));
	CHECK(run(10000 * MS));
	CHECK_EQ(state_checks, 1u);
	CHECK_EQ(w.d, MIGRATE_ABORTED);
	CHECK_EQ(w.dst.report.reason, MIGRATE_ERR_STATE_REFUSED);
	CHECK_EQ(w.s, MIGRATE_ABORTED);
	CHECK_EQ(w.src.report.reason, MIGRATE_ERR_STATE_REFUSED); /* told by the peer */
	CHECK(memcmp(w.src_mem, w.vm_view, w.pages * MIGRATE_PAGE_SIZE) == 0);

	s.state_check = accept_state;
	state_checks = 0;
	CHECK(start(&s, 9));
	CHECK(run(20000 * MS));
	CHECK_EQ(state_checks, 1u);
	CHECK_EQ(w.s, MIGRATE_COMMITTED);
	CHECK_EQ(w.d, MIGRATE_COMMITTED);
	CHECK(images_equal());
}

TEST(migrate_engine_lost_commit_ack_keeps_vm_on_source)
{
	/* The destination's side of the link dies as it sends COMMIT_ACK:
	 * the source never hears it, aborts and keeps the VM; the destination
	 * must not resume its copy. */
	struct setup s = defaults();
	CHECK(start(&s, 6));
	w.b2a.cut_on_type = MIGRATE_COMMIT_ACK;
	CHECK(run(10000 * MS));
	CHECK_EQ(w.s, MIGRATE_ABORTED);
	/* Whether the ABORT or its own give-up comes first, it stays stopped. */
	CHECK(w.d == MIGRATE_ABORTED || w.d == MIGRATE_IN_DOUBT);
	CHECK(memcmp(w.src_mem, w.vm_view, w.pages * MIGRATE_PAGE_SIZE) == 0);
}

TEST(migrate_engine_unconfirmed_commit_is_in_doubt_not_split)
{
	/* The source got COMMIT_ACK and let go, but none of its ACKs get
	 * through: the destination cannot know, and says so rather than
	 * resume a VM that might still run on the source. */
	struct setup s = defaults();
	CHECK(start(&s, 7));
	w.cut_a2b_on_source_commit = true;
	CHECK(run(10000 * MS));
	CHECK_EQ(w.s, MIGRATE_COMMITTED);
	CHECK_EQ(w.d, MIGRATE_IN_DOUBT);
	CHECK(images_equal()); /* the image is complete, only the decision is open */
}

TEST(migrate_engine_destination_too_small_aborts_at_hello)
{
	struct setup s = defaults();
	s.dest_pages = MAX_PAGES / 2;
	CHECK(start(&s, 8));
	CHECK(run(1000 * MS));
	CHECK_EQ(w.s, MIGRATE_ABORTED);
	CHECK_EQ(w.src.report.reason, MIGRATE_ERR_NO_MEMORY);
	CHECK(w.src.report.reason_from_peer);
	CHECK_EQ(w.d, MIGRATE_ABORTED);
	CHECK_EQ(w.dst.report.reason, MIGRATE_ERR_NO_MEMORY);
	CHECK_EQ(w.tracker.starts, 0); /* never got as far as round 1 */
	CHECK(w.now < 10 * MS);        /* told at once, no timeout */

	s = defaults();
	s.state_max = 4096;
	s.state_cap = 1000; /* the state blob would not fit */
	CHECK(start(&s, 8));
	CHECK(run(1000 * MS));
	CHECK_EQ(w.s, MIGRATE_ABORTED);
	CHECK_EQ(w.src.report.reason, MIGRATE_ERR_STATE_TOO_BIG);
}

TEST(migrate_engine_strangers_frames_are_ignored)
{
	struct setup s = defaults();
	s.faults = (struct sim_faults){.drop_pct = 5, .reorder_pct = 5};
	CHECK(start(&s, 10));
	w.stranger_every = 7;
	CHECK(run(20000 * MS));
	CHECK_EQ(w.s, MIGRATE_COMMITTED);
	CHECK_EQ(w.d, MIGRATE_COMMITTED);
	CHECK(images_equal());
	CHECK(w.dst.link.stats.strangers > 30);
	CHECK(w.src.link.stats.strangers > 30);
}

TEST(migrate_engine_source_cancel_tells_destination)
{
	struct setup s = defaults();
	CHECK(start(&s, 11));
	CHECK(!run(3 * MS));
	CHECK_EQ(migrate_source_cancel(&w.src, w.now), MIGRATE_ABORTED);
	CHECK_EQ(w.src.report.reason, MIGRATE_ERR_CANCELLED);
	w.s = MIGRATE_ABORTED;
	CHECK(run(w.now + 10 * MS));
	CHECK_EQ(w.d, MIGRATE_ABORTED);
	CHECK_EQ(w.dst.report.reason, MIGRATE_ERR_CANCELLED);
	CHECK(w.dst.report.reason_from_peer);
	CHECK(!w.tracker.running);
}

TEST(migrate_engine_source_refuses_bad_config)
{
	struct setup s = defaults();
	CHECK(start(&s, 12));
	struct migrate_source_config sc = w.src.cfg;
	struct migrate_source_config bad = sc;
	bad.link.session = 0; /* a session id must be chosen */
	CHECK(!migrate_source_start(&w.src, &bad, 0));
	bad = sc;
	bad.state_max = MIGRATE_STATE_MAX + 1;
	CHECK(!migrate_source_start(&w.src, &bad, 0));
	bad = sc;
	bad.pfn_buf_len = 0;
	CHECK(!migrate_source_start(&w.src, &bad, 0));
	bad = sc;
	bad.link.payload_size = 20;
	CHECK(!migrate_source_start(&w.src, &bad, 0));
	/* A blob longer than announced is refused at pause time. */
	CHECK(start(&s, 12));
	while (w.now < 1000 * MS && migrate_source_step(&w.src, w.now) != MIGRATE_NEED_PAUSE) {
		uint8_t buf[MIGRATE_MTU];
		size_t len;
		while (sim_receive(&w.a2b, buf, &len))
			migrate_dest_receive(&w.dst, buf, len, w.now);
		while (sim_receive(&w.b2a, buf, &len))
			migrate_source_receive(&w.src, buf, len, w.now);
		migrate_dest_step(&w.dst, w.now);
		w.now += TICK;
	}
	CHECK_EQ(migrate_source_paused(&w.src, w.state_out, STATE_LEN + 1, w.now), MIGRATE_ABORTED);
	CHECK_EQ(w.src.report.reason, MIGRATE_ERR_STATE_TOO_BIG);
}

/* ---- a hand-driven destination: frames straight from a bare transport ---- */

static struct {
	struct migrate_transport fake_src;
	struct migrate_dest dst;
	uint8_t mem[4 * MIGRATE_PAGE_SIZE], state[100], page[MIGRATE_PAGE_SIZE];
	uint64_t seen[1];
	unsigned aborts_from_dest;
	enum migrate_error abort_reason;
} h;

static void to_dest(void *ctx, const uint8_t *bytes, size_t len)
{
	(void)ctx;
	migrate_dest_receive(&h.dst, bytes, len, 0);
}

static void from_dest(void *ctx, const uint8_t *bytes, size_t len)
{
	(void)ctx;
	struct migrate_frame f;
	struct migrate_msg m;
	if (migrate_frame_decode(bytes, len, &f) == MIGRATE_OK && f.type == MIGRATE_ABORT &&
	    migrate_msg_decode(&f, &m) == MIGRATE_OK) {
		h.aborts_from_dest++;
		h.abort_reason = m.abort.reason;
	}
}

static void hand_setup_with(bool memory_is_zero)
{
	memset(&h, 0, sizeof h);
	struct migrate_link_config l;
	migrate_link_defaults(&l);
	l.send_frame = to_dest;
	l.session = 4242;
	migrate_transport_init(&h.fake_src, &l, 0);
	struct migrate_dest_config dc = {.memory = h.mem,
	                                 .nr_pages = 4,
	                                 .seen_bitmap = h.seen,
	                                 .memory_is_zero = memory_is_zero,
	                                 .state_buf = h.state,
	                                 .state_cap = sizeof h.state};
	migrate_link_defaults(&dc.link);
	dc.link.send_frame = from_dest;
	migrate_dest_listen(&h.dst, &dc, 0);
}

static void hand_setup(void)
{
	hand_setup_with(false);
}

static void hand_send(const struct migrate_msg *m)
{
	uint8_t p[MIGRATE_PAYLOAD_MAX];
	uint16_t len;
	migrate_msg_encode(p, sizeof p, m, &len);
	migrate_transport_send(&h.fake_src, (uint8_t)m->type, p, len, 0);
}

static void hand_hello(void)
{
	struct migrate_msg m = {.type = MIGRATE_HELLO};
	m.hello.nr_pages = 4;
	m.hello.page_size = MIGRATE_PAGE_SIZE;
	m.hello.state_max = 100;
	hand_send(&m);
}

static void hand_whole_page(uint64_t pfn, const uint8_t *page)
{
	struct migrate_msg m = {.type = MIGRATE_PAGE};
	m.page.pfn = pfn;
	for (unsigned off = 0; off < MIGRATE_PAGE_SIZE; off += m.page.len) {
		m.page.offset = off;
		m.page.len =
		    (uint16_t)(MIGRATE_PAGE_SIZE - off < 1400u ? MIGRATE_PAGE_SIZE - off : 1400u);
		m.page.data = page + off;
		m.page.last = off + m.page.len == MIGRATE_PAGE_SIZE;
		m.page.page_checksum = migrate_page_checksum(page);
		hand_send(&m);
	}
}

/* memory_is_zero: a zero marker for a page that never arrived leaves it
 * alone (the caller promised it is zero: a canary shows it was not
 * touched); one for a page that arrived with data clears it. Without the
 * promise both are cleared. */
TEST(migrate_engine_zero_marker_clears_only_what_arrived)
{
	for (int promise = 0; promise <= 1; promise++) {
		hand_setup_with(promise);
		memset(h.mem, 0x5a, MIGRATE_PAGE_SIZE); /* pfn 0: the canary */
		hand_hello();
		memset(h.page, 0x42, sizeof h.page);
		hand_whole_page(1, h.page);
		CHECK_EQ(h.mem[MIGRATE_PAGE_SIZE + 7], 0x42);
		struct migrate_msg m = {.type = MIGRATE_ZERO_PAGES};
		const uint64_t pfns[] = {0, 1};
		m.zero.count = 2;
		m.zero.pfns = pfns;
		hand_send(&m);
		CHECK_EQ(h.dst.report.status, MIGRATE_RUNNING);
		CHECK_EQ(h.dst.report.zero_pages, 2u);
		CHECK_EQ(h.mem[MIGRATE_PAGE_SIZE + 7], 0);
		CHECK_EQ(h.mem[MIGRATE_PAGE_SIZE * 2 - 1], 0);
		CHECK_EQ(h.mem[100], promise ? 0x5a : 0);
	}
}

TEST(migrate_engine_destination_checks_page_checksum)
{
	hand_setup();
	hand_hello();
	memset(h.page, 0x42, sizeof h.page);
	struct migrate_msg m = {.type = MIGRATE_PAGE};
	m.page.pfn = 2;
	m.page.len = 1400;
	m.page.data = h.page;
	hand_send(&m);
	m.page.offset = 1400;
	m.page.data = h.page + 1400;
	hand_send(&m);
	m.page.offset = 2800;
	m.page.len = MIGRATE_PAGE_SIZE - 2800;
	m.page.data = h.page + 2800;
	m.page.last = true;
	h.page[5] ^= 1; /* what was summed is not what was sent */
	m.page.page_checksum = migrate_page_checksum(h.page);
	hand_send(&m);
	CHECK_EQ(h.dst.report.status, MIGRATE_ABORTED);
	CHECK_EQ(h.dst.report.reason, MIGRATE_ERR_PAGE_CHECKSUM);
	CHECK_EQ(h.aborts_from_dest, MIGRATE_ABORT_REPEAT);
	CHECK_EQ(h.abort_reason, MIGRATE_ERR_PAGE_CHECKSUM);
}

/* Continuation pieces fit only the open page: none without one, none that
 * would end it without the checksum (PAGE_MORE up to the page's end), none
 * that ends it early or late (PAGE_END); a page sent as PAGE, PAGE_MORE,
 * PAGE_END arrives whole. */
static enum migrate_status hand_piece(uint8_t type, uint16_t len, const uint8_t *data)
{
	struct migrate_msg m = {.type = type};
	m.page.len = len;
	m.page.data = data;
	m.page.last = type == MIGRATE_PAGE_END;
	m.page.page_checksum = migrate_page_checksum(h.page);
	hand_send(&m);
	return h.dst.report.status;
}

static void hand_open_page(uint64_t pfn, uint16_t len)
{
	struct migrate_msg m = {.type = MIGRATE_PAGE};
	m.page.pfn = pfn;
	m.page.len = len;
	m.page.data = h.page;
	hand_send(&m);
}

TEST(migrate_engine_destination_takes_continuation_pieces_only_where_they_fit)
{
	for (int c = 0; c < 4; c++) {
		hand_setup();
		hand_hello();
		for (unsigned i = 0; i < sizeof h.page; i++)
			h.page[i] = (uint8_t)(i * 3 + 1);
		switch (c) {
		case 0: /* the whole page: 1000 + 1400 + 1400 + 296 */
			hand_open_page(3, 1000);
			CHECK_EQ(hand_piece(MIGRATE_PAGE_MORE, 1400, h.page + 1000),
			         MIGRATE_RUNNING);
			CHECK_EQ(hand_piece(MIGRATE_PAGE_MORE, 1400, h.page + 2400),
			         MIGRATE_RUNNING);
			CHECK_EQ(hand_piece(MIGRATE_PAGE_END, 296, h.page + 3800), MIGRATE_RUNNING);
			CHECK_EQ(h.dst.report.pages_received, 1);
			CHECK(memcmp(h.mem + 3 * MIGRATE_PAGE_SIZE, h.page, MIGRATE_PAGE_SIZE) ==
			      0);
			continue;
		case 1: /* no page open */
			CHECK_EQ(hand_piece(MIGRATE_PAGE_MORE, 10, h.page), MIGRATE_ABORTED);
			break;
		case 2: /* MORE up to the end: the checksum would never come */
			hand_open_page(3, 1000);
			CHECK_EQ(hand_piece(MIGRATE_PAGE_MORE, 1400, h.page + 1000),
			         MIGRATE_RUNNING);
			CHECK_EQ(hand_piece(MIGRATE_PAGE_MORE, 1400, h.page + 2400),
			         MIGRATE_RUNNING);
			CHECK_EQ(hand_piece(MIGRATE_PAGE_MORE, 296, h.page + 3800),
			         MIGRATE_ABORTED);
			break;
		case 3: /* END short of the page's end */
			hand_open_page(3, 1000);
			CHECK_EQ(hand_piece(MIGRATE_PAGE_END, 1400, h.page + 1000),
			         MIGRATE_ABORTED);
			break;
		}
		CHECK_EQ(h.dst.report.reason, MIGRATE_ERR_PROTOCOL);
		CHECK_EQ(h.dst.report.pages_received, 0);
	}
}

TEST(migrate_engine_destination_refuses_early_commit)
{
	hand_setup();
	hand_hello();
	struct migrate_msg m = {.type = MIGRATE_ZERO_PAGES};
	uint64_t pfns[3] = {0, 1, 3}; /* page 2 never comes */
	m.zero.count = 3;
	m.zero.pfns = pfns;
	hand_send(&m);
	CHECK_EQ(h.dst.report.status, MIGRATE_RUNNING);
	CHECK_EQ(h.dst.report.pages_distinct, 3);
	m = (struct migrate_msg){.type = MIGRATE_COMMIT};
	hand_send(&m);
	CHECK_EQ(h.dst.report.status, MIGRATE_ABORTED);
	CHECK_EQ(h.dst.report.reason, MIGRATE_ERR_INCOMPLETE);
	CHECK_EQ(h.abort_reason, MIGRATE_ERR_INCOMPLETE);
}

TEST(migrate_engine_destination_refuses_bad_state_and_stray_frames)
{
	/* A state blob whose checksum does not match. */
	hand_setup();
	hand_hello();
	uint64_t pfns[4] = {0, 1, 2, 3};
	struct migrate_msg m = {.type = MIGRATE_ZERO_PAGES};
	m.zero.count = 4;
	m.zero.pfns = pfns;
	hand_send(&m);
	uint8_t blob[50] = {1, 2, 3};
	m = (struct migrate_msg){.type = MIGRATE_STATE};
	m.state.total = m.state.len = sizeof blob;
	m.state.data = blob;
	hand_send(&m);
	m = (struct migrate_msg){.type = MIGRATE_COMMIT};
	m.commit.state_len = sizeof blob;
	m.commit.state_checksum = migrate_hash64(MIGRATE_HASH_START, blob, sizeof blob) + 1;
	hand_send(&m);
	CHECK_EQ(h.dst.report.reason, MIGRATE_ERR_STATE_CHECKSUM);

	/* A page beyond the VM's memory. */
	hand_setup();
	hand_hello();
	pfns[0] = 4;
	m = (struct migrate_msg){.type = MIGRATE_ZERO_PAGES};
	m.zero.count = 1;
	m.zero.pfns = pfns;
	hand_send(&m);
	CHECK_EQ(h.dst.report.reason, MIGRATE_ERR_PROTOCOL);

	/* A page piece that does not continue the page being received. */
	hand_setup();
	hand_hello();
	m = (struct migrate_msg){.type = MIGRATE_PAGE};
	m.page.pfn = 1;
	m.page.len = 100;
	m.page.data = h.page;
	hand_send(&m);
	m.page.offset = 200;
	hand_send(&m);
	CHECK_EQ(h.dst.report.reason, MIGRATE_ERR_PROTOCOL);

	/* A second HELLO in the same session. */
	hand_setup();
	hand_hello();
	hand_hello();
	CHECK_EQ(h.dst.report.reason, MIGRATE_ERR_PROTOCOL);
	CHECK_EQ(h.abort_reason, MIGRATE_ERR_PROTOCOL);
}

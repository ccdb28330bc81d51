/* Unit tests of the reliable windowed transport (migrate/transport.c) over
 * the simulated link of test_migrate_sim.c. */
#include <string.h>

#include "check.h"
#include "test_migrate_sim.h"

#define MS 1000000ull
#define US 1000ull

static struct {
	uint64_t now;
	struct sim_pipe a2b, b2a;
	struct migrate_transport a, b;
} w;

static const struct sim_faults clean = {0, 0, 0, 0};

/* A (session 99) sends to B, which listens and binds to A's HELLO. */
static void setup(struct sim_faults faults, unsigned window, unsigned payload)
{
	memset(&w, 0, sizeof w);
	sim_pipe_init(&w.a2b, &w.now, 200 * US, faults, 11);
	sim_pipe_init(&w.b2a, &w.now, 200 * US, faults, 22);
	struct migrate_link_config cfg;
	migrate_link_defaults(&cfg);
	cfg.window = window;
	cfg.payload_size = payload;
	cfg.rto_ns = 3 * MS;
	cfg.max_retries = 10;
	cfg.idle_timeout_ns = 200 * MS;
	cfg.ack_delay_ns = 500 * US;
	cfg.send_frame = sim_send;
	cfg.send_ctx = &w.a2b;
	cfg.session = 99;
	migrate_transport_init(&w.a, &cfg, 0);
	cfg.send_ctx = &w.b2a;
	cfg.session = 0;
	migrate_transport_init(&w.b, &cfg, 0);
}

/* Payload i: its number and a pattern, so that order and content show. */
static uint16_t make_payload(uint8_t *p, uint32_t i, unsigned payload)
{
	uint16_t len = (uint16_t)(8 + i % (payload - 7));
	memcpy(p, &i, 4);
	for (uint16_t k = 4; k < len; k++)
		p[k] = (uint8_t)(i * 31 + k);
	return len;
}

static bool payload_ok(const struct migrate_frame *f, uint32_t i, unsigned payload)
{
	uint8_t want[MIGRATE_PAYLOAD_MAX];
	uint16_t len = make_payload(want, i, payload);
	return f->payload_len == len && memcmp(f->payload, want, len) == 0;
}

/* Sends n frames from A (the first a HELLO, which binds B) and runs the
 * link until B has all of them; returns how many B got in order. */
static uint32_t stream(uint32_t n, unsigned payload, uint64_t limit_ns, bool *order_ok)
{
	uint8_t p[MIGRATE_PAYLOAD_MAX], buf[MIGRATE_MTU];
	uint32_t sent = 0, got = 0;
	*order_ok = true;
	for (; w.now < limit_ns && got < n; w.now += 50 * US) {
		while (sent < n && migrate_transport_can_send(&w.a)) {
			uint16_t len = make_payload(p, sent, payload);
			if (!migrate_transport_send(&w.a, sent ? MIGRATE_PAGE : MIGRATE_HELLO, p,
			                            len, w.now))
				return got;
			sent++;
		}
		size_t len;
		while (sim_receive(&w.a2b, buf, &len)) {
			migrate_transport_receive(&w.b, buf, len, w.now);
			struct migrate_frame f;
			while (migrate_transport_next(&w.b, &f)) {
				if (!payload_ok(&f, got, payload))
					*order_ok = false;
				got++;
			}
		}
		while (sim_receive(&w.b2a, buf, &len))
			migrate_transport_receive(&w.a, buf, len, w.now);
		migrate_transport_tick(&w.a, w.now);
		migrate_transport_tick(&w.b, w.now);
	}
	return got;
}

TEST(migrate_transport_clean_link_delivers_in_order)
{
	setup(clean, 32, MIGRATE_PAYLOAD_MAX);
	bool order_ok;
	CHECK_EQ(stream(2000, MIGRATE_PAYLOAD_MAX, 2000 * MS, &order_ok), 2000);
	CHECK(order_ok);
	CHECK_EQ(w.a.stats.retransmits, 0);
	CHECK_EQ(w.b.stats.duplicates, 0);
	CHECK_EQ(w.b.stats.delivered, 2000);
	CHECK(w.a.stats.rtt_ns >= 400 * US); /* two latencies at least */
	/* Delayed ACKs: far fewer than one per frame. */
	CHECK(w.b.stats.acks_sent < 2000 / 4);
}

TEST(migrate_transport_lossy_link_delivers_everything_once_in_order)
{
	struct sim_faults bad = {
	    .drop_pct = 10, .dup_pct = 10, .reorder_pct = 10, .corrupt_pct = 5};
	setup(bad, 32, 200);
	bool order_ok;
	CHECK_EQ(stream(3000, 200, 5000 * MS, &order_ok), 3000);
	CHECK(order_ok);
	CHECK_EQ(w.a.error, MIGRATE_OK);
	CHECK_EQ(w.b.error, MIGRATE_OK);
	/* The faults really happened, and the transport saw them. */
	CHECK(w.a2b.dropped > 100 && w.a2b.duplicated > 100 && w.a2b.reordered > 100);
	CHECK(w.a2b.corrupted > 50);
	CHECK(w.a.stats.retransmits > 0);
	CHECK(w.b.stats.duplicates > 0);
	CHECK(w.b.stats.rejected > 0);
	CHECK(w.a.stats.rejected > 0); /* damaged ACKs */
	CHECK(w.b.stats.last_reject != MIGRATE_OK);
}

TEST(migrate_transport_smallest_payload_works)
{
	struct sim_faults bad = {.drop_pct = 5, .dup_pct = 5, .reorder_pct = 5, .corrupt_pct = 5};
	setup(bad, 8, MIGRATE_PAYLOAD_MIN);
	bool order_ok;
	CHECK_EQ(stream(500, MIGRATE_PAYLOAD_MIN, 5000 * MS, &order_ok), 500);
	CHECK(order_ok);
}

TEST(migrate_transport_never_more_than_window_in_flight)
{
	setup(clean, 16, 100);
	uint8_t p[8] = {0};
	unsigned n = 0;
	while (migrate_transport_send(&w.a, MIGRATE_PAGE, p, sizeof p, 0))
		n++;
	CHECK_EQ(n, 16);
	CHECK(!migrate_transport_can_send(&w.a));
	CHECK_EQ(w.a2b.sent, 16);
	/* Too long for this link's payload size: refused. */
	setup(clean, 16, 100);
	uint8_t big[101] = {0};
	CHECK(!migrate_transport_send(&w.a, MIGRATE_PAGE, big, sizeof big, 0));
	CHECK(migrate_transport_send(&w.a, MIGRATE_PAGE, big, 100, 0));
}

TEST(migrate_transport_one_loss_costs_one_retransmission)
{
	setup(clean, 32, MIGRATE_PAYLOAD_MAX);
	w.a2b.drop_nth = 4; /* seq 3 */
	bool order_ok;
	CHECK_EQ(stream(200, MIGRATE_PAYLOAD_MAX, 1000 * MS, &order_ok), 200);
	CHECK(order_ok);
	CHECK_EQ(w.a2b.dropped, 1);
	/* Selective ACKs: only the lost frame went again, not the window. */
	CHECK_EQ(w.a.stats.retransmits, 1);
	CHECK_EQ(w.b.stats.duplicates, 0);
}

TEST(migrate_transport_a_lost_retransmission_is_found_by_the_frames_after_it)
{
	/* Frame 4 (seq 3) is lost, and so is its fast retransmission, frame
	 * 33: the first 32 went out at t=0 and the ACK that reveals the hole
	 * comes back before any new frame. The frames sent after that copy
	 * reveal it as they did the original: no timer is waited for. */
	setup(clean, 32, MIGRATE_PAYLOAD_MAX);
	w.a.cfg.rto_ns = 500 * MS;
	w.a2b.drop_nth = 4;
	w.a2b.drop_nth_too = 33;
	bool order_ok;
	CHECK_EQ(stream(200, MIGRATE_PAYLOAD_MAX, 2000 * MS, &order_ok), 200);
	CHECK(order_ok);
	CHECK_EQ(w.a2b.dropped, 2);
	CHECK_EQ(w.a.stats.retransmits, 2);
	CHECK(w.now < 20 * MS); /* the timer (now at least 500 / 8 ms) never ran out */
}

TEST(migrate_transport_timer_follows_the_rtt_between_bounds)
{
	/* A lost last frame: nothing after it reveals the loss, its timer
	 * does, after about two RTTs (the link's 0.4 ms, ACK delays), not
	 * after the configured 500 ms, and not under its eighth. */
	setup(clean, 32, MIGRATE_PAYLOAD_MAX);
	w.a.cfg.rto_ns = 500 * MS;
	CHECK_EQ(migrate_transport_rto_ns(&w.a), 500 * MS); /* no RTT yet */
	w.a2b.drop_nth = 20;
	bool order_ok;
	CHECK_EQ(stream(20, MIGRATE_PAYLOAD_MAX, 2000 * MS, &order_ok), 20);
	CHECK(order_ok);
	CHECK_EQ(w.a.stats.retransmits, 1);
	CHECK(w.a.stats.rtt_ns >= 400 * US && w.a.stats.rtt_ns < 2 * MS);
	/* It went out again after 62.5 ms (2 RTT + 2 x 0.5 ms is less), and
	 * that timeout doubled the timer: no clean RTT sample came after it. */
	CHECK(w.now >= 500 * MS / 8 && w.now < 80 * MS);
	CHECK_EQ(migrate_transport_rto_ns(&w.a), 2 * (500 * MS / 8));
	/* Each timeout doubles it, up to the bound: the link is cut now,
	 * and one frame goes out into the void. */
	uint8_t buf[MIGRATE_MTU];
	size_t len;
	while (!migrate_transport_all_acked(&w.a) && w.now < 1000 * MS) { /* the last ACK */
		w.now += 50 * US;
		while (sim_receive(&w.b2a, buf, &len))
			migrate_transport_receive(&w.a, buf, len, w.now);
		migrate_transport_tick(&w.b, w.now);
	}
	CHECK(migrate_transport_all_acked(&w.a));
	sim_cut(&w.a2b);
	w.a.cfg.idle_timeout_ns = 100000 * MS; /* the timer's patience, not silence, ends it */
	uint8_t p[8] = {0};
	CHECK(migrate_transport_send(&w.a, MIGRATE_PAGE, p, sizeof p, w.now));
	uint64_t sent = w.now, want[] = {250 * MS, 500 * MS, 500 * MS, 500 * MS};
	for (unsigned i = 0; i < 4; i++) {
		uint64_t resent = w.a.stats.retransmits;
		while (w.a.stats.retransmits == resent && w.now < sent + 10000 * MS) {
			w.now += 1 * MS;
			migrate_transport_tick(&w.a, w.now);
		}
		CHECK_EQ(migrate_transport_rto_ns(&w.a), want[i]);
	}
	/* max_retries (10) timeouts, then the peer is gone: 125 + 250 + 9 x
	 * 500 ms of patience, not 11 x 62.5. */
	while (w.a.error == MIGRATE_OK && w.now < sent + 10000 * MS) {
		w.now += 1 * MS;
		migrate_transport_tick(&w.a, w.now);
	}
	CHECK_EQ(w.a.error, MIGRATE_ERR_PEER_GONE);
	CHECK(w.now - sent >= 4870 * MS && w.now - sent < 4900 * MS);
	/* A slow link's RTT raises it, up to the configured bound. */
	w.a.rto_backoff = 0;
	w.a.stats.rtt_ns = 100 * MS;
	CHECK_EQ(migrate_transport_rto_ns(&w.a), 201 * MS);
	w.a.stats.rtt_ns = 400 * MS;
	CHECK_EQ(migrate_transport_rto_ns(&w.a), 500 * MS);
}

TEST(migrate_transport_gives_up_when_peer_is_gone)
{
	setup(clean, 32, MIGRATE_PAYLOAD_MAX);
	w.a2b.cut = true;
	uint8_t p[8] = {0};
	CHECK(migrate_transport_send(&w.a, MIGRATE_HELLO, p, sizeof p, 0));
	for (w.now = 0; w.now < 1000 * MS && w.a.error == MIGRATE_OK; w.now += 100 * US)
		migrate_transport_tick(&w.a, w.now);
	CHECK_EQ(w.a.error, MIGRATE_ERR_PEER_GONE);
	CHECK_EQ(w.a.stats.retransmits, 10); /* max_retries */
	/* About (max_retries + 1) timeouts, not the idle timeout. */
	CHECK(w.now >= 33 * MS && w.now < 40 * MS);
	CHECK(!migrate_transport_can_send(&w.a));
}

TEST(migrate_transport_silent_peer_is_noticed_and_live_one_kept)
{
	/* Nothing in flight, nothing heard: idle timeout. */
	setup(clean, 32, MIGRATE_PAYLOAD_MAX);
	for (w.now = 0; w.now < 1000 * MS && w.a.error == MIGRATE_OK; w.now += MS)
		migrate_transport_tick(&w.a, w.now);
	CHECK_EQ(w.a.error, MIGRATE_ERR_PEER_SILENT);
	CHECK_EQ(w.now, 201 * MS);

	/* Two idle ends of a live link keep each other alive with ACKs. */
	setup(clean, 32, MIGRATE_PAYLOAD_MAX);
	bool order_ok;
	CHECK_EQ(stream(1, MIGRATE_PAYLOAD_MAX, 10 * MS, &order_ok), 1);
	uint8_t buf[MIGRATE_MTU];
	size_t len;
	for (; w.now < 2000 * MS; w.now += MS) {
		migrate_transport_tick(&w.a, w.now);
		migrate_transport_tick(&w.b, w.now);
		while (sim_receive(&w.a2b, buf, &len))
			migrate_transport_receive(&w.b, buf, len, w.now);
		while (sim_receive(&w.b2a, buf, &len))
			migrate_transport_receive(&w.a, buf, len, w.now);
	}
	CHECK_EQ(w.a.error, MIGRATE_OK);
	CHECK_EQ(w.b.error, MIGRATE_OK);
}

TEST(migrate_transport_strangers_are_ignored)
{
	setup(clean, 32, MIGRATE_PAYLOAD_MAX);
	uint8_t frame[MIGRATE_MTU], p[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	struct migrate_frame f = {
	    .type = MIGRATE_PAGE, .session = 99, .seq = 0, .payload_len = 8, .payload = p};
	/* B listens: only a HELLO with seq 0 may begin a session. */
	size_t len = migrate_frame_encode(frame, sizeof frame, &f);
	migrate_transport_receive(&w.b, frame, len, 0);
	CHECK(!w.b.bound);
	CHECK_EQ(w.b.stats.strangers, 1);
	f.type = MIGRATE_HELLO;
	f.seq = 1;
	len = migrate_frame_encode(frame, sizeof frame, &f);
	migrate_transport_receive(&w.b, frame, len, 0);
	CHECK(!w.b.bound);
	f.seq = 0;
	len = migrate_frame_encode(frame, sizeof frame, &f);
	migrate_transport_receive(&w.b, frame, len, 0);
	CHECK(w.b.bound);
	CHECK_EQ(w.b.cfg.session, 99);
	/* Bound: another session's frames, even well-formed, are dropped. */
	f.session = 98;
	f.seq = 1;
	f.type = MIGRATE_PAGE;
	len = migrate_frame_encode(frame, sizeof frame, &f);
	migrate_transport_receive(&w.b, frame, len, 0);
	struct migrate_msg abort_msg = {.type = MIGRATE_ABORT};
	abort_msg.abort.reason = MIGRATE_ERR_CANCELLED;
	uint8_t ap[2];
	struct migrate_frame af = {.type = MIGRATE_ABORT, .session = 98, .payload = ap};
	migrate_msg_encode(ap, sizeof ap, &abort_msg, &af.payload_len);
	len = migrate_frame_encode(frame, sizeof frame, &af);
	migrate_transport_receive(&w.b, frame, len, 0);
	CHECK_EQ(w.b.stats.strangers, 4);
	CHECK_EQ(w.b.peer_abort, MIGRATE_OK);
	struct migrate_frame out;
	CHECK(migrate_transport_next(&w.b, &out));
	CHECK_EQ(out.type, MIGRATE_HELLO);
	CHECK(!migrate_transport_next(&w.b, &out));
	/* The same ABORT from our own session is heard. */
	af.session = 99;
	len = migrate_frame_encode(frame, sizeof frame, &af);
	migrate_transport_receive(&w.b, frame, len, 0);
	CHECK_EQ(w.b.peer_abort, MIGRATE_ERR_CANCELLED);
}

TEST(migrate_transport_duplicate_of_delivered_frame_is_acked_again)
{
	setup(clean, 32, MIGRATE_PAYLOAD_MAX);
	uint8_t frame[MIGRATE_MTU], p[4] = {0};
	struct migrate_frame f = {
	    .type = MIGRATE_HELLO, .session = 99, .payload_len = 4, .payload = p};
	size_t len = migrate_frame_encode(frame, sizeof frame, &f);
	migrate_transport_receive(&w.b, frame, len, 0);
	struct migrate_frame out;
	CHECK(migrate_transport_next(&w.b, &out));
	migrate_transport_ack_now(&w.b, 0);
	uint64_t acks = w.b.stats.acks_sent;
	migrate_transport_receive(&w.b, frame, len, MS); /* our ACK was lost */
	CHECK_EQ(w.b.stats.duplicates, 1);
	CHECK(!migrate_transport_next(&w.b, &out)); /* not delivered twice */
	migrate_transport_tick(&w.b, MS);
	CHECK_EQ(w.b.stats.acks_sent, acks + 1);
	/* A frame far beyond the window is dropped, not buffered. */
	f.type = MIGRATE_PAGE;
	f.seq = 1 + MIGRATE_WINDOW_MAX;
	len = migrate_frame_encode(frame, sizeof frame, &f);
	migrate_transport_receive(&w.b, frame, len, MS);
	CHECK_EQ(w.b.stats.out_of_window, 1);
}

TEST(migrate_transport_refuses_bad_config)
{
	struct migrate_link_config cfg;
	struct migrate_transport t;
	migrate_link_defaults(&cfg);
	CHECK(!migrate_transport_init(&t, &cfg, 0)); /* no send_frame */
	cfg.send_frame = sim_send;
	CHECK(migrate_transport_init(&t, &cfg, 0));
	cfg.window = MIGRATE_WINDOW_MAX + 1;
	CHECK(!migrate_transport_init(&t, &cfg, 0));
	cfg.window = 0;
	CHECK(!migrate_transport_init(&t, &cfg, 0));
	cfg.window = 32;
	cfg.payload_size = MIGRATE_PAYLOAD_MIN - 1;
	CHECK(!migrate_transport_init(&t, &cfg, 0));
	cfg.payload_size = MIGRATE_PAYLOAD_MAX + 1;
	CHECK(!migrate_transport_init(&t, &cfg, 0));
}

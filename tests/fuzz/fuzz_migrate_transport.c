/* libFuzzer target: the reliable windowed transport (migrate/transport.c)
 * fed arbitrary frame sequences by a peer (fuzz_migrate.h), while the local
 * side sends too.
 *
 * Input: the link configuration, whether the transport listens (binds to
 * the first HELLO, as a destination does) or has its session, the peer's
 * session; then ops: peer frames (fuzz_peer_op), local sends, timer ticks,
 * taking delivered frames, ACK and ABORT sends.
 *
 * Checked: frames are delivered in sequence order, each number once, each
 * one a frame the peer really sent with that number; no more than the
 * window is ever in flight; a frame sent again is byte for byte the first
 * copy; a failed link stays failed. */
#include "fuzz_migrate.h"

/* What the peer sent for each sequence number lately (a few copies: it may
 * send the same number with different contents, and the first one taken
 * is the one delivered). */
#define SENT_SLOTS  256
#define SENT_COPIES 4

static struct {
	struct peer peer;
	struct migrate_transport t;
	struct {
		uint32_t seq;
		unsigned copies;
		uint64_t hash[SENT_COPIES];
	} sent[SENT_SLOTS];
	uint32_t expect_seq;                     /* the next delivery */
	uint64_t first_copy[MIGRATE_WINDOW_MAX]; /* hash of each in-flight frame as first sent */
	uint32_t first_copy_seq[MIGRATE_WINDOW_MAX];
	bool first_copy_valid[MIGRATE_WINDOW_MAX];
} w;

static uint64_t frame_hash(uint8_t type, const uint8_t *payload, size_t len)
{
	return migrate_hash64(MIGRATE_HASH_START + type, payload, len);
}

/* Remembers a valid data frame the transport could take now: of its
 * session (or the HELLO that binds it), inside its receive window. Only
 * those: a frame it must drop would otherwise take the place of one it
 * keeps (numbers 256 apart share a slot). */
static void note_peer_frame(const uint8_t *bytes, size_t len)
{
	struct migrate_frame f;
	if (migrate_frame_decode(bytes, len, &f) != MIGRATE_OK)
		return;
	if (f.type == MIGRATE_ACK || f.type == MIGRATE_ABORT)
		return;
	bool ours = w.t.bound ? f.session == w.t.cfg.session
	                      : f.type == MIGRATE_HELLO && f.seq == 0 && f.session != 0;
	if (!ours || f.seq - w.t.rx_next >= MIGRATE_WINDOW_MAX)
		return;
	unsigned slot = f.seq % SENT_SLOTS;
	if (w.sent[slot].seq != f.seq || !w.sent[slot].copies) {
		w.sent[slot].seq = f.seq;
		w.sent[slot].copies = 0;
	}
	if (w.sent[slot].copies < SENT_COPIES)
		w.sent[slot].hash[w.sent[slot].copies++] =
		    frame_hash(f.type, f.payload, f.payload_len);
}

static void deliver(void *ctx, const uint8_t *bytes, size_t len, uint64_t now)
{
	(void)ctx;
	note_peer_frame(bytes, len);
	enum migrate_error before = w.t.error;
	migrate_transport_receive(&w.t, bytes, len, now);
	FUZZ_ASSERT(before == MIGRATE_OK || w.t.error == before);
}

static void on_engine_frame(void *ctx, const struct migrate_frame *f, const struct migrate_msg *m)
{
	(void)ctx, (void)m;
	if (f->type == MIGRATE_ACK || f->type == MIGRATE_ABORT)
		return;
	unsigned slot = f->seq % MIGRATE_WINDOW_MAX;
	uint64_t h = frame_hash(f->type, f->payload, f->payload_len);
	if (w.first_copy_valid[slot] && w.first_copy_seq[slot] == f->seq) {
		FUZZ_ASSERT(w.first_copy[slot] == h); /* a resend is the same frame */
	} else {
		w.first_copy[slot] = h;
		w.first_copy_seq[slot] = f->seq;
		w.first_copy_valid[slot] = true;
	}
}

static void check_link(void)
{
	FUZZ_ASSERT(w.t.tx_next - w.t.tx_base <= w.t.cfg.window);
	FUZZ_ASSERT(w.t.cfg.window == w.peer.cfg.window);
	FUZZ_ASSERT(w.t.error == MIGRATE_OK || w.t.error == MIGRATE_ERR_PEER_GONE ||
	            w.t.error == MIGRATE_ERR_PEER_SILENT);
	FUZZ_ASSERT(w.t.peer_abort < MIGRATE_ERR_END);
}

static void take_delivered(void)
{
	struct migrate_frame f;
	while (migrate_transport_next(&w.t, &f)) {
		FUZZ_ASSERT(f.seq == w.expect_seq);
		w.expect_seq++;
		FUZZ_ASSERT(f.payload_len <= MIGRATE_PAYLOAD_MAX);
		FUZZ_ASSERT(f.type != MIGRATE_ACK && f.type != MIGRATE_ABORT);
		unsigned slot = f.seq % SENT_SLOTS;
		FUZZ_ASSERT(w.sent[slot].seq == f.seq && w.sent[slot].copies);
		uint64_t h = frame_hash(f.type, f.payload, f.payload_len);
		bool known = false;
		for (unsigned i = 0; i < w.sent[slot].copies; i++)
			known |= w.sent[slot].hash[i] == h;
		/* The first copy that arrived is the one delivered: it is among
		 * the first SENT_COPIES remembered. */
		FUZZ_ASSERT(known);
		w.sent[slot].copies = 0;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = fuzz_in_make(data, size);
	memset(&w, 0, sizeof w);
	struct migrate_link_config cfg;
	fuzz_link_config(&in, &cfg);
	uint8_t mode = fuzz_u8(&in);
	uint32_t session = 1 + fuzz_u8(&in);
	peer_init(&w.peer, &cfg, session);
	w.peer.deliver = deliver;
	w.peer.on_engine_frame = on_engine_frame;
	w.peer.data_is_messages = false;
	struct migrate_link_config local = w.peer.cfg;
	local.session = mode & 1 ? 0 : session; /* 0: listen for a HELLO */
	FUZZ_ASSERT(migrate_transport_init(&w.t, &local, w.peer.now));

	uint8_t payload[MIGRATE_PAYLOAD_MAX];
	for (unsigned ops = 0; !fuzz_empty(&in) && ops < 4096; ops++) {
		uint8_t op = fuzz_u8(&in);
		if (fuzz_peer_op(&w.peer, &in, op)) {
			check_link();
			continue;
		}
		switch (op & 15) {
		case 8:
		case 9: { /* the local side sends */
			/* data types only: ACK and ABORT are the transport's own */
			uint8_t type = 1 + fuzz_u8(&in) % (MIGRATE_ABORT - 1);
			uint16_t len = fuzz_u16(&in) % (MIGRATE_PAYLOAD_MAX + 8);
			fuzz_bytes(&in, payload, MIN(len, sizeof payload));
			bool can = migrate_transport_can_send(&w.t);
			bool ok = len <= sizeof payload &&
			          migrate_transport_send(&w.t, type, payload, len, w.peer.now);
			if (ok)
				FUZZ_ASSERT(can && len <= w.t.cfg.payload_size);
			else if (can && len <= w.t.cfg.payload_size)
				FUZZ_ASSERT(false); /* room and a fitting payload: it must go */
			break;
		}
		case 10:
		case 11:
			fuzz_time_step(&w.peer, &in, op);
			migrate_transport_tick(&w.t, w.peer.now);
			break;
		case 12: take_delivered(); break;
		case 13: /* (the engine acknowledges at once only on a bound link) */
			if (w.t.bound)
				migrate_transport_ack_now(&w.t, w.peer.now);
			break;
		case 14:
			migrate_transport_send_abort(
			    &w.t, (enum migrate_error)(fuzz_u8(&in) % MIGRATE_ERR_END), w.peer.now);
			break;
		default:
			FUZZ_ASSERT(migrate_transport_all_acked(&w.t) ==
			            (w.t.tx_base == w.t.tx_next));
			break;
		}
		check_link();
	}
	take_delivered();
#ifdef FUZZ_TRACE /* -DFUZZ_TRACE: how far an input got (to check the seeds) */
	fprintf(stderr, "transport: bound %d delivered %u sent %llu error %d\n", w.t.bound,
	        w.expect_seq, (unsigned long long)w.t.stats.data_frames, w.t.error);
#endif
	return 0;
}

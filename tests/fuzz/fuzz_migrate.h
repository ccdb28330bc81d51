/* Shared by the migration targets that feed frame sequences to the
 * transport and the two state machines (fuzz_migrate_transport.c,
 * fuzz_migrate_source.c, fuzz_migrate_dest.c).
 *
 * The harness plays the peer. The input is split into frames by op bytes
 * (fuzz_peer_op): most build a frame from the input and give it a valid
 * header and checksum, since a checksum is not something a fuzzer guesses
 * and a frame that fails it only tests the first ten lines of the decoder
 * (fuzz_migrate_wire.c does that); others send the input's bytes as they
 * are, replay an earlier frame with one bit flipped, use a stranger's
 * session, or acknowledge what the engine sent. Every frame the engine
 * sends is checked to be one a correct peer would take. */
#ifndef TESTS_FUZZ_MIGRATE_H
#define TESTS_FUZZ_MIGRATE_H

#include "fuzz_common.h"
#include "lib/lib.h"
#include "migrate/migrate.h"

#define PEER_HISTORY 8

struct peer {
	uint32_t session;  /* of the link; the peer's frames carry it */
	uint32_t next_seq; /* the peer's next data frame */
	uint64_t now;
	/* the engine's side, as seen on the wire */
	struct migrate_link_config cfg; /* what the engine was given */
	uint32_t engine_session;        /* 0 until its first frame */
	uint32_t engine_next_seq;       /* one past the highest data seq it sent */
	uint64_t engine_frames;
	/* the last frames the peer sent, for replays */
	uint8_t history[PEER_HISTORY][MIGRATE_MTU];
	uint16_t history_len[PEER_HISTORY];
	unsigned history_count;
	/* where frames go: the engine under test */
	void (*deliver)(void *ctx, const uint8_t *bytes, size_t len, uint64_t now);
	void *deliver_ctx;
	/* called for every frame the engine sends, already checked (m NULL
	 * when the payload is not a message: see data_is_messages) */
	void (*on_engine_frame)(void *ctx, const struct migrate_frame *f,
	                        const struct migrate_msg *m);
	void *engine_ctx;
	/* false: data payloads are the caller's bytes, not messages (the
	 * transport alone carries anything) */
	bool data_is_messages;
};

/* A link configuration from the input: every field in its valid range
 * (the refusals are the unit tests' business), biased to small windows and
 * payloads, which make more frames of less input. */
static void fuzz_link_config(struct fuzz_in *in, struct migrate_link_config *cfg)
{
	migrate_link_defaults(cfg);
	uint8_t which = fuzz_u8(in);
	if (which & 1)
		cfg->window = 1 + fuzz_u8(in) % MIGRATE_WINDOW_MAX;
	if (which & 2)
		cfg->payload_size = MIGRATE_PAYLOAD_MIN +
		                    fuzz_u16(in) % (MIGRATE_PAYLOAD_MAX - MIGRATE_PAYLOAD_MIN + 1);
	if (which & 4)
		cfg->rto_ns = 1 + fuzz_u16(in) * 10000ull;
	if (which & 8)
		cfg->max_retries = 1 + fuzz_u8(in) % 255;
	if (which & 16)
		cfg->idle_timeout_ns = 1 + fuzz_u32(in) * 1000ull;
	if (which & 32)
		cfg->ack_every = 1 + fuzz_u8(in) % 80;
	if (which & 64)
		cfg->ack_delay_ns = fuzz_u32(in) * 10ull;
}

/* The engine's send_frame: every frame must decode, carry the engine's
 * one session, fit the configured payload, and its message decode too. */
static void peer_capture(void *ctx, const uint8_t *bytes, size_t len)
{
	struct peer *p = ctx;
	FUZZ_ASSERT(len >= MIGRATE_HEADER_SIZE && len <= MIGRATE_MTU);
	struct migrate_frame f;
	FUZZ_ASSERT(migrate_frame_decode(bytes, len, &f) == MIGRATE_OK);
	FUZZ_ASSERT(len == MIGRATE_HEADER_SIZE + (size_t)f.payload_len);
	FUZZ_ASSERT(f.session != 0);
	if (p->engine_session == 0)
		p->engine_session = f.session;
	FUZZ_ASSERT(f.session == p->engine_session);
	struct migrate_msg m;
	bool unsequenced = f.type == MIGRATE_ACK || f.type == MIGRATE_ABORT;
	enum migrate_error e = migrate_msg_decode(&f, &m);
	if (unsequenced || p->data_is_messages)
		FUZZ_ASSERT(e == MIGRATE_OK);
	if (unsequenced) {
		FUZZ_ASSERT(f.seq == 0);
	} else {
		FUZZ_ASSERT(f.payload_len <= p->cfg.payload_size);
		/* New data frames are numbered in order; a resend is older. */
		FUZZ_ASSERT(f.seq <= p->engine_next_seq);
		if (f.seq == p->engine_next_seq)
			p->engine_next_seq++;
	}
	p->engine_frames++;
	if (p->on_engine_frame)
		p->on_engine_frame(p->engine_ctx, &f, e == MIGRATE_OK ? &m : NULL);
}

static void peer_init(struct peer *p, const struct migrate_link_config *cfg, uint32_t session)
{
	memset(p, 0, sizeof *p);
	p->cfg = *cfg;
	p->cfg.send_frame = peer_capture;
	p->cfg.send_ctx = p;
	p->session = session;
	p->data_is_messages = true;
}

static void peer_put(struct peer *p, const uint8_t *bytes, size_t len)
{
	unsigned slot = p->history_count++ % PEER_HISTORY;
	memcpy(p->history[slot], bytes, len);
	p->history_len[slot] = (uint16_t)len;
	p->deliver(p->deliver_ctx, bytes, len, p->now);
}

/* Sends one frame with a valid header and checksum. */
static void peer_send(struct peer *p, uint8_t type, uint32_t session, uint32_t seq,
                      const uint8_t *payload, uint16_t len)
{
	uint8_t buf[MIGRATE_MTU];
	struct migrate_frame f = {
	    .type = type, .session = session, .seq = seq, .payload_len = len, .payload = payload};
	size_t n = migrate_frame_encode(buf, sizeof buf, &f);
	if (n)
		peer_put(p, buf, n);
}

/* The next data frame of the stream, laid out by migrate_msg_encode. */
static void peer_send_msg(struct peer *p, const struct migrate_msg *m)
{
	uint8_t payload[MIGRATE_PAYLOAD_MAX];
	uint16_t len;
	FUZZ_ASSERT(migrate_msg_encode(payload, sizeof payload, m, &len));
	bool seq0 = m->type == MIGRATE_ACK || m->type == MIGRATE_ABORT;
	peer_send(p, (uint8_t)m->type, p->session, seq0 ? 0 : p->next_seq++, payload, len);
}

/* Acknowledges what the engine sent: everything, or with a hole. */
static void peer_ack(struct peer *p, struct fuzz_in *in, bool everything)
{
	struct migrate_msg m = {.type = MIGRATE_ACK};
	m.ack.next = p->engine_next_seq;
	if (!everything) {
		m.ack.next -= fuzz_u8(in) % 16;
		m.ack.sack = fuzz_u64(in);
	}
	peer_send_msg(p, &m);
}

/* One op from the input that is about frames; returns false for an op
 * byte this does not know (the target's own ops). */
static bool fuzz_peer_op(struct peer *p, struct fuzz_in *in, uint8_t op)
{
	uint8_t payload[MIGRATE_PAYLOAD_MAX];
	switch (op & 15) {
	case 0:
	case 1: { /* the next data frame: any type, any payload */
		uint8_t type = fuzz_u8(in) % (MIGRATE_TYPE_END + 1);
		uint16_t len = fuzz_u16(in) % (MIGRATE_PAYLOAD_MAX + 1);
		if (op & 16)
			len %= 24; /* the fixed layouts are all short */
		fuzz_bytes(in, payload, len);
		peer_send(p, type, p->session, p->next_seq++, payload, len);
		return true;
	}
	case 2: { /* a data frame out of order: a gap, a duplicate, an old one */
		uint8_t type = fuzz_u8(in) % MIGRATE_TYPE_END;
		uint32_t seq = p->next_seq + (uint32_t)(int8_t)fuzz_u8(in);
		if (op & 16)
			seq = fuzz_u32(in);
		uint16_t len = fuzz_u16(in) % 64;
		fuzz_bytes(in, payload, len);
		peer_send(p, type, p->session, seq, payload, len);
		return true;
	}
	case 3: peer_ack(p, in, !(op & 16)); return true;
	case 4: { /* ABORT, with any reason */
		uint16_t reason = fuzz_u16(in);
		uint8_t bytes[2] = {(uint8_t)reason, (uint8_t)(reason >> 8)};
		peer_send(p, MIGRATE_ABORT, p->session, 0, bytes, 2);
		return true;
	}
	case 5: { /* raw bytes, as they are */
		uint16_t len = fuzz_u16(in) % (MIGRATE_MTU + 1);
		fuzz_bytes(in, payload, MIN(len, sizeof payload));
		peer_put(p, payload, MIN(len, sizeof payload));
		return true;
	}
	case 6: { /* an earlier frame again, maybe with one bit flipped */
		if (!p->history_count)
			return true;
		unsigned slot = fuzz_u8(in) % MIN(p->history_count, PEER_HISTORY);
		uint8_t buf[MIGRATE_MTU];
		size_t len = p->history_len[slot];
		memcpy(buf, p->history[slot], len);
		if (op & 16 && len) {
			uint16_t bit = fuzz_u16(in) % (len * 8);
			buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		}
		peer_put(p, buf, len);
		return true;
	}
	case 7: { /* a stranger: another session's valid frame */
		uint8_t type = fuzz_u8(in) % MIGRATE_TYPE_END;
		uint16_t len = fuzz_u16(in) % 32;
		fuzz_bytes(in, payload, len);
		uint32_t session = p->session ^ (1 + fuzz_u8(in));
		peer_send(p, type, session, fuzz_u8(in), payload, len);
		return true;
	}
	default: return false;
	}
}

/* Time passes: mostly a little, sometimes past any timer. */
static void fuzz_time_step(struct peer *p, struct fuzz_in *in, uint8_t op)
{
	uint64_t step = fuzz_u16(in);
	p->now += op & 16 ? step * 1000000ull : step * 1000ull;
}

#endif

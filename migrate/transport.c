/* Runs anywhere (hv's migration loop, host unit tests): a reliable, windowed
 * stream of frames over a link that may drop, duplicate, reorder or damage
 * them. Selective repeat with cumulative + selective ACKs; see migrate.h. */
#include "lib/lib.h"
#include "migrate.h"

void migrate_link_defaults(struct migrate_link_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	/* The bochs link takes ~1 frame per emulated ms from a ~92-frame
	 * buffer: 32 in flight can never overrun it, and a full window
	 * drains in ~32 ms, well inside the 200 ms timer. */
	cfg->window = 32;
	cfg->payload_size = MIGRATE_PAYLOAD_MAX;
	cfg->rto_ns = 200 * 1000000ull;
	cfg->max_retries = 10;
	cfg->idle_timeout_ns = 3000 * 1000000ull;
	cfg->ack_every = 8;
	cfg->ack_delay_ns = 5 * 1000000ull;
}

bool migrate_transport_init(struct migrate_transport *t, const struct migrate_link_config *cfg,
                            uint64_t now_ns)
{
	if (cfg->window < 1 || cfg->window > MIGRATE_WINDOW_MAX ||
	    cfg->payload_size < MIGRATE_PAYLOAD_MIN || cfg->payload_size > MIGRATE_PAYLOAD_MAX ||
	    cfg->rto_ns == 0 || cfg->max_retries == 0 || cfg->max_retries > 255 ||
	    cfg->idle_timeout_ns == 0 || cfg->ack_every == 0 || !cfg->send_frame)
		return false;
	memset(t, 0, sizeof *t);
	t->cfg = *cfg;
	t->bound = cfg->session != 0;
	t->last_heard_ns = now_ns;
	t->last_sent_ns = now_ns;
	return true;
}

static void put_on_wire(struct migrate_transport *t, const uint8_t *bytes, size_t len,
                        uint64_t now_ns)
{
	t->cfg.send_frame(t->cfg.send_ctx, bytes, len);
	t->stats.frames_sent++;
	t->stats.bytes_sent += len;
	t->last_sent_ns = now_ns;
}

/* Sends an unsequenced frame (ACK, ABORT): it has no slot and no timer. */
static void send_unsequenced(struct migrate_transport *t, const struct migrate_msg *m,
                             uint64_t now_ns)
{
	uint8_t payload[16], frame[MIGRATE_HEADER_SIZE + sizeof payload];
	struct migrate_frame f = {
	    .type = (uint8_t)m->type, .session = t->cfg.session, .payload = payload};
	if (!migrate_msg_encode(payload, sizeof payload, m, &f.payload_len))
		return;
	size_t len = migrate_frame_encode(frame, sizeof frame, &f);
	if (len)
		put_on_wire(t, frame, len, now_ns);
}

void migrate_transport_ack_now(struct migrate_transport *t, uint64_t now_ns)
{
	struct migrate_msg m = {.type = MIGRATE_ACK};
	m.ack.next = t->rx_next;
	/* Bit i: seq rx_next + 1 + i is buffered (rx_next itself never is,
	 * or it would have been delivered). */
	for (unsigned i = 0; i + 1 < MIGRATE_WINDOW_MAX; i++) {
		uint32_t seq = t->rx_next + 1 + i;
		if (t->rx[seq % MIGRATE_WINDOW_MAX].present)
			m.ack.sack |= 1ull << i;
	}
	send_unsequenced(t, &m, now_ns);
	t->stats.acks_sent++;
	t->ack_now = false;
	t->rx_unacked = 0;
}

void migrate_transport_send_abort(struct migrate_transport *t, enum migrate_error reason,
                                  uint64_t now_ns)
{
	if (!t->bound)
		return; /* no session: nobody to tell */
	struct migrate_msg m = {.type = MIGRATE_ABORT};
	m.abort.reason = reason;
	for (int i = 0; i < MIGRATE_ABORT_REPEAT; i++)
		send_unsequenced(t, &m, now_ns);
}

bool migrate_transport_can_send(const struct migrate_transport *t)
{
	return t->error == MIGRATE_OK && t->bound && t->tx_next - t->tx_base < t->cfg.window;
}

bool migrate_transport_all_acked(const struct migrate_transport *t)
{
	return t->tx_base == t->tx_next;
}

bool migrate_transport_send(struct migrate_transport *t, uint8_t type, const uint8_t *payload,
                            uint16_t len, uint64_t now_ns)
{
	if (!migrate_transport_can_send(t) || len > t->cfg.payload_size)
		return false;
	struct migrate_tx_slot *slot = &t->tx[t->tx_next % MIGRATE_WINDOW_MAX];
	struct migrate_frame f = {.type = type,
	                          .session = t->cfg.session,
	                          .seq = t->tx_next,
	                          .payload_len = len,
	                          .payload = payload};
	size_t n = migrate_frame_encode(slot->frame, sizeof slot->frame, &f);
	if (!n)
		return false;
	slot->len = (uint16_t)n;
	slot->in_flight = true;
	slot->retries = 0;
	slot->timeouts = 0;
	slot->sent_ns = now_ns;
	t->tx_next++;
	slot->next_after = t->tx_next;
	t->stats.data_frames++;
	put_on_wire(t, slot->frame, n, now_ns);
	return true;
}

static void resend(struct migrate_transport *t, struct migrate_tx_slot *slot, uint64_t now_ns)
{
	if (slot->retries < UINT8_MAX)
		slot->retries++;
	slot->sent_ns = now_ns;
	slot->next_after = t->tx_next;
	t->stats.retransmits++;
	put_on_wire(t, slot->frame, slot->len, now_ns);
}

/* Smoothed RTT, as TCP does it (gain 1/8), from frames sent only once:
 * for a frame sent again we cannot tell which copy the ACK answers. */
static void sample_rtt(struct migrate_transport *t, const struct migrate_tx_slot *slot,
                       uint64_t now_ns)
{
	if (slot->retries || now_ns < slot->sent_ns)
		return;
	uint64_t sample = now_ns - slot->sent_ns;
	t->rto_backoff = 0; /* a clean sample: the timer follows the RTT again */
	if (t->stats.rtt_ns == 0)
		t->stats.rtt_ns = sample;
	else if (sample > t->stats.rtt_ns)
		t->stats.rtt_ns += (sample - t->stats.rtt_ns) / 8;
	else
		t->stats.rtt_ns -= (t->stats.rtt_ns - sample) / 8;
}

static void handle_ack(struct migrate_transport *t, const struct migrate_ack *a, uint64_t now_ns)
{
	uint32_t in_flight = t->tx_next - t->tx_base;
	uint32_t newly_acked = a->next - t->tx_base; /* wraps huge for an old ACK */
	if (newly_acked > in_flight)
		return; /* older than what we know, or acking what we never sent */
	for (; t->tx_base != a->next; t->tx_base++) {
		struct migrate_tx_slot *slot = &t->tx[t->tx_base % MIGRATE_WINDOW_MAX];
		if (slot->in_flight)
			sample_rtt(t, slot, now_ns);
		slot->in_flight = false;
	}
	/* Selective part: those arrived; anything still missing whose last
	 * copy went out before one of them was most likely lost, so send it
	 * again now rather than at its timer. A copy sent again is judged the
	 * same way by the frames sent after it (with no new frame after it,
	 * its timer takes over). */
	uint32_t highest = 0;
	bool any = false;
	for (unsigned i = 0; i + 1 < MIGRATE_WINDOW_MAX; i++) {
		uint32_t seq = a->next + 1 + i;
		if (!(a->sack >> i & 1) || seq - t->tx_base >= t->tx_next - t->tx_base)
			continue;
		struct migrate_tx_slot *slot = &t->tx[seq % MIGRATE_WINDOW_MAX];
		if (slot->in_flight)
			sample_rtt(t, slot, now_ns);
		slot->in_flight = false;
		highest = seq;
		any = true;
	}
	if (!any)
		return;
	for (uint32_t seq = t->tx_base; seq != highest; seq++) {
		struct migrate_tx_slot *slot = &t->tx[seq % MIGRATE_WINDOW_MAX];
		/* highest >= next_after, in sequence space */
		if (slot->in_flight && highest - slot->next_after < 0x80000000u)
			resend(t, slot, now_ns);
	}
}

static void handle_data(struct migrate_transport *t, const struct migrate_frame *f, uint64_t now_ns)
{
	uint32_t ahead = f->seq - t->rx_next; /* wraps huge for an old frame */
	if (ahead >= 0x80000000u) {
		/* Delivered long ago: our ACK was lost, say it again. */
		t->stats.duplicates++;
		t->ack_now = true;
		return;
	}
	if (ahead >= MIGRATE_WINDOW_MAX) {
		t->stats.out_of_window++; /* a sender that ignores the window */
		return;
	}
	struct migrate_rx_slot *slot = &t->rx[f->seq % MIGRATE_WINDOW_MAX];
	if (slot->present) {
		t->stats.duplicates++;
		t->ack_now = true;
		return;
	}
	slot->present = true;
	slot->type = f->type;
	slot->len = f->payload_len;
	memcpy(slot->payload, f->payload, f->payload_len);
	if (ahead != 0)
		t->ack_now = true; /* a hole: the sender should hear of it now */
	if (t->rx_unacked++ == 0)
		t->rx_unacked_since_ns = now_ns;
}

void migrate_transport_receive(struct migrate_transport *t, const uint8_t *bytes, size_t len,
                               uint64_t now_ns)
{
	struct migrate_frame f;
	enum migrate_error e = migrate_frame_decode(bytes, len, &f);
	if (e != MIGRATE_OK) {
		t->stats.rejected++;
		t->stats.last_reject = e;
		return;
	}
	if (!t->bound) {
		/* A destination waits for a session to begin: its HELLO. */
		if (f.type != MIGRATE_HELLO || f.seq != 0 || f.session == 0) {
			t->stats.strangers++;
			return;
		}
		t->cfg.session = f.session;
		t->bound = true;
	} else if (f.session != t->cfg.session) {
		t->stats.strangers++; /* someone else's migration, or an old one */
		return;
	}
	t->stats.frames_received++;
	t->last_heard_ns = now_ns;
	struct migrate_msg m;
	switch (f.type) {
	case MIGRATE_ACK:
	case MIGRATE_ABORT:
		e = migrate_msg_decode(&f, &m);
		if (e != MIGRATE_OK) {
			t->stats.rejected++;
			t->stats.last_reject = e;
		} else if (f.type == MIGRATE_ACK) {
			handle_ack(t, &m.ack, now_ns);
		} else {
			t->peer_abort = m.abort.reason;
		}
		return;
	default: handle_data(t, &f, now_ns); return;
	}
}

bool migrate_transport_next(struct migrate_transport *t, struct migrate_frame *out)
{
	struct migrate_rx_slot *slot = &t->rx[t->rx_next % MIGRATE_WINDOW_MAX];
	if (!slot->present)
		return false;
	slot->present = false;
	out->type = slot->type;
	out->session = t->cfg.session;
	out->seq = t->rx_next;
	out->payload_len = slot->len;
	out->payload = slot->payload;
	t->rx_next++;
	t->stats.delivered++;
	return true;
}

/* The retransmission timer: from the smoothed RTT once there is one (a
 * fixed 200 ms made each lost frame at the end of a burst, where no later
 * frame reveals it, cost 200 ms of a stop-and-copy: at 10% loss between
 * two bochs hosts the downtime grew twenty-fold), bounded both ways. */
uint64_t migrate_transport_rto_ns(const struct migrate_transport *t)
{
	if (!t->stats.rtt_ns)
		return t->cfg.rto_ns;
	uint64_t rto = MAX(2 * t->stats.rtt_ns + 2 * t->cfg.ack_delay_ns, t->cfg.rto_ns / 8);
	return MIN(rto << MIN(t->rto_backoff, 3u), t->cfg.rto_ns);
}

void migrate_transport_tick(struct migrate_transport *t, uint64_t now_ns)
{
	if (t->error != MIGRATE_OK || !t->bound)
		return;
	uint64_t rto = migrate_transport_rto_ns(t);
	bool timed_out = false;
	for (uint32_t seq = t->tx_base; seq != t->tx_next; seq++) {
		struct migrate_tx_slot *slot = &t->tx[seq % MIGRATE_WINDOW_MAX];
		if (!slot->in_flight || now_ns - slot->sent_ns < rto)
			continue;
		if (slot->timeouts >= t->cfg.max_retries) {
			t->error = MIGRATE_ERR_PEER_GONE;
			return;
		}
		slot->timeouts++;
		timed_out = true;
		resend(t, slot, now_ns);
	}
	if (timed_out && t->rto_backoff < 3)
		t->rto_backoff++;
	/* A frame may have been received with a later clock reading than the
	 * one this tick got: that is not silence (and must not wrap around). */
	if (now_ns > t->last_heard_ns && now_ns - t->last_heard_ns >= t->cfg.idle_timeout_ns) {
		t->error = MIGRATE_ERR_PEER_SILENT;
		return;
	}
	/* ACK at once for a hole or a duplicate, else every ack_every frames
	 * or after ack_delay_ns; and when we have said nothing for a quarter
	 * of the idle timeout, so that the peer knows we are still here. */
	if (t->ack_now || t->rx_unacked >= t->cfg.ack_every ||
	    (t->rx_unacked && now_ns - t->rx_unacked_since_ns >= t->cfg.ack_delay_ns) ||
	    now_ns - t->last_sent_ns >= t->cfg.idle_timeout_ns / 4)
		migrate_transport_ack_now(t, now_ns);
}

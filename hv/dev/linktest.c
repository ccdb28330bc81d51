/* Runs at boot instead of VMs when the command line has linktest=: a test
 * of the e1000 link between two hosts (tools/run.py --pair), needing no
 * guest. One host sends N numbered frames, the other counts them.
 *
 * The bochs link drops frames silently once a receiver falls behind (one
 * frame per emulated ms into a ~92-frame host buffer, PLATFORM.md B2), so
 * the sender is never rate-paced: at most WINDOW frames are unacknowledged.
 * Loss is detected without timers: the link keeps order, so when the
 * receiver has seen transmission number T, every earlier transmission it
 * does not acknowledge was lost, and only those are sent again. A timer
 * only sends a small PROBE that asks for a fresh acknowledgement. Hence a
 * frame is never sent twice unless its first copy was really lost.
 *
 * bxhub forwards unicast only to MACs it has seen in a broadcast (B1): both
 * sides broadcast a HELLO first, until they hear each other. */
#include "core/core.h"
#include "dev/dev.h"
#include "lib/lib.h"
#include "mm/mm.h"
#include "net/net.h"
#include "x86/x86.h"

#define LT_MAGIC   0x544C /* "LT" */
#define LT_TAIL    0xA5A5A5A5u
#define WINDOW_MAX 63 /* the ACK's selective bitmap covers 64 frames past the first hole */
#define TX_SLOTS   64
#define RX_SLOTS   16

/* Times in emulated ms (TSC): bochs' emulated clock outruns the wall clock
 * at low ips, so none of these waits for a peer to boot; the runner's wall
 * clock timeout catches a peer that never comes. */
#define HELLO_FIRST_MS  10
#define HELLO_MAX_MS    1000
#define PROBE_FIRST_MS  100
#define PROBE_MAX_MS    1000
#define IDLE_ACK_MS     2
#define LINGER_MS       3000  /* the receiver waits this long for BYE after the last frame */
#define SILENCE_FAIL_MS 60000 /* no frame from the peer mid-transfer: it is gone */
#define MAX_TRIES       30    /* sends of one frame before the link counts as broken */

enum lt_kind { LT_HELLO = 1, LT_DATA, LT_ACK, LT_PROBE, LT_BYE };
enum lt_role { ROLE_SEND = 1, ROLE_RECV = 2 };
#define FLAG_REPLY 1 /* a HELLO answering a HELLO: not answered again */

/* What follows the Ethernet header, little-endian. */
struct lt_msg {
	uint16_t magic;
	uint8_t kind, role, flags, window;
	uint16_t size;  /* DATA: the frame's length, the same for all */
	uint32_t seq;   /* DATA: its number; ACK: the first not received */
	uint32_t total; /* frames in the test */
	uint32_t txno;  /* DATA, PROBE: transmission number; ACK: highest seen */
	uint64_t sack;  /* ACK: bit i = frame seq + 1 + i received */
} __attribute__((packed));
#define MSG_END  (ETH_HEADER_LEN + (unsigned)sizeof(struct lt_msg))
#define MIN_SIZE 60 /* the smallest Ethernet frame without FCS */

struct config {
	enum lt_role role;
	uint32_t frames;
	unsigned size, window;
	uint32_t drop_every; /* receiver: ignore every Nth DATA frame (tests recovery) */
	uint64_t ms;         /* TSC ticks per ms */
};

static const uint8_t broadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

static struct {
	uint8_t *tx_space, *rx_space;
	struct net_frame tx[TX_SLOTS];
	unsigned tx_count;
	struct net_frame_buf rx[RX_SLOTS];
	uint8_t peer[6];
	bool peer_known;
	uint64_t last_heard;
	uint32_t other; /* frames not ours, or from a third host */
	uint32_t hellos;
} lt;

__attribute__((noreturn)) static void fail(const char *why)
{
	kprintf("hv: linktest: %s\n", why);
	e1000_log_stats();
	hv_stop(HV_STATUS_FAIL, why);
}

static void send_all(void)
{
	unsigned done = 0, idle = 0;
	while (done < lt.tx_count) {
		unsigned k = e1000_send_batch(lt.tx + done, lt.tx_count - done);
		done += k;
		if (k)
			idle = 0;
		else if (++idle > 10000000)
			fail("the NIC stopped sending (TX ring never drained)");
	}
	lt.tx_count = 0;
}

/* The next TX slot with its headers filled; the payload bytes keep the
 * constant written at start. */
static uint8_t *queue(const uint8_t *dst, const struct lt_msg *m, unsigned len)
{
	if (lt.tx_count == TX_SLOTS)
		send_all();
	uint8_t *f = lt.tx_space + lt.tx_count * E1000_FRAME_MAX;
	eth_write_header(f, dst, e1000_mac(), ETH_TYPE_LINKTEST);
	memcpy(f + ETH_HEADER_LEN, m, sizeof *m);
	lt.tx[lt.tx_count].data = f;
	lt.tx[lt.tx_count].len = (uint16_t)len;
	lt.tx_count++;
	return f;
}

static void queue_msg(const uint8_t *dst, const struct config *c, uint8_t kind, uint8_t flags,
                      uint32_t seq, uint32_t txno, uint64_t sack)
{
	struct lt_msg m = {.magic = LT_MAGIC,
	                   .kind = kind,
	                   .role = (uint8_t)c->role,
	                   .flags = flags,
	                   .window = (uint8_t)c->window,
	                   .size = MIN_SIZE,
	                   .seq = seq,
	                   .total = c->frames,
	                   .txno = txno,
	                   .sack = sack};
	queue(dst, &m, MIN_SIZE);
}

static void queue_data(const struct config *c, uint32_t seq, uint32_t txno)
{
	struct lt_msg m = {.magic = LT_MAGIC,
	                   .kind = LT_DATA,
	                   .role = ROLE_SEND,
	                   .window = (uint8_t)c->window,
	                   .size = (uint16_t)c->size,
	                   .seq = seq,
	                   .total = c->frames,
	                   .txno = txno};
	uint8_t *f = queue(lt.peer, &m, c->size);
	/* The last four bytes name the frame again: a truncated, padded or
	 * misplaced frame shows without reading the whole payload. */
	uint32_t tail = seq ^ LT_TAIL;
	memcpy(f + c->size - 4, &tail, 4);
}

static void queue_hello(const struct config *c, uint8_t flags)
{
	queue_msg(broadcast, c, LT_HELLO, flags, 0, 0, 0);
	lt.hellos++;
}

/* A received frame of this test from the peer, or NULL (counted as other).
 * The first frame from a host of the other role makes it the peer. */
static const struct lt_msg *parse(const struct net_frame_buf *b, const struct config *c,
                                  uint64_t now)
{
	const uint8_t *f = b->data;
	if (b->len < MSG_END || eth_type_of(f, b->len) != ETH_TYPE_LINKTEST) {
		lt.other++;
		return NULL;
	}
	const struct lt_msg *m = (const struct lt_msg *)(f + ETH_HEADER_LEN);
	uint8_t peer_role = c->role == ROLE_SEND ? ROLE_RECV : ROLE_SEND;
	if (m->magic != LT_MAGIC || m->role != peer_role) {
		lt.other++;
		return NULL;
	}
	if (!lt.peer_known) {
		memcpy(lt.peer, f + 6, 6);
		lt.peer_known = true;
	} else if (memcmp(lt.peer, f + 6, 6)) {
		lt.other++;
		return NULL;
	}
	lt.last_heard = now;
	return m;
}

static void mac_string(char *out, const uint8_t *m)
{
	fmt_snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

/* Broadcasts a HELLO when due, at growing gaps (a peer still booting would
 * otherwise find its socket buffer full of them). */
struct hello_timer {
	uint64_t next, gap;
};
static void hello_tick(struct hello_timer *h, const struct config *c, uint64_t now)
{
	if (now < h->next)
		return;
	queue_hello(c, 0);
	send_all();
	h->gap = h->gap ? MIN(h->gap * 2, HELLO_MAX_MS * c->ms) : HELLO_FIRST_MS * c->ms;
	h->next = now + h->gap;
}

/* ---- the sender ---------------------------------------------------------- */

struct sender {
	uint32_t base;        /* first frame not acknowledged */
	uint32_t next;        /* first frame never sent */
	uint32_t txno;        /* last transmission number used */
	uint64_t acked, lost; /* bit i: frame base + i */
	uint32_t last_tx[64]; /* transmission number of each frame in the window */
	uint8_t tries[64];    /* how often each was sent */
	uint32_t sent, retransmits, probes, acks, stale_acks;
};

static void on_ack(struct sender *s, const struct lt_msg *m)
{
	s->acks++;
	if (m->seq < s->base || m->seq > s->next) {
		s->stale_acks++; /* older news than we have (or nonsense) */
		return;
	}
	uint32_t shift = m->seq - s->base;
	s->acked = shift >= 64 ? 0 : s->acked >> shift;
	s->lost = shift >= 64 ? 0 : s->lost >> shift;
	s->base = m->seq;
	s->acked |= m->sack << 1;
	/* In-order link: a frame sent before the newest transmission the
	 * receiver saw, and not acknowledged, is gone. */
	for (uint32_t seq = s->base; seq < s->next; seq++) {
		unsigned i = seq - s->base;
		if (!(s->acked >> i & 1) && s->last_tx[seq % 64] < m->txno)
			s->lost |= 1ull << i;
	}
}

static void transmit(struct sender *s, const struct config *c, uint32_t seq, bool again)
{
	s->tries[seq % 64] = again ? s->tries[seq % 64] + 1 : 1;
	if (s->tries[seq % 64] > MAX_TRIES) {
		char why[100];
		fmt_snprintf(why, sizeof why, "frame %u was sent %u times and never acknowledged",
		             seq, MAX_TRIES);
		fail(why);
	}
	s->last_tx[seq % 64] = ++s->txno;
	queue_data(c, seq, s->txno);
}

__attribute__((noreturn)) static void run_sender(const struct config *c)
{
	struct sender s = {0};
	struct hello_timer hello = {0, 0};
	while (!lt.peer_known) {
		uint64_t now = rdtsc();
		hello_tick(&hello, c, now);
		unsigned n = e1000_receive_batch(lt.rx, RX_SLOTS);
		for (unsigned i = 0; i < n; i++)
			parse(&lt.rx[i], c, now);
	}
	char peer[18];
	mac_string(peer, lt.peer);
	kprintf("hv: linktest: receiver %s heard, sending %u frames of %u bytes, window %u\n", peer,
	        c->frames, c->size, c->window);

	uint64_t start = rdtsc(), rto = PROBE_FIRST_MS * c->ms, next_probe = start + rto;
	while (s.base < c->frames) {
		uint64_t now = rdtsc();
		unsigned n = e1000_receive_batch(lt.rx, RX_SLOTS);
		for (unsigned i = 0; i < n; i++) {
			const struct lt_msg *m = parse(&lt.rx[i], c, now);
			if (m && m->kind == LT_ACK) {
				on_ack(&s, m);
				rto = PROBE_FIRST_MS * c->ms;
				next_probe = now + rto;
			}
		}
		for (unsigned i = 0; s.lost; i++)
			if (s.lost >> i & 1) {
				s.lost &= ~(1ull << i);
				transmit(&s, c, s.base + i, true);
				s.retransmits++;
			}
		while (s.next < c->frames && s.next - s.base < c->window) {
			transmit(&s, c, s.next++, false);
			s.sent++;
		}
		if (now >= next_probe) {
			queue_msg(lt.peer, c, LT_PROBE, 0, 0, ++s.txno, 0);
			s.probes++;
			rto = MIN(rto * 2, PROBE_MAX_MS * c->ms);
			next_probe = now + rto;
		}
		send_all();
		if (now - lt.last_heard > SILENCE_FAIL_MS * c->ms)
			fail("the receiver went silent mid-transfer");
	}
	uint64_t ticks = rdtsc() - start;
	queue_msg(lt.peer, c, LT_BYE, 0, 0, 0, 0);
	queue_msg(lt.peer, c, LT_BYE, 0, 0, 0, 0); /* one may be lost; the peer lingers anyway */
	send_all();

	uint64_t ms = ticks / c->ms;
	kprintf("hv: linktest: %u frames acknowledged by %s in %llu ms (emulated): %u sent once, "
	        "%u sent again, %u probes, %u ACKs\n",
	        c->frames, peer, (unsigned long long)ms, s.sent, s.retransmits, s.probes, s.acks);
	log_event("{\"ev\":\"linktest\",\"role\":\"send\",\"ok\":true,\"frames\":%u,\"size\":%u,"
	          "\"window\":%u,\"peer\":\"%s\",\"sent\":%u,\"retransmits\":%u,\"probes\":%u,"
	          "\"acks\":%u,\"stale_acks\":%u,\"hellos\":%u,\"other\":%u,\"transfer_ms\":%llu,"
	          "\"transfer_ticks\":%llu}",
	          c->frames, c->size, c->window, peer, s.sent, s.retransmits, s.probes, s.acks,
	          s.stale_acks, lt.hellos, lt.other, (unsigned long long)ms,
	          (unsigned long long)ticks);
	e1000_log_stats();
	hv_stop(HV_STATUS_OK, "linktest: every frame acknowledged");
}

/* ---- the receiver -------------------------------------------------------- */

struct receiver {
	uint8_t *seen;   /* one bit per frame */
	uint32_t cum;    /* first frame not received */
	uint32_t expect; /* one past the highest frame received */
	uint32_t txno_seen;
	uint32_t unique, dups, lost, corrupt, acks_sent, since_ack;
	uint32_t arrivals, dropped;
	unsigned size; /* of the DATA frames, from the first one */
	uint64_t first_data, last_data, complete;
	bool bye;
};

static bool seen(const struct receiver *r, uint32_t seq)
{
	return r->seen[seq / 8] >> (seq % 8) & 1;
}

static void queue_ack(struct receiver *r, const struct config *c)
{
	uint64_t sack = 0;
	for (unsigned i = 0; i < 64; i++) {
		uint32_t seq = r->cum + 1 + i;
		if (seq < c->frames && seen(r, seq))
			sack |= 1ull << i;
	}
	queue_msg(lt.peer, c, LT_ACK, 0, r->cum, r->txno_seen, sack);
	r->acks_sent++;
	r->since_ack = 0;
}

/* Returns true when the frame asks for an acknowledgement now. */
static bool on_data(struct receiver *r, const struct config *c, const struct lt_msg *m,
                    const struct net_frame_buf *b, uint64_t now)
{
	if (m->total != c->frames) {
		char why[120];
		fmt_snprintf(why, sizeof why,
		             "the sender sends %u frames, this receiver expects %u", m->total,
		             c->frames);
		fail(why);
	}
	if (!r->size)
		r->size = m->size; /* the sender chose it; every frame must have it */
	uint32_t tail;
	memcpy(&tail, b->data + b->len - 4, 4);
	if (m->seq >= c->frames || b->len != r->size || m->size != r->size ||
	    tail != (m->seq ^ LT_TAIL)) {
		r->corrupt++;
		return false;
	}
	if (c->drop_every && ++r->arrivals % c->drop_every == 0) {
		r->dropped++; /* as if the link had lost it */
		return false;
	}
	r->txno_seen = MAX(r->txno_seen, m->txno);
	r->last_data = now;
	if (seen(r, m->seq)) {
		r->dups++;
		return true;
	}
	r->seen[m->seq / 8] |= (uint8_t)(1u << (m->seq % 8));
	r->unique++;
	r->since_ack++;
	if (!r->first_data)
		r->first_data = now;
	bool gap = m->seq > r->expect;
	if (gap)
		r->lost += m->seq - r->expect; /* first copies that never came */
	if (m->seq >= r->expect)
		r->expect = m->seq + 1;
	while (r->cum < c->frames && seen(r, r->cum))
		r->cum++;
	unsigned every = m->window >= 4 ? m->window / 4u : 1u;
	return gap || r->since_ack >= every || r->cum == c->frames;
}

__attribute__((noreturn)) static void run_receiver(const struct config *c)
{
	struct receiver r = {0};
	uint64_t bitmap_frames = (c->frames / 8 + PAGE_SIZE) / PAGE_SIZE;
	uint64_t pa = frames_alloc_contig(&host_frames, bitmap_frames, 1);
	if (!pa)
		fail("out of memory for the receive bitmap");
	r.seen = (uint8_t *)(uintptr_t)pa;
	memset(r.seen, 0, bitmap_frames * PAGE_SIZE);

	struct hello_timer hello = {0, 0};
	for (;;) {
		uint64_t now = rdtsc();
		if (!lt.peer_known)
			hello_tick(&hello, c, now);
		bool ack_now = false;
		unsigned n = e1000_receive_batch(lt.rx, RX_SLOTS);
		for (unsigned i = 0; i < n; i++) {
			const struct lt_msg *m = parse(&lt.rx[i], c, now);
			if (!m)
				continue;
			if (m->kind == LT_HELLO && !(m->flags & FLAG_REPLY))
				queue_hello(c, FLAG_REPLY); /* it has not heard us yet */
			else if (m->kind == LT_DATA)
				ack_now |= on_data(&r, c, m, &lt.rx[i], now);
			else if (m->kind == LT_PROBE) {
				r.txno_seen = MAX(r.txno_seen, m->txno);
				ack_now = true;
			} else if (m->kind == LT_BYE)
				r.bye = true;
		}
		if (r.since_ack && now - r.last_data >= IDLE_ACK_MS * c->ms)
			ack_now = true; /* the stream paused: say what we have */
		if (ack_now)
			queue_ack(&r, c);
		if (lt.tx_count)
			send_all();
		if (r.cum == c->frames && !r.complete)
			r.complete = now;
		if (r.complete && (r.bye || now - lt.last_heard > LINGER_MS * c->ms))
			break;
		if (lt.peer_known && !r.complete && now - lt.last_heard > SILENCE_FAIL_MS * c->ms)
			fail("the sender went silent mid-transfer");
	}

	char peer[18];
	mac_string(peer, lt.peer);
	uint64_t ticks = r.last_data - r.first_data;
	uint64_t ms = ticks / c->ms;
	uint64_t fps = ticks ? (uint64_t)r.unique * 1000 * c->ms / ticks : 0;
	uint32_t missing = c->frames - r.unique;
	bool ok = missing == 0 && r.dups == 0 && r.corrupt == 0;
	kprintf("hv: linktest: received %u/%u frames of %u bytes from %s in %llu ms (emulated, "
	        "%llu frames/s): %u lost on the way and sent again, %u duplicates, %u corrupt, "
	        "%u other frames\n",
	        r.unique, c->frames, r.size, peer, (unsigned long long)ms, (unsigned long long)fps,
	        r.lost, r.dups, r.corrupt, lt.other);
	log_event("{\"ev\":\"linktest\",\"role\":\"recv\",\"ok\":%s,\"frames\":%u,\"size\":%u,"
	          "\"peer\":\"%s\",\"received\":%u,\"missing\":%u,\"lost\":%u,\"duplicates\":%u,"
	          "\"corrupt\":%u,\"other\":%u,\"dropped_on_purpose\":%u,\"acks_sent\":%u,"
	          "\"hellos\":%u,\"bye\":%s,\"transfer_ms\":%llu,\"transfer_ticks\":%llu,"
	          "\"fps_emulated\":%llu}",
	          ok ? "true" : "false", c->frames, r.size, peer, r.unique, missing, r.lost, r.dups,
	          r.corrupt, lt.other, r.dropped, r.acks_sent, lt.hellos, r.bye ? "true" : "false",
	          (unsigned long long)ms, (unsigned long long)ticks, (unsigned long long)fps);
	e1000_log_stats();
	if (!ok)
		hv_stop(HV_STATUS_FAIL, "linktest: frames missing, duplicated or corrupt");
	hv_stop(HV_STATUS_OK, "linktest: every frame arrived exactly once");
}

/* ---- the option ---------------------------------------------------------- */

/* A decimal number in [min, max] ending at ':' or the end; advances *p. */
static bool parse_number(const char **p, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v;
	const char *s = *p;
	size_t digits = parse_decimal(s, strlen(s), &v);
	s += digits;
	if (!digits || v < min || v > max || (*s && *s != ':'))
		return false;
	*p = *s ? s + 1 : s;
	*out = v;
	return true;
}

static bool parse_spec(const char *spec, struct config *c)
{
	c->size = E1000_FRAME_MAX;
	c->window = 32; /* a third of what the receiver's host buffer holds */
	c->drop_every = 0;
	if (!strncmp(spec, "send:", 5))
		c->role = ROLE_SEND;
	else if (!strncmp(spec, "recv:", 5))
		c->role = ROLE_RECV;
	else
		return false;
	const char *p = spec + 5;
	uint64_t v;
	if (!parse_number(&p, 1, 1u << 24, &v))
		return false;
	c->frames = (uint32_t)v;
	if (*p && c->role == ROLE_SEND) {
		if (!parse_number(&p, MIN_SIZE, E1000_FRAME_MAX, &v))
			return false;
		c->size = (unsigned)v;
		if (*p) {
			if (!parse_number(&p, 1, WINDOW_MAX, &v))
				return false;
			c->window = (unsigned)v;
		}
	} else if (*p) {
		if (!parse_number(&p, 2, 1u << 24, &v))
			return false;
		c->drop_every = (uint32_t)v;
	}
	return *p == '\0';
}

void linktest_run(const char *spec, uint64_t tsc_khz)
{
	struct config c;
	if (!parse_spec(spec, &c)) {
		char why[200], esc[240];
		fmt_snprintf(why, sizeof why,
		             "linktest=%s: expected send:N[:SIZE[:WINDOW]] or recv:N[:DROP] (N "
		             "1..16777216, SIZE %u..%u, WINDOW 1..%u, DROP >= 2)",
		             spec, MIN_SIZE, E1000_FRAME_MAX, WINDOW_MAX);
		kprintf("hv: bad command line: %s\n", why);
		fmt_json_escape(esc, sizeof esc, why);
		log_event("{\"ev\":\"error\",\"what\":\"cmdline\",\"message\":\"%s\"}", esc);
		hv_stop(HV_STATUS_BAD_CMDLINE, "bad command line");
	}
	if (!e1000_present())
		fail("linktest= needs an 82540EM NIC (tools/run.py --nic or --pair) and PCI on");
	if (!tsc_khz)
		fail("the TSC is not calibrated: no clock for the link test's timers");
	c.ms = tsc_khz;
	/* Frame buffers for the batches. Payload bytes are a constant written
	 * once; each frame only gets its headers and tail. */
	uint64_t tx =
	    frames_alloc_contig(&host_frames, TX_SLOTS * E1000_FRAME_MAX / PAGE_SIZE + 1, 1);
	uint64_t rx =
	    frames_alloc_contig(&host_frames, RX_SLOTS * E1000_FRAME_MAX / PAGE_SIZE + 1, 1);
	if (!tx || !rx)
		fail("out of memory for frame buffers");
	lt.tx_space = (uint8_t *)(uintptr_t)tx;
	lt.rx_space = (uint8_t *)(uintptr_t)rx;
	memset(lt.tx_space, 0x5A, TX_SLOTS * E1000_FRAME_MAX);
	for (unsigned i = 0; i < RX_SLOTS; i++)
		lt.rx[i] =
		    (struct net_frame_buf){lt.rx_space + i * E1000_FRAME_MAX, E1000_FRAME_MAX, 0};
	kprintf("hv: linktest: %s, %u frames; broadcasting HELLO until the peer answers\n",
	        c.role == ROLE_SEND ? "sender" : "receiver", c.frames);
	if (c.drop_every)
		kprintf("hv: linktest: ignoring every %uth DATA frame on purpose (recovery test)\n",
		        c.drop_every);
	if (c.role == ROLE_SEND)
		run_sender(&c);
	run_receiver(&c);
}

/* migrate: pre-copy live migration of a VM's memory and state to another
 * host, over frames of our own EtherType.
 *
 * Where it runs: everything here is pure C11 and runs in hv's migration loop
 * (never in VM-exit context) and in the host unit tests. It reads no clock
 * and allocates nothing: the caller passes the time in nanoseconds and owns
 * every buffer (these structs included; they are large, make them static).
 *
 * Reading order:
 *   wire.c       the frame format: header, payload layouts, checksums
 *   transport.c  a reliable, windowed stream over a lossy datagram link
 *   engine.c     the pre-copy state machines of the source and destination
 *   policy.c     the table of stop/throttle policies (one file each,
 *                policy_*.c), their knobs as text, the engine's knobs
 *
 * How a migration runs, seen from the caller on each host:
 *   source: migrate_source_start(); then, forever: feed every received
 *           frame to migrate_source_receive() and call migrate_source_step()
 *           often. On MIGRATE_NEED_PAUSE, stop the vCPU, save its state into
 *           a blob and call migrate_source_paused(). On MIGRATE_COMMITTED
 *           the VM now lives on the destination: destroy it here (keep
 *           feeding frames for a moment so the last ACK gets out). On
 *           MIGRATE_ABORTED resume the VM here: nothing was lost.
 *   dest:   migrate_dest_listen(); feed frames to migrate_dest_receive(),
 *           call migrate_dest_step(). On MIGRATE_COMMITTED the memory image
 *           and the state blob are complete and verified: resume the VM.
 */
#ifndef MIGRATE_H
#define MIGRATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/lib.h"

/* ======================= wire.c: the frame format ======================== */

/* Our frames ride directly on Ethernet with this EtherType (the local
 * experimental range; 0x88B5 is the platform test's). The NIC glue adds and
 * strips the 14-byte Ethernet header; everything below is what follows it. */
#define MIGRATE_ETHERTYPE     0x88B6
#define MIGRATE_ETH_FRAME_MAX 1514 /* the bochs e1000 socket link's limit */
#define MIGRATE_ETH_HEADER    14
#define MIGRATE_MTU           (MIGRATE_ETH_FRAME_MAX - MIGRATE_ETH_HEADER) /* 1500 */

/* Header, little-endian, 18 bytes:
 *   0 magic u16 "JM"   2 version u8   3 type u8   4 session u32   8 seq u32
 *  12 payload length u16   14 checksum u32 (migrate_hash64 of bytes 0..13,
 *  chained with the payload's, folded to 32 bits). Bytes after the payload
 *  are padding (the e1000 pads short frames to 60 bytes) and are ignored. */
#define MIGRATE_MAGIC       0x4A4D
#define MIGRATE_VERSION     3 /* 3: PAGE_MORE, PAGE_END; 2: migrate_hash64 */
#define MIGRATE_HEADER_SIZE 18
#define MIGRATE_PAYLOAD_MIN 32 /* smallest payload size a link may be set to */
#define MIGRATE_PAYLOAD_MAX (MIGRATE_MTU - MIGRATE_HEADER_SIZE) /* 1482 */

#define MIGRATE_PAGE_SIZE          4096
#define MIGRATE_PAGE_CHUNK_HEADER  12          /* PAGE payload before the data */
#define MIGRATE_STATE_CHUNK_HEADER 8           /* STATE payload before the data */
#define MIGRATE_STATE_MAX          (64 * 1024) /* largest vCPU/device state blob */

enum migrate_type {
	MIGRATE_HELLO = 1,  /* source -> dest: session, memory size */
	MIGRATE_HELLO_ACK,  /* dest -> source: accepted */
	MIGRATE_PAGE,       /* a piece of one page; the last piece has the page's checksum */
	MIGRATE_ZERO_PAGES, /* a list of pages that are all zero */
	MIGRATE_STATE,      /* a piece of the vCPU/device state blob */
	MIGRATE_ROUND_END,  /* a pre-copy round is complete */
	MIGRATE_COMMIT,     /* everything is sent; resume if it all checks out */
	MIGRATE_COMMIT_ACK, /* dest -> source: verified, the VM is mine now */
	MIGRATE_ABORT,      /* either way, out of band: stop, with a reason */
	MIGRATE_ACK,        /* transport only, out of band: what has arrived */
	MIGRATE_PAGE_MORE,  /* the open page goes on: data only, no header */
	MIGRATE_PAGE_END,   /* the open page's last piece: data, then its checksum */
	MIGRATE_TYPE_END
};

/* Why a frame was rejected, a migration aborted or a link failed. */
enum migrate_error {
	MIGRATE_OK = 0,
	/* frame rejected by migrate_frame_decode() or migrate_msg_decode() */
	MIGRATE_ERR_TRUNCATED,    /* shorter than its header or its stated payload */
	MIGRATE_ERR_BAD_MAGIC,    /* not one of ours */
	MIGRATE_ERR_BAD_VERSION,  /* ours, but a version we do not speak */
	MIGRATE_ERR_BAD_LENGTH,   /* payload length above MIGRATE_PAYLOAD_MAX */
	MIGRATE_ERR_BAD_CHECKSUM, /* damaged on the way */
	MIGRATE_ERR_BAD_TYPE,     /* a type we do not know */
	MIGRATE_ERR_BAD_PAYLOAD,  /* the payload does not match its type's layout */
	/* the link */
	MIGRATE_ERR_PEER_GONE,   /* a frame went unacknowledged max_retries times */
	MIGRATE_ERR_PEER_SILENT, /* nothing heard from the peer for idle_timeout_ns */
	/* the migration */
	MIGRATE_ERR_PROTOCOL,       /* a valid frame that makes no sense now */
	MIGRATE_ERR_NO_MEMORY,      /* the destination's image is smaller than the VM */
	MIGRATE_ERR_STATE_TOO_BIG,  /* the state blob does not fit the buffer for it */
	MIGRATE_ERR_PAGE_CHECKSUM,  /* a page arrived whole but not as it was sent */
	MIGRATE_ERR_STATE_CHECKSUM, /* the same for the state blob */
	MIGRATE_ERR_INCOMPLETE,     /* COMMIT before every page and the state arrived */
	MIGRATE_ERR_CANCELLED,      /* the caller asked to stop */
	MIGRATE_ERR_STATE_REFUSED,  /* the destination cannot restore the state it got */
	MIGRATE_ERR_END
};
const char *migrate_error_name(enum migrate_error e);
const char *migrate_type_name(unsigned type);

/* The checksum of pages, frames and the state blob: FNV-1a's step taken on
 * 64-bit words (then on the last bytes one by one), with a shift that folds
 * high bits down, so that a flip of the same top bit in two words does not
 * cancel. A change confined to one word always changes the result; other
 * damage slips through with the odds of any 64-bit hash. Start with
 * MIGRATE_HASH_START; chained calls equal one call over the joined bytes
 * only when the earlier pieces' lengths are multiples of 8 (both sides
 * chain the same pieces, which is all a checksum needs). Eight bytes per
 * step: a page costs a few thousand instructions, not the ~20000 of
 * byte-wise FNV-1a (bochs counts every one). */
#define MIGRATE_HASH_START 0xcbf29ce484222325ull
uint64_t migrate_hash64(uint64_t hash, const void *data, size_t len);
/* The end-to-end checksum of one page, carried in the PAGE frame that
 * completes the page and checked by the destination on its own copy. */
uint64_t migrate_page_checksum(const uint8_t *page);

/* A frame as it is on the wire, header decoded; payload points into the
 * buffer it was decoded from. */
struct migrate_frame {
	uint8_t type;
	uint32_t session; /* random per migration, never 0 */
	uint32_t seq;     /* transport sequence number (0 for ACK and ABORT) */
	uint16_t payload_len;
	const uint8_t *payload;
};
/* Writes header + payload into buf; returns the frame's length, or 0 if the
 * payload is too long or buf too small. */
size_t migrate_frame_encode(uint8_t *buf, size_t cap, const struct migrate_frame *f);
/* Checks everything in the header and the checksum; MIGRATE_OK or why not. */
enum migrate_error migrate_frame_decode(const uint8_t *buf, size_t len, struct migrate_frame *out);

/* Payload layouts, one per type (all little-endian, sizes in bytes). */
struct migrate_hello { /* 16: nr_pages u64, page_size u32, state_max u32 */
	uint64_t nr_pages;
	uint32_t page_size;
	uint32_t state_max; /* the largest state blob the source may send */
};
struct migrate_hello_ack { /* 8: nr_pages u64 (the destination's capacity) */
	uint64_t nr_pages;
};
/* PAGE (12 + len (+ 8)): pfn u64, offset u16, len u16, data, [checksum u64]
 * opens a page. Its next pieces need no header, the stream being in order
 * and a page's pieces back to back: PAGE_MORE (len: data) and PAGE_END
 * (len + 8: data, checksum u64), which at 32-byte payloads carry 32 and 24
 * bytes of the page instead of 20. For those two, pfn and offset are the
 * open page's (the destination knows them) and `continued` is set. */
struct migrate_page_chunk {
	uint64_t pfn;
	uint16_t offset, len;
	const uint8_t *data;
	bool last;              /* the page's last piece: the checksum follows */
	bool continued;         /* PAGE_MORE or PAGE_END: pfn and offset not on the wire */
	uint64_t page_checksum; /* only in the last piece */
};
struct migrate_zero_pages { /* 8 * count: pfn u64 each */
	uint16_t count;
	const uint64_t *pfns; /* encode: the page numbers to send */
	const uint8_t *raw;   /* decode: the payload; read it with migrate_zero_pfn() */
};
struct migrate_state_chunk { /* 8 + len: offset u32, total u32, data */
	uint32_t offset, total;
	uint16_t len;
	const uint8_t *data;
};
struct migrate_round_end { /* 8: round u32, pages u32 */
	uint32_t round, pages;
};
struct migrate_commit { /* 16: state_len u32, rounds u32, state_checksum u64 */
	uint32_t state_len, rounds;
	uint64_t state_checksum;
};
struct migrate_abort { /* 2: reason u16 */
	enum migrate_error reason;
};
struct migrate_ack {   /* 12: next u32, sack u64 */
	uint32_t next; /* every seq before this one has been delivered */
	uint64_t sack; /* bit i: seq next + 1 + i has arrived too */
};
/* One decoded message: a type and its payload (COMMIT_ACK has none). */
struct migrate_msg {
	enum migrate_type type;
	union {
		struct migrate_hello hello;
		struct migrate_hello_ack hello_ack;
		struct migrate_page_chunk page;
		struct migrate_zero_pages zero;
		struct migrate_state_chunk state;
		struct migrate_round_end round_end;
		struct migrate_commit commit;
		struct migrate_abort abort;
		struct migrate_ack ack;
	};
};
/* Lays out m's payload in buf; false if it does not fit in cap bytes. */
bool migrate_msg_encode(uint8_t *buf, size_t cap, const struct migrate_msg *m, uint16_t *len);
/* Parses a decoded frame's payload, checking its layout exactly. */
enum migrate_error migrate_msg_decode(const struct migrate_frame *f, struct migrate_msg *out);
uint64_t migrate_zero_pfn(const struct migrate_zero_pages *z, unsigned i);

/* ================ transport.c: reliable windowed stream ================= */
/*
 * Selective repeat over an unreliable datagram link: every data frame has a
 * sequence number; at most `window` frames are unacknowledged at a time;
 * the receiver buffers out-of-order frames, drops duplicates, delivers in
 * order, and answers with ACK frames carrying a cumulative ACK plus a 64-bit
 * selective-ACK bitmap, so only frames really missing are sent again. A frame
 * is sent again at once when a frame first sent after its last copy is
 * reported as arrived (fast retransmit: that copy was most likely lost,
 * and a lost retransmission is found the same way as a lost original), or
 * when its timer runs out: twice the smoothed RTT plus twice the ACK delay,
 * never under rto_ns / 8 nor over rto_ns (rto_ns itself until an RTT is
 * measured), doubled at each timeout until a new RTT sample (as TCP backs
 * off). After max_retries timeouts of one frame, or idle_timeout_ns of
 * silence, the link fails.
 *
 * The window is the flow control: never pace by rate (the bochs link takes
 * about one frame per emulated ms and silently drops what overruns its
 * ~92-frame buffer; a window under that cannot overrun it).
 */
#define MIGRATE_WINDOW_MAX   64
#define MIGRATE_ABORT_REPEAT 3 /* ABORT is unacknowledged: send it this often */

struct migrate_link_config {
	uint32_t session;         /* 0 on a destination: take the first HELLO's */
	unsigned window;          /* frames in flight, 1..MIGRATE_WINDOW_MAX */
	unsigned payload_size;    /* MIGRATE_PAYLOAD_MIN..MIGRATE_PAYLOAD_MAX */
	uint64_t rto_ns;          /* the longest a frame waits unacknowledged (see above) */
	unsigned max_retries;     /* timeouts of one frame, then give up: the peer is gone */
	uint64_t idle_timeout_ns; /* nothing heard this long: the peer is gone */
	unsigned ack_every;       /* ACK after this many frames in order... */
	uint64_t ack_delay_ns;    /* ...or when the oldest unacknowledged is this old */
	/* Hands one frame (header and payload, no Ethernet header) to the NIC.
	 * It may be lost; the transport will notice. */
	void (*send_frame)(void *ctx, const uint8_t *bytes, size_t len);
	void *send_ctx;
};
/* Fills in values that suit the bochs link: window 32, payload 1482, rto
 * 200 ms, 10 retries, 3 s idle, ACK every 8 frames or after 5 ms. */
void migrate_link_defaults(struct migrate_link_config *cfg);

struct migrate_link_stats {
	uint64_t frames_sent;     /* every frame handed to send_frame */
	uint64_t bytes_sent;      /* their bytes */
	uint64_t data_frames;     /* new sequenced frames (not retransmissions) */
	uint64_t retransmits;     /* sequenced frames sent again */
	uint64_t acks_sent;       /* ACK frames */
	uint64_t frames_received; /* valid frames of our session */
	uint64_t duplicates;      /* data frames that had already arrived */
	uint64_t rejected;        /* corrupt or malformed frames dropped */
	uint64_t strangers;       /* valid frames of another session, ignored */
	uint64_t out_of_window;   /* data frames too far ahead, dropped */
	uint64_t delivered;       /* data frames handed to the engine in order */
	uint64_t rtt_ns;          /* smoothed round-trip time (0 until measured) */
	enum migrate_error last_reject;
};

struct migrate_tx_slot {
	uint64_t sent_ns;    /* last time it went out */
	uint16_t len;        /* bytes in frame[] */
	uint8_t retries;     /* how often it was sent again (for any reason) */
	uint8_t timeouts;    /* how often its timer ran out: max_retries bounds these */
	bool in_flight;      /* sent and not yet acknowledged */
	uint32_t next_after; /* the first new frame sent after its last copy */
	uint8_t frame[MIGRATE_MTU];
};
struct migrate_rx_slot {
	bool present;
	uint8_t type;
	uint16_t len;
	uint8_t payload[MIGRATE_PAYLOAD_MAX];
};
struct migrate_transport {
	struct migrate_link_config cfg;
	bool bound;                    /* the session is known */
	enum migrate_error error;      /* set once the link failed (PEER_GONE/SILENT) */
	enum migrate_error peer_abort; /* set when the peer sent ABORT */
	uint64_t last_heard_ns, last_sent_ns;
	/* sender: seqs tx_base..tx_next-1 are in flight, slot = seq % WINDOW_MAX */
	uint32_t tx_base, tx_next;
	/* The timer doubles at each timeout (up to rto_ns) until an RTT is
	 * measured again: with Karn's rule a link whose RTT outgrew the timer
	 * would otherwise give no sample and time every frame out. */
	unsigned rto_backoff;
	struct migrate_tx_slot tx[MIGRATE_WINDOW_MAX];
	/* receiver: rx_next is the next seq to deliver */
	uint32_t rx_next;
	bool ack_now;        /* a hole or a duplicate: tell the sender at once */
	unsigned rx_unacked; /* frames received since the last ACK */
	uint64_t rx_unacked_since_ns;
	struct migrate_rx_slot rx[MIGRATE_WINDOW_MAX];
	struct migrate_link_stats stats;
};

/* Returns false (and changes nothing) if cfg is out of range. */
bool migrate_transport_init(struct migrate_transport *t, const struct migrate_link_config *cfg,
                            uint64_t now_ns);
/* Takes one received frame (already stripped of its Ethernet header). */
void migrate_transport_receive(struct migrate_transport *t, const uint8_t *bytes, size_t len,
                               uint64_t now_ns);
/* The next data frame in order, if it has arrived. Its payload stays valid
 * until the next call to migrate_transport_receive(). */
bool migrate_transport_next(struct migrate_transport *t, struct migrate_frame *out);
bool migrate_transport_can_send(const struct migrate_transport *t);
/* Queues and sends one data frame; false if the window is full or the
 * payload longer than cfg.payload_size. */
bool migrate_transport_send(struct migrate_transport *t, uint8_t type, const uint8_t *payload,
                            uint16_t len, uint64_t now_ns);
/* Timers: retransmissions, delayed and keep-alive ACKs, failure detection. */
void migrate_transport_tick(struct migrate_transport *t, uint64_t now_ns);
/* The retransmission timer as it stands (see above). */
uint64_t migrate_transport_rto_ns(const struct migrate_transport *t);
/* Sends an ACK now (whatever the delay rules say). */
void migrate_transport_ack_now(struct migrate_transport *t, uint64_t now_ns);
bool migrate_transport_all_acked(const struct migrate_transport *t);
/* Tells the peer to stop, MIGRATE_ABORT_REPEAT times, outside the window. */
void migrate_transport_send_abort(struct migrate_transport *t, enum migrate_error reason,
                                  uint64_t now_ns);

/* ==================== policy.c: when to stop, how to throttle ============ */

/* What a policy sees after each live round. */
struct migrate_round_stats {
	unsigned round;             /* 1 = the first round, which sends every page */
	uint64_t vm_pages;          /* the VM's memory in pages */
	uint64_t pages_sent;        /* in this round, zero pages included */
	uint64_t zero_pages;        /* of which sent as zero-page markers */
	uint64_t pages_skipped;     /* written again before their turn: left to the next round */
	uint64_t bytes_sent;        /* frame bytes of this round, retransmissions excluded */
	uint64_t duration_us;       /* first frame of the round to its last ACK */
	uint64_t scan_us;           /* round 1: of which the scan for zero pages */
	uint64_t vm_us;             /* of the rest, the migrating VM's own time (vm_time_ns) */
	uint64_t dirty_pages;       /* dirtied meanwhile: what is left to send */
	uint64_t prev_dirty_pages;  /* what this round had to send (vm_pages in round 1) */
	uint64_t dirty_rate_pps;    /* dirty pages per second during this round */
	uint64_t bandwidth_Bps;     /* bytes per second this round moved (scan and VM left out) */
	uint64_t page_Bps;          /* the same in page bytes: 4 KiB a non-zero page */
	uint64_t total_pages_sent;  /* all rounds so far */
	uint64_t total_bytes_sent;  /* all rounds so far */
	uint64_t rtt_us;            /* the link's smoothed round-trip time */
	uint64_t commit_us;         /* ROUND_END's lone round trip: what COMMIT's will cost */
	uint64_t learned_Bps;       /* earlier stop-and-copies over this link (0: none yet) */
	uint64_t learned_commit_us; /* and their lone round trips (commit_us) */
	unsigned throttle_percent;  /* how much the vCPU is slowed down now */
	uint64_t predicted_downtime_us; /* migrate_predict_downtime_us() of this round */
};
/* What the user asked for, and where a policy keeps its state.
 *
 * The contract between the engine (engine.c) and a stop policy:
 * - A policy is a `struct migrate_policy`: a name, its knobs (a table of
 *   struct knob, lib.h) and the size of its private state. Its knobs are
 *   set as text, `migrate VM DEST [TRACKER] policy=NAME knob=value ...`,
 *   and read by the policy as p->knob[i], i its table's index.
 * - The engine owns the storage of the state (p->state, state_size bytes,
 *   at most MIGRATE_POLICY_STATE_MAX, zeroed); init() is called once at
 *   migrate_source_start, should_stop() after every live round (the first
 *   one sends every page) with that round's figures, and throttle_percent()
 *   after every round that goes on.
 * - Whatever the policy says, the engine stops after its own round_limit
 *   (an engine knob, given in the same text): the report says so
 *   (stopped_by_round_limit), and a policy that never stops still ends.
 * The reference policy is policy_default.c; a small one with a knob to
 * copy is policy_shrink.c (docs/policies.md walks through it). */
#define MIGRATE_KNOBS_MAX        KNOBS_MAX
#define MIGRATE_POLICY_STATE_MAX 64
#define MIGRATE_TEXT_MAX         256 /* a policy and its knobs as text fit this */

/* The engine's own knobs, index into migrate_params.engine. */
enum migrate_engine_knob { MIGRATE_ROUND_LIMIT, MIGRATE_ENGINE_KNOBS };
extern const struct knob migrate_engine_knobs[MIGRATE_ENGINE_KNOBS];

struct migrate_params {
	uint64_t state_bytes;                  /* expected size of the vCPU/device state */
	uint64_t knob[MIGRATE_KNOBS_MAX];      /* the policy's, in its table's order */
	uint64_t engine[MIGRATE_ENGINE_KNOBS]; /* 0: the engine's default */
	void *state;                           /* the policy's state (set by the engine) */
};

/* A policy is a table; see the contract above. Any hook but should_stop
 * may be NULL, knobs too (knob_count 0). */
struct migrate_policy {
	const char *name;
	const char *summary; /* one line, for help texts */
	const struct knob *knobs;
	size_t knob_count; /* at most MIGRATE_KNOBS_MAX */
	size_t state_size; /* at most MIGRATE_POLICY_STATE_MAX */
	void (*init)(const struct migrate_params *p);
	/* true: stop the VM now and copy what is left. */
	bool (*should_stop)(const struct migrate_round_stats *s, const struct migrate_params *p);
	/* How much to slow the vCPU for the next round, 0..99 (NULL: never). */
	unsigned (*throttle_percent)(const struct migrate_round_stats *s,
	                             const struct migrate_params *p);
};

/* The table of policies, one line each: adding a policy is its file
 * migrate/policy_NAME.c (the build and the unit tests take every .c file
 * of migrate/) and its line here. Everything that lists policies reads
 * migrate_policies[]. */
#define MIGRATE_POLICY_TABLE(X)                                                                    \
	X(migrate_policy_default)                                                                  \
	X(migrate_policy_xen_legacy)                                                               \
	X(migrate_policy_xen_v2)                                                                   \
	X(migrate_policy_qemu)                                                                     \
	X(migrate_policy_shrink)                                                                   \
	/* one line per policy above this one */

#define MIGRATE_POLICY_DECLARE(sym) extern const struct migrate_policy sym;
MIGRATE_POLICY_TABLE(MIGRATE_POLICY_DECLARE)
extern const struct migrate_policy *const migrate_policies[];
extern const size_t migrate_policy_count;
const struct migrate_policy *migrate_policy_find(const char *name); /* NULL if unknown */

/* "policy=qemu downtime=100ms round_limit=20": the policy (default
 * "default"), its knobs and the engine's; what is not given keeps its
 * default. *policy and p->knob, p->engine are set (p->state_bytes and
 * p->state are left alone); -1 with a one-line reason in err (an unknown
 * policy or knob names the valid ones) and nothing set. */
int migrate_params_parse(const char *text, const struct migrate_policy **policy,
                         struct migrate_params *p, char *err, size_t err_len);
/* The same text back, every knob given; returns what fmt_snprintf returns. */
int migrate_params_format(const struct migrate_policy *policy, const struct migrate_params *p,
                          char *buf, size_t size);

/* value * mul / div in 64-bit integers, saturating at UINT64_MAX (exact as
 * long as div * mul < 2^64, as for every rate here); div 0 gives UINT64_MAX. */
uint64_t migrate_scale(uint64_t value, uint64_t mul, uint64_t div);
/* Our downtime model: what is left (dirty pages and the state blob) over a
 * rate, plus the COMMIT handshake. The rate and the handshake are those
 * earlier stop-and-copies over the same link measured (learned_*), or,
 * on a link's first migration, this round's bandwidth and ROUND_END's
 * round trip (commit_us: sent alone once the round's pages are
 * acknowledged and answered at once, like COMMIT; the smoothed RTT, which
 * holds delayed ACKs, stands in where it is 0, as in old traces). The
 * round's rate is page_Bps: page bytes, over its time less the zero-page
 * scan, the VM's own time and that round trip (a stop-and-copy has the CPU
 * to itself and sends written pages); old traces use bandwidth_Bps. */
uint64_t migrate_predict_downtime_us(const struct migrate_round_stats *s,
                                     const struct migrate_params *p);

/* ======================= engine.c: pre-copy ============================= */

/* Where dirty pages come from (EPT write-protect, A/D bits or PML in hv; a
 * fake in the unit tests). */
struct dirty_tracker_ops {
	const char *name;
	/* Start logging writes: every page counts as clean from now on. */
	void (*start)(void *ctx);
	/* Moves up to max dirty page numbers into pfns, each once, and marks
	 * them clean; returns how many. Pages beyond max stay dirty. */
	size_t (*harvest)(void *ctx, uint64_t *pfns, size_t max);
	void (*stop)(void *ctx);
	/* Optional: true if the page was written since the last harvest, so
	 * the next harvest will return it. A live round then leaves the page
	 * to the next round instead of sending it twice (Xen's "skip pages
	 * dirtied again"); must not change what harvest returns. NULL: every
	 * page of the list is sent. */
	bool (*written_since_harvest)(void *ctx, uint64_t pfn);
};

enum migrate_status {
	MIGRATE_RUNNING,    /* call step() again */
	MIGRATE_NEED_PAUSE, /* source: stop the vCPU, then migrate_source_paused() */
	MIGRATE_COMMITTED,  /* the VM now belongs to the destination */
	MIGRATE_ABORTED,    /* the VM stays (or resumes) on the source */
	MIGRATE_IN_DOUBT,   /* dest: COMMIT_ACK sent, but never confirmed: the
	                       source may or may not have let go; do not resume
	                       alone, ask a human or a higher layer */
};

#define MIGRATE_ROUNDS_RECORDED 32
/* Pages a live round looks at per migrate_source_step: keeps a step (and
 * the time the VM waits for the CPU) short. */
#define MIGRATE_LIVE_PAGES_PER_STEP 64

struct migrate_report {
	enum migrate_status status;
	enum migrate_error reason; /* why it aborted */
	bool reason_from_peer;     /* the destination sent that reason */
	unsigned rounds;           /* live rounds (stop-and-copy not counted) */
	struct migrate_round_stats round[MIGRATE_ROUNDS_RECORDED]; /* the first ones */
	uint64_t pages_sent, zero_pages, bytes_sent; /* all rounds and stop-and-copy */
	uint64_t pages_skipped;                      /* all live rounds */
	uint64_t stop_copy_pages, stop_copy_bytes, state_bytes;
	uint64_t total_ns;              /* start to COMMIT_ACK */
	uint64_t downtime_ns;           /* migrate_source_paused() to COMMIT_ACK */
	uint64_t commit_us;             /* of which COMMIT to COMMIT_ACK */
	bool forecast_learned;          /* the prediction came from the link's model */
	uint64_t predicted_downtime_us; /* the model's figure when the policy stopped */
	bool stopped_by_round_limit;    /* the engine stopped it, not the policy */
	struct migrate_link_stats link; /* retransmits etc. */
};

/* What stop-and-copies over one link did, kept by the caller from one
 * migration to the next (one per destination) and updated at each commit:
 * the forecast of the next migration over that link uses it. */
struct migrate_link_model {
	uint64_t stop_copy_Bps; /* pages (4 KiB each) and state over the downtime less commit_us */
	uint64_t commit_us;     /* a lone frame's round trip (ROUND_END's) */
	unsigned migrations;    /* how many taught it (0: nothing known) */
};

struct migrate_source_config {
	const uint8_t *memory; /* host pointer to guest-physical 0 */
	uint64_t nr_pages;
	const struct dirty_tracker_ops *tracker;
	void *tracker_ctx;
	uint64_t *pfn_buf; /* room for the dirty pages of one round: nr_pages is safe */
	size_t pfn_buf_len;
	const struct migrate_policy *policy;
	struct migrate_params params;
	uint32_t state_max; /* the state blob will be at most this long */
	struct migrate_link_config link;
	struct migrate_link_model *model; /* optional: learned per link, see above */
	/* Optional: the time the migrating VM has had the CPU so far (ns,
	 * its guest time and hv's work for it). On one CPU a round shares it
	 * with the VM, a stop-and-copy does not: a round's bandwidth leaves
	 * the VM's share out, so that it forecasts the stop-and-copy. Other
	 * VMs' time stays in: they run during a stop-and-copy too. */
	uint64_t (*vm_time_ns)(void *ctx);
	void *vm_time_ctx;
};

struct migrate_source {
	struct migrate_source_config cfg;
	struct migrate_transport link;
	int phase;     /* enum source_phase in engine.c */
	bool tracking; /* the dirty tracker is started */
	uint64_t start_ns, round_start_ns, paused_ns, commit_sent_ns;
	uint64_t vm_time_at_send_ns; /* vm_time_ns() when the round began sending */
	uint64_t round_end_sent_ns, vm_time_at_round_end_ns; /* ROUND_END's round trip */
	/* the pages of the current round: round 1 scans all of them (sweep)
	 * into pfn_buf, then sends that list; later rounds send the harvest */
	bool sweep;
	uint64_t cursor, list_len;
	/* the page being sent, copied so that all its pieces and its checksum
	 * agree while the VM keeps writing to it */
	bool page_open;
	uint64_t page_pfn, page_checksum;
	uint16_t page_offset;
	uint8_t page_copy[MIGRATE_PAGE_SIZE];
	/* zero pages waiting to be sent as one marker frame */
	uint64_t zero_pfns[MIGRATE_PAYLOAD_MAX / 8];
	unsigned zero_count;
	/* stop-and-copy: the state blob from the caller */
	const uint8_t *state;
	uint32_t state_len, state_sent;
	bool last_pages_sent;           /* stop-and-copy: every dirty page is out */
	struct migrate_round_stats cur; /* the round being measured */
	unsigned throttle_percent;      /* apply this to the vCPU while it runs */
	struct migrate_report report;
	_Alignas(8) uint8_t policy_state[MIGRATE_POLICY_STATE_MAX];
	uint8_t scratch[MIGRATE_PAYLOAD_MAX];
};

/* The engine's decision after a live round, shared with the trace replay
 * (tools/sim_migrate.c, make sim-migrate) so that both ask a policy the
 * same way. migrate_round_measure fills the figures derived from a round's
 * duration, bytes and dirty pages (dirty rate, bandwidth, the predicted
 * downtime); migrate_round_decide applies the engine's round limit first,
 * then the policy's should_stop, and when the migration goes on sets
 * *throttle_percent from the policy's throttle (at most 99; unchanged
 * without one). */
enum migrate_decision { MIGRATE_GO_ON, MIGRATE_STOP_POLICY, MIGRATE_STOP_ROUND_LIMIT };
void migrate_round_measure(struct migrate_round_stats *s, const struct migrate_params *p);
enum migrate_decision migrate_round_decide(const struct migrate_policy *policy,
                                           const struct migrate_params *p,
                                           const struct migrate_round_stats *s,
                                           unsigned *throttle_percent);

/* Checks cfg, sends HELLO. False if cfg is unusable (nothing sent). */
bool migrate_source_start(struct migrate_source *src, const struct migrate_source_config *cfg,
                          uint64_t now_ns);
enum migrate_status migrate_source_receive(struct migrate_source *src, const uint8_t *bytes,
                                           size_t len, uint64_t now_ns);
enum migrate_status migrate_source_step(struct migrate_source *src, uint64_t now_ns);
/* The vCPU is stopped and its state saved in state (copied by reference:
 * keep it until the migration ends). */
enum migrate_status migrate_source_paused(struct migrate_source *src, const uint8_t *state,
                                          uint32_t state_len, uint64_t now_ns);
/* Aborts unless already committed. */
enum migrate_status migrate_source_cancel(struct migrate_source *src, uint64_t now_ns);

struct migrate_dest_config {
	uint8_t *memory; /* host pointer to the new VM's guest-physical 0 */
	uint64_t nr_pages;
	uint64_t *seen_bitmap; /* (nr_pages + 63) / 64 words: pages that arrived */
	/* Optional, as large: pages whose last copy came as data (the source
	 * sends a zero page as a marker), so that the report can count the
	 * image's non-zero pages: what the guest had touched. */
	uint64_t *data_bitmap;
	/* The caller cleared memory before listening: a zero marker for a page
	 * that never arrived needs no clearing (most of a VM, in round one). */
	bool memory_is_zero;
	/* Optional: asked at COMMIT, before the COMMIT_ACK that lets the
	 * source go, whether the state blob will restore here (a build or
	 * layout mismatch must leave the VM on the source, not lost on both). */
	bool (*state_check)(void *ctx, const uint8_t *state, size_t len);
	void *state_check_ctx;
	uint8_t *state_buf;
	size_t state_cap;
	struct migrate_link_config link; /* link.session is ignored */
};

struct migrate_dest_report {
	enum migrate_status status;
	enum migrate_error reason;
	bool reason_from_peer;
	uint32_t session;
	uint64_t vm_pages; /* from HELLO */
	unsigned rounds;   /* ROUND_END frames seen */
	uint64_t pages_received, zero_pages, pages_distinct;
	uint64_t nonzero_pages; /* with data_bitmap: pages whose last copy came as data (from
	                           this engine's source: the image's non-zero pages) */
	uint32_t state_len;
	struct migrate_link_stats link;
};

struct migrate_dest {
	struct migrate_dest_config cfg;
	struct migrate_transport link;
	int phase; /* enum dest_phase in engine.c */
	bool page_open;
	uint64_t page_pfn;
	uint16_t page_next_offset;
	uint32_t state_total, state_received;
	struct migrate_dest_report report;
	uint8_t scratch[MIGRATE_PAYLOAD_MAX];
};

/* Waits for the first HELLO (of any session; from then on only that
 * session is heard). It waits forever: migrate_dest_cancel() ends it. */
bool migrate_dest_listen(struct migrate_dest *dst, const struct migrate_dest_config *cfg,
                         uint64_t now_ns);
enum migrate_status migrate_dest_receive(struct migrate_dest *dst, const uint8_t *bytes, size_t len,
                                         uint64_t now_ns);
enum migrate_status migrate_dest_step(struct migrate_dest *dst, uint64_t now_ns);
enum migrate_status migrate_dest_cancel(struct migrate_dest *dst, uint64_t now_ns);

#endif

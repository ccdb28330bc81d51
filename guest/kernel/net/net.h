/* Runs in the guest: the network. One API over two NICs (net.c picks,
 * backend.h is the seam): under Joulevisor, pvnet.c drives the paravirtual
 * NIC (include/joulevisor/pvnet.h is the contract); bare, with no
 * hypervisor, e1000.c drives the Intel 82540EM that bochs and QEMU
 * emulate. stream.c is the small test protocol that netsrc, netsink,
 * netping and netrr speak over either.
 *
 * The drivers are polled from the caller's thread: pvnet's interrupt only
 * counts and wakes the CPU from HLT, the e1000 takes none; all ring work
 * happens in net_send/net_recv. One NIC, no locks (one CPU, and the
 * handler touches no ring state). */
#ifndef GUEST_NET_H
#define GUEST_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NET_VECTOR       0x41 /* the RX/TX-completion interrupt, next to the timer's 0x40 */
#define NET_MAC_LEN      6
#define NET_HEADER_LEN   14 /* destination, source, EtherType; no FCS */
#define NET_FRAME_MAX    1514
#define NET_WAIT_FOREVER UINT64_MAX

struct net_counters {
	uint64_t frames_sent, frames_received;
	uint64_t kicks;         /* doorbells: JV_HC_NET_KICK hypercalls, e1000 TDT writes */
	uint64_t interrupts;    /* NET_VECTOR interrupts taken (the e1000 takes none) */
	uint64_t tx_full_waits; /* net_send found the TX ring full */
	uint64_t tx_stalled;    /* e1000: frames not sent, the NIC finished none for 1 s */
	uint64_t rx_too_long;   /* frames dropped: longer than net_recv's buffer */
	uint64_t rx_bad_length; /* descriptors filled with a length 0 or > NET_FRAME_MAX */
	uint64_t rx_errors;     /* e1000: frames the NIC marked bad or split over buffers */
	uint64_t rx_not_ours;   /* dropped: unicast to another MAC, or a runt */
};

/* Finds the NIC and brings it up: under Joulevisor allocates the pvnet
 * rings, posts every RX buffer and attaches through JV_HC_NET_ATTACH; bare,
 * scans PCI for an 82540EM, resets it and posts its rings. False, with one
 * line on stdout saying why, when there is no NIC or it cannot be used.
 * Call once; later calls return the first answer's success. */
bool net_attach(void);
/* "pvnet" or "e1000" once attached, else "none". */
const char *net_nic_name(void);
/* The MAC hv gave us at attach, or the e1000's own (from its EEPROM). */
const uint8_t *net_mac(void);

/* Queues one Ethernet frame (NET_HEADER_LEN..NET_FRAME_MAX bytes, copied).
 * Waits (HLT under Joulevisor, polling bare) while the TX ring is full.
 * False for a bad length, when not attached, or when the e1000 has sent
 * nothing for a second (counted in tx_stalled). */
bool net_send(const void *frame, size_t length);
/* Takes one received frame into buffer: returns its length, or 0 when none
 * came within timeout_ns (0: just poll; NET_WAIT_FOREVER). Waits with HLT
 * until the NIC's interrupt or the deadline (pvnet), or polls (e1000). Keeps frames to our MAC and
 * to group addresses only; frames longer than capacity are dropped; both are counted. Also kicks
 * for held-back TX frames whose time came. */
size_t net_recv(void *buffer, size_t capacity, uint64_t timeout_ns);
/* Kicks hv (rings the e1000's doorbell) now for TX frames held back by
 * net_set_tx_delay_ns. */
void net_flush(void);

/* Guest-side TX batching: publish frames without kicking until ns have
 * passed since the first unkicked one, or the TX ring is half full. 0 (the
 * default): decide on every frame. */
void net_set_tx_delay_ns(uint64_t ns);
/* hv's batching of our interrupts (JV_HC_NET_BATCH), e.g.
 * "policy=fixed-time tbuf=1ms". False, with a message, when hv refuses or
 * when there is no hv (the e1000 is polled). */
bool net_set_batching(const char *text);
const struct net_counters *net_counters(void);

/* "02:4a:56:00:00:01" into text (at least 18 bytes); parses the same. */
void net_format_mac(const uint8_t *mac, char *text);
bool net_parse_mac(const char *text, uint8_t *mac);

/* ---- stream.c: the test stream and the latency tools' frames ----
 *
 * Frames of EtherType STREAM_ETHERTYPE. After the Ethernet header comes
 * struct stream_header (little-endian), then the payload. The meaning of
 * seq and total depends on the type:
 *
 *   HELLO   sink -> broadcast, every 100 ms until a source answers;
 *           seq: HELLOs sent so far, total: frames expected (0: any)
 *   START   source -> the sink that said HELLO (answers every HELLO);
 *           seq: frame size in bytes, total: frames in the stream
 *   DATA    source -> sink; seq 0..total-1, payload stream_payload()
 *   CREDIT  sink -> source; seq: DATA frames taken off the ring so far.
 *           The source keeps at most its window of frames beyond it in
 *           flight, so the sink's RX ring cannot overflow.
 *   END     source -> sink, a few times after the last DATA;
 *           seq: DATA frames sent, total: frames in the stream.
 *           Also netping's probe and netrr's client -> their server, a few
 *           times when done; same fields.
 *
 * The source starts only after a HELLO, so the sink is attached with its
 * buffers posted; a source that boots first simply waits for it.
 *
 * The latency tools (netping, netrr) speak request and answer:
 *
 *   PING      probe -> echo (and any netrr server); seq: probe number,
 *             total: probes in the run, or 0 for a readiness check that
 *             no server counts (stream_find_peer)
 *   PONG      the PING sent back as it came, but for the addresses and
 *             the type (stream_turn_around)
 *   REQUEST   client -> server; seq: request number, total: the length
 *             of the RESPONSE frame it asks for
 *   RESPONSE  server -> client; seq: the REQUEST's, total: this frame's
 *             own length (the server may answer another size than asked)
 *
 * DATA, PING, REQUEST and RESPONSE carry stream_payload(seq), so a receiver
 * can tell a frame that was damaged or belongs to another seq. */
#define STREAM_ETHERTYPE  0x88B5      /* IEEE 802 local experimental EtherType 1 */
#define STREAM_MAGIC      0x4A560000u /* "JV" in the high half, the type in the low */
#define STREAM_HEADER_LEN 20
#define STREAM_MIN_FRAME  (NET_HEADER_LEN + STREAM_HEADER_LEN)

enum stream_type {
	STREAM_HELLO = 1,
	STREAM_START = 2,
	STREAM_DATA = 3,
	STREAM_CREDIT = 4,
	STREAM_END = 5,
	STREAM_PING = 6,
	STREAM_PONG = 7,
	STREAM_REQUEST = 8,
	STREAM_RESPONSE = 9,
};

struct stream_header {
	uint32_t magic; /* STREAM_MAGIC | type */
	uint32_t seq;
	uint32_t total;
	uint64_t tsc; /* the sender's TSC when it built the frame */
} __attribute__((packed));

_Static_assert(sizeof(struct stream_header) == STREAM_HEADER_LEN, "stream header layout");

/* Builds a frame of length bytes (>= STREAM_MIN_FRAME) in frame: Ethernet
 * header, stream header and the payload of seq (zeros for the types that
 * carry none). */
void stream_build(uint8_t *frame, size_t length, const uint8_t *destination, enum stream_type type,
                  uint32_t seq, uint32_t total);
/* The stream header of a received frame, or NULL when it is not ours. */
const struct stream_header *stream_parse(const uint8_t *frame, size_t length,
                                         enum stream_type *type);
/* Turns a received frame around in place into an answer of the given type
 * to its sender: the addresses swap (ours becomes the source), the type
 * changes, seq, total, tsc and payload stay. */
void stream_turn_around(uint8_t *frame, enum stream_type type);

/* Payload of DATA frame seq: a function of seq and the byte index only. */
void stream_payload(uint8_t *payload, size_t length, uint32_t seq);
bool stream_payload_ok(const uint8_t *payload, size_t length, uint32_t seq);
/* The running checksum (FNV-1a 64) over (seq as 4 little-endian bytes,
 * payload) of each frame in stream order; start from STREAM_CHECKSUM_INIT. */
#define STREAM_CHECKSUM_INIT 0xcbf29ce484222325ull
uint64_t stream_checksum(uint64_t sum, uint32_t seq, const uint8_t *payload, size_t length);

/* Module command lines have no quoting, so --batch "policy=fixed-time
 * tbuf=1ms" arrives as several words. Joins argv[*index] and the words after
 * it that do not start with "--" into text, one space apart (commas become
 * spaces, quotes are dropped); *index ends on the last word taken. False
 * when it does not fit in size bytes or is empty. */
bool stream_join_words(int argc, char **argv, int *index, char *text, size_t size);

#define STREAM_BATCH_USAGE                                                                         \
	"  --batch TEXT           hv's interrupt batching, e.g. \"policy=fixed-time tbuf=1ms\"\n"

/* net_attach, then hv's batching text when there is one. Returns 0, or the
 * status a tool ends with: GUEST_EXIT_FAILURE when not attached,
 * GUEST_EXIT_USAGE when hv refuses the text. */
int stream_attach(const char *batching);
/* Sends copies END frames (seq, total) to `to` and kicks hv: the peer needs
 * one, a few survive a lossy link. */
void stream_send_end(const uint8_t *to, uint32_t seq, uint32_t total, int copies);

/* ---- peer.c: what the request/answer tools (netping, netrr) share ---- */

/* Their common options: --to MAC, --reply-timeout-ms MS, --timeout S. */
struct peer_options {
	bool have_to;
	uint8_t to[NET_MAC_LEN];
	long reply_timeout_ms; /* an answer later than this is lost */
	double timeout;        /* wait this long for the server, or a server for clients */
};
#define PEER_OPTIONS_DEFAULT                                                                       \
	{                                                                                          \
		.reply_timeout_ms = 1000, .timeout = 30                                            \
	}
#define PEER_OPTIONS_USAGE                                                                         \
	"  --to MAC               the server, aa:bb:cc:dd:ee:ff (default: the first that\n"        \
	"                         answers a broadcast)\n"                                          \
	"  --reply-timeout-ms MS  an answer later than this is lost, 1..60000 (default 1000)\n"    \
	"  --timeout S            wait for the server, or a server for clients, that long\n"       \
	"                         (default 30)\n"
/* When name is one of the common options, takes value into o and sets
 * *taken; returns NULL, or the complaint for a bad value ("--to wants ..."). */
const char *peer_option(struct peer_options *o, const char *name, const char *value, bool *taken);

/* Readiness check before a run: sends a PING with total 0 to o->to
 * (broadcast without --to) every 100 ms until a PONG comes back, for at
 * most o->timeout. True with the MAC that answered in peer. Says on stdout,
 * after "tool: ", who answered and when, or that nobody did. Other frames
 * that arrive meanwhile are dropped. */
bool peer_find(const struct peer_options *o, const char *tool, uint8_t *peer);

/* A server's loop. It answers every PING with its PONG itself (counting
 * readiness checks, total 0, apart), hands every other frame of ours but
 * END to answer, and stops at END from a client it answered, when answer
 * says done, or after timeout seconds of nobody to answer. */
enum peer_answer {
	PEER_IGNORED,  /* not a frame this server answers: counted as other */
	PEER_ANSWERED, /* answered; the sender is a client now */
	PEER_DONE,     /* answered, and that was the last one */
};
struct peer_service {
	enum peer_answer (*answer)(uint8_t *frame, size_t length, enum stream_type type,
	                           const struct stream_header *header); /* may be NULL */
	uint64_t echo_limit; /* stop after this many counted PINGs; 0: none */
	/* What happened: */
	uint64_t echoes, readiness_checks, answered, other;
	bool served;       /* a client's PING or frame was answered */
	const char *ended; /* "end", "done" (the limit or answer said so), "timeout" */
};
void peer_serve(struct peer_service *service, double timeout);

#endif

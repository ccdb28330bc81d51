/* Runs in the guest: netsink [--expect N] [--timeout S] [--batch "policy=..."].
 * Receives netsrc's test stream (net/net.h) over the pvnet NIC and says
 * whether it arrived whole: frames received, lost (never seen), duplicated,
 * reordered (arrived after a higher seq), bad (wrong length, seq out of
 * range or payload; its seq stays lost unless it comes again), and a running checksum over (seq,
 * payload) of the frames that arrived in order, which equals netsrc's when nothing was lost or
 * reordered. Exit status 0 only when nothing was lost or bad.
 *
 * It says HELLO (broadcast, every 100 ms) until a source answers, and sends
 * CREDIT frames as it takes frames so that the source never has more in
 * flight than our RX ring holds. It stops at END, or when the source has
 * been silent for --timeout seconds. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot/boot.h"
#include "clock/clock.h"
#include "net/net.h"
#include "tool/tool.h"

#define HELLO_INTERVAL_NS 100000000u /* 100 ms */
#define CREDIT_EVERY      16        /* frames taken between CREDITs; the source's window is >= 32 */
#define CREDIT_IDLE_NS    10000000u /* also send one after 10 ms without frames */
#define EXPECT_MAX        10000000

struct options {
	long expect; /* 0: what the source announces */
	double timeout;
	char batch[160];
};

static const uint8_t broadcast_mac[NET_MAC_LEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
static uint8_t frame[NET_FRAME_MAX];

/* The stream as seen so far. */
static struct {
	bool have_source, ended;
	uint8_t source_mac[NET_MAC_LEN];
	uint32_t total, frame_size; /* as the source announced them */
	uint8_t *seen;              /* one bit per seq */
	uint32_t seen_bits;
	uint64_t received, dup, reordered, bad, foreign;
	int64_t highest; /* highest seq received, -1 before the first */
	uint64_t checksum;
	uint32_t taken, credited; /* DATA frames taken off the ring; in the last CREDIT */
	uint64_t first_tsc, last_tsc, heard_tsc;
} s = {.highest = -1, .checksum = STREAM_CHECKSUM_INIT};

static int usage(const char *problem, const char *argument)
{
	fprintf(stderr, "netsink: %s%s%s\n", problem, argument ? ": " : "",
	        argument ? argument : "");
	fprintf(stderr,
	        "usage: netsink [--expect N] [--timeout S] [--batch \"policy=...\"]\n"
	        "  --expect N     frames expected, 1..10000000 (default: what netsrc announces)\n"
	        "  --timeout S    stop when the source is silent that long (default 30)\n"
	        "  --batch TEXT   hv's interrupt batching, e.g. \"policy=fixed-time tbuf=1ms\"\n");
	return GUEST_EXIT_USAGE;
}

static int parse_options(int argc, char **argv, struct options *o)
{
	*o = (struct options){.timeout = 30};
	for (int i = 1; i < argc; i++) {
		enum arg_batch_result batch = arg_batch(argc, argv, &i, o->batch, sizeof o->batch);
		if (batch == ARG_BATCH_BAD)
			return usage("--batch wants a short text like",
			             "policy=fixed-time,tbuf=1ms");
		if (batch == ARG_BATCH_TAKEN)
			continue;
		char *name = argv[i], *value;
		if (strncmp(name, "--expect", 8) != 0 && strncmp(name, "--timeout", 9) != 0)
			return usage(strncmp(name, "--", 2) == 0 ? "unknown option"
			                                         : "unexpected argument",
			             name);
		if (!arg_value(argc, argv, &i, &value))
			return usage("missing value after", name);
		if (strcmp(name, "--expect") == 0) {
			if (!arg_whole(value, 1, EXPECT_MAX, &o->expect))
				return usage("--expect wants 1..10000000, not", value);
		} else if (strcmp(name, "--timeout") == 0) {
			if (!arg_number(value, 0.1, 3600, &o->timeout))
				return usage("--timeout wants 0.1..3600 seconds, not", value);
		} else {
			return usage("unknown option", name);
		}
	}
	return 0;
}

static void send_control(const uint8_t *to, enum stream_type type, uint32_t seq, uint32_t total)
{
	stream_build(frame, STREAM_MIN_FRAME, to, type, seq, total);
	net_send(frame, STREAM_MIN_FRAME);
}

static void send_credit(void)
{
	send_control(s.source_mac, STREAM_CREDIT, s.taken, s.total);
	s.credited = s.taken;
}

/* The first START or DATA names the source and the stream's shape. */
static void learn_source(const uint8_t *mac, uint32_t total, uint32_t frame_size,
                         const struct options *o)
{
	memcpy(s.source_mac, mac, NET_MAC_LEN);
	s.total = total;
	s.frame_size = frame_size;
	s.seen_bits = total > (uint32_t)o->expect ? total : (uint32_t)o->expect;
	s.seen = s.seen_bits <= EXPECT_MAX ? calloc(s.seen_bits / 8 + 1, 1) : NULL;
	if (!s.seen) {
		printf("netsink: cannot track the %u frames the source announces\n", total);
		exit(GUEST_EXIT_FAILURE);
	}
	s.have_source = true;
	s.first_tsc = tsc_read();
	char text[18];
	net_format_mac(mac, text);
	printf("netsink: source %s streams %u frames of %u bytes\n", text, total, frame_size);
}

static void take_data(const struct stream_header *header, size_t length)
{
	uint32_t seq = header->seq;
	const uint8_t *payload = frame + STREAM_MIN_FRAME;
	size_t payload_length = length - STREAM_MIN_FRAME;
	s.taken++;
	s.last_tsc = tsc_read();
	if (length != s.frame_size || seq >= s.seen_bits ||
	    !stream_payload_ok(payload, payload_length, seq)) {
		s.bad++;
		return;
	}
	uint8_t bit = (uint8_t)(1u << (seq % 8));
	if (s.seen[seq / 8] & bit) {
		s.dup++;
		return;
	}
	s.seen[seq / 8] |= bit;
	s.received++;
	if ((int64_t)seq < s.highest) {
		s.reordered++; /* counted, but not in the in-order checksum */
		return;
	}
	s.highest = seq;
	s.checksum = stream_checksum(s.checksum, seq, payload, payload_length);
}

static void handle(size_t length, const struct options *o)
{
	enum stream_type type;
	const struct stream_header *header = stream_parse(frame, length, &type);
	const uint8_t *sender = frame + NET_MAC_LEN;
	if (!header || (s.have_source && memcmp(sender, s.source_mac, NET_MAC_LEN) != 0)) {
		s.foreign++; /* not the stream, or another source's */
		return;
	}
	if (!s.have_source) {
		if (type == STREAM_START)
			learn_source(sender, header->total, header->seq, o);
		else if (type == STREAM_DATA) /* START went missing: DATA tells as much */
			learn_source(sender, header->total, (uint32_t)length, o);
		else
			return;
	}
	s.heard_tsc = tsc_read();
	if (type == STREAM_DATA)
		take_data(header, length);
	else if (type == STREAM_END)
		s.ended = true;
}

/* HELLO until a source answers; false after timeout seconds of nothing. */
static bool find_source(const struct options *o)
{
	uint64_t start = tsc_read(), limit = (uint64_t)(o->timeout * (double)tsc_hz());
	uint64_t next_hello = start;
	uint32_t hellos = 0;
	while (!s.have_source) {
		uint64_t now = tsc_read();
		if (now - start >= limit)
			return false;
		if (now >= next_hello) {
			send_control(broadcast_mac, STREAM_HELLO, hellos++, (uint32_t)o->expect);
			next_hello = now + ns_to_tsc_ticks(HELLO_INTERVAL_NS);
		}
		size_t length = net_recv(frame, sizeof frame, tsc_ticks_to_ns(next_hello - now));
		if (length)
			handle(length, o);
	}
	return true;
}

static void receive_stream(const struct options *o)
{
	uint64_t limit = (uint64_t)(o->timeout * (double)tsc_hz());
	while (!s.ended) {
		size_t length = net_recv(frame, sizeof frame, CREDIT_IDLE_NS);
		if (length) {
			handle(length, o);
			if (s.taken - s.credited >= CREDIT_EVERY)
				send_credit();
			continue;
		}
		if (s.taken != s.credited)
			send_credit(); /* idle: whatever we owe, so a source never waits on us */
		if (tsc_read() - s.heard_tsc >= limit)
			return;
	}
}

int main(int argc, char **argv)
{
	struct options o;
	int status = parse_options(argc, argv, &o);
	if (status != 0)
		return status;
	status = stream_attach(o.batch);
	if (status != 0)
		return status;

	if (find_source(&o))
		receive_stream(&o);
	else
		printf("netsink: no source answered our HELLO within %g s\n", o.timeout);
	if (!s.ended && s.have_source)
		printf("netsink: the source was silent for %g s: stopping without END\n",
		       o.timeout);

	uint64_t expected = o.expect ? (uint64_t)o.expect : s.total;
	uint64_t lost = expected > s.received ? expected - s.received : 0;
	uint64_t end_tsc = s.last_tsc > s.first_tsc ? s.last_tsc : s.first_tsc;
	double seconds = s.have_source ? (double)tsc_ticks_to_ns(end_tsc - s.first_tsc) / 1e9 : 0;
	const struct net_counters *c = net_counters();
	printf("netsink: received %llu/%llu lost %llu dup %llu reordered %llu bad %llu checksum "
	       "0x%016llx\n",
	       (unsigned long long)s.received, (unsigned long long)expected,
	       (unsigned long long)lost, (unsigned long long)s.dup, (unsigned long long)s.reordered,
	       (unsigned long long)s.bad, (unsigned long long)s.checksum);
	printf("netsink: %s after %.3f s, %llu interrupts, %llu kicks, %llu other frames, %llu "
	       "dropped as not for us\n",
	       s.ended ? "END" : "no END", seconds, (unsigned long long)c->interrupts,
	       (unsigned long long)c->kicks, (unsigned long long)s.foreign,
	       (unsigned long long)c->rx_not_ours);
	printf(
	    "@ {\"ev\":\"netsink\",\"received\":%llu,\"expected\":%llu,\"lost\":%llu,\"dup\":%llu,"
	    "\"reordered\":%llu,\"bad\":%llu,\"checksum\":\"0x%016llx\",\"seconds\":%.6f,"
	    "\"interrupts\":%llu,\"kicks\":%llu,\"ended\":%s}\n",
	    (unsigned long long)s.received, (unsigned long long)expected, (unsigned long long)lost,
	    (unsigned long long)s.dup, (unsigned long long)s.reordered, (unsigned long long)s.bad,
	    (unsigned long long)s.checksum, seconds, (unsigned long long)c->interrupts,
	    (unsigned long long)c->kicks, s.ended ? "true" : "false");
	bool whole = s.have_source && lost == 0 && s.bad == 0;
	return whole ? GUEST_EXIT_OK : GUEST_EXIT_FAILURE;
}

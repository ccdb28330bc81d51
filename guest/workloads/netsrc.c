/* Runs in the guest: netsrc --count N --size BYTES [--rate PPS]
 * [--dst MAC|broadcast] [--window N] [--timeout S] [--tx-delay US]
 * [--batch "policy=..."]. Streams N numbered frames of the test stream
 * (net/net.h) to a netsink over the pvnet NIC, then a few END frames.
 *
 * It streams only after a sink said HELLO, so a source that boots first
 * waits instead of sending into the void. A window of frames in flight,
 * opened by the sink's CREDIT frames, keeps the sink's RX ring from
 * overflowing (hv drops what does not fit), so "as fast as possible" means
 * as fast as the sink takes frames. It prints the checksum the sink must
 * compute if the whole stream arrives in order. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot/boot.h"
#include "clock/clock.h"
#include "net/net.h"
#include "tool/tool.h"

#define END_FRAMES     3 /* the sink needs one; a few cost nothing */
#define WINDOW_MIN     32
#define WINDOW_MAX     224       /* below the sink's 256 RX slots, with room for START and END */
#define WINDOW_POLL_NS 10000000u /* re-check the window (and the timeout) every 10 ms */

struct options {
	long count;
	long size;
	long rate;   /* frames per second; 0: as fast as the window allows */
	long window; /* frames in flight beyond the sink's credit; 0: no flow control */
	double timeout;
	long tx_delay_us;
	bool have_dst;
	uint8_t dst[NET_MAC_LEN];
	char batch[160];
};

static const uint8_t broadcast_mac[NET_MAC_LEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
static uint8_t frame[NET_FRAME_MAX], incoming[NET_FRAME_MAX];
static uint8_t sink_mac[NET_MAC_LEN];
static bool have_sink;
static uint32_t credit; /* DATA frames the sink has taken off its ring */
static uint64_t credit_tsc;

static int usage(const char *problem, const char *argument)
{
	fprintf(stderr, "netsrc: %s%s%s\n", problem, argument ? ": " : "",
	        argument ? argument : "");
	fprintf(
	    stderr,
	    "usage: netsrc --count N --size BYTES [--rate PPS] [--dst MAC|broadcast]\n"
	    "              [--window N] [--timeout S] [--tx-delay US] [--batch \"policy=...\"]\n"
	    "  --count N        DATA frames to send, 1..10000000\n"
	    "  --size BYTES     frame length with the Ethernet header, %d..%d\n"
	    "  --rate PPS       frames per second, 1..10000000 (default: as fast as it goes)\n"
	    "  --dst MAC        where DATA goes, aa:bb:cc:dd:ee:ff or broadcast\n"
	    "                   (default: the sink that said HELLO)\n"
	    "  --window N       frames in flight, %d..%d, 0: no flow control (default 128)\n"
	    "  --timeout S      give up when the sink is silent that long (default 30)\n"
	    "  --tx-delay US    hold TX kicks back up to US microseconds (default 0)\n"
	    "  --batch TEXT     hv's interrupt batching, e.g. \"policy=fixed-time tbuf=1ms\"\n",
	    STREAM_MIN_FRAME, NET_FRAME_MAX, WINDOW_MIN, WINDOW_MAX);
	return GUEST_EXIT_USAGE;
}

/* Accepts "--count 8" and "--count=8". Returns 0 or the exit status. */
static int parse_options(int argc, char **argv, struct options *o)
{
	*o = (struct options){.window = 128, .timeout = 30};
	for (int i = 1; i < argc; i++) {
		enum arg_batch_result batch = arg_batch(argc, argv, &i, o->batch, sizeof o->batch);
		if (batch == ARG_BATCH_BAD)
			return usage("--batch wants a short text like",
			             "policy=fixed-time,tbuf=1ms");
		if (batch == ARG_BATCH_TAKEN)
			continue;
		char *name = argv[i], *value;
		if (strncmp(name, "--", 2) != 0)
			return usage("unexpected argument", name);
		if (!arg_value(argc, argv, &i, &value))
			return usage("missing value after", name);
		if (strcmp(name, "--count") == 0) {
			if (!arg_whole(value, 1, 10000000, &o->count))
				return usage("--count wants 1..10000000, not", value);
		} else if (strcmp(name, "--size") == 0) {
			if (!arg_whole(value, STREAM_MIN_FRAME, NET_FRAME_MAX, &o->size))
				return usage("--size wants 34..1514 bytes, not", value);
		} else if (strcmp(name, "--rate") == 0) {
			if (!arg_whole(value, 1, 10000000, &o->rate))
				return usage("--rate wants 1..10000000 frames per second, not",
				             value);
		} else if (strcmp(name, "--window") == 0) {
			if (!arg_whole(value, 0, WINDOW_MAX, &o->window) ||
			    (o->window && o->window < WINDOW_MIN))
				return usage("--window wants 0 or 32..224, not", value);
		} else if (strcmp(name, "--timeout") == 0) {
			if (!arg_number(value, 0.1, 3600, &o->timeout))
				return usage("--timeout wants 0.1..3600 seconds, not", value);
		} else if (strcmp(name, "--tx-delay") == 0) {
			if (!arg_whole(value, 0, 1000000, &o->tx_delay_us))
				return usage("--tx-delay wants 0..1000000 microseconds, not",
				             value);
		} else if (strcmp(name, "--dst") == 0) {
			o->have_dst = true;
			if (strcmp(value, "broadcast") == 0)
				memcpy(o->dst, broadcast_mac, NET_MAC_LEN);
			else if (!net_parse_mac(value, o->dst))
				return usage("--dst wants aa:bb:cc:dd:ee:ff or broadcast, not",
				             value);
		} else {
			return usage("unknown option", name);
		}
	}
	if (!o->count)
		return usage("missing option", "--count");
	if (!o->size)
		return usage("missing option", "--size");
	return 0;
}

static uint64_t seconds_to_ticks(double seconds)
{
	return (uint64_t)(seconds * (double)tsc_hz());
}

static void send_control(const uint8_t *to, enum stream_type type, uint32_t seq, uint32_t total)
{
	stream_build(frame, STREAM_MIN_FRAME, to, type, seq, total);
	net_send(frame, STREAM_MIN_FRAME);
}

/* A HELLO gets a START (every time: the sink repeats HELLO until one
 * arrives); a CREDIT from our sink opens the window. */
static void handle(size_t length, const struct options *o)
{
	enum stream_type type;
	const struct stream_header *header = stream_parse(incoming, length, &type);
	const uint8_t *sender = incoming + NET_MAC_LEN;
	if (!header)
		return;
	if (type == STREAM_HELLO) {
		if (!have_sink) {
			memcpy(sink_mac, sender, NET_MAC_LEN);
			have_sink = true;
			credit_tsc = tsc_read();
		}
		send_control(sender, STREAM_START, (uint32_t)o->size, (uint32_t)o->count);
	} else if (type == STREAM_CREDIT && have_sink &&
	           memcmp(sender, sink_mac, NET_MAC_LEN) == 0) {
		if ((int32_t)(header->seq - credit) > 0) {
			credit = header->seq;
			credit_tsc = tsc_read();
		}
	}
}

/* Handles everything that arrived, waiting up to timeout_ns for the first. */
static void poll_sink(uint64_t timeout_ns, const struct options *o)
{
	size_t length = net_recv(incoming, sizeof incoming, timeout_ns);
	while (length) {
		handle(length, o);
		length = net_recv(incoming, sizeof incoming, 0);
	}
}

static bool wait_for_sink(const struct options *o)
{
	uint64_t start = tsc_read(), limit = seconds_to_ticks(o->timeout);
	while (!have_sink) {
		uint64_t waited = tsc_read() - start;
		if (waited >= limit)
			return false;
		poll_sink(tsc_ticks_to_ns(limit - waited), o);
	}
	char text[18];
	net_format_mac(sink_mac, text);
	printf("netsrc: sink %s said HELLO after %llu ms\n", text,
	       (unsigned long long)(tsc_ticks_to_ns(tsc_read() - start) / 1000000));
	return true;
}

/* Waits until seq fits in the window; false when the sink went silent. */
static bool wait_for_window(uint32_t seq, const struct options *o)
{
	uint64_t limit = seconds_to_ticks(o->timeout);
	while (o->window && seq - credit >= (uint32_t)o->window) {
		if (tsc_read() - credit_tsc >= limit)
			return false;
		poll_sink(WINDOW_POLL_NS, o);
	}
	return true;
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
	net_set_tx_delay_ns((uint64_t)o.tx_delay_us * 1000);

	if (!wait_for_sink(&o)) {
		printf("netsrc: no sink said HELLO within %g s\n", o.timeout);
		return GUEST_EXIT_FAILURE;
	}
	const uint8_t *dst = o.have_dst ? o.dst : sink_mac;
	size_t payload_length = (size_t)o.size - STREAM_MIN_FRAME;
	uint64_t checksum = STREAM_CHECKSUM_INIT;
	uint64_t start = tsc_read(), window_waits = 0;
	bool stalled = false;
	uint32_t sent = 0;
	for (; sent < (uint32_t)o.count; sent++) {
		if (o.window && sent - credit >= (uint32_t)o.window) {
			window_waits++;
			if (!wait_for_window(sent, &o)) {
				stalled = true;
				break;
			}
		}
		if (o.rate) {
			uint64_t due = start + (uint64_t)sent * tsc_hz() / (uint64_t)o.rate;
			for (uint64_t now; (now = tsc_read()) < due;)
				poll_sink(tsc_ticks_to_ns(due - now), &o);
		} else {
			poll_sink(0, &o); /* take CREDITs and HELLOs as they come */
		}
		stream_build(frame, (size_t)o.size, dst, STREAM_DATA, sent, (uint32_t)o.count);
		checksum =
		    stream_checksum(checksum, sent, frame + STREAM_MIN_FRAME, payload_length);
		net_send(frame, (size_t)o.size);
	}
	stream_send_end(dst, sent, (uint32_t)o.count, END_FRAMES);
	double seconds = (double)tsc_ticks_to_ns(tsc_read() - start) / 1e9;
	double rate = seconds > 0 ? sent / seconds : 0;

	if (stalled)
		printf("netsrc: the sink took no frame for %g s (credit %u, %u sent): giving up\n",
		       o.timeout, credit, sent);
	const struct net_counters *c = net_counters();
	printf("netsrc: sent %u frames of %ld bytes in %.0f ms (%.0f frames/s)\n", sent, o.size,
	       seconds * 1000, rate);
	printf(
	    "netsrc: stream checksum 0x%016llx, %llu kicks, %llu interrupts, %llu window waits\n",
	    (unsigned long long)checksum, (unsigned long long)c->kicks,
	    (unsigned long long)c->interrupts, (unsigned long long)window_waits);
	printf(
	    "@ {\"ev\":\"netsrc\",\"sent\":%u,\"size\":%ld,\"bytes\":%llu,\"seconds\":%.6f,"
	    "\"frames_per_s\":%.1f,\"checksum\":\"0x%016llx\",\"kicks\":%llu,\"interrupts\":%llu,"
	    "\"window_waits\":%llu,\"complete\":%s}\n",
	    sent, o.size, (unsigned long long)sent * (unsigned long long)o.size, seconds, rate,
	    (unsigned long long)checksum, (unsigned long long)c->kicks,
	    (unsigned long long)c->interrupts, (unsigned long long)window_waits,
	    stalled ? "false" : "true");
	return stalled ? GUEST_EXIT_FAILURE : GUEST_EXIT_OK;
}

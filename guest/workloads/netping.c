/* Runs in the guest: a ping-pong latency probe over the pvnet NIC.
 *
 *   netping --echo [--count N] [--timeout S] [--batch "policy=..."]
 *   netping [--to MAC] --count N [--size BYTES] [--interval-us U]
 *           [--reply-timeout-ms MS] [--max-lost N] [--timeout S]
 *           [--batch "policy=..."]
 *
 * The probe sends one PING (net/net.h), waits for its PONG, and only then
 * sends the next, so each round trip is measured alone: guest TSC at send
 * to guest TSC when the PONG is taken off the ring, the NIC's interrupt
 * and the wake-up from HLT included. A probe whose PONG does not come
 * within the reply timeout is lost; a PONG that comes later is counted as
 * late and ignored. It reports min/p50/p90/p99/max in microseconds of the
 * guest's TSC (under bochs that is emulated time).
 *
 * The echo sends every PING back as it came. It stops at the probe's END,
 * after N probes, or when nobody has pinged it for --timeout seconds. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot/boot.h"
#include "clock/clock.h"
#include "net/net.h"
#include "tool/tool.h"

#define COUNT_MAX  100000 /* one RTT sample (8 bytes) kept per probe */
#define END_FRAMES 3      /* the echo needs one; a few survive a lossy link */

struct options {
	bool echo;
	long count;
	long size;
	long interval_us;
	long max_lost; /* the probe still succeeds with this many lost */
	struct peer_options peer;
	char batch[160];
};

static uint8_t frame[NET_FRAME_MAX];

static int usage(const char *problem, const char *argument)
{
	fprintf(stderr, "netping: %s%s%s\n", problem, argument ? ": " : "",
	        argument ? argument : "");
	fprintf(stderr,
	        "usage: netping --echo [--count N] [--timeout S] [--batch \"policy=...\"]\n"
	        "       netping [--to MAC] --count N [--size BYTES] [--interval-us U]\n"
	        "               [--reply-timeout-ms MS] [--max-lost N] [--timeout S]\n"
	        "               [--batch \"policy=...\"]\n"
	        "  --echo                 send PINGs back (default: probe)\n"
	        "  --count N              probes to send, or with --echo to answer, 1..%d\n"
	        "  --size BYTES           PING frame length with the Ethernet header, %d..%d\n"
	        "                         (default 64)\n"
	        "  --interval-us U        from one PING to the next at least, 0..10000000 (default "
	        "0)\n"
	        "  --max-lost N           exit 0 with up to N probes lost (default 0), for runs\n"
	        "                         that expect some, e.g. across a "
	        "migration\n" PEER_OPTIONS_USAGE STREAM_BATCH_USAGE,
	        COUNT_MAX, STREAM_MIN_FRAME, NET_FRAME_MAX);
	return GUEST_EXIT_USAGE;
}

/* Accepts "--count 8" and "--count=8". Returns 0 or the exit status. */
static int parse_options(int argc, char **argv, struct options *o)
{
	*o = (struct options){.size = 64, .peer = PEER_OPTIONS_DEFAULT};
	for (int i = 1; i < argc; i++) {
		enum arg_batch_result batch = arg_batch(argc, argv, &i, o->batch, sizeof o->batch);
		if (batch == ARG_BATCH_BAD)
			return usage("--batch wants a short text like",
			             "policy=fixed-time,tbuf=1ms");
		if (batch == ARG_BATCH_TAKEN)
			continue;
		if (strcmp(argv[i], "--echo") == 0) {
			o->echo = true;
			continue;
		}
		if (strncmp(argv[i], "--", 2) != 0)
			return usage("unexpected argument", argv[i]);
		char *name = argv[i], *value;
		if (!arg_value(argc, argv, &i, &value))
			return usage("missing value after", name);
		bool taken;
		const char *complaint = peer_option(&o->peer, name, value, &taken);
		if (complaint)
			return usage(complaint, value);
		if (taken)
			continue;
		if (strcmp(name, "--count") == 0) {
			if (!arg_whole(value, 1, COUNT_MAX, &o->count))
				return usage("--count wants 1..100000, not", value);
		} else if (strcmp(name, "--size") == 0) {
			if (!arg_whole(value, STREAM_MIN_FRAME, NET_FRAME_MAX, &o->size))
				return usage("--size wants 34..1514 bytes, not", value);
		} else if (strcmp(name, "--interval-us") == 0) {
			if (!arg_whole(value, 0, 10000000, &o->interval_us))
				return usage("--interval-us wants 0..10000000, not", value);
		} else if (strcmp(name, "--max-lost") == 0) {
			if (!arg_whole(value, 0, COUNT_MAX, &o->max_lost))
				return usage("--max-lost wants 0..100000, not", value);
		} else {
			return usage("unknown option", name);
		}
	}
	if (!o->echo && !o->count)
		return usage("missing option", "--count");
	if (o->echo && o->peer.have_to)
		return usage("--to is for the probe: an echo answers whoever pings it", NULL);
	return 0;
}

/* ---- the echo ---- */

static int run_echo(const struct options *o)
{
	struct peer_service echo = {.echo_limit = (uint64_t)o->count};
	printf("netping: echo ready\n");
	peer_serve(&echo, o->peer.timeout);
	printf("netping: echoed %llu PINGs (and %llu readiness checks), ended by %s, %llu other "
	       "frames ignored\n",
	       (unsigned long long)echo.echoes, (unsigned long long)echo.readiness_checks,
	       echo.ended, (unsigned long long)echo.other);
	printf("@ {\"ev\":\"netping\",\"mode\":\"echo\",\"echoed\":%llu,\"readiness_checks\":%llu,"
	       "\"other\":%llu,\"ended\":\"%s\",\"interrupts\":%llu,\"kicks\":%llu}\n",
	       (unsigned long long)echo.echoes, (unsigned long long)echo.readiness_checks,
	       (unsigned long long)echo.other, echo.ended,
	       (unsigned long long)net_counters()->interrupts,
	       (unsigned long long)net_counters()->kicks);
	return echo.echoes > 0 ? GUEST_EXIT_OK : GUEST_EXIT_FAILURE;
}

/* ---- the probe ---- */

struct probe_counts {
	uint64_t replies, lost;
	uint64_t late;    /* PONG of an earlier probe (lost by then) or of a readiness check */
	uint64_t bad;     /* a PONG from the echo with the wrong length, seq or payload */
	uint64_t foreign; /* not a PONG, or not from the echo */
};

/* Waits for the PONG of probe seq until deadline (TSC). True when it came;
 * every other frame is counted and ignored. */
static bool await_pong(const uint8_t *echo, uint32_t seq, const struct options *o,
                       uint64_t deadline, struct probe_counts *c)
{
	for (uint64_t now; (now = tsc_read()) < deadline;) {
		size_t length = net_recv(frame, sizeof frame, tsc_ticks_to_ns(deadline - now));
		if (!length)
			continue;
		enum stream_type type;
		const struct stream_header *header = stream_parse(frame, length, &type);
		if (!header || type != STREAM_PONG ||
		    memcmp(frame + NET_MAC_LEN, echo, NET_MAC_LEN) != 0) {
			c->foreign++;
		} else if (header->total == 0 || (header->total == (uint32_t)o->count &&
		                                  header->seq < seq && length == (size_t)o->size)) {
			c->late++;
		} else if (header->seq != seq || header->total != (uint32_t)o->count ||
		           length != (size_t)o->size ||
		           !stream_payload_ok(frame + STREAM_MIN_FRAME, length - STREAM_MIN_FRAME,
		                              seq)) {
			c->bad++;
		} else {
			return true;
		}
	}
	return false;
}

static int run_probe(const struct options *o)
{
	uint8_t echo[NET_MAC_LEN];
	char mac_text[18];
	if (!peer_find(&o->peer, "netping", echo))
		return GUEST_EXIT_FAILURE;
	net_format_mac(echo, mac_text);
	printf("netping: %ld probes of %ld bytes to %s\n", o->count, o->size, mac_text);

	uint64_t *rtt = calloc((size_t)o->count, sizeof *rtt);
	if (!rtt) {
		printf("netping: no memory for %ld samples\n", o->count);
		return GUEST_EXIT_FAILURE;
	}
	struct probe_counts c = {0};
	uint64_t reply_ticks = ns_to_tsc_ticks((uint64_t)o->peer.reply_timeout_ms * 1000000);
	uint64_t interval_ticks = ns_to_tsc_ticks((uint64_t)o->interval_us * 1000);
	uint64_t run_start = tsc_read();
	for (uint32_t seq = 0; seq < (uint32_t)o->count; seq++) {
		uint64_t due = run_start + seq * interval_ticks;
		if (tsc_read() < due)
			sleep_until_tsc(due);
		stream_build(frame, (size_t)o->size, echo, STREAM_PING, seq, (uint32_t)o->count);
		uint64_t sent = tsc_read();
		net_send(frame, (size_t)o->size);
		if (await_pong(echo, seq, o, sent + reply_ticks, &c))
			rtt[c.replies++] = tsc_read() - sent;
		else
			c.lost++;
	}
	double seconds = (double)tsc_ticks_to_ns(tsc_read() - run_start) / 1e9;
	stream_send_end(echo, (uint32_t)o->count, (uint32_t)o->count, END_FRAMES);

	struct latency_summary s;
	latency_summarize(rtt, c.replies, &s);
	char percentiles[256];
	latency_json(&s, percentiles, sizeof percentiles);
	printf("netping: %llu/%ld replies, %llu lost, rtt min/p50/p90/p99/max %.1f/%.1f/%.1f/%.1f/"
	       "%.1f us (guest TSC; emulated time under bochs)\n",
	       (unsigned long long)c.replies, o->count, (unsigned long long)c.lost, s.min_us,
	       s.p50_us, s.p90_us, s.p99_us, s.max_us);
	printf("netping: %llu late, %llu bad, %llu other frames ignored\n",
	       (unsigned long long)c.late, (unsigned long long)c.bad,
	       (unsigned long long)c.foreign);
	printf("@ {\"ev\":\"netping\",\"mode\":\"probe\",\"to\":\"%s\",\"count\":%ld,\"size\":%ld,"
	       "\"interval_us\":%ld,\"replies\":%llu,\"lost\":%llu,\"late\":%llu,\"bad\":%llu,"
	       "\"other\":%llu,%s,\"seconds\":%.6f,\"time\":\"guest-tsc\",\"tsc_hz\":%llu,"
	       "\"interrupts\":%llu,\"kicks\":%llu}\n",
	       mac_text, o->count, o->size, o->interval_us, (unsigned long long)c.replies,
	       (unsigned long long)c.lost, (unsigned long long)c.late, (unsigned long long)c.bad,
	       (unsigned long long)c.foreign, percentiles, seconds, (unsigned long long)tsc_hz(),
	       (unsigned long long)net_counters()->interrupts,
	       (unsigned long long)net_counters()->kicks);
	free(rtt);
	return c.lost <= (uint64_t)o->max_lost ? GUEST_EXIT_OK : GUEST_EXIT_FAILURE;
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
	return o.echo ? run_echo(&o) : run_probe(&o);
}

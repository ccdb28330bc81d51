/* Runs in the guest: request/response over the pvnet NIC, a web server and
 * its load generator in miniature.
 *
 *   netrr --server [--reply-bytes B] [--timeout S] [--batch "policy=..."]
 *   netrr --client [--to MAC] --requests N [--request-bytes B] [--reply-bytes B]
 *         [--rate R] [--concurrency C] [--reply-timeout-ms MS] [--timeout S]
 *         [--batch "policy=..."]
 *
 * The client sends REQUEST frames (net/net.h) and the server answers each
 * with a RESPONSE of the size asked for (or its own --reply-bytes). Closed
 * loop by default: C requests outstanding, a new one as soon as one
 * completes. With --rate, open loop: request k is due at k/R s, with at
 * most C outstanding; its response time counts from when it was due, not
 * from when it could go out, so a server that falls behind shows in the
 * percentiles instead of slowing the load down (coordinated omission).
 *
 * A request without a valid response within the reply timeout is lost;
 * its response, if it comes later, is counted as late. The client reports
 * response-time percentiles in microseconds of the guest's TSC (under bochs
 * that is emulated time), completed and lost requests, and throughput. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot/boot.h"
#include "clock/clock.h"
#include "net/net.h"
#include "tool/tool.h"

#define REQUESTS_MAX    100000 /* 17 bytes of state kept per request */
#define CONCURRENCY_MAX 128    /* below the server's 256 RX slots */
#define END_FRAMES      3      /* the server needs one; a few survive a lossy link */

struct options {
	bool server, client;
	long requests;
	long request_bytes;
	long reply_bytes; /* client: asked for; server: answered whatever is asked, 0: as asked */
	long rate;        /* requests per second; 0: closed loop */
	long concurrency;
	struct peer_options peer;
	char batch[160];
};

static uint8_t frame[NET_FRAME_MAX], reply[NET_FRAME_MAX];

static int usage(const char *problem, const char *argument)
{
	fprintf(stderr, "netrr: %s%s%s\n", problem, argument ? ": " : "", argument ? argument : "");
	fprintf(
	    stderr,
	    "usage: netrr --server [--reply-bytes B] [--timeout S] [--batch \"policy=...\"]\n"
	    "       netrr --client [--to MAC] --requests N [--request-bytes B] [--reply-bytes B]\n"
	    "             [--rate R] [--concurrency C] [--reply-timeout-ms MS] [--timeout S]\n"
	    "             [--batch \"policy=...\"]\n"
	    "  --requests N           requests to make, 1..%d\n"
	    "  --request-bytes B      REQUEST frame length with the Ethernet header, %d..%d\n"
	    "                         (default 64)\n"
	    "  --reply-bytes B        RESPONSE frame length, %d..%d (default 64); a server\n"
	    "                         given one answers that size whatever is asked\n"
	    "  --rate R               open loop: R requests per second, 1..1000000\n"
	    "                         (default: closed loop)\n"
	    "  --concurrency C        requests outstanding at most, 1..%d (default 1, or 32\n"
	    "                         with --rate)\n" PEER_OPTIONS_USAGE STREAM_BATCH_USAGE,
	    REQUESTS_MAX, STREAM_MIN_FRAME, NET_FRAME_MAX, STREAM_MIN_FRAME, NET_FRAME_MAX,
	    CONCURRENCY_MAX);
	return GUEST_EXIT_USAGE;
}

/* Accepts "--requests 8" and "--requests=8". Returns 0 or the exit status. */
static int parse_options(int argc, char **argv, struct options *o)
{
	*o = (struct options){.request_bytes = 64, .peer = PEER_OPTIONS_DEFAULT};
	bool have_reply_bytes = false;
	const char *client_option = NULL; /* the first option only a client takes */
	for (int i = 1; i < argc; i++) {
		enum arg_batch_result batch = arg_batch(argc, argv, &i, o->batch, sizeof o->batch);
		if (batch == ARG_BATCH_BAD)
			return usage("--batch wants a short text like",
			             "policy=fixed-time,tbuf=1ms");
		if (batch == ARG_BATCH_TAKEN)
			continue;
		if (strcmp(argv[i], "--server") == 0 || strcmp(argv[i], "--client") == 0) {
			o->server |= strcmp(argv[i], "--server") == 0;
			o->client |= strcmp(argv[i], "--client") == 0;
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
		if (strcmp(name, "--reply-bytes") != 0 && strcmp(name, "--timeout") != 0 &&
		    !client_option)
			client_option = name;
		if (taken)
			continue;
		if (strcmp(name, "--requests") == 0) {
			if (!arg_whole(value, 1, REQUESTS_MAX, &o->requests))
				return usage("--requests wants 1..100000, not", value);
		} else if (strcmp(name, "--request-bytes") == 0) {
			if (!arg_whole(value, STREAM_MIN_FRAME, NET_FRAME_MAX, &o->request_bytes))
				return usage("--request-bytes wants 34..1514, not", value);
		} else if (strcmp(name, "--reply-bytes") == 0) {
			have_reply_bytes = true;
			if (!arg_whole(value, STREAM_MIN_FRAME, NET_FRAME_MAX, &o->reply_bytes))
				return usage("--reply-bytes wants 34..1514, not", value);
		} else if (strcmp(name, "--rate") == 0) {
			if (!arg_whole(value, 1, 1000000, &o->rate))
				return usage("--rate wants 1..1000000 requests per second, not",
				             value);
		} else if (strcmp(name, "--concurrency") == 0) {
			if (!arg_whole(value, 1, CONCURRENCY_MAX, &o->concurrency))
				return usage("--concurrency wants 1..128, not", value);
		} else {
			return usage("unknown option", name);
		}
	}
	if (o->server == o->client)
		return usage("say one of", "--server or --client");
	if (o->client && !o->requests)
		return usage("missing option", "--requests");
	if (o->server && client_option)
		return usage("a server takes only --reply-bytes, --timeout and --batch, not",
		             client_option);
	if (o->client && !have_reply_bytes)
		o->reply_bytes = 64;
	if (o->client && !o->concurrency)
		o->concurrency = o->rate ? 32 : 1;
	return 0;
}

/* ---- the server ---- */

static struct {
	long reply_bytes; /* --reply-bytes: this size whatever is asked; 0: as asked */
	uint64_t bad;     /* REQUESTs with a damaged payload or an impossible size */
	uint64_t reply_bytes_sent;
} server;

/* A REQUEST is answered when it is whole: the payload of its seq and a
 * RESPONSE size that can be sent. */
static enum peer_answer answer_request(uint8_t *frame, size_t length, enum stream_type type,
                                       const struct stream_header *header)
{
	if (type != STREAM_REQUEST)
		return PEER_IGNORED;
	if (header->total < STREAM_MIN_FRAME || header->total > NET_FRAME_MAX ||
	    !stream_payload_ok(frame + STREAM_MIN_FRAME, length - STREAM_MIN_FRAME, header->seq)) {
		server.bad++;
		return PEER_IGNORED;
	}
	uint32_t size = server.reply_bytes ? (uint32_t)server.reply_bytes : header->total;
	stream_build(reply, size, frame + NET_MAC_LEN, STREAM_RESPONSE, header->seq, size);
	net_send(reply, size);
	server.reply_bytes_sent += size;
	return PEER_ANSWERED;
}

static int run_server(const struct options *o)
{
	struct peer_service service = {.answer = answer_request};
	server.reply_bytes = o->reply_bytes;
	printf("netrr: server ready\n");
	peer_serve(&service, o->peer.timeout);
	uint64_t other = service.other - server.bad; /* answer_request counted those apart */
	printf("netrr: served %llu requests (%llu reply bytes), %llu readiness checks, %llu bad "
	       "requests, %llu other frames; ended by %s\n",
	       (unsigned long long)service.answered, (unsigned long long)server.reply_bytes_sent,
	       (unsigned long long)service.readiness_checks, (unsigned long long)server.bad,
	       (unsigned long long)other, service.ended);
	printf("@ {\"ev\":\"netrr\",\"mode\":\"server\",\"served\":%llu,\"reply_bytes\":%llu,"
	       "\"readiness_checks\":%llu,\"bad\":%llu,\"other\":%llu,\"ended\":\"%s\","
	       "\"interrupts\":%llu,\"kicks\":%llu}\n",
	       (unsigned long long)service.answered, (unsigned long long)server.reply_bytes_sent,
	       (unsigned long long)service.readiness_checks, (unsigned long long)server.bad,
	       (unsigned long long)other, service.ended,
	       (unsigned long long)net_counters()->interrupts,
	       (unsigned long long)net_counters()->kicks);
	return service.answered > 0 ? GUEST_EXIT_OK : GUEST_EXIT_FAILURE;
}

/* ---- the client ---- */

enum request_state { NOT_SENT, OUTSTANDING, COMPLETED, LOST };

static struct {
	uint8_t server[NET_MAC_LEN];
	uint8_t *state;       /* enum request_state per request */
	uint64_t *start_tsc;  /* when its response time started (due or sent) */
	uint64_t *latency;    /* response times of the completed, in TSC ticks */
	uint32_t next;        /* the next request to send */
	uint32_t oldest;      /* no request below it is outstanding */
	uint32_t outstanding; /* sent, neither completed nor lost */
	uint64_t completed, lost, late, bad, foreign, reply_bytes;
	uint64_t delayed; /* open loop: requests that were due while C were outstanding */
	uint64_t first_tsc, last_tsc;
} c;

/* Takes one frame: a valid RESPONSE completes its request. */
static void take_response(size_t length, const struct options *o)
{
	enum stream_type type;
	const struct stream_header *header = stream_parse(reply, length, &type);
	if (!header || type != STREAM_RESPONSE ||
	    memcmp(reply + NET_MAC_LEN, c.server, NET_MAC_LEN) != 0) {
		if (!(header && type == STREAM_PONG)) /* PONGs: our late readiness checks */
			c.foreign++;
		return;
	}
	uint32_t seq = header->seq;
	if (seq >= (uint32_t)o->requests || length != header->total ||
	    !stream_payload_ok(reply + STREAM_MIN_FRAME, length - STREAM_MIN_FRAME, seq)) {
		c.bad++;
		return;
	}
	if (c.state[seq] != OUTSTANDING) {
		c.late++; /* after its timeout, or a copy of one that completed */
		return;
	}
	uint64_t now = tsc_read();
	c.state[seq] = COMPLETED;
	c.outstanding--;
	c.latency[c.completed++] = now - c.start_tsc[seq];
	c.reply_bytes += length;
	c.last_tsc = now;
}

/* Requests outstanding longer than the reply timeout are lost. They time
 * out in the order they were sent, so only the oldest ones need a look. */
static void expire(uint64_t now, uint64_t reply_ticks)
{
	for (; c.oldest < c.next; c.oldest++) {
		if (c.state[c.oldest] != OUTSTANDING)
			continue;
		if (now - c.start_tsc[c.oldest] < reply_ticks)
			break;
		c.state[c.oldest] = LOST;
		c.outstanding--;
		c.lost++;
	}
}

static uint64_t due_tsc(uint32_t seq, const struct options *o, uint64_t run_start)
{
	return run_start + (uint64_t)seq * tsc_hz() / (uint64_t)o->rate;
}

static void send_request(const struct options *o, uint64_t start)
{
	uint32_t seq = c.next++;
	stream_build(frame, (size_t)o->request_bytes, c.server, STREAM_REQUEST, seq,
	             (uint32_t)o->reply_bytes);
	c.state[seq] = OUTSTANDING;
	c.start_tsc[seq] = start;
	c.outstanding++;
	net_send(frame, (size_t)o->request_bytes);
}

static void run_requests(const struct options *o)
{
	uint32_t total = (uint32_t)o->requests;
	uint64_t reply_ticks = ns_to_tsc_ticks((uint64_t)o->peer.reply_timeout_ms * 1000000);
	uint64_t run_start = tsc_read();
	uint32_t waiting_for_slot = UINT32_MAX;
	c.first_tsc = c.last_tsc = run_start;
	while (c.completed + c.lost < total) {
		uint64_t now = tsc_read();
		expire(now, reply_ticks);
		while (c.next < total && c.outstanding < (uint32_t)o->concurrency) {
			if (!o->rate) {
				send_request(o, tsc_read());
				continue;
			}
			uint64_t due = due_tsc(c.next, o, run_start);
			if (due > now)
				break;
			send_request(o, due);
		}
		if (o->rate && c.next < total && c.outstanding >= (uint32_t)o->concurrency &&
		    due_tsc(c.next, o, run_start) <= now && waiting_for_slot != c.next) {
			waiting_for_slot = c.next; /* due, but all C slots are busy */
			c.delayed++;
		}
		/* Sleep until a response comes, the oldest request times out, or
		 * (open loop, with a free slot) the next request is due. */
		uint64_t wake = now + reply_ticks;
		if (c.oldest < c.next && c.start_tsc[c.oldest] + reply_ticks < wake)
			wake = c.start_tsc[c.oldest] + reply_ticks;
		if (o->rate && c.next < total && c.outstanding < (uint32_t)o->concurrency &&
		    due_tsc(c.next, o, run_start) < wake)
			wake = due_tsc(c.next, o, run_start);
		now = tsc_read();
		size_t length =
		    net_recv(reply, sizeof reply, wake > now ? tsc_ticks_to_ns(wake - now) : 0);
		while (length) {
			take_response(length, o);
			length = net_recv(reply, sizeof reply, 0);
		}
	}
}

static int run_client(const struct options *o)
{
	char mac_text[18];
	if (!peer_find(&o->peer, "netrr", c.server))
		return GUEST_EXIT_FAILURE;
	net_format_mac(c.server, mac_text);
	printf("netrr: %ld requests of %ld bytes for %ld-byte replies to %s, %s, concurrency %ld\n",
	       o->requests, o->request_bytes, o->reply_bytes, mac_text,
	       o->rate ? "open loop" : "closed loop", o->concurrency);
	size_t n = (size_t)o->requests;
	c.state = calloc(n, sizeof *c.state);
	c.start_tsc = calloc(n, sizeof *c.start_tsc);
	c.latency = calloc(n, sizeof *c.latency);
	if (!c.state || !c.start_tsc || !c.latency) {
		printf("netrr: no memory to track %ld requests\n", o->requests);
		return GUEST_EXIT_FAILURE;
	}

	run_requests(o);
	stream_send_end(c.server, c.next, (uint32_t)o->requests, END_FRAMES);

	double seconds = (double)tsc_ticks_to_ns(c.last_tsc - c.first_tsc) / 1e9;
	double per_second = seconds > 0 ? (double)c.completed / seconds : 0;
	double reply_bytes_per_second = seconds > 0 ? (double)c.reply_bytes / seconds : 0;
	struct latency_summary s;
	latency_summarize(c.latency, c.completed, &s);
	char percentiles[256];
	latency_json(&s, percentiles, sizeof percentiles);
	printf("netrr: %llu/%ld completed, %llu lost, response time p50/p90/p99/max "
	       "%.1f/%.1f/%.1f/%.1f us (guest TSC; emulated time under bochs)\n",
	       (unsigned long long)c.completed, o->requests, (unsigned long long)c.lost, s.p50_us,
	       s.p90_us, s.p99_us, s.max_us);
	printf("netrr: %.1f requests/s, %.0f reply bytes/s; %llu late, %llu bad, %llu other "
	       "frames ignored, %llu requests waited for a slot\n",
	       per_second, reply_bytes_per_second, (unsigned long long)c.late,
	       (unsigned long long)c.bad, (unsigned long long)c.foreign,
	       (unsigned long long)c.delayed);
	printf("@ {\"ev\":\"netrr\",\"mode\":\"client\",\"to\":\"%s\",\"requests\":%ld,"
	       "\"request_bytes\":%ld,\"reply_bytes\":%ld,\"rate\":%ld,\"concurrency\":%ld,"
	       "\"completed\":%llu,\"lost\":%llu,\"late\":%llu,\"bad\":%llu,\"other\":%llu,"
	       "\"delayed\":%llu,%s,\"seconds\":%.6f,\"requests_per_s\":%.1f,"
	       "\"reply_bytes_per_s\":%.0f,\"time\":\"guest-tsc\",\"tsc_hz\":%llu,"
	       "\"interrupts\":%llu,\"kicks\":%llu}\n",
	       mac_text, o->requests, o->request_bytes, o->reply_bytes, o->rate, o->concurrency,
	       (unsigned long long)c.completed, (unsigned long long)c.lost,
	       (unsigned long long)c.late, (unsigned long long)c.bad, (unsigned long long)c.foreign,
	       (unsigned long long)c.delayed, percentiles, seconds, per_second,
	       reply_bytes_per_second, (unsigned long long)tsc_hz(),
	       (unsigned long long)net_counters()->interrupts,
	       (unsigned long long)net_counters()->kicks);
	return c.lost == 0 ? GUEST_EXIT_OK : GUEST_EXIT_FAILURE;
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
	return o.server ? run_server(&o) : run_client(&o);
}

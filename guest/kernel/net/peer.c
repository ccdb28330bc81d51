/* Runs in the guest: what the request/answer tools netping and netrr
 * share (net.h): their common options, finding the server, and the
 * server's loop. */
#include <stdio.h>
#include <string.h>

#include "clock/clock.h"
#include "net/net.h"
#include "tool/tool.h"

#define FIND_INTERVAL_NS 100000000u /* a readiness PING every 100 ms */

static const uint8_t broadcast_mac[NET_MAC_LEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

const char *peer_option(struct peer_options *o, const char *name, const char *value, bool *taken)
{
	*taken = true;
	if (strcmp(name, "--to") == 0) {
		o->have_to = true;
		return net_parse_mac(value, o->to) ? NULL : "--to wants aa:bb:cc:dd:ee:ff, not";
	}
	if (strcmp(name, "--reply-timeout-ms") == 0)
		return arg_whole(value, 1, 60000, &o->reply_timeout_ms)
		           ? NULL
		           : "--reply-timeout-ms wants 1..60000, not";
	if (strcmp(name, "--timeout") == 0)
		return arg_number(value, 0.1, 3600, &o->timeout)
		           ? NULL
		           : "--timeout wants 0.1..3600 seconds, not";
	*taken = false;
	return NULL;
}

static bool find(const uint8_t *to, uint64_t limit, uint8_t *peer)
{
	static uint8_t frame[NET_FRAME_MAX];
	uint64_t start = tsc_read(), next_ping = start;
	for (uint32_t pings = 0;;) {
		uint64_t now = tsc_read();
		if (now - start >= limit)
			return false;
		if (now >= next_ping) {
			stream_build(frame, STREAM_MIN_FRAME, to ? to : broadcast_mac, STREAM_PING,
			             pings++, 0);
			net_send(frame, STREAM_MIN_FRAME);
			next_ping = now + ns_to_tsc_ticks(FIND_INTERVAL_NS);
		}
		uint64_t until = next_ping < start + limit ? next_ping : start + limit;
		size_t length = net_recv(frame, sizeof frame, tsc_ticks_to_ns(until - now));
		enum stream_type type;
		const struct stream_header *header = stream_parse(frame, length, &type);
		const uint8_t *sender = frame + NET_MAC_LEN;
		if (header && type == STREAM_PONG && header->total == 0 &&
		    (!to || memcmp(sender, to, NET_MAC_LEN) == 0)) {
			memcpy(peer, sender, NET_MAC_LEN);
			return true;
		}
	}
}

bool peer_find(const struct peer_options *o, const char *tool, uint8_t *peer)
{
	uint64_t start = tsc_read();
	if (!find(o->have_to ? o->to : NULL, (uint64_t)(o->timeout * (double)tsc_hz()), peer)) {
		printf("%s: nobody answered our PING within %g s\n", tool, o->timeout);
		return false;
	}
	char text[18];
	net_format_mac(peer, text);
	printf("%s: %s answered after %llu ms\n", tool, text,
	       (unsigned long long)(tsc_ticks_to_ns(tsc_read() - start) / 1000000));
	return true;
}

void peer_serve(struct peer_service *s, double timeout)
{
	static uint8_t frame[NET_FRAME_MAX];
	uint64_t silence_limit = (uint64_t)(timeout * (double)tsc_hz()), heard = tsc_read();
	uint8_t client[NET_MAC_LEN];
	s->ended = "timeout";
	for (;;) {
		uint64_t quiet = tsc_read() - heard;
		if (quiet >= silence_limit)
			break;
		size_t length =
		    net_recv(frame, sizeof frame, tsc_ticks_to_ns(silence_limit - quiet));
		if (!length)
			continue;
		enum stream_type type;
		const struct stream_header *header = stream_parse(frame, length, &type);
		uint8_t sender[NET_MAC_LEN];
		memcpy(sender, frame + NET_MAC_LEN, NET_MAC_LEN);
		enum peer_answer answer = PEER_IGNORED;
		if (header && type == STREAM_PING) {
			stream_turn_around(frame, STREAM_PONG); /* header->total stays */
			net_send(frame, length);
			heard = tsc_read();
			if (header->total == 0) {
				s->readiness_checks++;
				continue; /* a client to come, not one served yet */
			}
			s->echoes++;
			answer =
			    s->echo_limit && s->echoes >= s->echo_limit ? PEER_DONE : PEER_ANSWERED;
		} else if (header && type == STREAM_END) {
			if (s->served && memcmp(sender, client, NET_MAC_LEN) == 0) {
				s->ended = "end";
				break;
			}
		} else if (header && s->answer) {
			answer = s->answer(frame, length, type, header);
			s->answered += answer != PEER_IGNORED;
		}
		if (answer == PEER_IGNORED) {
			s->other++; /* not ours, or not a frame we answer */
			continue;
		}
		if (!s->served) {
			memcpy(client, sender, NET_MAC_LEN);
			s->served = true;
		}
		heard = tsc_read();
		if (answer == PEER_DONE) {
			s->ended = "done";
			break;
		}
	}
	net_flush();
}

/* Runs in a Linux guest (tools/linux/shim): the guest kernel's network
 * interface as the workloads see it, without a network. The workloads'
 * network modes drive Joulevisor's pvnet or an e1000 themselves (the guest
 * kernel's drivers); under Linux, Linux owns the NICs, so net_attach says
 * so and fails, and a workload that needs it (dirty --echo) ends with a
 * clear line. */
#ifndef JV_SHIM_NET_H
#define JV_SHIM_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NET_FRAME_MAX 1514

enum stream_type {
	STREAM_HELLO = 1,
	STREAM_START = 2,
	STREAM_DATA = 3,
	STREAM_CREDIT = 4,
	STREAM_END = 5,
	STREAM_PING = 6,
	STREAM_PONG = 7,
};

/* False, with one line on stdout: no NIC of ours under Linux. */
bool net_attach(void);
/* Never called after a failed net_attach; they do nothing. */
bool net_send(const void *frame, size_t length);
size_t net_recv(void *buffer, size_t capacity, uint64_t timeout_ns);
void net_flush(void);
const void *stream_parse(const void *frame, size_t length, enum stream_type *type);
void stream_turn_around(void *frame, enum stream_type type);

#endif

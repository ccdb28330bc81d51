/* Runs in the guest: the seam between net.h's API (net.c) and the NIC
 * drivers behind it. net_attach picks one: pvnet.c under Joulevisor, else
 * e1000.c, the Intel 82540EM on the PCI bus (bare metal, or an emulator
 * without a hypervisor). Everything above net.h is the same for both, so
 * the tools measure the same work on both. */
#ifndef GUEST_NET_BACKEND_H
#define GUEST_NET_BACKEND_H

#include "net/net.h"

struct net_backend {
	const char *name; /* "pvnet", "e1000" */
	/* Finds and brings up the NIC and writes its MAC into mac. False,
	 * with one line on stdout saying why, when there is none to use. */
	bool (*attach)(uint8_t *mac);
	/* The operations of net.h, called only once attached; net.c has
	 * already checked the frame's length. */
	bool (*send)(const void *frame, size_t length);
	size_t (*recv)(void *buffer, size_t capacity, uint64_t timeout_ns);
	void (*flush)(void);
	void (*set_tx_delay_ns)(uint64_t ns);
	/* NULL: the backend has no interrupt batching to set. */
	bool (*set_batching)(const char *text);
	const struct net_counters *(*counters)(void);
};

extern const struct net_backend net_backend_pvnet;
extern const struct net_backend net_backend_e1000;

/* Like a NIC's address filter, for frames a backend is handed: true for
 * our MAC and group (bit 0) addresses, false for unicast to another MAC or
 * a runt shorter than an Ethernet header. */
bool net_frame_is_ours(const uint8_t *frame, size_t length);

#endif

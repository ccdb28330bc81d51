/* Runs in the guest: net.h's API over whichever NIC net_attach found
 * (backend.h), and the MAC helpers both backends share. */
#include "net/backend.h"

#include <stdio.h>
#include <string.h>

#include "hyper/hyper.h"

static const struct net_backend *backend; /* NULL until attached */
static uint8_t mac[NET_MAC_LEN];

bool net_attach(void)
{
	if (backend)
		return true;
	/* Under Joulevisor the paravirtual NIC is the only one there is (PCI
	 * configuration ports read all ones); bare, the e1000 is. */
	const struct net_backend *chosen =
	    hyper_is_joulevisor() ? &net_backend_pvnet : &net_backend_e1000;
	if (!chosen->attach(mac))
		return false;
	backend = chosen;
	return true;
}

const char *net_nic_name(void)
{
	return backend ? backend->name : "none";
}

const uint8_t *net_mac(void)
{
	return mac;
}

bool net_send(const void *frame, size_t length)
{
	if (!backend || length < NET_HEADER_LEN || length > NET_FRAME_MAX)
		return false;
	return backend->send(frame, length);
}

size_t net_recv(void *buffer, size_t capacity, uint64_t timeout_ns)
{
	return backend ? backend->recv(buffer, capacity, timeout_ns) : 0;
}

void net_flush(void)
{
	if (backend)
		backend->flush();
}

void net_set_tx_delay_ns(uint64_t ns)
{
	if (backend)
		backend->set_tx_delay_ns(ns);
}

bool net_set_batching(const char *text)
{
	if (!backend)
		return false;
	if (!backend->set_batching) {
		printf("net: no interrupt batching to set: the %s NIC is polled (batching is "
		       "Joulevisor's, --batch needs a VM)\n",
		       backend->name);
		return false;
	}
	return backend->set_batching(text);
}

const struct net_counters *net_counters(void)
{
	static const struct net_counters none;
	return backend ? backend->counters() : &none;
}

bool net_frame_is_ours(const uint8_t *frame, size_t length)
{
	return length >= NET_HEADER_LEN && ((frame[0] & 1) || memcmp(frame, mac, NET_MAC_LEN) == 0);
}

void net_format_mac(const uint8_t *address, char *text)
{
	snprintf(text, 18, "%02x:%02x:%02x:%02x:%02x:%02x", address[0], address[1], address[2],
	         address[3], address[4], address[5]);
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool net_parse_mac(const char *text, uint8_t *address)
{
	for (int i = 0; i < NET_MAC_LEN; i++, text += 3) {
		int high = hex_digit(text[0]), low = hex_digit(text[1]);
		char separator = text[2];
		if (high < 0 || low < 0 || separator != (i == NET_MAC_LEN - 1 ? '\0' : ':'))
			return false;
		address[i] = (uint8_t)(high << 4 | low);
	}
	return true;
}

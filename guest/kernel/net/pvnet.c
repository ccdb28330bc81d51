/* Runs in the guest: the driver of Joulevisor's paravirtual NIC. Every ring
 * access follows include/joulevisor/pvnet.h; the comments here only say
 * where this driver sits in it. We produce on the TX ring and consume on
 * the RX ring, and keep our own copies of the indices we write (tx.prod,
 * rx.cons): the copies in shared memory are for hv to read.
 *
 * It is net.h's backend under Joulevisor (backend.h, net.c).
 *
 * Memory: the kernel maps virtual = physical (mem/mem.h, boot.S), so a
 * pointer into our heap is the guest-physical address hv wants. */
#include "net/backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock/clock.h"
#include "hyper/hyper.h"
#include "joulevisor/pvnet.h"
#include "x86/x86.h"

#define IA32_APIC_BASE    0x1B
#define APIC_BASE_X2APIC  (1u << 10)
#define IA32_TSC_DEADLINE 0x6E0
#define X2APIC_EOI        0x80B
/* PVNET_FRAME_MAX rounded up to a cache line: no two buffers share one. */
#define BUFFER_STRIDE 1536u
/* A wait for TX slots re-checks at least this often, in case a completion
 * interrupt never comes (hv need not send one when it polls). */
#define TX_WAIT_RECHECK_NS 1000000u

static struct pvnet_header *header;
static struct pvnet_desc *tx_ring, *rx_ring;
static uint8_t *tx_buffers, *rx_buffers;
static bool attached;
static bool can_sleep; /* the TSC-deadline timer bounds our HLTs */

static uint32_t tx_prod;          /* our copy of header->tx.prod */
static uint32_t tx_prod_notified; /* tx_prod when we last decided whether to kick */
static uint32_t rx_cons;          /* our copy of header->rx.cons */

static uint64_t tx_delay_ticks;    /* net_set_tx_delay_ns, in TSC ticks */
static uint64_t tx_flush_deadline; /* TSC; 0: no frame held back */

static struct net_counters counters;
static volatile uint64_t interrupts_taken; /* written by the handler */

/* The handler only counts: the frames are taken by whoever waits in
 * net_recv, which the interrupt wakes from HLT. No SSE in here, since the
 * interrupted code's XMM registers are not saved (like timer.c). */
struct interrupt_frame;
__attribute__((interrupt, target("general-regs-only"))) static void
net_interrupt(struct interrupt_frame *frame)
{
	(void)frame;
	interrupts_taken++;
	__asm__ volatile("wrmsr" : : "c"(X2APIC_EOI), "a"(0), "d"(0));
}

static uint8_t *buffer_of(uint8_t *buffers, uint32_t slot)
{
	return buffers + (size_t)slot * BUFFER_STRIDE;
}

static void kick(uint32_t what)
{
	hyper_call(JV_HC_NET_KICK, what, 0, 0);
	counters.kicks++;
}

/* HLT until an interrupt (ours, the timer's) or the TSC deadline (0: none).
 * Called with interrupts off after the caller's last re-check: STI's
 * one-instruction shadow lets an interrupt that became pending since then
 * end the HLT instead of being taken before it (a lost wake-up). */
static void halt_until(uint64_t deadline)
{
	if (!can_sleep) {
		cpu_relax(); /* no timer to bound the HLT: poll */
		return;
	}
	if (deadline)
		wrmsr(IA32_TSC_DEADLINE, deadline);
	enable_interrupts_and_halt();
	interrupts_off();
	if (deadline)
		wrmsr(IA32_TSC_DEADLINE, 0); /* disarm, as sleep_until_tsc does */
}

static bool pvnet_attach(uint8_t *mac)
{
	if (!hyper_is_joulevisor()) {
		printf("net: no pvnet NIC: run under Joulevisor (hypervisor here: %s)\n",
		       hyper_name());
		return false;
	}
	/* hv delivers through the local APIC; the EOI is an x2APIC MSR. */
	if (!(rdmsr(IA32_APIC_BASE) & APIC_BASE_X2APIC)) {
		printf("net: no pvnet NIC: the x2APIC is off (timer: %s)\n", timer_kind());
		return false;
	}
	header = aligned_alloc(PVNET_PAGE_SIZE, PVNET_AREA_SIZE);
	uint8_t *buffers = aligned_alloc(64, 2u * PVNET_RING_SIZE * BUFFER_STRIDE);
	if (!header || !buffers) {
		printf("net: no pvnet NIC: no memory for its rings and buffers\n");
		free(header);
		free(buffers);
		return false;
	}
	memset(header, 0, PVNET_AREA_SIZE);
	header->magic = PVNET_MAGIC;
	header->version = PVNET_VERSION;
	header->ring_size = PVNET_RING_SIZE;
	tx_ring = (struct pvnet_desc *)((uint8_t *)header + PVNET_TX_OFFSET);
	rx_ring = (struct pvnet_desc *)((uint8_t *)header + PVNET_RX_OFFSET);
	tx_buffers = buffers;
	rx_buffers = buffers + (size_t)PVNET_RING_SIZE * BUFFER_STRIDE;

	/* Every RX slot gets an empty buffer. With rx.prod == rx.cons == 0 all
	 * slots are hv's to fill. */
	for (uint32_t slot = 0; slot < PVNET_RING_SIZE; slot++)
		rx_ring[slot] = (struct pvnet_desc){.addr = (uint64_t)buffer_of(rx_buffers, slot),
		                                    .len = PVNET_FRAME_MAX,
		                                    .id = (uint16_t)slot};
	/* Event indices: each consumer asks for its first entry (prod_event =
	 * cons = 0); no producer waits for slots yet, so the cons_events sit
	 * one behind cons, an index that is never passed again. */
	header->tx.prod_event = 0;
	header->rx.prod_event = 0;
	header->tx.cons_event = (uint32_t)-1;
	header->rx.cons_event = (uint32_t)-1;
	tx_prod = tx_prod_notified = rx_cons = 0;

	can_sleep = strcmp(timer_kind(), "x2apic-tsc-deadline") == 0;
	idt_set_handler(NET_VECTOR, (void (*)(void))net_interrupt);
	long result = hyper_call(JV_HC_NET_ATTACH, (uint64_t)header, NET_VECTOR, 0);
	if (result != 0) {
		printf("net: no pvnet NIC: hv refused JV_HC_NET_ATTACH (%ld%s)\n", result,
		       result == -JV_ENOSYS ? ": this Joulevisor has no network" : "");
		free(header);
		free(buffers);
		header = NULL;
		return false;
	}
	memcpy(mac, header->mac, NET_MAC_LEN); /* hv wrote it during the call */
	attached = true;
	char text[18];
	net_format_mac(mac, text);
	printf("net: pvnet attached, MAC %s, vector 0x%x, %u-entry rings\n", text, NET_VECTOR,
	       PVNET_RING_SIZE);
	return true;
}

/* Kick hv if it asked for frames up to the ones published since the last
 * decision (pvnet.h, TX ring: "a batching guest may publish several frames
 * first and decide once"). */
static void tx_notify(void)
{
	pvnet_full_barrier(); /* store tx.prod, then load tx.prod_event */
	uint32_t event = pvnet_load(&header->tx.prod_event);
	if (pvnet_need_event(event, tx_prod, tx_prod_notified))
		kick(PVNET_KICK_TX);
	tx_prod_notified = tx_prod;
	tx_flush_deadline = 0;
}

/* The guest-side TX timer. There is no interrupt for it: it is checked on
 * every net_send and net_recv, and net_recv's HLT ends at the deadline. */
static void tx_check_delay(void)
{
	if (tx_flush_deadline && rdtsc() >= tx_flush_deadline)
		tx_notify();
}

static void pvnet_flush(void)
{
	if (attached && tx_prod != tx_prod_notified)
		tx_notify();
}

static bool tx_ring_full(void)
{
	return tx_prod - pvnet_load(&header->tx.cons) >= PVNET_RING_SIZE;
}

/* The ring is full: make sure hv knows about every frame, ask to be told
 * when it frees a slot (cons_event = cons), re-check, sleep. */
static void tx_wait_for_space(void)
{
	counters.tx_full_waits++;
	tx_notify();
	while (tx_ring_full()) {
		interrupts_off();
		pvnet_store(&header->tx.cons_event, pvnet_load(&header->tx.cons));
		pvnet_full_barrier(); /* store cons_event, then load cons */
		if (tx_ring_full())
			halt_until(rdtsc() + ns_to_tsc_ticks(TX_WAIT_RECHECK_NS));
	}
}

static bool pvnet_send(const void *frame, size_t length)
{
	if (length > PVNET_FRAME_MAX)
		return false;
	if (tx_ring_full())
		tx_wait_for_space();
	pvnet_compiler_barrier(); /* read tx.cons, then reuse the slot it freed */
	uint32_t slot = tx_prod % PVNET_RING_SIZE;
	uint8_t *buffer = buffer_of(tx_buffers, slot);
	memcpy(buffer, frame, length);
	tx_ring[slot] = (struct pvnet_desc){
	    .addr = (uint64_t)buffer, .len = (uint32_t)length, .id = (uint16_t)slot};
	pvnet_compiler_barrier(); /* the descriptor, then the index */
	pvnet_store(&header->tx.prod, ++tx_prod);
	counters.frames_sent++;

	if (tx_delay_ticks == 0) {
		tx_notify();
		return true;
	}
	uint64_t now = rdtsc();
	if (!tx_flush_deadline)
		tx_flush_deadline = now + tx_delay_ticks;
	if (now >= tx_flush_deadline || tx_prod - tx_prod_notified >= PVNET_RING_SIZE / 2)
		tx_notify();
	return true;
}

/* Takes the entry at rx_cons if there is one: copies the frame out (or
 * drops it), re-posts the buffer, moves cons. Returns false when the ring
 * is empty; *length is 0 for a dropped frame. */
static bool rx_take(void *destination, size_t capacity, size_t *length)
{
	if (pvnet_load(&header->rx.prod) == rx_cons)
		return false;
	pvnet_compiler_barrier(); /* the index, then the descriptor */
	uint32_t slot = rx_cons % PVNET_RING_SIZE;
	uint32_t filled = pvnet_load(&rx_ring[slot].len);
	uint8_t *buffer = buffer_of(rx_buffers, slot); /* ours, whatever addr says now */
	*length = 0;
	if (filled == 0 || filled > PVNET_FRAME_MAX) {
		counters.rx_bad_length++;
	} else if (!net_frame_is_ours(buffer, filled)) {
		/* The switch floods unicast it has not learned yet; like a NIC's
		 * address filter we keep only ours and group (bit 0) addresses. */
		counters.rx_not_ours++;
	} else if (filled > capacity) {
		counters.rx_too_long++;
	} else {
		memcpy(destination, buffer, filled);
		*length = filled;
		counters.frames_received++;
	}
	rx_ring[slot] = (struct pvnet_desc){
	    .addr = (uint64_t)buffer, .len = PVNET_FRAME_MAX, .id = (uint16_t)slot};
	pvnet_compiler_barrier(); /* re-post the buffer, then give the slot back */
	uint32_t old_cons = rx_cons;
	pvnet_store(&header->rx.cons, ++rx_cons);
	/* hv waiting for RX slots asks through rx.cons_event. */
	pvnet_full_barrier();
	if (pvnet_need_event(pvnet_load(&header->rx.cons_event), rx_cons, old_cons))
		kick(PVNET_KICK_RX);
	return true;
}

static size_t pvnet_recv(void *buffer, size_t capacity, uint64_t timeout_ns)
{
	uint64_t deadline =
	    timeout_ns == NET_WAIT_FOREVER ? 0 : rdtsc() + ns_to_tsc_ticks(timeout_ns);
	for (;;) {
		tx_check_delay();
		size_t length;
		while (rx_take(buffer, capacity, &length))
			if (length)
				return length; /* leave prod_event behind: we are polling */
		if (timeout_ns == 0 || (deadline && rdtsc() >= deadline))
			return 0;
		/* Drained: re-arm, then re-check (pvnet.h, NAPI style). From here
		 * to the HLT interrupts stay off, so the interrupt for a frame
		 * published after the re-check ends the HLT. */
		interrupts_off();
		pvnet_store(&header->rx.prod_event, rx_cons);
		pvnet_full_barrier(); /* store prod_event, then load prod */
		if (pvnet_load(&header->rx.prod) != rx_cons)
			continue;
		uint64_t wake = deadline;
		if (tx_flush_deadline && (!wake || tx_flush_deadline < wake))
			wake = tx_flush_deadline; /* held-back TX frames are due then */
		halt_until(wake);
	}
}

static void pvnet_set_tx_delay_ns(uint64_t ns)
{
	tx_delay_ticks = ns ? ns_to_tsc_ticks(ns) : 0;
	if (!tx_delay_ticks)
		pvnet_flush();
}

static bool pvnet_set_batching(const char *text)
{
	long result = hyper_call(JV_HC_NET_BATCH, (uint64_t)text, strlen(text), 0);
	if (result != 0) {
		printf("net: hv refused batching \"%s\" (%ld; hv's log says why)\n", text, result);
		return false;
	}
	return true;
}

static const struct net_counters *pvnet_counters(void)
{
	counters.interrupts = interrupts_taken;
	return &counters;
}

const struct net_backend net_backend_pvnet = {
    .name = "pvnet",
    .attach = pvnet_attach,
    .send = pvnet_send,
    .recv = pvnet_recv,
    .flush = pvnet_flush,
    .set_tx_delay_ns = pvnet_set_tx_delay_ns,
    .set_batching = pvnet_set_batching,
    .counters = pvnet_counters,
};

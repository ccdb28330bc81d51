/* Joulevisor paravirtual NIC ("pvnet") ring ABI, shared by hv and the guest
 * driver. Read by code in VM-exit context (hv) and in the guest kernel.
 *
 * ---- Memory ----
 * The guest allocates one page-aligned area of PVNET_AREA_SIZE bytes (three
 * 4 KiB pages) in its own memory and hands its guest-physical address to hv:
 *
 *   +0x0000  struct pvnet_header: magic, MAC, and the indices of both rings
 *   +0x1000  struct pvnet_desc tx[PVNET_RING_SIZE]   guest -> hv
 *   +0x2000  struct pvnet_desc rx[PVNET_RING_SIZE]   hv -> guest
 *
 * Frame buffers live anywhere else in guest memory; a descriptor points at
 * one. A frame is an Ethernet frame without FCS, 1..PVNET_FRAME_MAX bytes.
 *
 * ---- Indices ----
 * Each ring has one producer and one consumer. prod and cons are free-running
 * 32-bit counters: they only ever increase and wrap at 2^32; the slot of
 * index i is desc[i % PVNET_RING_SIZE]. prod - cons (mod 2^32) entries are
 * in the ring and it must never exceed PVNET_RING_SIZE: a pair that breaks
 * this is corrupt and the reader refuses the ring. Slots [cons, prod) belong
 * to the consumer, all other slots to the producer. Each side writes only its
 * own half of struct pvnet_ring_indices (they sit in separate cache lines).
 *
 * ---- Notification suppression (virtio's EVENT_IDX) ----
 * prod_event is written by the consumer: "notify me once prod passes this
 * index". A consumer that wants to hear about the next entry sets
 * prod_event = cons; one that is busy polling leaves it behind. The producer,
 * having moved prod from old to new, notifies iff
 * pvnet_need_event(prod_event, new, old), i.e. iff prod_event lies in
 * [old, new). cons_event is the same the other way round: the producer, when
 * the ring is full, sets cons_event = cons and waits to be told that the
 * consumer freed a slot.
 *
 * TX ring (the guest sends):
 *   guest: writes desc tx[prod % SIZE] = {addr, len, 0, id}; compiler
 *          barrier; prod += 1; full barrier; reads tx.prod_event and kicks
 *          hv (hypercall) if pvnet_need_event() says so. A batching guest
 *          may publish several frames first and decide once.
 *   hv:    reads tx.prod once, checks the index pair; compiler barrier;
 *          copies each descriptor to hv memory before checking it (the guest
 *          may change it under our feet), copies the frame out, then
 *          cons += 1. The buffer is the guest's again once cons passed it.
 * RX ring (the guest receives):
 *   guest: before attaching, fills every rx slot with an empty buffer
 *          {addr, len = capacity (<= PVNET_FRAME_MAX), 0, id}. After handling
 *          the entry at cons it re-posts a buffer in that slot, compiler
 *          barrier, then cons += 1.
 *   hv:    copies the slot's descriptor, checks it, writes the frame into the
 *          buffer if it fits, writes the frame length into desc.len; compiler
 *          barrier; prod += 1; full barrier; reads rx.prod_event to decide
 *          (with the batching policy) whether to inject the interrupt.
 * A consumer that has drained a ring re-arms and re-checks, NAPI style:
 *   prod_event = cons; full barrier; if prod != cons, keep polling.
 * Without the re-check a frame published just before the re-arm would wait
 * for the next one: a lost wake-up.
 *
 * ---- Barriers: why this is enough on x86 ----
 * x86 is TSO: stores become visible in program order and loads are not
 * reordered with older loads, so "write the descriptor, then the index" and
 * "read the index, then the descriptor" need only a compiler barrier (to stop
 * the compiler reordering or caching) plus single, untorn 32-bit accesses
 * (pvnet_load/pvnet_store). The one reordering TSO allows is a load passing
 * an older store (the store buffer), and the event-index handshake is exactly
 * that pattern on both sides (store prod, load prod_event; store prod_event,
 * load prod): there a full barrier (mfence) is needed, else both sides can
 * miss each other. virtio puts its virtio_mb() at the same two points. On
 * Joulevisor today a guest never runs while hv does (one physical CPU), so
 * the fence only matters once they run in parallel; it is cheap, keep it.
 *
 * ---- Hypercalls (suggested numbers; the list of record is hypercall.h) ----
 *   JV_HC_NET_ATTACH = 4  (gpa of the area, interrupt vector) -> 0;
 *                         hv checks magic, version, ring size and that the
 *                         whole area is guest memory, then writes mac[].
 *                         -JV_EFAULT / -JV_EINVAL otherwise.
 *   JV_HC_NET_KICK   = 5  (PVNET_KICK_TX | PVNET_KICK_RX) -> 0: new TX frames,
 *                         or RX slots freed (only needed when hv asked for it
 *                         through rx.cons_event).
 *   JV_HC_NET_BATCH  = 6  (gpa of text, length) -> 0 or -JV_EINVAL: the
 *                         control message of the 2014 adaptive buffering
 *                         study, e.g. "policy=adaptive tbuf=500us".
 */
#ifndef JOULEVISOR_PVNET_H
#define JOULEVISOR_PVNET_H

#include <stdbool.h>
#include <stdint.h>

#define PVNET_MAGIC     0x54454e50u /* "PNET" little-endian */
#define PVNET_VERSION   1u
#define PVNET_RING_SIZE 256u /* entries per ring: a power of two */
#define PVNET_FRAME_MAX 1514u
#define PVNET_PAGE_SIZE 4096u
#define PVNET_AREA_SIZE (3u * PVNET_PAGE_SIZE)
#define PVNET_TX_OFFSET PVNET_PAGE_SIZE
#define PVNET_RX_OFFSET (2u * PVNET_PAGE_SIZE)

/* Bits of the JV_HC_NET_KICK argument. */
#define PVNET_KICK_TX 1u
#define PVNET_KICK_RX 2u

struct pvnet_desc {
	uint64_t addr;  /* guest-physical address of the frame buffer */
	uint32_t len;   /* TX: frame length; RX: capacity when posted, frame length when filled */
	uint16_t flags; /* none defined yet: writers put 0, readers ignore */
	uint16_t id;    /* the guest's own tag for the buffer; hv never reads it */
};

/* One ring's indices. The producer writes the first cache line, the
 * consumer the second. */
struct pvnet_ring_indices {
	uint32_t prod;       /* producer: entries [0, prod) have been published */
	uint32_t cons_event; /* producer: "tell me when cons passes this" */
	uint32_t producer_pad[14];
	uint32_t cons;       /* consumer: entries [0, cons) are done with */
	uint32_t prod_event; /* consumer: "tell me when prod passes this" */
	uint32_t consumer_pad[14];
};

struct pvnet_header {
	uint32_t magic;               /* guest: PVNET_MAGIC */
	uint32_t version;             /* guest: PVNET_VERSION */
	uint32_t ring_size;           /* guest: PVNET_RING_SIZE (the only size hv accepts) */
	uint8_t mac[6];               /* hv, at attach */
	uint8_t reserved[46];         /* pads the ring indices to a cache line */
	struct pvnet_ring_indices tx; /* guest produces, hv consumes */
	struct pvnet_ring_indices rx; /* hv produces, guest consumes */
};

_Static_assert(sizeof(struct pvnet_desc) == 16, "pvnet_desc is 16 bytes");
_Static_assert(sizeof(struct pvnet_ring_indices) == 128, "two cache lines per ring");
_Static_assert(sizeof(struct pvnet_header) == 320, "pvnet_header layout");
_Static_assert(PVNET_RING_SIZE * sizeof(struct pvnet_desc) == PVNET_PAGE_SIZE,
               "one ring of descriptors fills one page");
_Static_assert((PVNET_RING_SIZE & (PVNET_RING_SIZE - 1)) == 0, "ring size is a power of two");

/* Did moving an index from old to new pass event, i.e. is event in
 * [old, new)? Correct across the 2^32 wrap because all three are unsigned
 * and at most 2^31 apart. */
static inline bool pvnet_need_event(uint32_t event, uint32_t new_idx, uint32_t old_idx)
{
	return (uint32_t)(new_idx - event - 1) < (uint32_t)(new_idx - old_idx);
}

/* Index accesses are single 32-bit loads and stores the compiler may not
 * merge, repeat or tear. */
static inline uint32_t pvnet_load(const uint32_t *index)
{
	return *(const volatile uint32_t *)index;
}

static inline void pvnet_store(uint32_t *index, uint32_t value)
{
	*(volatile uint32_t *)index = value;
}

#define pvnet_compiler_barrier() __asm__ __volatile__("" ::: "memory")
#define pvnet_full_barrier()     __asm__ __volatile__("mfence" ::: "memory")

#endif

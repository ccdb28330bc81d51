/* net: the pure core of the paravirtual network. Runs in VM-exit context
 * (and on the host in unit tests): no clock reads, no guest memory mapping,
 * no printing; time comes in as nanoseconds from the caller.
 *
 *   ring.c          checks and arithmetic over a pvnet ring (pvnet.h), and
 *                   net_notify_now(): "interrupt the guest now?"
 *   batch.c         the batching mechanism and the table of policies
 *   batch_*.c       one file per batching policy
 *   vswitch.c       a MAC-learning switch between vNICs and the uplink
 *
 * How a backend uses it, for the RX ring (hv produces, the guest is told by
 * an interrupt):
 *
 *   write the frame and its descriptor, publish new_prod (pvnet.h), fence
 *   flush = batch_packet(&b, NET_RX, now, ring_used(new_prod, cons));
 *   ...or, from the caller's timer armed at batch_next_deadline(&b):
 *   flush = batch_timer(&b, NET_RX, now);
 *   if (net_notify_now(&b, flush, rx.prod_event, new_prod, prod_at_last_flush))
 *           inject the vNIC's vector;
 *   if (flush) prod_at_last_flush = new_prod;
 *
 * For TX the same with NET_TX for every frame hv consumes (so the adaptive
 * policy sees both directions), cons instead of prod and tx.cons_event: the
 * guest asks for TX-completion interrupts only when it waits for slots. The
 * guest driver can run its own batch state for its TX kicks. */
#ifndef HV_NET_H
#define HV_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "joulevisor/pvnet.h"
#include "lib/lib.h"

/* What the caller counts when it refuses something a guest wrote. */
enum net_error {
	NET_OK = 0,
	NET_ERR_RING_CORRUPT, /* prod - cons > PVNET_RING_SIZE */
	NET_ERR_DESC_LEN,     /* length 0 or > PVNET_FRAME_MAX */
	NET_ERR_DESC_ADDR,    /* [addr, addr + len) not inside guest memory */
	NET_ERR_COUNT
};
const char *net_error_name(enum net_error e);

/* ---- ring.c: pure helpers over ring indices ---- */

/* Entries the consumer may take (the caller has checked the pair). */
static inline uint32_t ring_used(uint32_t prod, uint32_t cons)
{
	return prod - cons;
}
/* Free slots the producer may fill. */
static inline uint32_t ring_space(uint32_t prod, uint32_t cons)
{
	return PVNET_RING_SIZE - (prod - cons);
}
static inline uint32_t ring_slot(uint32_t index)
{
	return index & (PVNET_RING_SIZE - 1);
}
/* NET_OK, or NET_ERR_RING_CORRUPT when the pair claims more entries than
 * the ring holds (which includes cons ahead of prod). */
enum net_error ring_check_indices(uint32_t prod, uint32_t cons);
/* Checks a descriptor copied out of the ring against the VM's memory size. */
enum net_error ring_check_desc(const struct pvnet_desc *desc, uint64_t guest_mem_size);
/* Consumer side, after draining a ring: asks to be notified of the next
 * entry (prod_event = cons) and re-checks. Returns true when entries arrived
 * meanwhile: keep polling. The re-check is what keeps a wake-up from being
 * lost. */
bool ring_consumer_rearm(struct pvnet_ring_indices *ring, uint32_t cons);

/* ---- batch.c: when to notify ----
 *
 * The contract between the mechanism (batch.c) and a policy (batch_*.c):
 *
 * - A policy is a `struct batch_policy`: a name, its knobs (a table of
 *   struct knob, lib.h: name, unit, default, range, one line of help) and
 *   the size of its private state. The mechanism parses, checks, formats,
 *   documents and migrates the knobs from that table; the policy reads the
 *   values as s->params.knob[i], i its table's index (batch_knob()).
 * - Its private state is state_size bytes (at most BATCH_STATE_MAX) in
 *   the mechanism's storage, batch_private(s); zeroed, then init() is
 *   called, at attach, at every change of policy or knobs at run time
 *   (`batch`, JV_HC_NET_BATCH: what was pending is flushed first) and on
 *   the destination of a migration (which carries the knobs, not the
 *   state). A policy keeps nothing anywhere else.
 * - on_packet() is called for every packet, after it is counted in
 *   s->dir[dir] (pending, oldest_ns): true notifies now.
 * - deadline() is called only while packets are pending, after every
 *   packet and whenever the caller arms its timer: the ns by which the
 *   batch must go out (always a time: a policy without one has no deadline
 *   hook; a result of 0 is taken as due at once). hv's timer is polled from the
 *   scheduler loop: a deadline fires late by up to a scheduler pass (tens
 *   of us in bochs), never early; a late timer flushes at the next packet.
 * - on_period() is called every s->period_ns (set it in init; 0: never),
 *   before the packet or timer that ends the period.
 * - The mechanism always flushes a ring that is more than half full,
 *   whatever the policy says, and does all the counting.
 * The reference policy is batch_none.c (notify every packet, no knobs); a
 * policy with knobs and state to copy is batch_idle.c (docs/policies.md
 * walks through it). */

enum net_dir { NET_TX = 0, NET_RX = 1, NET_DIRS = 2 };

struct batch_policy;

#define BATCH_KNOBS_MAX KNOBS_MAX
#define BATCH_STATE_MAX 64 /* bytes of private state a policy may declare */
/* The text form of a policy and its knobs, as formatted, fits this. */
#define BATCH_TEXT_MAX 256

/* A policy and the values of its knobs, set by batch_params_parse(). */
struct batch_params {
	const struct batch_policy *policy;
	uint64_t knob[BATCH_KNOBS_MAX]; /* in the order of policy->knobs */
};

/* One direction: the packets not yet notified and the counters. */
struct batch_dir {
	uint32_t pending;                 /* packets produced since the last flush */
	uint64_t oldest_ns;               /* when the first of them was produced */
	uint64_t pending_after_oldest_ns; /* sum of (their time - oldest_ns), for the latency */
	/* counters, always on */
	uint64_t packets;
	uint64_t flushes_policy;    /* the policy said "now" */
	uint64_t flushes_timer;     /* the deadline passed */
	uint64_t flushes_half_full; /* the ring was more than half full */
	uint64_t added_latency_ns;  /* total time packets waited for their flush */
};

struct batch_state {
	const struct batch_policy *policy;
	struct batch_params params;
	struct batch_dir dir[NET_DIRS];
	uint64_t period_ns;     /* set by the policy's init for on_period calls; 0: none */
	uint64_t period_end_ns; /* next on_period call; 0 until the first packet */
	uint64_t periods;
	/* The policy's private state (state_size bytes of it): storage here so
	 * that a policy needs no edit of this struct. */
	_Alignas(8) unsigned char policy_state[BATCH_STATE_MAX];
};

static inline void *batch_private(struct batch_state *s)
{
	return s->policy_state;
}
static inline const void *batch_private_const(const struct batch_state *s)
{
	return s->policy_state;
}
static inline uint64_t batch_knob(const struct batch_state *s, unsigned i)
{
	return s->params.knob[i];
}

/* A batching policy acts only by saying "notify now" or by giving a
 * deadline; the mechanism does the rest (the contract above). Any hook but
 * on_packet may be NULL, knobs too (knob_count 0). */
struct batch_policy {
	const char *name;
	const char *summary; /* one line, for help texts */
	/* false: every flush notifies (the baseline); true: the consumer's event
	 * index may suppress it (it is polling). */
	bool uses_event_index;
	const struct knob *knobs;
	size_t knob_count; /* at most BATCH_KNOBS_MAX */
	size_t state_size; /* at most BATCH_STATE_MAX */
	void (*init)(struct batch_state *s);
	bool (*on_packet)(struct batch_state *s, enum net_dir dir, uint64_t now_ns);
	uint64_t (*deadline)(const struct batch_state *s, enum net_dir dir);
	void (*on_period)(struct batch_state *s);
};

/* The table of policies, one line each: adding a policy is its file
 * hv/net/batch_NAME.c (the build and the unit tests take every
 * hv/net/batch*.c) and its line here. Everything that lists policies (the
 * console, error messages, tests, `make policies`, the experiments) reads
 * batch_policies[]. */
#define BATCH_POLICY_TABLE(X)                                                                      \
	X(batch_none)                                                                              \
	X(batch_napi)                                                                              \
	X(batch_fixed_time)                                                                        \
	X(batch_fixed_count)                                                                       \
	X(batch_qemu_timer)                                                                        \
	X(batch_adaptive)                                                                          \
	X(batch_idle)                                                                              \
	/* one line per policy above this one */

#define BATCH_POLICY_DECLARE(sym) extern const struct batch_policy sym;
BATCH_POLICY_TABLE(BATCH_POLICY_DECLARE)
extern const struct batch_policy *const batch_policies[];
extern const size_t batch_policy_count;
/* NULL when no policy has that name. */
const struct batch_policy *batch_policy_find(const char *name);

/* Policy none (which has no knobs). */
void batch_params_default(struct batch_params *p);
/* "policy=fixed-time tbuf=500us": the policy (default none), then that
 * policy's knobs; knobs not given keep the policy's defaults. Returns 0, or
 * -1 with a one-line reason in err (an unknown policy or knob names the
 * valid ones) and *out untouched. */
int batch_params_parse(const char *text, struct batch_params *out, char *err, size_t err_len);
/* The same text back, every knob of the policy given; returns what
 * fmt_snprintf returns (< BATCH_TEXT_MAX for every policy's values). */
int batch_params_format(const struct batch_params *p, char *buf, size_t size);

/* The same policy with the same value of each of its knobs. */
bool batch_params_equal(const struct batch_params *a, const struct batch_params *b);

void batch_init(struct batch_state *s, const struct batch_params *p);
/* Changes the knobs at run time, keeping the counters. Returns true when
 * packets were pending: they are flushed now, notify. */
bool batch_set_params(struct batch_state *s, const struct batch_params *p, uint64_t now_ns);
/* A packet was produced on dir at now_ns; ring_used is the number of entries
 * in that ring now. Returns true: the batch ends here, notify (through
 * net_notify_now). Always true when the ring is more than half full. */
bool batch_packet(struct batch_state *s, enum net_dir dir, uint64_t now_ns, uint32_t ring_used);
/* When dir's batch must be flushed (ns), or 0 if nothing is pending. */
uint64_t batch_deadline(const struct batch_state *s, enum net_dir dir);
/* The earliest of both directions' deadlines, or 0: when to arm the timer. */
uint64_t batch_next_deadline(const struct batch_state *s);
/* The caller's timer: returns true when dir's deadline has passed (the batch
 * is flushed, notify). Also runs the policy's period. */
bool batch_timer(struct batch_state *s, enum net_dir dir, uint64_t now_ns);

/* What a vNIC's batching carries through a live migration: the policy and
 * every knob as text (parsed on the destination by batch_params_parse, so
 * a knob is never lost or copied by hand) and the counters. Not the timers
 * nor the policy's state: the destination re-initialises the policy, and
 * packets that waited get one interrupt at resume. */
#define BATCH_SAVED_VERSION 2 /* 1 carried fixed fields, before per-policy knobs */
struct batch_saved {
	uint32_t version;
	uint32_t pad;
	char text[BATCH_TEXT_MAX]; /* NUL-terminated */
	struct {
		uint64_t packets, flushes_policy, flushes_timer, flushes_half_full,
		    added_latency_ns;
	} dir[NET_DIRS];
};
void batch_save(const struct batch_state *s, struct batch_saved *out);
/* Checks in as a control message would be and fills params; -1 with the
 * reason in err (another version, an unknown policy or knob, a value out
 * of range). */
int batch_saved_check(const struct batch_saved *in, struct batch_params *params, char *err,
                      size_t err_len);
/* batch_saved_check, then batch_init with the knobs and the counters back. */
int batch_restore(struct batch_state *s, const struct batch_saved *in, char *err, size_t err_len);

/* "Interrupt (or kick) the other side now?": the one decision, like bhyve's
 * vq_endchains. flush is what batch_packet or batch_timer returned; event is
 * the waiting side's event index; new_idx and old_idx are the producer index
 * now and at the previous flush. */
bool net_notify_now(const struct batch_state *s, bool flush, uint32_t event, uint32_t new_idx,
                    uint32_t old_idx);

/* ---- vswitch.c: a learning switch ---- */

#define VSWITCH_PORTS      16 /* local vNICs and the uplink */
#define VSWITCH_TABLE_SIZE 64
#define ETH_ADDR_LEN       6
#define ETH_HEADER_LEN     14

/* ---- ether.c: Ethernet II framing for every frame hv itself sends ---- */

#define ETH_FRAME_MIN 60   /* without the FCS, which the NIC adds */
#define ETH_FRAME_MAX 1514 /* without the FCS (and the bochs link's limit) */
/* The EtherTypes hv puts on the wire, from IEEE 802's local experimental
 * range: each kind of frame is told apart by its type alone. */
enum eth_type {
	ETH_TYPE_LINKTEST = 0x88B5, /* dev/linktest.c */
	ETH_TYPE_MIGRATE = 0x88B6,  /* live migration (migrate/: MIGRATE_ETHERTYPE) */
	ETH_TYPE_ANNOUNCE = 0x88B7, /* "this MAC is here", which every receiver ignores */
	ETH_TYPE_TUNNEL = 0x88B8,   /* a VM's frame inside a host's (backend.c) */
};
extern const uint8_t eth_broadcast[ETH_ADDR_LEN];
void eth_write_header(uint8_t *frame, const uint8_t *dst, const uint8_t *src, uint16_t type);
/* A frame in frame (cap bytes): the header, len bytes of payload (which
 * may already sit at frame + ETH_HEADER_LEN), zeros up to ETH_FRAME_MIN.
 * Returns its length; 0 if it would exceed cap or ETH_FRAME_MAX. */
size_t eth_frame(uint8_t *frame, size_t cap, const uint8_t *dst, const uint8_t *src, uint16_t type,
                 const void *payload, size_t len);
/* A frame's EtherType; 0 if it is shorter than a header. */
uint16_t eth_type_of(const uint8_t *frame, size_t len);

struct vswitch_entry {
	uint8_t mac[ETH_ADDR_LEN];
	uint8_t port;
	bool in_use;
	uint64_t last_seen_ns;
};

struct vswitch {
	uint16_t ports;    /* bit p set: port p is attached */
	uint64_t aging_ns; /* a MAC not seen for this long is forgotten; 0: never */
	struct vswitch_entry table[VSWITCH_TABLE_SIZE];
	/* counters, always on */
	uint64_t frames, unicasts, floods;
	uint64_t drops_runt, drops_hairpin, drops_bad_port;
	uint64_t learned, moves, evictions;
};

void vswitch_init(struct vswitch *sw, uint64_t aging_ns);
/* false when port >= VSWITCH_PORTS. */
bool vswitch_attach(struct vswitch *sw, unsigned port);
/* Detaches the port and forgets the MACs learned on it. */
void vswitch_detach(struct vswitch *sw, unsigned port);
/* A frame came in on in_port at now_ns: learns its source MAC and returns the
 * ports to copy it to (bit p = port p), never in_port; 0 drops it. */
uint16_t vswitch_forward(struct vswitch *sw, unsigned in_port, const uint8_t *frame, size_t len,
                         uint64_t now_ns);
/* The port a MAC was learned on, or -1 (unknown or aged out). */
int vswitch_lookup(const struct vswitch *sw, const uint8_t *mac, uint64_t now_ns);

#ifndef HOSTED_TEST
/* ---- backend.c: the hypervisor side (hv only, not unit-tested) ---- */
struct vm;
/* The hypercalls of include/joulevisor/hypercall.h; results as there. */
int64_t net_attach(struct vm *vm, uint64_t gpa, uint64_t vector);
int64_t net_kick(struct vm *vm, uint64_t what);
int64_t net_set_batching(struct vm *vm, const char *text);
/* Flush timers of the batching policies: call from the scheduler loop. */
void net_poll_timers(void);
/* The earliest flush deadline in TSC ticks (0: none), for idle waits. */
uint64_t net_next_deadline_tsc(void);
/* The net_stats event of one VM's vNIC (nothing if it never attached). */
void net_report(struct vm *vm);
/* Frames from the e1000 uplink into the switch: call from the scheduler
 * loop (hv polls the NIC; it takes no interrupts). */
void net_poll_uplink(void);
bool net_uplink_present(void);
/* True once the VM's guest attached a vNIC: a packet may wake it. */
bool net_attached(const struct vm *vm);
/* The VM stopped (or left by migration): its switch port and the MACs
 * learned there go, so frames for a MAC that moved flood to the uplink. */
void net_vm_stopped(const struct vm *vm);
/* Live migration: a vNIC's state is its snapshot section
 * (snapshot_vnic_section, snapshot/snapshot.h). */
#endif

#endif

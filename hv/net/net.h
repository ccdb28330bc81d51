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

/* ---- batch.c: when to notify ---- */

enum net_dir { NET_TX = 0, NET_RX = 1, NET_DIRS = 2 };

struct batch_policy;

/* The knobs, set by batch_params_parse() or by hand. */
struct batch_params {
	const struct batch_policy *policy;
	uint64_t tbuf_ns;        /* T_buf: fixed-time, adaptive, fixed-count's safety net */
	uint32_t count;          /* fixed-count: flush every count packets */
	uint32_t alpha_permille; /* adaptive: weight of the history in the EWMA, 0..1000 */
	uint64_t period_ns;      /* adaptive: how often the send ratio is sampled */
	bool paper_variant;      /* adaptive: smooth the previous raw sample, not the estimate */
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
	struct batch_params params; /* the policy's init may adjust them */
	struct batch_dir dir[NET_DIRS];
	uint64_t period_end_ns; /* next on_period call; 0 until the first packet */
	uint64_t periods;
	/* Used by the adaptive policy only. */
	struct {
		uint32_t period_packets[NET_DIRS]; /* n_s, n_r this period */
		uint32_t last_sample;              /* p_s(t_{i-1}), per mille */
		uint32_t send_share;               /* the estimate p_s*, per mille */
	} adaptive;
};

/* A batching policy acts only by saying "notify now" or by giving a
 * deadline; the mechanism does the rest (see "how to add a policy" in
 * batch.c). Any hook but on_packet may be NULL. */
struct batch_policy {
	const char *name;
	const char *summary; /* one line, for help texts */
	/* false: every flush notifies (the baseline); true: the consumer's event
	 * index may suppress it (it is polling). */
	bool uses_event_index;
	void (*init)(struct batch_state *s);
	/* A packet was produced on dir (already counted in s->dir[dir]);
	 * returns whether to notify now. */
	bool (*on_packet)(struct batch_state *s, enum net_dir dir, uint64_t now_ns);
	/* When the pending packets of dir must be flushed, in ns, or 0. */
	uint64_t (*deadline)(const struct batch_state *s, enum net_dir dir);
	/* Once per params.period_ns, before the packet that ends the period. */
	void (*on_period)(struct batch_state *s);
};

extern const struct batch_policy batch_none, batch_napi, batch_fixed_time, batch_fixed_count,
    batch_qemu_timer, batch_adaptive;
extern const struct batch_policy *const batch_policies[];
extern const size_t batch_policy_count;
/* NULL when no policy has that name. */
const struct batch_policy *batch_policy_find(const char *name);

/* Defaults: policy none, tbuf 500us, count 32, alpha 750 (the study's 0.75),
 * period 10ms, true EWMA. */
void batch_params_default(struct batch_params *p);
/* "policy=fixed-time tbuf=500us alpha=700": keys policy, tbuf, count, alpha
 * (per mille), period, variant (ewma|paper); durations need a unit (ns, us,
 * ms, s). Unnamed keys keep their defaults. Returns 0, or -1 with a
 * one-line reason in err and *out untouched. */
int batch_params_parse(const char *text, struct batch_params *out, char *err, size_t err_len);
/* The same text back, every key given; returns what fmt_snprintf returns. */
int batch_params_format(const struct batch_params *p, char *buf, size_t size);

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
 * is flushed, notify). Also runs the adaptive period. */
bool batch_timer(struct batch_state *s, enum net_dir dir, uint64_t now_ns);

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
/* Live migration: a vNIC's state as a blob of net_state_size() bytes (no
 * pointers, no host times; the policy by name). net_restore checks it like
 * an attach and re-attaches the VM's port with the same MAC. */
size_t net_state_size(void);
bool net_save(const struct vm *vm, void *out, size_t cap);
bool net_restore(struct vm *vm, const void *in, size_t len);
/* Whether net_restore would take the blob for this VM. */
bool net_state_valid(struct vm *vm, const void *in, size_t len);
#endif

#endif

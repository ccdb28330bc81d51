/* hv/migration's own parts (not for the rest of hv: migration.h is what
 * it offers). One migration at a time: its state is one struct, job,
 * which each part reads and writes from the scheduler loop only.
 *   migration.c  start, the incoming listener, pause, commit and resume
 *   link.c       the two links (the in-memory pipe, the e1000 with its
 *                injected faults) and what each link's stop-and-copies
 *                measured
 *   report.c     the migrate_done event, per-round progress and traces */
#ifndef HV_MIGRATION_JOB_H
#define HV_MIGRATION_JOB_H

#include "dev/dev.h"
#include "migrate/migrate.h"
#include "vm/vm.h"

#define PIPE_SLOTS 64
/* The state blob is a snapshot (snapshot/snapshot.h): one section per
 * device, each checked against what the device could have reached before
 * the destination lets the source go. */
#define STATE_CAP 8192

/* One direction of the in-memory link between a local source and its
 * destination. */
struct pipe {
	uint8_t frame[PIPE_SLOTS][MIGRATE_MTU];
	uint16_t len[PIPE_SLOTS];
	unsigned head, tail; /* free-running */
	uint64_t dropped;
	uint64_t sent;
	uint64_t cut_after; /* fault injection: the link dies after this many frames (0: never) */
};

enum role { ROLE_LOCAL, ROLE_SOURCE, ROLE_DEST };

struct migration_job {
	bool active;
	/* Energy of the migration engine (power/ account) at the start and at
	 * the pause: rounds = pause - start, stop-and-copy = end - pause. */
	uint64_t energy_start_nj, energy_pause_nj;
	/* The CPU it took (seed 004's CPU consumption): the migration
	 * account's cycles and the TSC at the start. */
	uint64_t cycles_start, tsc_start;
	uint64_t mem_peak_kib; /* migration_mem_kib() at its largest (source) */
	enum role role;
	uint64_t drain_until_tsc; /* source after commit: keep answering a while */
	struct vm *src_vm, *dst_vm;
	const struct dirty_tracker_ops *tracker;
	const struct migrate_policy *policy;
	char knobs[MIGRATE_TEXT_MAX]; /* the policy and every knob, as run */
	struct migrate_source src;
	struct migrate_dest dst;
	enum migrate_status src_status, dst_status;
	struct pipe to_dst, to_src;
	uint64_t *pfn_buf, *seen;
	uint64_t pfn_pages, seen_pages; /* frames backing them, to free */
	/* Snapshots read their sections in place: 8-byte aligned. */
	uint8_t state_out[STATE_CAP] __attribute__((aligned(64)));
	uint8_t state_in[STATE_CAP] __attribute__((aligned(64)));
	enum vcpu_state state_at_pause; /* an abort gives the source vCPU this back */
	bool reported;
	/* The source vCPU's share of the CPU in each live round (guest-mode
	 * time over the round's time, %): what the throttle really did. */
	unsigned rounds_seen;
	uint64_t progress_shown; /* destination: pages announced so far */
	uint64_t round_start_tsc, round_start_guest_tsc, throttled_start_ticks;
	uint8_t vcpu_percent[MIGRATE_ROUNDS_RECORDED];
	struct linkfault fault_at_start; /* the fault counters at the start */
};
extern struct migration_job job;

/* ---- link.c ---- */
/* The links' send_frame: ctx is a struct pipe (local) or unused (e1000:
 * the frame goes out in an Ethernet frame of ETH_TYPE_MIGRATE). */
void pipe_send(void *ctx, const uint8_t *bytes, size_t len);
void remote_send(void *ctx, const uint8_t *bytes, size_t len);
/* A frame the fault injection held back goes out now (the job ends). */
void link_flush_held(void);
/* The faults injected on this host's migration frames (linkfault=). */
extern struct linkfault link_faults;
/* The faults since the migration started, as the inside of a JSON object. */
const char *link_faults_text(void);
/* What earlier stop-and-copies measured on this link and payload size. */
struct migrate_link_model *link_model(bool remote, unsigned payload);

/* ---- report.c ---- */
/* The migration's share of this host's CPU since it started, per mille,
 * and the memory hv holds for it (KiB): the job's own state, the page
 * list and bitmaps it allocated, the dirty log of the VM it tracks. */
unsigned migration_cpu_permille(void);
uint64_t migration_mem_kib(void);
/* The migrate_done event (and, with trace=migrate, the trace). */
void migration_report(void);
/* Applies the policy's throttle to the source vCPU and logs each
 * finished round (migrate_round) with its vCPU share. */
void migration_follow_rounds(struct vm *src);

#endif

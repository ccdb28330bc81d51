/* A simulated link for the migration unit tests (host only): a one-way
 * pipe of frames with a latency and deterministic pseudo-random faults
 * (drop, duplicate, reorder, flip one bit), an optional cut, and an
 * optional bochs-like receiver that takes one frame per rx_gap_ns from a
 * buffer of `capacity` frames and silently drops what overruns it. */
#ifndef TEST_MIGRATE_SIM_H
#define TEST_MIGRATE_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "migrate/migrate.h"

#define SIM_QUEUE_MAX 256

struct sim_faults {
	unsigned drop_pct, dup_pct, reorder_pct, corrupt_pct;
};

struct sim_packet {
	uint64_t due_ns, order;
	uint16_t len;
	uint8_t bytes[MIGRATE_MTU];
};

struct sim_pipe {
	const uint64_t *clock; /* the test's "now" */
	uint64_t latency_ns;
	struct sim_faults faults;
	uint64_t rng;
	bool cut;              /* everything sent from now on is lost */
	uint64_t drop_nth;     /* lose exactly the n-th frame sent (1-based; 0: none) */
	uint64_t drop_nth_too; /* and this one */
	uint8_t cut_on_type;   /* cut the link as a frame of this type is sent (0: never) */
	uint64_t rx_gap_ns;    /* at most one frame per this at the receiver (0: no limit) */
	unsigned capacity;     /* frames that may wait; SIM_QUEUE_MAX if 0 */
	uint64_t next_rx_ns, order;
	unsigned count;
	struct sim_packet q[SIM_QUEUE_MAX];
	/* what happened */
	uint64_t sent, dropped, duplicated, reordered, corrupted, overruns, cut_lost, delivered;
	uint64_t sent_by_type[MIGRATE_TYPE_END];
};

uint64_t sim_rand(uint64_t *state);
void sim_pipe_init(struct sim_pipe *p, const uint64_t *clock, uint64_t latency_ns,
                   struct sim_faults faults, uint64_t seed);
/* The transport's send_frame: ctx is the pipe. */
void sim_send(void *ctx, const uint8_t *bytes, size_t len);
/* The link dies now: what is on the way is lost too. */
void sim_cut(struct sim_pipe *p);
/* Takes one frame that is due now, if any; buf must hold MIGRATE_MTU. */
bool sim_receive(struct sim_pipe *p, uint8_t *buf, size_t *len);

#endif

/* Runs in VM-exit context (and on the host in unit tests): the example
 * policy of docs/policies.md, with knobs and private state of its own.
 * Notify after count packets, or once the stream has been idle for idle
 * (no packet since), and at the latest tbuf after the first packet of the
 * batch: a burst goes out when it ends rather than when a timer says. */
#include "net/net.h"

/* Its knobs: the mechanism parses, checks, prints and migrates them from
 * this table; the policy reads them as batch_knob(s, COUNT) etc. */
enum { COUNT, IDLE, TBUF };
static const struct knob idle_knobs[] = {
    [COUNT] = {.name = "count",
               .kind = KNOB_NUMBER,
               .unit = "packets",
               .def = 16,
               .min = 1,
               .max = PVNET_RING_SIZE,
               .help = "notify when this many packets wait"},
    [IDLE] = {.name = "idle",
              .kind = KNOB_DURATION,
              .def = 100 * NS_PER_US,
              .min = NS_PER_US,
              .max = NS_PER_S,
              .help = "notify when no packet came for this long"},
    [TBUF] = {.name = "tbuf",
              .kind = KNOB_DURATION,
              .def = NS_PER_MS,
              .min = NS_PER_US,
              .max = NS_PER_S,
              .help = "at the latest this long after the first packet"},
};

/* Its state: in the mechanism's storage, zeroed before each start. */
struct idle_state {
	uint64_t last_ns[NET_DIRS]; /* the latest packet of each direction */
};

static bool idle_on_packet(struct batch_state *s, enum net_dir dir, uint64_t now_ns)
{
	struct idle_state *st = batch_private(s);
	st->last_ns[dir] = now_ns;
	return s->dir[dir].pending >= batch_knob(s, COUNT);
}

static uint64_t idle_deadline(const struct batch_state *s, enum net_dir dir)
{
	const struct idle_state *st = batch_private_const(s);
	uint64_t quiet = st->last_ns[dir] + batch_knob(s, IDLE);
	uint64_t latest = s->dir[dir].oldest_ns + batch_knob(s, TBUF);
	return MIN(quiet, latest);
}

const struct batch_policy batch_idle = {
    .name = "idle",
    .summary = "notify after count packets, idle with none, or tbuf after the first",
    .uses_event_index = true,
    .knobs = idle_knobs,
    .knob_count = ARRAY_SIZE(idle_knobs),
    .state_size = sizeof(struct idle_state),
    .on_packet = idle_on_packet,
    .deadline = idle_deadline,
};

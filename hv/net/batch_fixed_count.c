/* Runs in VM-exit context (and on the host in unit tests): fixed-count
 * batching. Notify every count packets; a batch that never fills is flushed
 * tbuf after its first packet, so a slow stream is delayed, never stuck. */
#include "net/net.h"

enum { COUNT, TBUF };
static const struct knob fixed_count_knobs[] = {
    [COUNT] = {.name = "count",
               .kind = KNOB_NUMBER,
               .unit = "packets",
               .def = 32,
               .min = 1,
               .max = PVNET_RING_SIZE,
               .help = "notify when this many packets wait"},
    /* Not 0: the timer is what flushes a batch that never reaches count. */
    [TBUF] = {.name = "tbuf",
              .kind = KNOB_DURATION,
              .def = 500 * NS_PER_US,
              .min = NS_PER_US,
              .max = NS_PER_S,
              .help = "at the latest this long after the first packet"},
};

static bool fixed_count_on_packet(struct batch_state *s, enum net_dir dir, uint64_t now_ns)
{
	(void)now_ns;
	return s->dir[dir].pending >= batch_knob(s, COUNT);
}

static uint64_t fixed_count_deadline(const struct batch_state *s, enum net_dir dir)
{
	return s->dir[dir].oldest_ns + batch_knob(s, TBUF);
}

const struct batch_policy batch_fixed_count = {
    .name = "fixed-count",
    .summary = "notify every count packets, or tbuf after the first",
    .uses_event_index = true,
    .knobs = fixed_count_knobs,
    .knob_count = ARRAY_SIZE(fixed_count_knobs),
    .on_packet = fixed_count_on_packet,
    .deadline = fixed_count_deadline,
};

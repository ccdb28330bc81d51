/* Runs in VM-exit context (and on the host in unit tests): fixed-time
 * buffering. The first packet of a batch starts a T_buf timer; every packet
 * until it fires goes out with one notification. tbuf=0 notifies at once. */
#include "net/net.h"

enum { TBUF };
static const struct knob fixed_time_knobs[] = {
    [TBUF] = {.name = "tbuf",
              .kind = KNOB_DURATION,
              .def = 500 * NS_PER_US,
              .min = 0,
              .max = NS_PER_S, /* the study used 0.1..1 ms */
              .help = "hold packets this long after the first of a batch"},
};

static bool fixed_time_on_packet(struct batch_state *s, enum net_dir dir, uint64_t now_ns)
{
	(void)dir;
	(void)now_ns;
	return batch_knob(s, TBUF) == 0;
}

static uint64_t fixed_time_deadline(const struct batch_state *s, enum net_dir dir)
{
	return s->dir[dir].oldest_ns + batch_knob(s, TBUF);
}

const struct batch_policy batch_fixed_time = {
    .name = "fixed-time",
    .summary = "hold packets up to tbuf after the first one",
    .uses_event_index = true,
    .knobs = fixed_time_knobs,
    .knob_count = ARRAY_SIZE(fixed_time_knobs),
    .on_packet = fixed_time_on_packet,
    .deadline = fixed_time_deadline,
};

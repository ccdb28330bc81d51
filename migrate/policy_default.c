/* Runs anywhere (hv's migration loop, host unit tests): Joulevisor's own
 * stop policy, the reference the others are compared with.
 *
 * Stop when our model says the rest would fit in the downtime target: the
 * dirty pages and the state blob at the bandwidth the round just measured,
 * plus the COMMIT round trip (migrate_predict_downtime_us in policy.c).
 * Also stop when a round made no progress, i.e. left at least as much to
 * send as it had to send: more rounds would only send the same pages again.
 * No throttling: we would rather pay a longer downtime than slow the guest. */
#include "migrate.h"

enum { DOWNTIME };
static const struct knob default_knobs[] = {
    [DOWNTIME] = {.name = "downtime",
                  .kind = KNOB_DURATION,
                  .def = 300 * NS_PER_MS, /* QEMU's default downtime limit */
                  .min = NS_PER_MS,
                  .max = 60 * NS_PER_S,
                  .help = "stop when the predicted downtime is within this"},
};

static bool default_should_stop(const struct migrate_round_stats *s, const struct migrate_params *p)
{
	if (migrate_predict_downtime_us(s, p) <= p->knob[DOWNTIME] / NS_PER_US)
		return true;
	return s->dirty_pages >= s->prev_dirty_pages;
}

const struct migrate_policy migrate_policy_default = {
    .name = "default",
    .summary = "stop when the predicted downtime fits downtime, or a round made no progress",
    .knobs = default_knobs,
    .knob_count = ARRAY_SIZE(default_knobs),
    .should_stop = default_should_stop,
    .throttle_percent = NULL,
};

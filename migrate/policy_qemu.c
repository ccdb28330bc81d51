/* Runs anywhere (hv's migration loop, host unit tests): QEMU's rules.
 * Switch over when the bytes left could be sent within the downtime limit
 * at the bandwidth just measured (QEMU's default limit is 300 ms), and
 * auto-converge: when the guest dirties memory faster than half the rate
 * we send it, slow its vCPU down, 20% first, then 10% more each round
 * (QEMU's cpu-throttle-initial and cpu-throttle-increment). */
#include "lib/lib.h"
#include "migrate.h"

#define QEMU_THROTTLE_MAX 99

enum { DOWNTIME, THROTTLE_INITIAL, THROTTLE_STEP };
static const struct knob qemu_knobs[] = {
    [DOWNTIME] = {.name = "downtime",
                  .kind = KNOB_DURATION,
                  .def = 300 * NS_PER_MS,
                  .min = NS_PER_MS,
                  .max = 60 * NS_PER_S,
                  .help = "switch over when what is left can be sent within this"},
    [THROTTLE_INITIAL] = {.name = "throttle_initial",
                          .kind = KNOB_NUMBER,
                          .unit = "%",
                          .def = 20,
                          .min = 1,
                          .max = QEMU_THROTTLE_MAX,
                          .help = "the first throttle of the vCPU"},
    [THROTTLE_STEP] = {.name = "throttle_step",
                       .kind = KNOB_NUMBER,
                       .unit = "%",
                       .def = 10,
                       .min = 0,
                       .max = QEMU_THROTTLE_MAX,
                       .help = "added each round the guest still dirties too fast"},
};

static bool qemu_should_stop(const struct migrate_round_stats *s, const struct migrate_params *p)
{
	uint64_t left_bytes = s->dirty_pages * MIGRATE_PAGE_SIZE;
	uint64_t can_send = migrate_scale(s->bandwidth_Bps, p->knob[DOWNTIME] / NS_PER_US, 1000000);
	return left_bytes <= can_send;
}

static unsigned qemu_throttle_percent(const struct migrate_round_stats *s,
                                      const struct migrate_params *p)
{
	uint64_t dirty_Bps = s->dirty_rate_pps * MIGRATE_PAGE_SIZE;
	if (dirty_Bps <= s->bandwidth_Bps / 2)
		return s->throttle_percent; /* QEMU never lowers it mid-migration */
	if (s->throttle_percent == 0)
		return (unsigned)p->knob[THROTTLE_INITIAL];
	return (unsigned)MIN(s->throttle_percent + p->knob[THROTTLE_STEP], QEMU_THROTTLE_MAX);
}

const struct migrate_policy migrate_policy_qemu = {
    .name = "qemu",
    .summary = "QEMU: stop when the rest fits downtime; auto-converge throttle",
    .knobs = qemu_knobs,
    .knob_count = ARRAY_SIZE(qemu_knobs),
    .should_stop = qemu_should_stop,
    .throttle_percent = qemu_throttle_percent,
};

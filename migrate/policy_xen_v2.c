/* Runs anywhere (hv's migration loop, host unit tests): the stop rule of
 * Xen's migration v2 (libxc save.c): at most 5 rounds, or fewer than 50
 * dirty pages left. */
#include "migrate.h"

enum { ROUNDS, FEW_PAGES };
static const struct knob xen_v2_knobs[] = {
    [ROUNDS] = {.name = "rounds",
                .kind = KNOB_NUMBER,
                .unit = "rounds",
                .def = 5,
                .min = 1,
                .max = 1000,
                .help = "stop after this many rounds"},
    [FEW_PAGES] = {.name = "few_pages",
                   .kind = KNOB_NUMBER,
                   .unit = "pages",
                   .def = 50,
                   .min = 0,
                   .max = 1u << 20,
                   .help = "stop when fewer pages than this are dirty"},
};

static bool xen_v2_should_stop(const struct migrate_round_stats *s, const struct migrate_params *p)
{
	return s->round >= p->knob[ROUNDS] || s->dirty_pages < p->knob[FEW_PAGES];
}

const struct migrate_policy migrate_policy_xen_v2 = {
    .name = "xen-v2",
    .summary = "Xen migration v2: 5 rounds, or < 50 dirty pages",
    .knobs = xen_v2_knobs,
    .knob_count = ARRAY_SIZE(xen_v2_knobs),
    .should_stop = xen_v2_should_stop,
    .throttle_percent = NULL,
};

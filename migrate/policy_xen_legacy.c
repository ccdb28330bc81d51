/* Runs anywhere (hv's migration loop, host unit tests): the stop rule of
 * Xen's original save loop (xc_domain_save): at most 30 rounds, or fewer
 * than 50 dirty pages left, or 3 times the VM's memory already sent. */
#include "migrate.h"

enum { ROUNDS, FEW_PAGES, MAX_FACTOR };
static const struct knob xen_legacy_knobs[] = {
    [ROUNDS] = {.name = "rounds",
                .kind = KNOB_NUMBER,
                .unit = "rounds",
                .def = 30,
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
    [MAX_FACTOR] = {.name = "max_factor",
                    .kind = KNOB_NUMBER,
                    .unit = "x memory",
                    .def = 3,
                    .min = 1,
                    .max = 100,
                    .help = "stop once this many times the VM's memory was sent"},
};

static bool xen_legacy_should_stop(const struct migrate_round_stats *s,
                                   const struct migrate_params *p)
{
	return s->round >= p->knob[ROUNDS] || s->dirty_pages < p->knob[FEW_PAGES] ||
	       s->total_pages_sent > p->knob[MAX_FACTOR] * s->vm_pages;
}

const struct migrate_policy migrate_policy_xen_legacy = {
    .name = "xen-legacy",
    .summary = "Xen xc_domain_save: 30 rounds, < 50 dirty pages, or 3x memory sent",
    .knobs = xen_legacy_knobs,
    .knob_count = ARRAY_SIZE(xen_legacy_knobs),
    .should_stop = xen_legacy_should_stop,
    .throttle_percent = NULL,
};

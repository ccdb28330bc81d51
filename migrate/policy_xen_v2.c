/* Runs anywhere (hv's migration loop, host unit tests): the stop rule of
 * Xen's migration v2 (libxc save.c): at most 5 rounds, or fewer than 50
 * dirty pages left. */
#include "migrate.h"

#define XEN_V2_MAX_ROUNDS 5
#define XEN_V2_FEW_PAGES  50

static bool xen_v2_should_stop(const struct migrate_round_stats *s, const struct migrate_params *p)
{
	(void)p;
	return s->round >= XEN_V2_MAX_ROUNDS || s->dirty_pages < XEN_V2_FEW_PAGES;
}

const struct migrate_policy migrate_policy_xen_v2 = {
    .name = "xen-v2",
    .should_stop = xen_v2_should_stop,
    .throttle_percent = NULL,
};

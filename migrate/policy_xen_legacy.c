/* Runs anywhere (hv's migration loop, host unit tests): the stop rule of
 * Xen's original save loop (xc_domain_save): at most 30 rounds, or fewer
 * than 50 dirty pages left, or 3 times the VM's memory already sent. */
#include "migrate.h"

#define XEN_LEGACY_MAX_ROUNDS 30
#define XEN_LEGACY_FEW_PAGES  50
#define XEN_LEGACY_MAX_FACTOR 3

static bool xen_legacy_should_stop(const struct migrate_round_stats *s,
                                   const struct migrate_params *p)
{
	(void)p;
	return s->round >= XEN_LEGACY_MAX_ROUNDS || s->dirty_pages < XEN_LEGACY_FEW_PAGES ||
	       s->total_pages_sent > XEN_LEGACY_MAX_FACTOR * s->vm_pages;
}

const struct migrate_policy migrate_policy_xen_legacy = {
    .name = "xen-legacy",
    .should_stop = xen_legacy_should_stop,
    .throttle_percent = NULL,
};

/* Runs anywhere (hv's migration loop, host unit tests): the table of
 * migration policies and the integer arithmetic they share. To add a
 * policy: copy policy_default.c, give it a name, list it here and in
 * migrate/unit.mk. */
#include "lib/lib.h"
#include "migrate.h"

const struct migrate_policy *const migrate_policies[] = {
    &migrate_policy_default,
    &migrate_policy_xen_legacy,
    &migrate_policy_xen_v2,
    &migrate_policy_qemu,
};
const size_t migrate_policy_count = ARRAY_SIZE(migrate_policies);

const struct migrate_policy *migrate_policy_find(const char *name)
{
	for (size_t i = 0; i < migrate_policy_count; i++)
		if (strcmp(migrate_policies[i]->name, name) == 0)
			return migrate_policies[i];
	return NULL;
}

uint64_t migrate_scale(uint64_t value, uint64_t mul, uint64_t div)
{
	if (div == 0)
		return UINT64_MAX;
	/* value = whole * div + rest, so value * mul / div =
	 * whole * mul + rest * mul / div, and rest < div keeps the last
	 * product small. */
	uint64_t whole = value / div, rest = value % div;
	if (whole && mul > UINT64_MAX / whole)
		return UINT64_MAX;
	if (rest && mul > UINT64_MAX / rest)
		return UINT64_MAX;
	uint64_t high = whole * mul, low = rest * mul / div;
	return high > UINT64_MAX - low ? UINT64_MAX : high + low;
}

uint64_t migrate_predict_downtime_us(const struct migrate_round_stats *s,
                                     const struct migrate_params *p)
{
	uint64_t left_bytes = s->dirty_pages * MIGRATE_PAGE_SIZE + p->state_bytes;
	uint64_t copy_us = migrate_scale(left_bytes, 1000000, s->bandwidth_Bps);
	return copy_us > UINT64_MAX - s->rtt_us ? UINT64_MAX : copy_us + s->rtt_us;
}

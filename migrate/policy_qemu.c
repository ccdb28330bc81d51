/* Runs anywhere (hv's migration loop, host unit tests): QEMU's rules.
 * Switch over when the bytes left could be sent within the downtime limit
 * at the bandwidth just measured (QEMU's default limit is 300 ms), and
 * auto-converge: when the guest dirties memory faster than half the rate
 * we send it, slow its vCPU down, 20% first, then 10% more each round. */
#include "lib/lib.h"
#include "migrate.h"

#define QEMU_THROTTLE_INITIAL   20
#define QEMU_THROTTLE_INCREMENT 10
#define QEMU_THROTTLE_MAX       99

static bool qemu_should_stop(const struct migrate_round_stats *s, const struct migrate_params *p)
{
	uint64_t left_bytes = s->dirty_pages * MIGRATE_PAGE_SIZE;
	uint64_t can_send = migrate_scale(s->bandwidth_Bps, p->downtime_target_us, 1000000);
	return left_bytes <= can_send;
}

static unsigned qemu_throttle_percent(const struct migrate_round_stats *s,
                                      const struct migrate_params *p)
{
	(void)p;
	uint64_t dirty_Bps = s->dirty_rate_pps * MIGRATE_PAGE_SIZE;
	if (dirty_Bps <= s->bandwidth_Bps / 2)
		return s->throttle_percent; /* QEMU never lowers it mid-migration */
	if (s->throttle_percent == 0)
		return QEMU_THROTTLE_INITIAL;
	return MIN(s->throttle_percent + QEMU_THROTTLE_INCREMENT, QEMU_THROTTLE_MAX);
}

const struct migrate_policy migrate_policy_qemu = {
    .name = "qemu",
    .should_stop = qemu_should_stop,
    .throttle_percent = qemu_throttle_percent,
};

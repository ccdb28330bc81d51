/* Runs at every settlement where there is no RAPL (and on the host in unit
 * tests): the power model. Energy = power x time, time = cycles / TSC
 * rate; mW x ms = uJ, so nJ = mW x cycles x 1000 / kHz. */
#include "power/power.h"

uint64_t model_energy_nj(uint32_t mw, uint64_t cycles, uint64_t tsc_khz)
{
	if (!tsc_khz)
		return 0;
	/* Split so that mW x cycles x 1000 cannot overflow for long intervals. */
	uint64_t whole_ms = cycles / tsc_khz, rest = cycles % tsc_khz;
	return whole_ms * mw * 1000ull + rest * mw * 1000ull / tsc_khz;
}

uint64_t model_interval_nj(const struct power_model *m, uint64_t active_cycles,
                           uint64_t halted_cycles, uint64_t tsc_khz)
{
	return model_energy_nj(m->busy_mw, active_cycles, tsc_khz) +
	       model_energy_nj(m->idle_mw, halted_cycles, tsc_khz);
}

/* Runs in the guest: RAPL MSRs (SDM Vol. 3B 15.10.1): MSR_RAPL_POWER_UNIT
 * bits 12:8 give the energy unit 1/2^ESU J; MSR_PKG_ENERGY_STATUS is a
 * 32-bit counter in that unit. */
#include "power/power.h"

#include "hyper/hyper.h"
#include "x86/x86.h"

#define MSR_RAPL_POWER_UNIT   0x606
#define MSR_PKG_ENERGY_STATUS 0x611

static uint32_t last_raw;
static uint64_t wrapped_units; /* 2^32 per wrap seen */
static bool started;

bool rapl_available(void)
{
	return hyper_is_joulevisor();
}

uint64_t rapl_energy_uj(void)
{
	unsigned shift = (unsigned)(rdmsr(MSR_RAPL_POWER_UNIT) >> 8) & 0x1F;
	uint32_t raw = (uint32_t)rdmsr(MSR_PKG_ENERGY_STATUS);
	if (started && raw < last_raw)
		wrapped_units += 1ull << 32;
	started = true;
	last_raw = raw;
	uint64_t units = wrapped_units + raw;
	/* units * 10^6 / 2^shift, split so it cannot overflow */
	return (units >> shift) * 1000000ull +
	       ((units & ((1ull << shift) - 1)) * 1000000ull >> shift);
}

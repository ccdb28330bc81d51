/* Runs in hv and on the host in unit tests: RAPL counter units (SDM Vol.
 * 3B 15.10.1: the energy status unit is 1/2^ESU joule). */
#include "power/power.h"

uint64_t rapl_units_to_nj(uint64_t units, unsigned shift)
{
	/* units x 10^9 / 2^shift, split to avoid overflow */
	return (units >> shift) * 1000000000ull +
	       ((units & ((1ull << shift) - 1)) * 1000000000ull >> shift);
}

uint64_t rapl_nj_to_units(uint64_t nj, unsigned shift)
{
	uint64_t seconds = nj / 1000000000ull, rest = nj % 1000000000ull;
	return (seconds << shift) + (rest << shift) / 1000000000ull;
}

/* Runs at every VM switch and accounting tick (and on the host in unit
 * tests): splits an interval's energy over the accounts that used its
 * cycles, exactly. */
#include "lib/lib.h"
#include "power/power.h"

/* a * b / c and its remainder, without a 128-bit division helper (hv links
 * no libgcc): the product is 128 bits, the division long. The quotient must
 * fit 64 bits (true whenever b <= c). */
uint64_t power_mul_div(uint64_t a, uint64_t b, uint64_t c, uint64_t *remainder)
{
	uint64_t product;
	if (!__builtin_mul_overflow(a, b, &product)) { /* the common, cheap case */
		*remainder = product % c;
		return product / c;
	}
	unsigned __int128 p = (unsigned __int128)a * b;
	uint64_t q = 0;
	unsigned __int128 r = 0;
	for (int bit = 127; bit >= 0; bit--) {
		r = r << 1 | (unsigned)((p >> bit) & 1);
		if (r >= c) {
			r -= c;
			if (bit < 64)
				q |= 1ull << bit;
		}
	}
	*remainder = (uint64_t)r;
	return q;
}

void ledger_charge(struct power_ledger *l, unsigned account, uint64_t cycles)
{
	if (account < ACCOUNT_COUNT)
		l->pending_cycles[account] += cycles;
}

void ledger_settle(struct power_ledger *l, uint64_t interval_nj)
{
	uint64_t total_cycles = 0;
	for (unsigned i = 0; i < ACCOUNT_COUNT; i++)
		total_cycles += l->pending_cycles[i];
	l->total_nj += interval_nj;
	l->intervals++;
	if (total_cycles == 0) {
		l->energy_nj[ACCOUNT_IDLE_ID] += interval_nj;
		return;
	}
	uint64_t remainder[ACCOUNT_COUNT], given = 0;
	for (unsigned i = 0; i < ACCOUNT_COUNT; i++) {
		remainder[i] = 0;
		if (!l->pending_cycles[i])
			continue;
		uint64_t share =
		    power_mul_div(interval_nj, l->pending_cycles[i], total_cycles, &remainder[i]);
		l->energy_nj[i] += share;
		given += share;
	}
	/* The floors leave fewer nanojoules than accounts: each goes to the
	 * account with the largest remainder (ties: the lower id), so nothing
	 * is lost and the split stays proportional. */
	for (uint64_t left = interval_nj - given; left > 0; left--) {
		unsigned best = 0;
		for (unsigned i = 1; i < ACCOUNT_COUNT; i++)
			if (remainder[i] > remainder[best])
				best = i;
		l->energy_nj[best]++;
		remainder[best] = 0;
	}
	for (unsigned i = 0; i < ACCOUNT_COUNT; i++) {
		l->cycles[i] += l->pending_cycles[i];
		l->pending_cycles[i] = 0;
	}
}

uint64_t ledger_sum_nj(const struct power_ledger *l)
{
	uint64_t sum = 0;
	for (unsigned i = 0; i < ACCOUNT_COUNT; i++)
		sum += l->energy_nj[i];
	return sum;
}

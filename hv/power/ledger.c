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
	if (account < ACCOUNT_COUNT && cycles) {
		l->pending_cycles[account] += cycles;
		l->pending_mask |= 1u << account;
	}
}

void ledger_settle(struct power_ledger *l, uint64_t interval_nj)
{
	/* Only the accounts in pending_mask have cycles: the others would add
	 * nothing to any sum below, take no share and keep no remainder. */
	uint64_t total_cycles = 0;
	for (uint32_t m = l->pending_mask; m; m &= m - 1)
		total_cycles += l->pending_cycles[__builtin_ctz(m)];
	l->total_nj += interval_nj;
	l->intervals++;
	if (total_cycles == 0) {
		l->energy_nj[ACCOUNT_IDLE_ID] += interval_nj;
		return;
	}
	uint64_t remainder[ACCOUNT_COUNT], given = 0;
	for (uint32_t m = l->pending_mask; m; m &= m - 1) {
		unsigned i = (unsigned)__builtin_ctz(m);
		uint64_t share =
		    power_mul_div(interval_nj, l->pending_cycles[i], total_cycles, &remainder[i]);
		l->energy_nj[i] += share;
		given += share;
	}
	/* The floors leave fewer nanojoules than accounts: each goes to the
	 * account with the largest remainder (ties: the lower id), so nothing
	 * is lost and the split stays proportional. While any is left some
	 * remainder is nonzero, so the best is always a pending account. */
	for (uint64_t left = interval_nj - given; left > 0; left--) {
		unsigned best = (unsigned)__builtin_ctz(l->pending_mask);
		for (uint32_t m = l->pending_mask; m; m &= m - 1) {
			unsigned i = (unsigned)__builtin_ctz(m);
			if (remainder[i] > remainder[best])
				best = i;
		}
		l->energy_nj[best]++;
		remainder[best] = 0;
	}
	for (uint32_t m = l->pending_mask; m; m &= m - 1) {
		unsigned i = (unsigned)__builtin_ctz(m);
		l->cycles[i] += l->pending_cycles[i];
		l->pending_cycles[i] = 0;
	}
	l->pending_mask = 0;
}

uint64_t ledger_sum_nj(const struct power_ledger *l)
{
	uint64_t sum = 0;
	for (unsigned i = 0; i < ACCOUNT_COUNT; i++)
		sum += l->energy_nj[i];
	return sum;
}

/* Runs in the scheduler loop, on the migration's way to the e1000: fault
 * injection for the soak tests. A real link loses, duplicates and reorders
 * frames; bxhub between two bochs does none of that on purpose (it only
 * drops what overflows a host's socket buffer), so the migration transport's
 * retransmission, duplicate and out-of-order handling would go untested on
 * the real two-host path. linkfault=drop:P,dup:P,reorder:P[,seed:S] makes
 * the uplink do each to P per mille of the migration frames this host
 * sends, decided by a seeded PRNG so a run can be repeated. Pure: the
 * caller sends and holds the frames; here are only the decisions and their
 * counts, so the unit tests run it on the host. */
#include "dev/dev.h"
#include "lib/lib.h"

/* splitmix64 (a public-domain mixing function): one 64-bit step per
 * decision, good enough that 1000 decisions at 50 per mille give ~50. */
static uint64_t next_random(struct linkfault *f)
{
	uint64_t z = (f->state += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static bool roll(struct linkfault *f, uint32_t per_mille)
{
	return per_mille && next_random(f) % 1000 < per_mille;
}

bool linkfault_parse(struct linkfault *f, const char *spec, char *err, size_t err_size)
{
	struct linkfault parsed = {.seed = 1};
	const char *p = spec;
	while (*p) {
		size_t n = 0;
		while (p[n] && p[n] != ',')
			n++;
		const char *colon = memchr(p, ':', n);
		uint64_t value = 0;
		size_t key = colon ? (size_t)(colon - p) : n, vlen = colon ? n - key - 1 : 0;
		if (!colon || !vlen || parse_decimal(colon + 1, vlen, &value) != vlen) {
			fmt_snprintf(err, err_size,
			             "linkfault: '%.*s' is not NAME:NUMBER (drop:P,dup:P,reorder:P "
			             "per mille, seed:S)",
			             (int)n, p);
			return false;
		}
		uint32_t *rate = key == 4 && !strncmp(p, "drop", 4)      ? &parsed.drop
		                 : key == 3 && !strncmp(p, "dup", 3)     ? &parsed.dup
		                 : key == 7 && !strncmp(p, "reorder", 7) ? &parsed.reorder
		                                                         : NULL;
		if (rate) {
			if (value > 500) { /* beyond half the frames nothing converges */
				fmt_snprintf(err, err_size,
				             "linkfault: %.*s wants 0..500 per mille, not %llu",
				             (int)key, p, (unsigned long long)value);
				return false;
			}
			*rate = (uint32_t)value;
		} else if (key == 4 && !strncmp(p, "seed", 4)) {
			parsed.seed = value;
		} else {
			fmt_snprintf(err, err_size,
			             "linkfault: unknown '%.*s' (drop, dup, reorder, seed)",
			             (int)key, p);
			return false;
		}
		p += n + (p[n] ? 1 : 0);
	}
	parsed.state = parsed.seed;
	*f = parsed;
	return true;
}

enum linkfault_action linkfault_decide(struct linkfault *f)
{
	f->frames++;
	/* One roll per kind, in a fixed order: the same seed gives the same
	 * sequence of decisions whatever the rates. */
	bool drop = roll(f, f->drop), dup = roll(f, f->dup), reorder = roll(f, f->reorder);
	if (drop) {
		f->dropped++;
		return LINKFAULT_DROP;
	}
	if (reorder) {
		f->reordered++;
		return LINKFAULT_HOLD;
	}
	if (dup) {
		f->duplicated++;
		return LINKFAULT_DUPLICATE;
	}
	return LINKFAULT_SEND;
}

bool linkfault_active(const struct linkfault *f)
{
	return f->drop || f->dup || f->reorder;
}

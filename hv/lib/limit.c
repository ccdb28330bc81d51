/* Runs anywhere in hv (pure; also built for the host unit tests): the
 * token bucket every guest limit is made of (hv/vm/limits.c has the table
 * of limits). A bucket holds at most `burst` tokens and gains `rate` a
 * second; a use takes tokens or is refused. Levels are kept in
 * token-nanoseconds (tokens * 10^9), so a rate of one token a second and a
 * clock read every nanosecond lose nothing to rounding; rate and burst are
 * at most TOKEN_BUCKET_MAX, so no product leaves 64 bits. The same
 * arithmetic as Firecracker's rate limiter (src/vmm/src/rate_limiter),
 * without its one-time burst. */
#include "lib/lib.h"

#define NS_PER_S 1000000000ull

static uint64_t clamp(uint64_t v)
{
	return v > TOKEN_BUCKET_MAX ? TOKEN_BUCKET_MAX : v;
}

void token_bucket_init(struct token_bucket *b, uint64_t rate, uint64_t burst, uint64_t now_ns)
{
	b->rate = clamp(rate);
	b->burst = clamp(burst ? burst : 1);
	b->level = b->burst * NS_PER_S; /* starts full */
	b->last_ns = now_ns;
}

/* Adds what the time since the last call earned. A clock that went back
 * (a VM restored on another host) earns nothing and restarts from now. */
static void refill(struct token_bucket *b, uint64_t now_ns)
{
	uint64_t cap = b->burst * NS_PER_S;
	if (now_ns > b->last_ns && b->level < cap) {
		uint64_t elapsed = now_ns - b->last_ns;
		uint64_t missing = cap - b->level;
		/* elapsed * rate < missing <= 10^18 when not full. */
		if (elapsed >= missing / b->rate + 1)
			b->level = cap;
		else
			b->level += elapsed * b->rate;
		if (b->level > cap)
			b->level = cap;
	}
	b->last_ns = now_ns;
}

/* A use bigger than the bucket could never be served: it costs the whole
 * bucket instead. */
static uint64_t cost_of(const struct token_bucket *b, uint64_t tokens)
{
	return (tokens > b->burst ? b->burst : tokens) * NS_PER_S;
}

bool token_bucket_take(struct token_bucket *b, uint64_t now_ns, uint64_t tokens)
{
	if (!b->rate)
		return true; /* no limit */
	refill(b, now_ns);
	uint64_t cost = cost_of(b, tokens);
	if (b->level < cost)
		return false;
	b->level -= cost;
	return true;
}

uint64_t token_bucket_wait_ns(struct token_bucket *b, uint64_t now_ns, uint64_t tokens)
{
	if (!b->rate)
		return 0;
	refill(b, now_ns);
	uint64_t cost = cost_of(b, tokens);
	if (b->level >= cost)
		return 0;
	return (cost - b->level + b->rate - 1) / b->rate;
}

/* Runs in VM-exit context (and on the host in unit tests): the batching
 * mechanism. It keeps the packets produced since the last notification, asks
 * the policy whether to notify now or when, always flushes a ring that is
 * more than half full, and counts. Time comes from the caller in ns.
 *
 * How to add a policy: write hv/net/batch_NAME.c defining a
 * `const struct batch_policy batch_NAME` (an on_packet, and a deadline if it
 * delays), declare it in net.h beside the others and add it to
 * batch_policies[] below. "policy=NAME" then selects it. */
#include "lib/lib.h"
#include "net/net.h"

const struct batch_policy *const batch_policies[] = {
    &batch_none,        &batch_napi,       &batch_fixed_time,
    &batch_fixed_count, &batch_qemu_timer, &batch_adaptive,
};
const size_t batch_policy_count = ARRAY_SIZE(batch_policies);

static const struct batch_policy *find_policy(const char *name, size_t len)
{
	for (size_t i = 0; i < batch_policy_count; i++)
		if (strlen(batch_policies[i]->name) == len &&
		    !strncmp(batch_policies[i]->name, name, len))
			return batch_policies[i];
	return NULL;
}

const struct batch_policy *batch_policy_find(const char *name)
{
	return find_policy(name, strlen(name));
}

/* ---- the mechanism ---- */

/* A ring more than this full is flushed whatever the policy says: the
 * consumer must start before the producer runs out of slots. */
#define HALF_FULL (PVNET_RING_SIZE / 2)

static void flush(struct batch_dir *d, uint64_t now_ns, uint64_t *cause)
{
	/* Each packet waited now - its time = (now - oldest) - (its time - oldest).
	 * A caller whose clock went back adds nothing. */
	if (now_ns >= d->oldest_ns) {
		uint64_t waited = (uint64_t)d->pending * (now_ns - d->oldest_ns);
		if (waited >= d->pending_after_oldest_ns)
			d->added_latency_ns += waited - d->pending_after_oldest_ns;
	}
	d->pending = 0;
	d->pending_after_oldest_ns = 0;
	d->oldest_ns = 0;
	(*cause)++;
}

/* Calls on_period when a period has ended. The first packet starts the
 * first period; an idle gap longer than a period counts as one period. */
static void run_period(struct batch_state *s, uint64_t now_ns)
{
	if (!s->policy->on_period || !s->params.period_ns)
		return;
	if (!s->period_end_ns) {
		s->period_end_ns = now_ns + s->params.period_ns;
		return;
	}
	if (now_ns < s->period_end_ns)
		return;
	s->policy->on_period(s);
	s->periods++;
	s->period_end_ns += s->params.period_ns;
	if (s->period_end_ns <= now_ns)
		s->period_end_ns = now_ns + s->params.period_ns;
}

static void start(struct batch_state *s, const struct batch_params *p)
{
	s->params = *p;
	s->policy = p->policy ? p->policy : &batch_none;
	s->params.policy = s->policy;
	s->period_end_ns = 0;
	memset(&s->adaptive, 0, sizeof s->adaptive);
	if (s->policy->init)
		s->policy->init(s);
}

void batch_init(struct batch_state *s, const struct batch_params *p)
{
	memset(s, 0, sizeof *s);
	start(s, p);
}

bool batch_set_params(struct batch_state *s, const struct batch_params *p, uint64_t now_ns)
{
	bool had_pending = false;
	for (int dir = 0; dir < NET_DIRS; dir++) {
		struct batch_dir *d = &s->dir[dir];
		if (d->pending) {
			flush(d, now_ns, &d->flushes_policy);
			had_pending = true;
		}
	}
	start(s, p);
	return had_pending;
}

uint64_t batch_deadline(const struct batch_state *s, enum net_dir dir)
{
	if (!s->dir[dir].pending || !s->policy->deadline)
		return 0;
	return s->policy->deadline(s, dir);
}

uint64_t batch_next_deadline(const struct batch_state *s)
{
	uint64_t tx = batch_deadline(s, NET_TX), rx = batch_deadline(s, NET_RX);
	if (!tx || !rx)
		return tx ? tx : rx;
	return MIN(tx, rx);
}

bool batch_packet(struct batch_state *s, enum net_dir dir, uint64_t now_ns, uint32_t ring_used)
{
	struct batch_dir *d = &s->dir[dir];
	run_period(s, now_ns);
	if (!d->pending)
		d->oldest_ns = now_ns;
	d->pending++;
	if (now_ns > d->oldest_ns)
		d->pending_after_oldest_ns += now_ns - d->oldest_ns;
	d->packets++;

	if (s->policy->on_packet(s, dir, now_ns)) {
		flush(d, now_ns, &d->flushes_policy);
		return true;
	}
	if (ring_used > HALF_FULL) {
		flush(d, now_ns, &d->flushes_half_full);
		return true;
	}
	/* The caller's timer is late: do not make this packet wait too. */
	uint64_t deadline = batch_deadline(s, dir);
	if (deadline && now_ns >= deadline) {
		flush(d, now_ns, &d->flushes_timer);
		return true;
	}
	return false;
}

bool batch_timer(struct batch_state *s, enum net_dir dir, uint64_t now_ns)
{
	run_period(s, now_ns);
	uint64_t deadline = batch_deadline(s, dir);
	if (!deadline || now_ns < deadline)
		return false;
	flush(&s->dir[dir], now_ns, &s->dir[dir].flushes_timer);
	return true;
}

/* ---- parameters ---- */

#define NS_PER_US     1000ull
#define NS_PER_MS     1000000ull
#define NS_PER_S      1000000000ull
#define TBUF_MAX_NS   NS_PER_S /* the study used 0.1..1 ms */
#define PERIOD_MIN_NS (100 * NS_PER_US)
#define PERIOD_MAX_NS (60 * NS_PER_S) /* the study sampled every 5 s */
#define ALPHA_MAX     1000u
#define KNOWN_KEYS    "policy tbuf count alpha period variant"

void batch_params_default(struct batch_params *p)
{
	p->policy = &batch_none;
	p->tbuf_ns = 500 * NS_PER_US;
	p->count = 32;
	p->alpha_permille = 750;
	/* The study's 5 s is longer than most of our emulated runs. */
	p->period_ns = 10 * NS_PER_MS;
	p->paper_variant = false;
}

static bool is_word(const char *s, size_t len, const char *literal)
{
	return strlen(literal) == len && !strncmp(s, literal, len);
}

static bool parse_number(const char *s, size_t len, uint64_t *out)
{
	return len > 0 && parse_decimal(s, len, out) == len;
}

/* "500us", "1ms", "2s", "750ns": a whole number and a unit. */
static bool parse_duration(const char *s, size_t len, uint64_t *out_ns)
{
	static const struct {
		const char *unit;
		uint64_t ns;
	} units[] = {{"ns", 1}, {"us", NS_PER_US}, {"ms", NS_PER_MS}, {"s", NS_PER_S}};
	uint64_t v;
	size_t digits = parse_decimal(s, len, &v);
	if (digits == 0)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		if (!is_word(s + digits, len - digits, units[i].unit))
			continue;
		/* Larger than any range we accept; also keeps v * ns from overflowing. */
		*out_ns = v > (~0ull / units[i].ns) ? ~0ull : v * units[i].ns;
		return true;
	}
	return false;
}

/* The largest unit that divides ns exactly, so that the text parses back. */
static void format_duration(uint64_t ns, char *buf, size_t size)
{
	if (ns && ns % NS_PER_S == 0)
		fmt_snprintf(buf, size, "%llus", (unsigned long long)(ns / NS_PER_S));
	else if (ns && ns % NS_PER_MS == 0)
		fmt_snprintf(buf, size, "%llums", (unsigned long long)(ns / NS_PER_MS));
	else if (ns % NS_PER_US == 0)
		fmt_snprintf(buf, size, "%lluus", (unsigned long long)(ns / NS_PER_US));
	else
		fmt_snprintf(buf, size, "%lluns", (unsigned long long)ns);
}

#define FAIL(...)                                                                                  \
	do {                                                                                       \
		fmt_snprintf(err, err_len, __VA_ARGS__);                                           \
		return -1;                                                                         \
	} while (0)

static int unknown_policy(const char *name, size_t len, char *err, size_t err_len)
{
	char known[128] = "";
	size_t used = 0;
	for (size_t i = 0; i < batch_policy_count && used < sizeof known; i++)
		used += (size_t)fmt_snprintf(known + used, sizeof known - used, "%s%s",
		                             i ? " " : "", batch_policies[i]->name);
	FAIL("unknown batching policy '%.*s' (known: %s)", (int)len, name, known);
}

/* The value of a duration key into *out, if it lies in [min, max]. */
static int parse_duration_key(const char *key, size_t klen, const char *value, size_t vlen,
                              uint64_t min, uint64_t max, uint64_t *out, char *err, size_t err_len)
{
	uint64_t ns;
	if (!parse_duration(value, vlen, &ns))
		FAIL(
		    "bad duration '%.*s' for %.*s: a whole number and a unit (ns, us, ms, s), e.g. "
		    "500us",
		    (int)vlen, value, (int)klen, key);
	if (ns < min || ns > max) {
		char low[24], high[24];
		format_duration(min, low, sizeof low);
		format_duration(max, high, sizeof high);
		FAIL("%.*s=%.*s out of range (%s to %s)", (int)klen, key, (int)vlen, value, low,
		     high);
	}
	*out = ns;
	return 0;
}

/* One "key=value" word into p. */
static int parse_word(const char *word, size_t len, struct batch_params *p, char *err,
                      size_t err_len)
{
	size_t klen = 0;
	while (klen < len && word[klen] != '=')
		klen++;
	if (klen == len || klen == 0)
		FAIL("expected key=value, got '%.*s' (keys: " KNOWN_KEYS ")", (int)len, word);
	const char *key = word, *value = word + klen + 1;
	size_t vlen = len - klen - 1;
	uint64_t v;

	if (is_word(key, klen, "policy")) {
		const struct batch_policy *policy = find_policy(value, vlen);
		if (!policy)
			return unknown_policy(value, vlen, err, err_len);
		p->policy = policy;
	} else if (is_word(key, klen, "tbuf")) {
		return parse_duration_key(key, klen, value, vlen, 0, TBUF_MAX_NS, &p->tbuf_ns, err,
		                          err_len);
	} else if (is_word(key, klen, "period")) {
		return parse_duration_key(key, klen, value, vlen, PERIOD_MIN_NS, PERIOD_MAX_NS,
		                          &p->period_ns, err, err_len);
	} else if (is_word(key, klen, "count")) {
		if (!parse_number(value, vlen, &v) || v < 1 || v > PVNET_RING_SIZE)
			FAIL("count=%.*s out of range (1 to %u packets)", (int)vlen, value,
			     PVNET_RING_SIZE);
		p->count = (uint32_t)v;
	} else if (is_word(key, klen, "alpha")) {
		if (!parse_number(value, vlen, &v) || v > ALPHA_MAX)
			FAIL("alpha=%.*s out of range (0 to 1000, per mille: 750 is 0.75)",
			     (int)vlen, value);
		p->alpha_permille = (uint32_t)v;
	} else if (is_word(key, klen, "variant")) {
		if (is_word(value, vlen, "ewma"))
			p->paper_variant = false;
		else if (is_word(value, vlen, "paper"))
			p->paper_variant = true;
		else
			FAIL("variant=%.*s: must be ewma or paper", (int)vlen, value);
	} else {
		FAIL("unknown key '%.*s' (keys: " KNOWN_KEYS ")", (int)klen, key);
	}
	return 0;
}

int batch_params_parse(const char *text, struct batch_params *out, char *err, size_t err_len)
{
	struct batch_params p;
	batch_params_default(&p);
	for (const char *s = text; *s;) {
		while (*s == ' ' || *s == '\t')
			s++;
		const char *word = s;
		while (*s && *s != ' ' && *s != '\t')
			s++;
		if (s > word && parse_word(word, (size_t)(s - word), &p, err, err_len))
			return -1;
	}
	if (p.policy == &batch_fixed_count && p.tbuf_ns == 0)
		FAIL("fixed-count needs tbuf > 0: it is the timer that flushes a batch that never "
		     "reaches count");
	*out = p;
	return 0;
}

int batch_params_format(const struct batch_params *p, char *buf, size_t size)
{
	char tbuf[24], period[24];
	format_duration(p->tbuf_ns, tbuf, sizeof tbuf);
	format_duration(p->period_ns, period, sizeof period);
	return fmt_snprintf(buf, size, "policy=%s tbuf=%s count=%u alpha=%u period=%s variant=%s",
	                    p->policy ? p->policy->name : "none", tbuf, p->count, p->alpha_permille,
	                    period, p->paper_variant ? "paper" : "ewma");
}

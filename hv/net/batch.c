/* Runs in VM-exit context (and on the host in unit tests): the batching
 * mechanism. It keeps the packets produced since the last notification, asks
 * the policy whether to notify now or when, always flushes a ring that is
 * more than half full, and counts. Time comes from the caller in ns. The
 * policies' knobs are handled here generically, from their tables.
 *
 * How to add a policy: docs/policies.md, or the contract in net.h. */
#include "lib/lib.h"
#include "net/net.h"

#define BATCH_POLICY_ENTRY(sym) &sym,
const struct batch_policy *const batch_policies[] = {BATCH_POLICY_TABLE(BATCH_POLICY_ENTRY)};
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
	if (!s->policy->on_period || !s->period_ns)
		return;
	if (!s->period_end_ns) {
		s->period_end_ns = now_ns + s->period_ns;
		return;
	}
	if (now_ns < s->period_end_ns)
		return;
	s->policy->on_period(s);
	s->periods++;
	s->period_end_ns += s->period_ns;
	if (s->period_end_ns <= now_ns)
		s->period_end_ns = now_ns + s->period_ns;
}

static void start(struct batch_state *s, const struct batch_params *p)
{
	s->params = *p;
	s->policy = p->policy ? p->policy : &batch_none;
	s->params.policy = s->policy;
	s->period_ns = 0;
	s->period_end_ns = 0;
	memset(s->policy_state, 0, sizeof s->policy_state);
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
	/* 0 means "no deadline" to callers, but a policy's oldest_ns + buffer
	 * is 0 for a packet at t=0 whose buffer became 0 (adaptive, after a
	 * period): that batch is due now, not never. Found by fuzz_batch_run. */
	uint64_t due = s->policy->deadline(s, dir);
	return due ? due : 1;
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

/* ---- knobs: the policy's table does the work ---- */

void batch_params_default(struct batch_params *p)
{
	memset(p, 0, sizeof *p);
	p->policy = &batch_none;
	knobs_default(p->policy->knobs, p->policy->knob_count, p->knob);
}

#define FAIL(...)                                                                                  \
	do {                                                                                       \
		fmt_snprintf(err, err_len, __VA_ARGS__);                                           \
		return -1;                                                                         \
	} while (0)

static int unknown_policy(const char *name, size_t len, char *err, size_t err_len)
{
	char known[160] = "";
	size_t used = 0;
	for (size_t i = 0; i < batch_policy_count && used < sizeof known; i++)
		used += (size_t)fmt_snprintf(known + used, sizeof known - used, "%s%s",
		                             i ? " " : "", batch_policies[i]->name);
	FAIL("unknown batching policy '%.*s' (known: %s)", (int)len, name, known);
}

int batch_params_parse(const char *text, struct batch_params *out, char *err, size_t err_len)
{
	struct batch_params p;
	batch_params_default(&p);
	const char *name;
	size_t name_len;
	unsigned times;
	if (knob_text_find(text, "policy", &name, &name_len, &times)) {
		p.policy = find_policy(name, name_len);
		if (!p.policy)
			return unknown_policy(name, name_len, err, err_len);
	} else if (times > 1) {
		FAIL("policy given %u times", times);
	}
	/* A table too big for the mechanism's storage is the policy's bug:
	 * refused here, where every setting passes, rather than overrun. */
	if (p.policy->knob_count > BATCH_KNOBS_MAX || p.policy->state_size > BATCH_STATE_MAX)
		FAIL("policy %s declares %zu knobs and %zu bytes of state (at most %u and %u)",
		     p.policy->name, p.policy->knob_count, p.policy->state_size, BATCH_KNOBS_MAX,
		     BATCH_STATE_MAX);
	knobs_default(p.policy->knobs, p.policy->knob_count, p.knob);
	struct knob_group group = {p.policy->name, p.policy->knobs, p.policy->knob_count, p.knob};
	if (knobs_parse(&group, 1, text, "policy", err, err_len))
		return -1;
	*out = p;
	return 0;
}

int batch_params_format(const struct batch_params *p, char *buf, size_t size)
{
	const struct batch_policy *policy = p->policy ? p->policy : &batch_none;
	int n = fmt_snprintf(buf, size, "policy=%s%s", policy->name, policy->knob_count ? " " : "");
	size_t used = (size_t)n < size ? (size_t)n : size;
	return n +
	       knobs_format(policy->knobs, policy->knob_count, p->knob, buf + used, size - used);
}

bool batch_params_equal(const struct batch_params *a, const struct batch_params *b)
{
	if (a->policy != b->policy)
		return false;
	for (size_t i = 0; a->policy && i < a->policy->knob_count; i++)
		if (a->knob[i] != b->knob[i])
			return false;
	return true;
}

/* ---- migration ---- */

void batch_save(const struct batch_state *s, struct batch_saved *out)
{
	memset(out, 0, sizeof *out);
	out->version = BATCH_SAVED_VERSION;
	batch_params_format(&s->params, out->text, sizeof out->text);
	for (unsigned d = 0; d < NET_DIRS; d++) {
		const struct batch_dir *b = &s->dir[d];
		out->dir[d].packets = b->packets;
		out->dir[d].flushes_policy = b->flushes_policy;
		out->dir[d].flushes_timer = b->flushes_timer;
		out->dir[d].flushes_half_full = b->flushes_half_full;
		out->dir[d].added_latency_ns = b->added_latency_ns;
	}
}

int batch_saved_check(const struct batch_saved *in, struct batch_params *params, char *err,
                      size_t err_len)
{
	if (in->version != BATCH_SAVED_VERSION)
		FAIL("batching saved in version %u, this hv reads version %u", in->version,
		     BATCH_SAVED_VERSION);
	if (!memchr(in->text, '\0', sizeof in->text))
		FAIL("batching text not terminated");
	return batch_params_parse(in->text, params, err, err_len);
}

int batch_restore(struct batch_state *s, const struct batch_saved *in, char *err, size_t err_len)
{
	struct batch_params p;
	if (batch_saved_check(in, &p, err, err_len))
		return -1;
	batch_init(s, &p);
	for (unsigned d = 0; d < NET_DIRS; d++) {
		struct batch_dir *b = &s->dir[d];
		b->packets = in->dir[d].packets;
		b->flushes_policy = in->dir[d].flushes_policy;
		b->flushes_timer = in->dir[d].flushes_timer;
		b->flushes_half_full = in->dir[d].flushes_half_full;
		b->added_latency_ns = in->dir[d].added_latency_ns;
	}
	return 0;
}

/* Runs anywhere (hv's migration loop, host unit tests): the table of
 * migration policies (MIGRATE_POLICY_TABLE in migrate.h), their knobs and
 * the engine's as text, and the integer arithmetic they share. To add a
 * policy: docs/policies.md. */
#include "lib/lib.h"
#include "migrate.h"

#define MIGRATE_POLICY_ENTRY(sym) &sym,
const struct migrate_policy *const migrate_policies[] = {
    MIGRATE_POLICY_TABLE(MIGRATE_POLICY_ENTRY)};
const size_t migrate_policy_count = ARRAY_SIZE(migrate_policies);

const struct knob migrate_engine_knobs[MIGRATE_ENGINE_KNOBS] = {
    /* Above every policy's own limit (xen-legacy stops at 30), so that it
     * only ends what a policy would not. */
    [MIGRATE_ROUND_LIMIT] = {.name = "round_limit",
                             .kind = KNOB_NUMBER,
                             .unit = "rounds",
                             .def = 50,
                             .min = 1,
                             .max = 1000,
                             .help = "the engine stops after this many live rounds, whatever "
                                     "the policy says"},
};

const struct migrate_policy *migrate_policy_find(const char *name)
{
	for (size_t i = 0; i < migrate_policy_count; i++)
		if (strcmp(migrate_policies[i]->name, name) == 0)
			return migrate_policies[i];
	return NULL;
}

#define FAIL(...)                                                                                  \
	do {                                                                                       \
		fmt_snprintf(err, err_len, __VA_ARGS__);                                           \
		return -1;                                                                         \
	} while (0)

int migrate_params_parse(const char *text, const struct migrate_policy **policy,
                         struct migrate_params *p, char *err, size_t err_len)
{
	const struct migrate_policy *chosen = &migrate_policy_default;
	const char *name;
	size_t name_len;
	unsigned times;
	if (knob_text_find(text, "policy", &name, &name_len, &times)) {
		chosen = NULL;
		for (size_t i = 0; i < migrate_policy_count; i++)
			if (strlen(migrate_policies[i]->name) == name_len &&
			    !strncmp(migrate_policies[i]->name, name, name_len))
				chosen = migrate_policies[i];
		if (!chosen) {
			char known[160] = "";
			size_t used = 0;
			for (size_t i = 0; i < migrate_policy_count && used < sizeof known; i++)
				used +=
				    (size_t)fmt_snprintf(known + used, sizeof known - used, "%s%s",
				                         i ? " " : "", migrate_policies[i]->name);
			FAIL("unknown migration policy '%.*s' (known: %s)", (int)name_len, name,
			     known);
		}
	} else if (times > 1) {
		FAIL("policy given %u times", times);
	}
	if (chosen->knob_count > MIGRATE_KNOBS_MAX || chosen->state_size > MIGRATE_POLICY_STATE_MAX)
		FAIL("policy %s declares %zu knobs and %zu bytes of state (at most %u and %u)",
		     chosen->name, chosen->knob_count, chosen->state_size, MIGRATE_KNOBS_MAX,
		     MIGRATE_POLICY_STATE_MAX);
	uint64_t knob[MIGRATE_KNOBS_MAX] = {0}, engine[MIGRATE_ENGINE_KNOBS];
	knobs_default(chosen->knobs, chosen->knob_count, knob);
	knobs_default(migrate_engine_knobs, MIGRATE_ENGINE_KNOBS, engine);
	const struct knob_group groups[] = {
	    {chosen->name, chosen->knobs, chosen->knob_count, knob},
	    {"engine", migrate_engine_knobs, MIGRATE_ENGINE_KNOBS, engine},
	};
	if (knobs_parse(groups, ARRAY_SIZE(groups), text, "policy", err, err_len))
		return -1;
	*policy = chosen;
	memcpy(p->knob, knob, sizeof knob);
	memcpy(p->engine, engine, sizeof engine);
	return 0;
}

int migrate_params_format(const struct migrate_policy *policy, const struct migrate_params *p,
                          char *buf, size_t size)
{
	size_t used = (size_t)fmt_snprintf(buf, size, "policy=%s ", policy->name);
	if (policy->knob_count) {
		used += (size_t)knobs_format(policy->knobs, policy->knob_count, p->knob,
		                             buf + MIN(used, size), size - MIN(used, size));
		used += (size_t)fmt_snprintf(buf + MIN(used, size), size - MIN(used, size), " ");
	}
	used += (size_t)knobs_format(migrate_engine_knobs, MIGRATE_ENGINE_KNOBS, p->engine,
	                             buf + MIN(used, size), size - MIN(used, size));
	return (int)used;
}

uint64_t migrate_scale(uint64_t value, uint64_t mul, uint64_t div)
{
	if (div == 0)
		return UINT64_MAX;
	/* value = whole * div + rest, so value * mul / div =
	 * whole * mul + rest * mul / div, and rest < div keeps the last
	 * product small. */
	uint64_t whole = value / div, rest = value % div;
	if (whole && mul > UINT64_MAX / whole)
		return UINT64_MAX;
	if (rest && mul > UINT64_MAX / rest)
		return UINT64_MAX;
	uint64_t high = whole * mul, low = rest * mul / div;
	return high > UINT64_MAX - low ? UINT64_MAX : high + low;
}

uint64_t migrate_predict_downtime_us(const struct migrate_round_stats *s,
                                     const struct migrate_params *p)
{
	uint64_t left_bytes = s->dirty_pages * MIGRATE_PAGE_SIZE + p->state_bytes;
	bool learned = s->learned_Bps != 0;
	/* What is left is counted in page bytes, so the rate is too: at
	 * 32-byte payloads a page takes 1.6 times its size on the wire. (Old
	 * traces, without commit_us, replay with the wire rate they used.) */
	uint64_t rate = learned                       ? s->learned_Bps
	                : s->commit_us && s->page_Bps ? s->page_Bps
	                                              : s->bandwidth_Bps;
	uint64_t commit = learned ? s->learned_commit_us : s->commit_us ? s->commit_us : s->rtt_us;
	uint64_t copy_us = migrate_scale(left_bytes, 1000000, rate);
	return copy_us > UINT64_MAX - commit ? UINT64_MAX : copy_us + commit;
}

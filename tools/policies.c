/* Runs on the host: prints every policy hv is built with, from the same
 * tables and C files hv links (batch_policies[], migrate_policies[] and the
 * migration engine's knobs), one JSON object a line, for the experiments
 * (tools/policy_list.py) and for `make policies`. Nothing here lists a
 * policy by hand: a policy added to its table shows up. */
#include <stdio.h>

#include "lib/lib.h"
#include "migrate/migrate.h"
#include "net/net.h"

static const char *kind_name(enum knob_kind kind)
{
	return kind == KNOB_DURATION ? "duration" : kind == KNOB_CHOICE ? "choice" : "number";
}

static void print_policy(const char *family, const char *name, const char *summary,
                         const struct knob *knobs, size_t count)
{
	printf("{\"family\":\"%s\",\"name\":\"%s\",\"summary\":\"%s\",\"knobs\":[", family, name,
	       summary);
	for (size_t i = 0; i < count; i++) {
		const struct knob *k = &knobs[i];
		char def[32], low[32], high[32], help[200];
		knob_format_value(k, k->def, def, sizeof def);
		knob_format_value(k, k->min, low, sizeof low);
		knob_format_value(k, k->max, high, sizeof high);
		fmt_json_escape(help, sizeof help, k->help);
		printf("%s{\"name\":\"%s\",\"kind\":\"%s\",\"unit\":\"%s\",\"default\":\"%s\","
		       "\"min\":\"%s\",\"max\":\"%s\",\"help\":\"%s\"}",
		       i ? "," : "", k->name, kind_name(k->kind),
		       k->kind == KNOB_DURATION ? "ns"
		       : k->unit                ? k->unit
		                                : "",
		       def, k->kind == KNOB_CHOICE ? "" : low, k->kind == KNOB_CHOICE ? "" : high,
		       help);
	}
	printf("]}\n");
}

int main(void)
{
	for (size_t i = 0; i < batch_policy_count; i++) {
		const struct batch_policy *p = batch_policies[i];
		print_policy("batch", p->name, p->summary, p->knobs, p->knob_count);
	}
	for (size_t i = 0; i < migrate_policy_count; i++) {
		const struct migrate_policy *p = migrate_policies[i];
		print_policy("migrate", p->name, p->summary, p->knobs, p->knob_count);
	}
	print_policy("migrate-engine", "engine", "the migration engine's knobs, with every policy",
	             migrate_engine_knobs, MIGRATE_ENGINE_KNOBS);
	return 0;
}

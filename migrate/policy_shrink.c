/* Runs anywhere (hv's migration loop, host unit tests): the example stop
 * policy of docs/policies.md, with a knob of its own. Pre-copy pays off
 * while each round leaves markedly fewer dirty pages than it had to send;
 * stop as soon as a round shrinks the dirty set by less than ratio percent
 * (or leaves nothing). */
#include "migrate.h"

/* Its knob: the engine parses, checks and prints it from this table
 * (`migrate VM DEST pml policy=shrink ratio=25`); the policy reads it as
 * p->knob[RATIO]. */
enum { RATIO };
static const struct knob shrink_knobs[] = {
    [RATIO] = {.name = "ratio",
               .kind = KNOB_NUMBER,
               .unit = "%",
               .def = 10,
               .min = 0,
               .max = 100,
               .help = "stop when a round shrinks the dirty set by less than this"},
};

static bool shrink_should_stop(const struct migrate_round_stats *s, const struct migrate_params *p)
{
	if (s->dirty_pages == 0 || s->dirty_pages >= s->prev_dirty_pages)
		return true;
	uint64_t shrunk_percent =
	    (s->prev_dirty_pages - s->dirty_pages) * 100 / s->prev_dirty_pages;
	return shrunk_percent < p->knob[RATIO];
}

const struct migrate_policy migrate_policy_shrink = {
    .name = "shrink",
    .summary = "stop when a round shrinks the dirty set by less than ratio percent",
    .knobs = shrink_knobs,
    .knob_count = ARRAY_SIZE(shrink_knobs),
    .should_stop = shrink_should_stop,
};

/* Runs at every settlement (and on the host in unit tests): the
 * attribution rules of the tools people use today, recomputed on our own
 * interval trace so they can be set beside ours (the ledger, exact at every
 * VM switch). Each is our reading of the tool's documented rule:
 *  - scaphandre: every 5 s window, a VM gets the window's energy times its
 *    share of the window's CPU time (idle time is nobody's);
 *  - kepler: every 3 s window, energy splits into an idle part (the idle
 *    power times the window) and a dynamic part; both are divided by each
 *    VM's share of the active CPU time;
 *  - qemu-vrapl: every 1 s, the energy of the last 10 ms is divided by the
 *    VMs' shares of those 10 ms and scaled to the whole second.
 * Only ours adds up to the measured total; the others show by how much
 * they miss. */
#include "lib/lib.h"
#include "power/power.h"

static uint64_t scale(uint64_t a, uint64_t b, uint64_t c)
{
	uint64_t remainder;
	return c ? power_mul_div(a, b, c, &remainder) : 0;
}

static void window_add(struct attribution_rule_state *s, const struct power_interval *iv)
{
	if (!s->window_start)
		s->window_start = iv->tsc_end - iv->cycles;
	s->window_nj += iv->energy_nj;
	s->window_cycles += iv->cycles;
	s->window_idle += iv->idle_cycles;
	for (unsigned v = 0; v < POWER_MAX_VMS; v++)
		s->window_vm[v] += iv->vm_cycles[v];
}

static void window_reset(struct attribution_rule_state *s, uint64_t start)
{
	s->window_start = start;
	s->window_nj = s->window_cycles = s->window_idle = 0;
	memset(s->window_vm, 0, sizeof s->window_vm);
}

/* ---- scaphandre ---- */
static void scaphandre_close(struct attribution_rule_state *s)
{
	for (unsigned v = 0; v < POWER_MAX_VMS; v++)
		s->vm_nj[v] += scale(s->window_nj, s->window_vm[v], s->window_cycles);
}

static void scaphandre_interval(struct attribution_rule_state *s, const struct power_interval *iv,
                                const struct power_model *m, uint64_t tsc_khz)
{
	(void)m;
	window_add(s, iv);
	if (s->window_cycles >= 5000 * tsc_khz) {
		scaphandre_close(s);
		window_reset(s, iv->tsc_end);
	}
}

static void scaphandre_finish(struct attribution_rule_state *s, const struct power_model *m,
                              uint64_t tsc_khz)
{
	(void)m, (void)tsc_khz;
	scaphandre_close(s);
	window_reset(s, 0);
}

/* ---- kepler ---- */
static void kepler_close(struct attribution_rule_state *s, const struct power_model *m,
                         uint64_t tsc_khz)
{
	uint64_t active = s->window_cycles - s->window_idle;
	uint64_t idle_nj = model_energy_nj(m->idle_mw, s->window_cycles, tsc_khz);
	if (idle_nj > s->window_nj)
		idle_nj = s->window_nj;
	uint64_t dynamic_nj = s->window_nj - idle_nj;
	for (unsigned v = 0; v < POWER_MAX_VMS; v++)
		s->vm_nj[v] += scale(dynamic_nj, s->window_vm[v], active) +
		               scale(idle_nj, s->window_vm[v], active);
}

static void kepler_interval(struct attribution_rule_state *s, const struct power_interval *iv,
                            const struct power_model *m, uint64_t tsc_khz)
{
	window_add(s, iv);
	if (s->window_cycles >= 3000 * tsc_khz) {
		kepler_close(s, m, tsc_khz);
		window_reset(s, iv->tsc_end);
	}
}

static void kepler_finish(struct attribution_rule_state *s, const struct power_model *m,
                          uint64_t tsc_khz)
{
	kepler_close(s, m, tsc_khz);
	window_reset(s, 0);
}

/* ---- qemu-vrapl ---- */
static void qemu_interval(struct attribution_rule_state *s, const struct power_interval *iv,
                          const struct power_model *m, uint64_t tsc_khz)
{
	(void)m;
	if (s->recent_count == 0) /* the first interval starts the clock */
		s->last_tick = iv->tsc_end - iv->cycles;
	s->recent[s->recent_next] = *iv;
	s->recent_next = (s->recent_next + 1) % ARRAY_SIZE(s->recent);
	if (s->recent_count < ARRAY_SIZE(s->recent))
		s->recent_count++;
	uint64_t second = 1000 * tsc_khz, sample = 10 * tsc_khz;
	while (iv->tsc_end - s->last_tick >= second) {
		s->last_tick += second;
		/* The intervals that end in the 10 ms before the tick. */
		uint64_t nj = 0, cycles = 0, vm[POWER_MAX_VMS] = {0};
		for (unsigned i = 0; i < s->recent_count; i++) {
			const struct power_interval *r = &s->recent[i];
			if (r->tsc_end > s->last_tick || r->tsc_end + sample <= s->last_tick)
				continue;
			nj += r->energy_nj;
			cycles += r->cycles;
			for (unsigned v = 0; v < POWER_MAX_VMS; v++)
				vm[v] += r->vm_cycles[v];
		}
		for (unsigned v = 0; v < POWER_MAX_VMS; v++)
			s->vm_nj[v] += scale(scale(nj, vm[v], cycles), second, cycles);
	}
}

static void qemu_finish(struct attribution_rule_state *s, const struct power_model *m,
                        uint64_t tsc_khz)
{
	(void)s, (void)m, (void)tsc_khz; /* a partial second is never sampled */
}

const struct attribution_rule attribution_rules[] = {
    {"scaphandre", "CPU-time share over 5 s windows", scaphandre_interval, scaphandre_finish},
    {"kepler", "idle and dynamic energy by active CPU ratio, 3 s windows", kepler_interval,
     kepler_finish},
    {"qemu-vrapl", "10 ms samples scaled to 1 s ticks", qemu_interval, qemu_finish},
};
const unsigned attribution_rule_count = ARRAY_SIZE(attribution_rules);

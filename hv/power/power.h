/* power: energy accounting. Where energy comes from (RAPL MSRs, or a power
 * model fed by active and halted cycles where there is no RAPL), whom it is
 * attributed to (each VM in guest mode, hv's work for each VM, migration,
 * network, idle, other hv work), the rules other tools use for comparison,
 * and the virtual RAPL counters guests read.
 *
 * The pure parts (ledger.c, model.c, rules.c, the RAPL arithmetic in
 * rapl_math.c) are unit-tested on the host; power.c binds them to the CPU
 * and the scheduler. Energy is counted in integer nanojoules. */
#ifndef HV_POWER_H
#define HV_POWER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define POWER_MAX_VMS 8

/* Who the CPU is working for. */
enum power_account_kind {
	ACCOUNT_VM_GUEST,  /* a VM in guest mode */
	ACCOUNT_VM_HV,     /* hv handling that VM's exits */
	ACCOUNT_MIGRATION, /* the migration engine */
	ACCOUNT_NET,       /* the network backend and switch */
	ACCOUNT_IDLE,      /* CPU halted: nobody runnable */
	ACCOUNT_HV_OTHER,  /* boot, scheduler, console */
};
/* Accounts 0..2*POWER_MAX_VMS-1 are per VM (guest, hv), then the globals. */
#define ACCOUNT_GUEST(vm)    (2 * (vm))
#define ACCOUNT_HV(vm)       (2 * (vm) + 1)
#define ACCOUNT_MIGRATION_ID (2 * POWER_MAX_VMS)
#define ACCOUNT_NET_ID       (2 * POWER_MAX_VMS + 1)
#define ACCOUNT_IDLE_ID      (2 * POWER_MAX_VMS + 2)
#define ACCOUNT_HV_OTHER_ID  (2 * POWER_MAX_VMS + 3)
#define ACCOUNT_COUNT        (2 * POWER_MAX_VMS + 4)

/* ---- ledger.c: exact attribution ----
 * Cycles are charged to accounts as they pass; at each settlement the
 * energy of the interval is split in proportion to the cycles, in integer
 * nanojoules, by largest remainder: the parts add up to the interval's
 * energy exactly, every interval. */
struct power_ledger {
	uint64_t pending_cycles[ACCOUNT_COUNT]; /* since the last settlement */
	uint64_t energy_nj[ACCOUNT_COUNT];      /* attributed so far */
	uint64_t cycles[ACCOUNT_COUNT];         /* charged so far */
	uint64_t total_nj;                      /* every interval's energy */
	uint64_t intervals;
	/* Bit i: account i has pending cycles. A settlement (every tick, at
	 * most 1 ms apart) visits only these few instead of all
	 * ACCOUNT_COUNT: in bochs, where time is instructions, the full
	 * loops cost ~0.5% of a lone VM's time. */
	uint32_t pending_mask;
};
_Static_assert(ACCOUNT_COUNT <= 32, "pending_mask has a bit per account");
void ledger_charge(struct power_ledger *l, unsigned account, uint64_t cycles);
/* Splits interval_nj over the pending cycles; with no pending cycles the
 * energy goes to idle. */
void ledger_settle(struct power_ledger *l, uint64_t interval_nj);
uint64_t ledger_sum_nj(const struct power_ledger *l);
/* a * b / c (quotient must fit 64 bits) and a * b mod c. */
uint64_t power_mul_div(uint64_t a, uint64_t b, uint64_t c, uint64_t *remainder);

/* ---- model.c: power where there is no RAPL ----
 * One core: the node draws idle_mw while halted and busy_mw while active.
 * Defaults from seed 000 (CLOSER 2014, 3-node Xeon cluster): an idle node
 * 50 W, one busy core 72 W. A boot option overrides them. */
struct power_model {
	uint32_t idle_mw, busy_mw;
};
#define POWER_MODEL_IDLE_MW_DEFAULT 50000u
#define POWER_MODEL_BUSY_MW_DEFAULT 72000u
/* Energy of cycles at a power, with the TSC at tsc_khz. */
uint64_t model_energy_nj(uint32_t mw, uint64_t cycles, uint64_t tsc_khz);
uint64_t model_interval_nj(const struct power_model *m, uint64_t active_cycles,
                           uint64_t halted_cycles, uint64_t tsc_khz);

/* ---- rapl_math.c: RAPL units and counters (SDM Vol. 3B 15.10) ---- */
/* MSR_RAPL_POWER_UNIT bits 12:8: energy status unit, 1/2^ESU joule. */
static inline unsigned rapl_energy_shift(uint64_t power_unit_msr)
{
	return (unsigned)(power_unit_msr >> 8) & 0x1f;
}
/* The 32-bit counter difference, correct across one wraparound. */
static inline uint32_t rapl_delta(uint32_t before, uint32_t after)
{
	return after - before;
}
uint64_t rapl_units_to_nj(uint64_t units, unsigned shift);
/* nJ to counter units (truncated); the counter a guest sees wraps at 32 bits. */
uint64_t rapl_nj_to_units(uint64_t nj, unsigned shift);
/* The units register we show guests when the host has no RAPL: power 1/8 W,
 * energy 1/2^14 J (61 uJ), time 1/2^10 s, like most Intel parts. */
#define VRAPL_POWER_UNIT_DEFAULT 0x000A0E03ull

/* ---- rules.c: how other tools would have split the same energy ----
 * Each rule sees the same stream of settled intervals (energy, and per VM
 * the cycles it used in guest mode plus hv work for it) and keeps its own
 * per-VM totals. Our rule is the ledger itself. */
struct power_interval {
	uint64_t tsc_end;
	uint64_t cycles; /* length of the interval */
	uint64_t energy_nj;
	uint64_t idle_cycles;
	uint64_t vm_cycles[POWER_MAX_VMS];
};
struct attribution_rule_state {
	uint64_t vm_nj[POWER_MAX_VMS];
	/* window accumulators */
	uint64_t window_start, window_nj, window_cycles, window_idle;
	uint64_t window_vm[POWER_MAX_VMS];
	uint64_t last_tick;
	struct power_interval recent[32]; /* the newest intervals, a ring */
	unsigned recent_next, recent_count;
};
struct attribution_rule {
	const char *name;
	const char *what;
	void (*on_interval)(struct attribution_rule_state *s, const struct power_interval *iv,
	                    const struct power_model *idle_model, uint64_t tsc_khz);
	void (*finish)(struct attribution_rule_state *s, const struct power_model *idle_model,
	               uint64_t tsc_khz);
};
extern const struct attribution_rule attribution_rules[];
extern const unsigned attribution_rule_count;

#ifndef HOSTED_TEST
/* ---- power.c: the live accounting in hv ---- */
/* Picks the source (RAPL if it answers, else the model with its options
 * "power_idle_mw=" and "power_busy_mw=") and starts the clock. */
void power_init(const char *options, uint64_t tsc_khz);
const char *power_source_name(void);
/* The CPU now works for this account (time since the last switch is
 * charged to the previous one); returns the previous one, so that work
 * done on behalf of another (the uplink polled from inside a migration's
 * pass) can give the CPU back to it. */
unsigned power_switch_to(unsigned account);
/* Settles if at least 1 ms passed, or always with force (VM switches). */
void power_settle(bool force);
/* When the next settlement is due (TSC), so the run loop can stop there. */
uint64_t power_next_tick_tsc(void);
/* Halts the CPU until the TSC reaches deadline (or returns at once if that
 * cannot be armed), charging the time to idle. */
void power_idle_until(uint64_t deadline_tsc, bool may_halt);
/* The guest-visible RAPL MSRs; false if msr is not one of them. */
bool vrapl_read_msr(unsigned vm_id, uint32_t msr, uint64_t *value);
/* A VM's virtual RAPL counter (nJ), and making a migrated VM's go on from
 * where it stood on its old host (a guest's deltas must not see it restart). */
uint64_t vrapl_counter_nj(unsigned vm_id);
void vrapl_continue_from(unsigned vm_id, uint64_t counter_nj);
/* Reports: one VM, the whole table (console "energy"), and the summary
 * with every rule's split. */
void power_report_vm(unsigned vm_id, const char *vm_name);
void power_print_table(void);
void power_report_summary(void);
/* Energy attributed to one account so far (nJ). */
uint64_t power_account_nj(unsigned account);
/* TSC cycles charged to one account so far (up to the last switch). */
uint64_t power_account_cycles(unsigned account);
#endif

#endif

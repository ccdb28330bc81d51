/* Runs in the scheduler loop and VM-exit context: live energy accounting.
 * The CPU's time is charged to accounts as it switches between them
 * (power_switch_to); at every VM switch and at least every millisecond the
 * interval's energy is read from the source and split (power_settle). */
#include "power/power.h"
#include "lib/lib.h"
#include "vm/vm.h"
#include "x86/x86.h"

#define MSR_IA32_APIC_BASE    0x1B
#define MSR_IA32_TSC_DEADLINE 0x6E0
#define MSR_X2APIC_EOI        0x80B
#define MSR_X2APIC_SVR        0x80F
#define MSR_X2APIC_LVT_TIMER  0x832
#define HOST_TIMER_VECTOR     0xF0

static struct power_ledger ledger;
static struct power_model model = {POWER_MODEL_IDLE_MW_DEFAULT, POWER_MODEL_BUSY_MW_DEFAULT};
static bool use_rapl;
static uint64_t host_power_unit = VRAPL_POWER_UNIT_DEFAULT;
static uint32_t last_rapl_counter;
static uint64_t tsc_khz;
static uint64_t start_tsc, last_switch_tsc, last_settle_tsc;
static unsigned current_account = ACCOUNT_HV_OTHER_ID;
static uint64_t interval_active, interval_halted;
static struct attribution_rule_state rule_states[8];
static bool host_timer; /* x2APIC TSC-deadline timer armed for idle waits */
/* What each guest's virtual RAPL shows, refreshed at most every 1 ms. */
static uint64_t vrapl_visible_nj[POWER_MAX_VMS];
/* Added to a VM's attributed energy: where its counter stood when it
 * arrived by migration (0 for a VM that started here). */
static uint64_t vrapl_base_nj[POWER_MAX_VMS];
static uint64_t vrapl_refresh_tsc;
/* power_sample_ms=N: a power_sample event every N ms, for plots. */
static uint64_t sample_period_cycles, last_sample_tsc, last_sample_total_nj;
static uint64_t last_sample_vm_nj[POWER_MAX_VMS], last_sample_idle_nj, last_sample_migration_nj;

static uint64_t option_u32(const char *options, const char *key, uint64_t fallback)
{
	char value[16];
	if (!cmdline_get(options, key, value, sizeof value) || !value[0])
		return fallback;
	uint64_t v = 0;
	for (const char *p = value; *p; p++) {
		if (*p < '0' || *p > '9' || v > 100000000)
			return fallback;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	return v;
}

void power_init(const char *options, uint64_t khz)
{
	tsc_khz = khz;
	char want[8] = "auto";
	cmdline_get(options, "power", want, sizeof want);
	uint64_t unit, counter;
	bool rapl_answers = rdmsr_safe(MSR_RAPL_POWER_UNIT, &unit) && (unit & 0x1f1f0f) &&
	                    rdmsr_safe(MSR_PKG_ENERGY_STATUS, &counter);
	if (rapl_answers && strcmp(want, "model")) {
		use_rapl = true;
		host_power_unit = unit;
		last_rapl_counter = (uint32_t)counter;
	}
	model.idle_mw = (uint32_t)option_u32(options, "power_idle_mw", model.idle_mw);
	model.busy_mw = (uint32_t)option_u32(options, "power_busy_mw", model.busy_mw);
	sample_period_cycles = option_u32(options, "power_sample_ms", 0) * khz;
	/* Idle waits halt on the x2APIC's TSC-deadline timer (SDM Vol. 3A
	 * 11.5.4.1), where there is one: CPUID.1:ECX bits 21 and 24. */
	struct cpuid_regs f = cpuid(1, 0);
	if ((f.ecx >> 21 & 1) && (f.ecx >> 24 & 1)) {
		wrmsr(MSR_IA32_APIC_BASE, rdmsr(MSR_IA32_APIC_BASE) | (1u << 11) | (1u << 10));
		wrmsr(MSR_X2APIC_SVR, 0x1FF); /* APIC on, spurious vector 0xFF */
		wrmsr(MSR_X2APIC_LVT_TIMER, HOST_TIMER_VECTOR | (2u << 17));
		wrmsr(MSR_IA32_TSC_DEADLINE, 0);
		host_timer = true;
	}
	start_tsc = last_switch_tsc = last_settle_tsc = vrapl_refresh_tsc = last_sample_tsc =
	    rdtsc();
	kprintf("hv: energy from %s%s; idle by %s\n",
	        use_rapl ? "RAPL (MSR_PKG_ENERGY_STATUS)" : "the power model", use_rapl ? "" : ":",
	        host_timer ? "HLT until the TSC deadline"
	                   : "spinning (no x2APIC TSC-deadline timer)");
	if (!use_rapl)
		kprintf(
		    "hv:   idle %u mW, one busy core %u mW (seed 000's node: 50 W idle, 72 W with "
		    "one busy core; override with power_idle_mw= power_busy_mw=)\n",
		    model.idle_mw, model.busy_mw);
	log_event(
	    "{\"ev\":\"power\",\"source\":\"%s\",\"idle_mw\":%u,\"busy_mw\":%u,\"idle_halt\":%s}",
	    power_source_name(), model.idle_mw, model.busy_mw, host_timer ? "true" : "false");
}

const char *power_source_name(void)
{
	return use_rapl ? "rapl" : "model";
}

unsigned power_switch_to(unsigned account)
{
	unsigned previous = current_account;
	uint64_t now = rdtsc();
	uint64_t cycles = now - last_switch_tsc;
	ledger_charge(&ledger, current_account, cycles);
	if (current_account == ACCOUNT_IDLE_ID)
		interval_halted += cycles;
	else
		interval_active += cycles;
	current_account = account;
	last_switch_tsc = now;
	return previous;
}

uint64_t power_next_tick_tsc(void)
{
	return last_settle_tsc + tsc_khz;
}

static uint64_t interval_energy_nj(void)
{
	if (!use_rapl)
		return model_interval_nj(&model, interval_active, interval_halted, tsc_khz);
	uint64_t raw;
	if (!rdmsr_safe(MSR_PKG_ENERGY_STATUS, &raw))
		return 0;
	uint32_t delta = rapl_delta(last_rapl_counter, (uint32_t)raw);
	last_rapl_counter = (uint32_t)raw;
	return rapl_units_to_nj(delta, rapl_energy_shift(host_power_unit));
}

/* Average power since the last sample, whole, idle, the migration engine
 * and per VM, in mW. */
static void emit_sample(uint64_t now)
{
	uint64_t cycles = now - last_sample_tsc;
	uint64_t r, ms_x1000 = power_mul_div(cycles, 1000, tsc_khz, &r); /* microseconds */
	char per_vm[400];
	size_t used = 0;
	per_vm[0] = '\0';
	for (unsigned v = 0; v < vm_count && v < POWER_MAX_VMS && used < sizeof per_vm; v++) {
		uint64_t nj = ledger.energy_nj[ACCOUNT_GUEST(v)] + ledger.energy_nj[ACCOUNT_HV(v)];
		used += (size_t)fmt_snprintf(
		    per_vm + used, sizeof per_vm - used, "%s\"%s\":%llu", v ? "," : "", vms[v].name,
		    (unsigned long long)((nj - last_sample_vm_nj[v]) / (ms_x1000 ? ms_x1000 : 1)));
		last_sample_vm_nj[v] = nj;
	}
	/* nJ / us = mW */
	log_event("{\"ev\":\"power_sample\",\"t_ms\":%llu,\"mw\":%llu,\"idle_mw\":%llu,"
	          "\"migration_mw\":%llu,\"vm_mw\":{%s}}",
	          (unsigned long long)((now - start_tsc) / tsc_khz),
	          (unsigned long long)((ledger.total_nj - last_sample_total_nj) /
	                               (ms_x1000 ? ms_x1000 : 1)),
	          (unsigned long long)((ledger.energy_nj[ACCOUNT_IDLE_ID] - last_sample_idle_nj) /
	                               (ms_x1000 ? ms_x1000 : 1)),
	          (unsigned long long)((ledger.energy_nj[ACCOUNT_MIGRATION_ID] -
	                                last_sample_migration_nj) /
	                               (ms_x1000 ? ms_x1000 : 1)),
	          per_vm);
	last_sample_migration_nj = ledger.energy_nj[ACCOUNT_MIGRATION_ID];
	last_sample_total_nj = ledger.total_nj;
	last_sample_idle_nj = ledger.energy_nj[ACCOUNT_IDLE_ID];
	last_sample_tsc = now;
}

void power_settle(bool force)
{
	uint64_t now = rdtsc();
	if (!tsc_khz || (!force && now - last_settle_tsc < tsc_khz))
		return;
	power_switch_to(current_account);
	struct power_interval iv;
	memset(&iv, 0, sizeof iv);
	iv.tsc_end = now;
	iv.cycles = now - last_settle_tsc;
	iv.idle_cycles = ledger.pending_cycles[ACCOUNT_IDLE_ID];
	for (unsigned v = 0; v < POWER_MAX_VMS; v++)
		iv.vm_cycles[v] =
		    ledger.pending_cycles[ACCOUNT_GUEST(v)] + ledger.pending_cycles[ACCOUNT_HV(v)];
	iv.energy_nj = interval_energy_nj();
	ledger_settle(&ledger, iv.energy_nj);
	for (unsigned r = 0; r < attribution_rule_count; r++)
		attribution_rules[r].on_interval(&rule_states[r], &iv, &model, tsc_khz);
	interval_active = interval_halted = 0;
	last_settle_tsc = now;
	if (sample_period_cycles && now - last_sample_tsc >= sample_period_cycles)
		emit_sample(now);
	/* Guests see their counters move at most once per millisecond: a finer
	 * counter would be a power side channel (PLATYPUS, S&P 2021). */
	if (now - vrapl_refresh_tsc >= tsc_khz) {
		for (unsigned v = 0; v < POWER_MAX_VMS; v++)
			vrapl_visible_nj[v] = vrapl_base_nj[v] +
			                      ledger.energy_nj[ACCOUNT_GUEST(v)] +
			                      ledger.energy_nj[ACCOUNT_HV(v)];
		vrapl_refresh_tsc = now;
	}
}

void power_idle_until(uint64_t deadline, bool may_halt)
{
	power_switch_to(ACCOUNT_IDLE_ID);
	if (host_timer && may_halt) {
		wrmsr(MSR_IA32_TSC_DEADLINE, deadline);
		while (rdtsc() < deadline)
			__asm__ volatile("sti; hlt; cli" ::: "memory");
		wrmsr(MSR_IA32_TSC_DEADLINE, 0);
	} else {
		while (rdtsc() < deadline)
			cpu_relax();
	}
	power_switch_to(ACCOUNT_HV_OTHER_ID);
}

bool vrapl_read_msr(unsigned vm_id, uint32_t msr, uint64_t *value)
{
	if (msr == MSR_RAPL_POWER_UNIT) {
		*value = use_rapl ? host_power_unit : VRAPL_POWER_UNIT_DEFAULT;
		return true;
	}
	if (msr == MSR_PKG_ENERGY_STATUS && vm_id < POWER_MAX_VMS) {
		unsigned shift =
		    rapl_energy_shift(use_rapl ? host_power_unit : VRAPL_POWER_UNIT_DEFAULT);
		*value = (uint32_t)rapl_nj_to_units(vrapl_visible_nj[vm_id], shift);
		return true;
	}
	return false; /* PP0/DRAM: not modelled; hardware without them faults too */
}

uint64_t vrapl_counter_nj(unsigned vm_id)
{
	return vm_id < POWER_MAX_VMS ? vrapl_visible_nj[vm_id] : 0;
}

void vrapl_continue_from(unsigned vm_id, uint64_t counter_nj)
{
	if (vm_id >= POWER_MAX_VMS)
		return;
	/* Modulo 2^64, like the counter itself: visible = counter_nj now. */
	vrapl_base_nj[vm_id] = counter_nj - ledger.energy_nj[ACCOUNT_GUEST(vm_id)] -
	                       ledger.energy_nj[ACCOUNT_HV(vm_id)];
	vrapl_visible_nj[vm_id] = counter_nj;
}

void power_report_vm(unsigned vm_id, const char *vm_name)
{
	power_settle(true);
	uint64_t guest = ledger.energy_nj[ACCOUNT_GUEST(vm_id)],
	         hv = ledger.energy_nj[ACCOUNT_HV(vm_id)];
	log_event("{\"ev\":\"energy\",\"vm\":\"%s\",\"uj\":%llu,\"guest_uj\":%llu,\"hv_uj\":%llu,"
	          "\"guest_cycles\":%llu,\"hv_cycles\":%llu,\"vrapl_uj\":%llu,\"source\":\"%s\"}",
	          vm_name, (unsigned long long)((guest + hv) / 1000),
	          (unsigned long long)(guest / 1000), (unsigned long long)(hv / 1000),
	          (unsigned long long)ledger.cycles[ACCOUNT_GUEST(vm_id)],
	          (unsigned long long)ledger.cycles[ACCOUNT_HV(vm_id)],
	          (unsigned long long)(vrapl_visible_nj[vm_id] / 1000), power_source_name());
}

static unsigned idle_residency_permille(void)
{
	uint64_t total = 0;
	for (unsigned i = 0; i < ACCOUNT_COUNT; i++)
		total += ledger.cycles[i];
	return total ? (unsigned)(ledger.cycles[ACCOUNT_IDLE_ID] * 1000 / total) : 0;
}

void power_print_table(void)
{
	power_settle(true);
	uint64_t elapsed_ms = (rdtsc() - start_tsc) / (tsc_khz ? tsc_khz : 1);
	kprintf("energy (%s, %llu ms of emulated or real time, mJ):\n", power_source_name(),
	        (unsigned long long)elapsed_ms);
	kprintf("  %-16s %12s %12s %12s\n", "account", "guest mJ", "hv mJ", "total mJ");
	for (unsigned v = 0; v < vm_count && v < POWER_MAX_VMS; v++) {
		uint64_t g = ledger.energy_nj[ACCOUNT_GUEST(v)],
		         h = ledger.energy_nj[ACCOUNT_HV(v)];
		kprintf("  %-16s %12llu %12llu %12llu\n", vms[v].name,
		        (unsigned long long)(g / 1000000), (unsigned long long)(h / 1000000),
		        (unsigned long long)((g + h) / 1000000));
	}
	static const struct {
		const char *name;
		unsigned id;
	} globals[] = {{"migration", ACCOUNT_MIGRATION_ID},
	               {"network", ACCOUNT_NET_ID},
	               {"idle", ACCOUNT_IDLE_ID},
	               {"hv (other)", ACCOUNT_HV_OTHER_ID}};
	for (unsigned i = 0; i < ARRAY_SIZE(globals); i++)
		kprintf("  %-16s %12s %12s %12llu\n", globals[i].name, "", "",
		        (unsigned long long)(ledger.energy_nj[globals[i].id] / 1000000));
	kprintf("  %-16s %12s %12s %12llu (measured %llu; idle residency %u.%u%%)\n", "sum", "", "",
	        (unsigned long long)(ledger_sum_nj(&ledger) / 1000000),
	        (unsigned long long)(ledger.total_nj / 1000000), idle_residency_permille() / 10,
	        idle_residency_permille() % 10);
}

void power_report_summary(void)
{
	power_print_table();
	for (unsigned r = 0; r < attribution_rule_count; r++)
		attribution_rules[r].finish(&rule_states[r], &model, tsc_khz);
	char rules[900] = "";
	size_t used = 0;
	for (unsigned r = 0; r < attribution_rule_count && used < sizeof rules; r++) {
		used += (size_t)fmt_snprintf(rules + used, sizeof rules - used, "%s\"%s\":{",
		                             r ? "," : "", attribution_rules[r].name);
		for (unsigned v = 0; v < vm_count && v < POWER_MAX_VMS && used < sizeof rules; v++)
			used += (size_t)fmt_snprintf(
			    rules + used, sizeof rules - used, "%s\"%s\":%llu", v ? "," : "",
			    vms[v].name, (unsigned long long)(rule_states[r].vm_nj[v] / 1000));
		if (used < sizeof rules)
			used += (size_t)fmt_snprintf(rules + used, sizeof rules - used, "}");
	}
	char ours[300] = "";
	size_t o = 0;
	for (unsigned v = 0; v < vm_count && v < POWER_MAX_VMS && o < sizeof ours; v++)
		o += (size_t)fmt_snprintf(ours + o, sizeof ours - o, "%s\"%s\":%llu", v ? "," : "",
		                          vms[v].name,
		                          (unsigned long long)((ledger.energy_nj[ACCOUNT_GUEST(v)] +
		                                                ledger.energy_nj[ACCOUNT_HV(v)]) /
		                                               1000));
	log_event("{\"ev\":\"energy_summary\",\"source\":\"%s\",\"total_uj\":%llu,\"sum_uj\":%llu,"
	          "\"total_nj\":%llu,\"sum_nj\":%llu,\"idle_uj\":%llu,\"hv_other_uj\":%llu,"
	          "\"migration_uj\":%llu,\"net_uj\":%llu,\"idle_residency_permille\":%u,"
	          "\"intervals\":%llu,\"ours\":{%s},\"rules\":{%s}}",
	          power_source_name(), (unsigned long long)(ledger.total_nj / 1000),
	          (unsigned long long)(ledger_sum_nj(&ledger) / 1000),
	          (unsigned long long)ledger.total_nj, (unsigned long long)ledger_sum_nj(&ledger),
	          (unsigned long long)(ledger.energy_nj[ACCOUNT_IDLE_ID] / 1000),
	          (unsigned long long)(ledger.energy_nj[ACCOUNT_HV_OTHER_ID] / 1000),
	          (unsigned long long)(ledger.energy_nj[ACCOUNT_MIGRATION_ID] / 1000),
	          (unsigned long long)(ledger.energy_nj[ACCOUNT_NET_ID] / 1000),
	          idle_residency_permille(), (unsigned long long)ledger.intervals, ours, rules);
}

uint64_t power_account_nj(unsigned account)
{
	return account < ACCOUNT_COUNT ? ledger.energy_nj[account] : 0;
}

uint64_t power_account_cycles(unsigned account)
{
	return account < ACCOUNT_COUNT ? ledger.cycles[account] + ledger.pending_cycles[account]
	                               : 0;
}

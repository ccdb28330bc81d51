/* Runs in the main loop after boot: shares the one physical CPU between
 * vCPUs. Mechanism here (timer wake-ups, idling, the loop); the choice of
 * who runs next and for how long is a struct sched_policy, so a credit
 * scheduler can replace round robin without touching this loop. */
#include "console/console.h"
#include "lib/lib.h"
#include "migration/migration.h"
#include "net/net.h"
#include "power/power.h"
#include "vm/vm.h"
#include "x86/x86.h"

/* ---- the reference policy: round robin, equal slices ---- */
static unsigned rr_next;

enum { RR_SLICE };
static const struct knob rr_knobs[] = {
    [RR_SLICE] = {.name = "slice",
                  .kind = KNOB_DURATION,
                  .def = 2 * NS_PER_MS,
                  .min = 100 * NS_PER_US,
                  .max = 100 * NS_PER_MS,
                  .help = "how long a vCPU runs before the next runnable one"},
};

static struct vcpu *rr_pick_next(const uint64_t *knob)
{
	(void)knob;
	for (unsigned i = 0; i < vm_count; i++) {
		struct vm *vm = &vms[(rr_next + i) % vm_count];
		if (vm->vcpu.state == VCPU_RUNNABLE) {
			rr_next = (vm->id + 1) % vm_count;
			return &vm->vcpu;
		}
	}
	return NULL;
}

static uint64_t rr_slice_ticks(const struct vcpu *v, const uint64_t *knob)
{
	(void)v;
	return knob[RR_SLICE] * host_tsc_khz / 1000000; /* ns * kHz / 10^6 */
}

static const struct sched_policy sched_round_robin = {
    .name = "round-robin",
    .summary = "every runnable vCPU in turn, for one slice each",
    .knobs = rr_knobs,
    .knob_count = ARRAY_SIZE(rr_knobs),
    .pick_next = rr_pick_next,
    .slice_ticks = rr_slice_ticks,
};

/* Every scheduling policy: one line each. */
static const struct sched_policy *const sched_policies[] = {
    &sched_round_robin,
    /* new policies above this line */
};

static const struct sched_policy *sched_policy = &sched_round_robin;
static uint64_t sched_knob[KNOBS_MAX];
static bool sched_configured;

int sched_configure(const char *text, char *err, size_t err_len)
{
	char words[256];
	size_t n = strlen(text);
	if (n >= sizeof words) {
		fmt_snprintf(err, err_len, "sched= is %zu characters long; at most %zu", n,
		             sizeof words - 1);
		return -1;
	}
	for (size_t i = 0; i <= n; i++)
		words[i] = text[i] == ',' ? ' ' : text[i];
	const struct sched_policy *chosen = &sched_round_robin;
	const char *name;
	size_t name_len;
	unsigned times;
	if (knob_text_find(words, "policy", &name, &name_len, &times) || times) {
		chosen = NULL;
		for (size_t i = 0; times == 1 && i < ARRAY_SIZE(sched_policies); i++)
			if (strlen(sched_policies[i]->name) == name_len &&
			    !strncmp(sched_policies[i]->name, name, name_len))
				chosen = sched_policies[i];
		if (!chosen) {
			char known[160] = "";
			size_t used = 0;
			for (size_t i = 0; i < ARRAY_SIZE(sched_policies); i++)
				used +=
				    (size_t)fmt_snprintf(known + used, sizeof known - used, "%s%s",
				                         i ? " " : "", sched_policies[i]->name);
			fmt_snprintf(err, err_len, "%s scheduling policy (known: %s)",
			             times > 1 ? "more than one" : "unknown", known);
			return -1;
		}
	}
	uint64_t values[KNOBS_MAX];
	knobs_default(chosen->knobs, chosen->knob_count, values);
	struct knob_group group = {chosen->name, chosen->knobs, chosen->knob_count, values};
	if (knobs_parse(&group, 1, words, "policy", err, err_len))
		return -1;
	sched_policy = chosen;
	memcpy(sched_knob, values, sizeof values);
	sched_configured = true;
	return 0;
}

/* ---- the loop ---- */
static uint64_t listen_ticks, listen_until_tsc;

void sched_listen(uint64_t seconds)
{
	/* At most ~115 days: seconds * 1000 * tsc_khz stays within 64 bits
	 * for any TSC up to 10 THz (a longer value used to wrap). */
	if (seconds > 10000000)
		seconds = 10000000;
	listen_ticks = seconds * 1000 * host_tsc_khz;
	listen_until_tsc = rdtsc() + listen_ticks;
}

void sched_listen_restart(void)
{
	if (listen_ticks)
		listen_until_tsc = rdtsc() + listen_ticks;
}

/* A host whose VMs all left by migration (or that had none) waits for one
 * to come (back); one whose VM ended here by itself is done. */
bool sched_listening(void)
{
	if (!listen_ticks || rdtsc() >= listen_until_tsc)
		return false;
	for (unsigned i = 0; i < vm_count; i++)
		if (!vms[i].stopped || !vms[i].vacated)
			return false;
	return true;
}

static bool all_stopped(void)
{
	for (unsigned i = 0; i < vm_count; i++)
		if (!vms[i].stopped)
			return false;
	return true;
}

/* A throttled vCPU made runnable (by a packet, a timer) before its time
 * out is over waits for it. */
static void hold_throttled(uint64_t now)
{
	for (unsigned i = 0; i < vm_count; i++) {
		struct vcpu *v = &vms[i].vcpu;
		if (v->state == VCPU_RUNNABLE && v->throttle_percent &&
		    now < v->throttled_until_tsc)
			v->state = VCPU_THROTTLED;
	}
}

/* Wakes halted vCPUs whose timer is due and throttled ones whose time out
 * is over; returns the earliest deadline still ahead (0 if none). */
static uint64_t wake_due_vcpus(uint64_t now)
{
	uint64_t earliest = 0;
	for (unsigned i = 0; i < vm_count; i++)
		if (vms[i].vcpu.state == VCPU_HALTED)
			vlapic_tick(&vms[i].vcpu, now); /* its timer may wake it */
	hold_throttled(now);
	for (unsigned i = 0; i < vm_count; i++) {
		struct vcpu *v = &vms[i].vcpu;
		if (v->state == VCPU_THROTTLED) {
			if (now >= v->throttled_until_tsc ||
			    (!v->throttle_percent && !v->limit_held)) {
				v->state = VCPU_RUNNABLE;
				v->limit_held = false;
			} else if (!earliest || v->throttled_until_tsc < earliest)
				earliest = v->throttled_until_tsc;
			continue;
		}
		if (v->state == VCPU_HALTED) {
			uint64_t d = v->lapic.timer_deadline;
			if (!d) {
				/* Without a timer only a packet can wake it. */
				if (!net_attached(v->vm))
					vm_stop(v->vm, 255,
					        "halted with no timer armed: it can never wake up");
				continue;
			}
			if (!earliest || d < earliest)
				earliest = d;
		}
	}
	return earliest;
}

/* Throttling is mechanism, not policy: whatever the policy picks, a
 * throttled vCPU that just ran for ran_ticks sits out ran_ticks * p /
 * (100 - p) before it runs again, whether it could run on or halted (then
 * its next wake-up waits), so it gets at most (100 - p)% of the CPU (QEMU's
 * auto-converge sleeps its vCPU threads the same way). The time out goes to
 * whoever else can run, or to idle. */
static void throttle_after_run(struct vcpu *v, uint64_t ran_ticks)
{
	unsigned p = v->throttle_percent;
	if (!p || p >= 100 || v->vm->stopped)
		return;
	uint64_t hold = ran_ticks * p / (100 - p);
	if (v->limit_held && v->throttled_until_tsc > rdtsc() + hold)
		return; /* a limit holds it longer already */
	v->throttled_until_tsc = rdtsc() + hold;
	v->throttled_ticks += hold;
	if (v->state == VCPU_RUNNABLE)
		v->state = VCPU_THROTTLED;
}

void sched_run(void)
{
	const struct sched_policy *policy = sched_policy;
	if (!sched_configured)
		knobs_default(policy->knobs, policy->knob_count, sched_knob);
	char knobs[160];
	knobs_format(policy->knobs, policy->knob_count, sched_knob, knobs, sizeof knobs);
	kprintf("hv: scheduler %s, %u VM%s, %s\n", policy->name, vm_count, vm_count == 1 ? "" : "s",
	        knobs);
	for (unsigned i = 0; i < vm_count; i++)
		vms[i].start_tsc = rdtsc();
	console_start(host_tsc_khz);
	struct vcpu *last_run = NULL;    /* ran the last slice, not settled since */
	struct vcpu *last_picked = NULL; /* ran the last slice anyone ran */
	while (!all_stopped() || migration_active() || sched_listening()) {
		uint64_t now = rdtsc();
		uint64_t next_deadline = wake_due_vcpus(now);
		console_poll();
		log_drain(); /* console output the UART could not take at once */
		net_poll_timers();
		net_poll_uplink();
		migration_poll();
		hold_throttled(rdtsc()); /* a packet may have woken one meanwhile */
		struct vcpu *v = policy->pick_next(sched_knob);
		/* Settle exactly where the CPU changes hands: to another vCPU or
		 * to idle. A vCPU picked again after its own slice is no switch:
		 * settling there too added a second settlement per slice right
		 * after the accounting tick's (which arch_vcpu_run still takes
		 * at most 1 ms apart), ~1000 instructions per 2 ms slice, ~1% of
		 * a lone VM's time in bochs' emulated clock. */
		if (last_run && v != last_run)
			power_settle(true);
		last_run = NULL;
		if (v) {
			if (v != last_picked)
				v->vm->switched_in++;
			last_picked = v;
			uint64_t entered = rdtsc();
			arch_vcpu_run(v, entered + policy->slice_ticks(v, sched_knob));
			throttle_after_run(v, rdtsc() - entered);
			power_switch_to(ACCOUNT_HV_OTHER_ID);
			last_run = v;
			continue;
		}
		/* Nobody can run: halt until the earliest timer, waking at least
		 * every accounting tick. */
		uint64_t net_deadline = net_next_deadline_tsc();
		if (net_deadline && (!next_deadline || net_deadline < next_deadline))
			next_deadline = net_deadline;
		if (migration_active() || sched_listening()) {
			/* A migration moves frames on every pass; a listener polls
			 * the wire. Neither halts: a halted bochs runs its emulated
			 * clock far ahead of its peer's (PLATFORM.md Part B). */
			continue;
		} else if (next_deadline) {
			uint64_t tick = power_next_tick_tsc();
			/* With an e1000 hv does not halt: a halted bochs runs its
			 * emulated clock far ahead of its peer's (PLATFORM.md Part
			 * B), and the guests' timeouts would expire before the peer
			 * has even booted. */
			power_idle_until(next_deadline < tick ? next_deadline : tick,
			                 !net_uplink_present());
			power_settle(false);
		} else if (net_uplink_present()) {
			/* A packet may still come from the wire: poll it every tick. */
			power_idle_until(power_next_tick_tsc(), false);
			power_settle(false);
		} else {
			/* A VM resumed by a migration in this pass may have a timer. */
			if (wake_due_vcpus(rdtsc()))
				continue;
			/* Everyone waits for a packet and no timer is armed: nothing
			 * can ever happen again. */
			for (unsigned i = 0; i < vm_count; i++)
				if (vms[i].vcpu.state == VCPU_HALTED)
					vm_stop(&vms[i], 255,
					        "waiting for a packet that can never come "
					        "(every VM is halted, no timer is armed)");
		}
	}
}

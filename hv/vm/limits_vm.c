/* Runs in VM-exit context and the scheduler loop (vm_limits_init at VM
 * creation): the limits table (limits.c) applied to running VMs. Each
 * subsystem calls vm_limit_take (or vm_limit_exceeded) where the guest
 * consumes the resource; this file counts, says so in one line, and holds
 * a vCPU when the limit says hold. The lines it prints are themselves
 * bounded: one when a limit is first exceeded, then at most one a second
 * per VM and limit while it goes on. */
#include "lib/lib.h"
#include "vm/vm.h"
#include "x86/x86.h"

#define REPORT_EVERY_NS 1000000000ull

static struct vm_limit_setting boot_set[LIMIT_COUNT];
static bool boot_set_ready;

static void ensure_boot_set(void)
{
	if (!boot_set_ready)
		vm_limits_defaults(boot_set);
	boot_set_ready = true;
}

int vm_limits_set_boot(const char *spec, char *err, size_t err_len)
{
	ensure_boot_set();
	return vm_limits_parse(spec, boot_set, err, err_len);
}

void vm_limits_init(struct vm *vm)
{
	struct vm_limit_setting set[LIMIT_COUNT];
	char err[160];
	ensure_boot_set();
	memcpy(set, boot_set, sizeof set);
	if (vm->config.limits[0])
		vm_limits_parse(vm->config.limits, set, err, sizeof err); /* checked by vm_config */
	uint64_t now = host_now_ns();
	for (unsigned i = 0; i < LIMIT_COUNT; i++) {
		struct vm_limit_state *s = &vm->limits[i];
		memset(s, 0, sizeof *s);
		s->set = set[i];
		if (vm_limit_defs[i].kind == LIMIT_RATE)
			token_bucket_init(&s->bucket, s->set.value, s->set.burst, now);
	}
}

uint64_t vm_limit(const struct vm *vm, enum vm_limit id)
{
	return vm->limits[id].set.value;
}

/* The line when a limit is first exceeded, then at most once a second. */
static void report(struct vm *vm, enum vm_limit id, uint64_t seen, uint64_t now)
{
	struct vm_limit_state *s = &vm->limits[id];
	const struct vm_limit_def *d = &vm_limit_defs[id];
	if (s->reported && now - s->last_report_ns < REPORT_EVERY_NS)
		return;
	bool first = !s->reported;
	s->reported = s->refused;
	s->last_report_ns = now;
	const char *action = vm_limit_action_name(d->action);
	if (d->kind == LIMIT_RATE)
		kprintf("hv: %s: over its %s limit (%llu %s, burst %llu): %s (%llu so far; "
		        "limits=%s:N/B changes it)\n",
		        vm->name, d->name, (unsigned long long)s->set.value, d->unit,
		        (unsigned long long)s->set.burst, d->exceeded,
		        (unsigned long long)s->refused, d->name);
	else
		kprintf("hv: %s: over its %s limit (%llu %s; it asked for %llu): %s (%llu so far; "
		        "limits=%s:N changes it)\n",
		        vm->name, d->name, (unsigned long long)s->set.value, d->unit,
		        (unsigned long long)seen, d->exceeded, (unsigned long long)s->refused,
		        d->name);
	log_event("{\"ev\":\"limit\",\"vm\":\"%s\",\"limit\":\"%s\",\"value\":%llu,\"burst\":%llu,"
	          "\"unit\":\"%s\",\"action\":\"%s\",\"first\":%s,\"refused\":%llu,\"seen\":%llu}",
	          vm->name, d->name, (unsigned long long)s->set.value,
	          (unsigned long long)s->set.burst, d->unit, action, first ? "true" : "false",
	          (unsigned long long)s->refused, (unsigned long long)seen);
}

bool vm_limit_take(struct vm *vm, enum vm_limit id, uint64_t uses)
{
	struct vm_limit_state *s = &vm->limits[id];
	uint64_t now = host_now_ns();
	if (token_bucket_take(&s->bucket, now, uses))
		return true;
	s->refused += uses;
	report(vm, id, uses, now);
	return false;
}

uint64_t vm_limit_wait_ns(struct vm *vm, enum vm_limit id, uint64_t uses)
{
	return token_bucket_wait_ns(&vm->limits[id].bucket, host_now_ns(), uses);
}

void vm_limit_exceeded(struct vm *vm, enum vm_limit id, uint64_t seen)
{
	vm->limits[id].refused++;
	report(vm, id, seen, host_now_ns());
}

bool vm_limit_hold_vcpu(struct vcpu *v, enum vm_limit id)
{
	if (vm_limit_take(v->vm, id, 1))
		return true;
	uint64_t wait_ns = vm_limit_wait_ns(v->vm, id, 1);
	uint64_t ticks = wait_ns / 1000000ull * host_tsc_khz +
	                 wait_ns % 1000000ull * host_tsc_khz / 1000000ull + 1;
	/* sched.c wakes it at throttled_until_tsc, as a policy's throttle. */
	v->throttled_until_tsc = rdtsc() + ticks;
	v->throttled_ticks += ticks;
	v->limit_held = true;
	v->state = VCPU_THROTTLED;
	return false;
}

uint64_t vm_limits_refused_total(const struct vm *vm)
{
	uint64_t total = 0;
	for (unsigned i = 0; i < LIMIT_COUNT; i++)
		total += vm->limits[i].refused;
	return total;
}

void vm_limits_report(const struct vm *vm)
{
	char json[1024] = "", human[512] = "";
	size_t used = 0, hused = 0;
	for (unsigned i = 0; i < LIMIT_COUNT; i++) {
		const struct vm_limit_state *s = &vm->limits[i];
		const struct vm_limit_def *d = &vm_limit_defs[i];
		if (used < sizeof json)
			used += (size_t)fmt_snprintf(
			    json + used, sizeof json - used,
			    "%s\"%s\":{\"value\":%llu,\"burst\":%llu,\"refused\":%llu}",
			    i ? "," : "", d->name, (unsigned long long)s->set.value,
			    (unsigned long long)s->set.burst, (unsigned long long)s->refused);
		if (s->refused && hused < sizeof human)
			hused += (size_t)fmt_snprintf(human + hused, sizeof human - hused,
			                              "%s%s %llu (%s)", hused ? ", " : "", d->name,
			                              (unsigned long long)s->refused,
			                              vm_limit_action_name(d->action));
	}
	kprintf("hv: %s: limits: %s\n", vm->name, hused ? human : "none exceeded");
	log_event("{\"ev\":\"vm_limits\",\"vm\":\"%s\",\"refused_total\":%llu,\"limits\":{%s}}",
	          vm->name, (unsigned long long)vm_limits_refused_total(vm), json);
}

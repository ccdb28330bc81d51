/* hv's snapshot table, and the section for the guest's clocks. Runs in
 * the scheduler loop with the VM paused (the source) or not yet started
 * (the destination). */
#include "lib/lib.h"
#include "migrate/migrate.h"
#include "power/power.h"
#include "snapshot/snapshot.h"

/* The guest's TSC travels as its value at the pause: the destination
 * offsets its TSC so that the guest's clock goes on from there (the
 * downtime is not seen by the guest, as with KVM's saved TSC). The VM's
 * age (the time hypercall) travels in ns, since the two hosts' TSC rates
 * may differ; its virtual RAPL counter goes on from where it was. */
struct clock_saved {
	uint64_t guest_tsc;  /* at the pause */
	uint64_t vm_age_ns;  /* vm_time_ns() at the pause */
	uint64_t vrapl_nj;   /* its virtual RAPL counter */
	uint32_t vcpu_state; /* VCPU_RUNNABLE or VCPU_HALTED at the pause */
	uint32_t pad;
};

static size_t clock_size(void)
{
	return sizeof(struct clock_saved);
}

static bool clock_save(struct vm *vm, struct snapshot_host *host, void *out)
{
	struct clock_saved s = {
	    .guest_tsc = host->now_tsc + vm->vcpu.tsc_offset,
	    .vm_age_ns = vm_time_ns(vm),
	    .vrapl_nj = vrapl_counter_nj(vm->id),
	    /* A throttled vCPU resumes runnable: the throttle is this host's. */
	    .vcpu_state = host->vcpu_state == VCPU_HALTED ? VCPU_HALTED : VCPU_RUNNABLE,
	};
	memcpy(out, &s, sizeof s);
	return true;
}

static bool clock_check(const struct vm *vm, const struct snapshot_host *host, const void *in,
                        char *why, size_t why_len)
{
	(void)vm, (void)host;
	struct clock_saved s;
	memcpy(&s, in, sizeof s);
	if ((s.vcpu_state != VCPU_RUNNABLE && s.vcpu_state != VCPU_HALTED) || s.pad) {
		fmt_snprintf(why, why_len, "vCPU state %u (0: runnable, 1: halted)", s.vcpu_state);
		return false;
	}
	return true;
}

static bool clock_restore(struct vm *vm, struct snapshot_host *host, const void *in)
{
	struct clock_saved s;
	memcpy(&s, in, sizeof s);
	if (!arch_vcpu_set_tsc_offset(&vm->vcpu, s.guest_tsc - host->now_tsc))
		return false;
	uint64_t age_ticks = migrate_scale(s.vm_age_ns, host->tsc_khz, 1000000);
	vm->start_tsc = s.guest_tsc - MIN(age_ticks, s.guest_tsc);
	vrapl_continue_from(vm->id, s.vrapl_nj);
	host->vcpu_state = s.vcpu_state;
	return true;
}

const struct snapshot_section snapshot_clock_section = {
    .name = "clock",
    .tag = SNAPSHOT_TAG('C', 'L', 'K', '1'),
    .size = clock_size,
    .save = clock_save,
    .check = clock_check,
    .restore = clock_restore,
};

/* In restore order: the vCPU, then the clocks (the x2APIC's deadline is on
 * the guest's TSC, which the clock section sets), the devices, the vNIC
 * last (its restore raises an interrupt in the x2APIC). */
static const struct snapshot_section *const hv_sections[] = {
    &snapshot_vcpu_section, &snapshot_clock_section, &snapshot_lapic_section,
    &snapshot_uart_section, &snapshot_pic_section,   &snapshot_vnic_section,
};

const struct snapshot_table hv_snapshot_table = {hv_sections, ARRAY_SIZE(hv_sections)};

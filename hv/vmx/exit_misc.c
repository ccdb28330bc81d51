/* Runs in VM-exit context: the small exit handlers (HLT, timers,
 * interrupts, faults of the VM itself, control registers, EPT). */
#include "lib/lib.h"
#include "vmx/exits.h"
#include "x86/x86.h"

enum exit_action exit_ignore(struct vcpu *v, const struct vmx_exit *e)
{
	(void)v, (void)e;
	return EXIT_RESUME;
}

enum exit_action exit_next_insn(struct vcpu *v, const struct vmx_exit *e)
{
	(void)v, (void)e;
	return EXIT_NEXT_INSN;
}

/* VMX instructions, GETSEC: the guest sees no VMX or SMX (CPUID hides
 * them), so these are invalid opcodes to it (SDM Vol. 3C 25.1.2). XSETBV
 * has its own handler (xsave.c). */
enum exit_action exit_inject_ud(struct vcpu *v, const struct vmx_exit *e)
{
	(void)v, (void)e;
	vmx_inject_exception(6, false, 0);
	return EXIT_RESUME;
}

/* SDM 25.1.3: HLT exits; the vCPU sleeps until its timer or an interrupt.
 * With interrupts off it could never wake: that stops the VM. */
enum exit_action exit_hlt(struct vcpu *v, const struct vmx_exit *e)
{
	(void)e;
	if (!(vmcs_read(VMCS_GUEST_RFLAGS) & (1u << 9)) && !vcpu_interrupt_pending(v)) {
		vm_stop(v->vm, 255,
		        "halted with interrupts disabled at RIP 0x%llx: it can never "
		        "wake up",
		        (unsigned long long)vmcs_read(VMCS_GUEST_RIP));
		return EXIT_STOP;
	}
	if (!vcpu_interrupt_pending(v))
		v->state = VCPU_HALTED;
	return EXIT_NEXT_INSN;
}

/* SDM 25.6.2: the guest can take the pending interrupt now; the run loop
 * injects it before the next entry. */
enum exit_action exit_interrupt_window(struct vcpu *v, const struct vmx_exit *e)
{
	(void)v, (void)e;
	return EXIT_RESUME;
}

/* SDM 26.7.4: the slice (or the wait for the guest's timer) is over. */
enum exit_action exit_preemption_timer(struct vcpu *v, const struct vmx_exit *e)
{
	(void)v, (void)e;
	return EXIT_RESUME; /* the run loop checks the slice end and the timer */
}

/* SDM 28.2.2: with acknowledge-on-exit the vector is in the exit
 * interruption information; hv polls its devices and takes no IRQs, so
 * the interrupt is counted and dropped. */
enum exit_action exit_external_interrupt(struct vcpu *v, const struct vmx_exit *e)
{
	(void)v, (void)e;
	/* The only interrupt hv enables is its idle timer (0xF0), disarmed
	 * before any guest runs; should one arrive late, acknowledge it so the
	 * APIC does not stay blocked (SDM Vol. 3A 11.8.5). */
	if ((vmcs_read(VMCS_EXIT_INTR_INFO) & 0xFF) == 0xF0)
		wrmsr(0x80B, 0);
	return EXIT_END_SLICE;
}

enum exit_action exit_triple_fault(struct vcpu *v, const struct vmx_exit *e)
{
	(void)e;
	vmx_dump_guest_state(v, "triple fault");
	vm_stop(v->vm, 255, "triple fault at RIP 0x%llx (the guest could not handle an exception)",
	        (unsigned long long)vmcs_read(VMCS_GUEST_RIP));
	return EXIT_STOP;
}

/* SDM 28.2.1 table 28-7: EPT violation qualification bits 0-2 = read,
 * write, fetch. All guest memory is mapped, so any violation is an access
 * outside it (or to the xAPIC page: guests must use the x2APIC). */
enum exit_action exit_ept_violation(struct vcpu *v, const struct vmx_exit *e)
{
	uint64_t gpa = vmcs_read(VMCS_GUEST_PHYSICAL_ADDRESS);
	if (dirty_wp_violation(v, gpa, e->qualification))
		return EXIT_RESUME; /* logged; the write runs again */
	const char *kind = e->qualification & 2 ? "write" : e->qualification & 4 ? "fetch" : "read";
	vm_stop(v->vm, 255,
	        "%s of guest-physical 0x%llx at RIP 0x%llx is outside its %llu MiB of memory", kind,
	        (unsigned long long)gpa, (unsigned long long)vmcs_read(VMCS_GUEST_RIP),
	        (unsigned long long)(v->vm->mem_size >> 20));
	return EXIT_STOP;
}

enum exit_action exit_ept_misconfig(struct vcpu *v, const struct vmx_exit *e)
{
	(void)e;
	vm_stop(v->vm, 255, "EPT misconfiguration at guest-physical 0x%llx (a bug in hv)",
	        (unsigned long long)vmcs_read(VMCS_GUEST_PHYSICAL_ADDRESS));
	return EXIT_STOP;
}

/* SDM 28.2.1 table 28-3: control-register accesses. hv owns every CR0 and
 * CR4 bit (vcpu.c), so MOV to CR0/CR4, CLTS and LMSW that change a bit
 * exit; cr.c validates them and a refused value is #GP(0), as on a CPU.
 * MOV to and from CR8 exit too (CR8-load/store exiting, SDM 25.6.2): the
 * guest's task priority is its virtual APIC's TPR (CR8 = TPR[7:4], SDM
 * Vol. 3A 11.8.6), never the real one, so no guest can mask hv's own
 * interrupts. */
enum exit_action exit_cr_access(struct vcpu *v, const struct vmx_exit *e)
{
	unsigned cr = e->qualification & 15, type = (e->qualification >> 4) & 3;
	unsigned gpr = (e->qualification >> 8) & 15;
	bool ok;
	switch (type) {
	case 0: /* MOV to CR */
		if (cr == 0)
			ok = vcpu_write_cr0(v, *vcpu_gpr(v, gpr));
		else if (cr == 4)
			ok = vcpu_write_cr4(v, *vcpu_gpr(v, gpr));
		else if (cr == 8)
			ok = vlapic_write_cr8(v, *vcpu_gpr(v, gpr));
		else
			ok = false;
		break;
	case 1: /* MOV from CR: only CR8 exits */
		if (cr != 8) {
			vm_stop(v->vm, 255, "unexpected MOV from CR%u exit", cr);
			return EXIT_STOP;
		}
		*vcpu_gpr(v, gpr) = (v->lapic.tpr >> 4) & 15;
		if (gpr == 4)
			vmcs_write(VMCS_GUEST_RSP, *vcpu_gpr(v, gpr));
		return EXIT_NEXT_INSN;
	case 2: /* CLTS clears CR0.TS */
		ok = vcpu_write_cr0(v, vmcs_read(VMCS_CR0_READ_SHADOW) & ~(1ull << 3));
		break;
	default: { /* LMSW: loads CR0[3:0] but cannot clear PE (SDM Vol. 2A LMSW) */
		uint64_t old = vmcs_read(VMCS_CR0_READ_SHADOW);
		uint64_t msw = (e->qualification >> 16) & 0xF;
		ok = vcpu_write_cr0(v, (old & ~0xEull) | (msw & 0xE) | ((old | msw) & 1));
		break;
	}
	}
	if (!ok) {
		vmx_inject_exception(13, true, 0);
		return EXIT_RESUME;
	}
	return EXIT_NEXT_INSN;
}

/* SDM 26.8: the guest state failed the entry checks. bochs names the
 * failing check in its log (PLATFORM.md). */
enum exit_action exit_entry_failure(struct vcpu *v, const struct vmx_exit *e)
{
	vmx_dump_guest_state(v, "VM entry failure");
	vm_stop(v->vm, 255,
	        "VM entry failed, reason %u (%s), qualification %llu: invalid guest state",
	        e->reason, arch_exit_name(e->reason) ? arch_exit_name(e->reason) : "?",
	        (unsigned long long)e->qualification);
	return EXIT_STOP;
}

/* Runs in VM-exit context: RDMSR/WRMSR (every MSR access exits: no MSR
 * bitmap, SDM Vol. 3C 25.6.9). Known MSRs are emulated; any other gets #GP,
 * as on a CPU without it (SDM Vol. 2B RDMSR). */
#include "lib/lib.h"
#include "power/power.h"
#include "vmx/exits.h"
#include "x86/x86.h"

#define MSR_IA32_TSC          0x10
#define MSR_IA32_APIC_BASE    0x1B
#define MSR_IA32_BIOS_SIGN_ID 0x8B
#define MSR_IA32_MISC_ENABLE  0x1A0
#define MSR_IA32_PAT          0x277
/* SYSENTER/SYSEXIT: held in the VMCS guest-state area, saved at every VM
 * exit and loaded at every entry (SDM Vol. 3C 25.4.1, 27.3.2.1, 28.3.3), so
 * each VM has its own without any switching by hv. */
#define MSR_IA32_SYSENTER_CS  0x174
#define MSR_IA32_SYSENTER_ESP 0x175
#define MSR_IA32_SYSENTER_EIP 0x176
#define MSR_FS_BASE           0xC0000100
#define MSR_GS_BASE           0xC0000101

static int swapped_index(uint32_t msr)
{
	for (int i = 0; i < VCPU_SWAPPED_MSRS; i++)
		if (vcpu_swapped_msrs[i] == msr && vcpu_msr_is_switched((unsigned)i))
			return i;
	return -1;
}

static enum exit_action unknown_msr(struct vcpu *v, const char *op, uint32_t msr)
{
	/* Said a few times per VM, not on every access: a guest probing MSRs
	 * must not flood the console. */
	if (v->vm->unknown_msr_reports++ < 4)
		kprintf("hv: %s: %s of unknown MSR 0x%x: #GP injected\n", v->vm->name, op, msr);
	vmx_inject_exception(13, true, 0);
	return EXIT_RESUME;
}

enum exit_action exit_rdmsr(struct vcpu *v, const struct vmx_exit *e)
{
	(void)e;
	uint32_t msr = (uint32_t)v->regs.rcx;
	uint64_t value;
	int swapped = swapped_index(msr);
	if (vlapic_read_msr(v, msr, &value) || vrapl_read_msr(v->vm->id, msr, &value)) {
	} else if (swapped >= 0) {
		/* While the vCPU runs, the live value is in the register. */
		value = rdmsr(msr);
	} else {
		switch (msr) {
		case MSR_IA32_TSC: value = rdtsc() + v->tsc_offset; break; /* as RDTSC sees it */
		case MSR_IA32_EFER: value = vmcs_read(VMCS_GUEST_IA32_EFER); break;
		case MSR_FS_BASE: value = vmcs_read(VMCS_GUEST_FS_BASE); break;
		case MSR_GS_BASE: value = vmcs_read(VMCS_GUEST_GS_BASE); break;
		case MSR_IA32_PAT: value = vmcs_read(VMCS_GUEST_IA32_PAT); break;
		case MSR_IA32_SYSENTER_CS: value = vmcs_read(VMCS_GUEST_SYSENTER_CS); break;
		case MSR_IA32_SYSENTER_ESP: value = vmcs_read(VMCS_GUEST_SYSENTER_ESP); break;
		case MSR_IA32_SYSENTER_EIP: value = vmcs_read(VMCS_GUEST_SYSENTER_EIP); break;
		case MSR_IA32_MISC_ENABLE: value = 1; break; /* fast strings */
		case MSR_IA32_BIOS_SIGN_ID: value = 0; break;
		case MSR_IA32_FEATURE_CONTROL: value = 1; break; /* locked, VMX off */
		default: return unknown_msr(v, "rdmsr", msr);
		}
	}
	v->regs.rax = (uint32_t)value;
	v->regs.rdx = value >> 32;
	return EXIT_NEXT_INSN;
}

static enum exit_action inject_gp(void)
{
	vmx_inject_exception(13, true, 0);
	return EXIT_RESUME;
}

enum exit_action exit_wrmsr(struct vcpu *v, const struct vmx_exit *e)
{
	(void)e;
	uint32_t msr = (uint32_t)v->regs.rcx;
	uint64_t value = (uint32_t)v->regs.rax | v->regs.rdx << 32;
	int swapped = swapped_index(msr);
	switch (vlapic_write_msr(v, msr, value)) {
	case VLAPIC_MSR_DONE: return EXIT_NEXT_INSN;
	case VLAPIC_MSR_FAULT: return inject_gp();
	case VLAPIC_MSR_NOT_MINE: break;
	}
	if (swapped >= 0) {
		/* The vCPU owns the real MSR while it runs. */
		if (!vcpu_swapped_msr_value_ok((unsigned)swapped, value))
			return inject_gp();
		wrmsr(msr, value);
		return EXIT_NEXT_INSN;
	}
	switch (msr) {
	case MSR_IA32_EFER:
		/* cr.c validates EFER with CR0 and CR4: one set of rules. */
		return vcpu_write_efer(v, value) ? EXIT_NEXT_INSN : inject_gp();
	case MSR_FS_BASE:
	case MSR_GS_BASE:
		if (!is_canonical(value)) {
			vmx_inject_exception(13, true, 0);
			return EXIT_RESUME;
		}
		vmcs_write(msr == MSR_FS_BASE ? VMCS_GUEST_FS_BASE : VMCS_GUEST_GS_BASE, value);
		return EXIT_NEXT_INSN;
	case MSR_IA32_PAT:
		/* The VM entry loads it and the exit saves it (vcpu.c); a reserved
		 * memory type is #GP (SDM Vol. 3A 13.12.2). */
		if (!vcpu_pat_valid(value))
			return inject_gp();
		vmcs_write(VMCS_GUEST_IA32_PAT, value);
		return EXIT_NEXT_INSN;
	case MSR_IA32_SYSENTER_CS:
		/* A 32-bit field (SDM Vol. 3C 25.4.1): the upper half is dropped,
		 * as KVM does. */
		vmcs_write(VMCS_GUEST_SYSENTER_CS, (uint32_t)value);
		return EXIT_NEXT_INSN;
	case MSR_IA32_SYSENTER_ESP:
	case MSR_IA32_SYSENTER_EIP:
		/* VM entry requires both canonical (SDM Vol. 3C 27.3.1.1); a CPU
		 * with 64-bit support refuses a non-canonical WRMSR with #GP. */
		if (!is_canonical(value))
			return inject_gp();
		vmcs_write(msr == MSR_IA32_SYSENTER_ESP ? VMCS_GUEST_SYSENTER_ESP
		                                        : VMCS_GUEST_SYSENTER_EIP,
		           value);
		return EXIT_NEXT_INSN;
	case MSR_IA32_MISC_ENABLE:
	case MSR_IA32_BIOS_SIGN_ID: return EXIT_NEXT_INSN; /* accepted, no effect */
	default: return unknown_msr(v, "wrmsr", msr);
	}
}

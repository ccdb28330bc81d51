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
#define MSR_FS_BASE           0xC0000100
#define MSR_GS_BASE           0xC0000101
#define EFER_LME              (1ull << 8)
#define EFER_LMA              (1ull << 10)
#define EFER_NXE              (1ull << 11)
#define EFER_SCE              (1ull << 0)

static int swapped_index(uint32_t msr)
{
	for (int i = 0; i < VCPU_SWAPPED_MSRS; i++)
		if (vcpu_swapped_msrs[i] == msr)
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
		case MSR_IA32_PAT: value = v->pat; break;
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

static bool canonical(uint64_t a)
{
	return (uint64_t)((int64_t)(a << 16) >> 16) == a;
}

enum exit_action exit_wrmsr(struct vcpu *v, const struct vmx_exit *e)
{
	(void)e;
	uint32_t msr = (uint32_t)v->regs.rcx;
	uint64_t value = (uint32_t)v->regs.rax | v->regs.rdx << 32;
	int swapped = swapped_index(msr);
	if (vlapic_write_msr(v, msr, value))
		return EXIT_NEXT_INSN;
	if (swapped >= 0) {
		if (msr != 0xC0000081 && msr != 0xC0000084 && !canonical(value))
			return unknown_msr(v, "non-canonical wrmsr", msr);
		wrmsr(msr, value);
		return EXIT_NEXT_INSN;
	}
	switch (msr) {
	case MSR_IA32_EFER: {
		/* Only SCE, LME, NXE are writable; LMA follows paging (SDM Vol. 3A
		 * 10.8.5). Reserved bits raise #GP. */
		if (value & ~(EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE)) {
			vmx_inject_exception(13, true, 0);
			return EXIT_RESUME;
		}
		uint64_t lma = vmcs_read(VMCS_GUEST_IA32_EFER) & EFER_LMA;
		vmcs_write(VMCS_GUEST_IA32_EFER, (value & ~EFER_LMA) | lma);
		return EXIT_NEXT_INSN;
	}
	case MSR_FS_BASE:
	case MSR_GS_BASE:
		if (!canonical(value)) {
			vmx_inject_exception(13, true, 0);
			return EXIT_RESUME;
		}
		vmcs_write(msr == MSR_FS_BASE ? VMCS_GUEST_FS_BASE : VMCS_GUEST_GS_BASE, value);
		return EXIT_NEXT_INSN;
	case MSR_IA32_PAT: v->pat = value; return EXIT_NEXT_INSN;
	case MSR_IA32_MISC_ENABLE:
	case MSR_IA32_BIOS_SIGN_ID: return EXIT_NEXT_INSN; /* accepted, no effect */
	default: return unknown_msr(v, "wrmsr", msr);
	}
}

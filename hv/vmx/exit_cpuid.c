/* Runs in VM-exit context: CPUID (exits unconditionally, SDM Vol. 3C
 * 25.1.2). The guest sees the host CPU minus what hv does not virtualize
 * (VMX, MONITOR, PMU, power leaves, XSAVE state beyond x87|SSE|AVX) plus
 * what it emulates (x2APIC, TSC-deadline, the XSAVE leaf) and the
 * Joulevisor leaves. */
#include "joulevisor/hypercall.h"
#include "vm/vm.h"
#include "vmx/exits.h"
#include "x86/x86.h"

#define CR4_OSXSAVE (1ull << 18)

/* CPUID.1:ECX (SDM Vol. 2A table 3-10) */
#define ECX_MONITOR      (1u << 3)
#define ECX_VMX          (1u << 5)
#define ECX_SMX          (1u << 6)
#define ECX_EST          (1u << 7)
#define ECX_PDCM         (1u << 15)
#define ECX_X2APIC       (1u << 21)
#define ECX_TSC_DEADLINE (1u << 24)
#define ECX_XSAVE        (1u << 26)
#define ECX_OSXSAVE      (1u << 27)
#define ECX_AVX          (1u << 28)
#define ECX_HYPERVISOR   (1u << 31)
/* CPUID.1:EDX: what hv does not emulate (machine checks, MTRRs, debug
 * store, thermal monitor, ACPI clock control, pending break). */
#define EDX_HIDDEN                                                                                 \
	((1u << 7) | (1u << 12) | (1u << 14) | (1u << 21) | (1u << 22) | (1u << 29) | (1u << 31))
#define EAX6_ARAT          (1u << 2) /* the APIC timer runs in every C-state */
#define KVM_SIGNATURE_LEAF 0x40000100u

#define EBX7_AVX2 (1u << 5)

/* CPUID leaf 0DH, made by hv, never the host's (bochs' own is not
 * self-consistent, PLATFORM.md Part C; a real CPU offers components whose
 * state hv does not switch). SDM Vol. 2A CPUID "Processor Extended State
 * Enumeration", Vol. 1 13.2 and 13.4 (standard format). */
static struct cpuid_regs xsave_leaf(struct vcpu *v, uint32_t subleaf)
{
	struct cpuid_regs r = {0, 0, 0, 0};
	if (!xsave_shown)
		return r;
	switch (subleaf) {
	case 0: /* EAX/EDX: XCR0 bits; EBX: size for the guest's XCR0; ECX: max */
		r.eax = (uint32_t)XCR0_GUEST_MASK;
		r.ebx = xsave_size_for(v->xcr0);
		r.ecx = xsave_size_for(XCR0_GUEST_MASK);
		break;
	case 1: /* no XSAVEOPT, XSAVEC, XGETBV1, XSAVES, XFD; IA32_XSS: none */ break;
	case 2: /* AVX: YMM0-15 upper halves, 256 bytes at 576 */
		r.eax = 256;
		r.ebx = 576;
		break;
	default: break; /* no other component */
	}
	return r;
}

void vcpu_cpuid(struct vcpu *v, uint32_t leaf, uint32_t subleaf, struct cpuid_regs *out)
{
	struct cpuid_regs r = {0, 0, 0, 0};
	if (leaf == JV_CPUID_SIGNATURE_LEAF) {
		r = (struct cpuid_regs){JV_CPUID_TIMING_LEAF, JV_CPUID_SIG_EBX, JV_CPUID_SIG_ECX,
		                        JV_CPUID_SIG_EDX};
	} else if (leaf == JV_CPUID_TIMING_LEAF) {
		r.eax = (uint32_t)host_tsc_khz; /* TSC kHz; EBX (APIC bus kHz) = TSC too */
		r.ebx = (uint32_t)host_tsc_khz;
	} else if (leaf == KVM_SIGNATURE_LEAF) {
		/* A signature Linux knows, with no paravirtual features (leaf
		 * 0x40000101 reads 0): Linux then trusts a hypervisor to give it
		 * x2APIC without interrupt remapping and keeps x2APIC mode
		 * instead of falling back to xAPIC MMIO (PLATFORM.md Part C).
		 * Linux looks for it at every 0x100 from 0x40000000. */
		r = (struct cpuid_regs){KVM_SIGNATURE_LEAF + 1, 0x4b4d564b, 0x564b4d56, 0x4d};
	} else if (leaf > JV_CPUID_SIGNATURE_LEAF && leaf < 0x80000000u) {
		/* other hypervisor leaves: zero */
	} else {
		r = cpuid(leaf, subleaf);
		switch (leaf) {
		case 1:
			r.ecx &= ~(ECX_MONITOR | ECX_VMX | ECX_SMX | ECX_EST | ECX_PDCM |
			           ECX_XSAVE | ECX_OSXSAVE | ECX_AVX);
			r.ecx |= ECX_X2APIC | ECX_TSC_DEADLINE | ECX_HYPERVISOR;
			/* XSAVE and AVX where hv can switch their state; OSXSAVE
			 * is the guest's own CR4.OSXSAVE (SDM Vol. 2A table 3-10). */
			if (xsave_shown) {
				r.ecx |= ECX_XSAVE | ECX_AVX;
				if (vmcs_read(VMCS_GUEST_CR4) & CR4_OSXSAVE)
					r.ecx |= ECX_OSXSAVE;
			}
			r.ebx &= 0x0000FFFFu; /* APIC ID 0, one logical processor */
			r.edx &= ~EDX_HIDDEN;
			break;
		case 6: /* thermal and power management: hv owns power; ARAT only */
			r = (struct cpuid_regs){EAX6_ARAT, 0, 0, 0};
			break;
		case 0x15:
			/* The TSC rate, from hv's own calibration (emulators report
			 * the crystal wrongly): a 1 MHz crystal times tsc_khz/1000,
			 * so TSC Hz = ECX * EBX / EAX (SDM Vol. 2A CPUID leaf 15H). */
			r = (struct cpuid_regs){1000, (uint32_t)host_tsc_khz, 1000000, 0};
			break;
		case 5:   /* MONITOR/MWAIT */
		case 0xA: /* architectural PMU */
		case 0x16: r = (struct cpuid_regs){0, 0, 0, 0}; break;
		case 0xD: r = xsave_leaf(v, subleaf); break;
		case 7:
			/* Structured extended features: keep only what needs no
			 * hv support (FSGSBASE, BMI1/2, ERMS, SMEP, SMAP, CLFLUSHOPT)
			 * and AVX2, which uses only the AVX state hv switches. Never
			 * AVX-512, MPX, PKU, CET, AMX: their state is not switched. */
			if (subleaf == 0)
				r = (struct cpuid_regs){0,
				                        r.ebx & ((1u << 0) | (1u << 3) | (1u << 7) |
				                                 (1u << 8) | (1u << 9) |
				                                 (1u << 20) | (1u << 23) |
				                                 (xsave_shown ? EBX7_AVX2 : 0)),
				                        0, 0};
			else
				r = (struct cpuid_regs){0, 0, 0, 0};
			break;
		default: break;
		}
	}
	*out = r;
}

enum exit_action exit_cpuid(struct vcpu *v, const struct vmx_exit *e)
{
	(void)e;
	struct cpuid_regs r;
	vcpu_cpuid(v, (uint32_t)v->regs.rax, (uint32_t)v->regs.rcx, &r);
	v->regs.rax = r.eax;
	v->regs.rbx = r.ebx;
	v->regs.rcx = r.ecx;
	v->regs.rdx = r.edx;
	return EXIT_NEXT_INSN;
}

/* vmx: Intel VT-x, the vendor side of hv. What the CPU offers (caps.c) and
 * entering/leaving VMX operation (vmx.c). The generic core never includes
 * the instruction wrappers directly. Runs at boot and in VM-exit context. */
#ifndef HV_VMX_H
#define HV_VMX_H

#include <stdbool.h>
#include <stdint.h>

struct vmx_caps {
	bool vmx;    /* CPUID.1:ECX[5] */
	bool usable; /* vmx and not locked off by firmware */
	const char *why_unusable;
	uint64_t feature_control;
	uint64_t basic, pin, proc, proc2, exit, entry, misc, ept_vpid;
	uint64_t cr0_fixed0, cr0_fixed1, cr4_fixed0, cr4_fixed1;
	uint32_t vmcs_revision;
	uint32_t vmcs_size;
	bool true_ctls; /* BASIC[55]: TRUE_* capability MSRs exist */
	bool ept, unrestricted_guest, vpid, pml, preemption_timer;
	unsigned preemption_timer_rate; /* timer ticks every 2^rate TSC ticks */
	bool ept_4level, ept_wb, ept_2m, ept_1g, ept_ad;
	bool invept, invept_single, invept_all, invvpid;
};

/* Reads CPUID and the VMX capability MSRs (SDM Vol. 3D Appendix A). */
void vmx_probe(struct vmx_caps *caps);

/* First contact: VMXON, a VMCS made current and checked, VMXOFF. Prints
 * the "vmx" event; returns true if every step worked. */
bool vmx_selftest(const struct vmx_caps *caps);

#endif

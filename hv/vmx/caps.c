/* Runs at boot: what VT-x this CPU offers. Control bits come from the
 * allowed-1 half (bits 63:32) of each capability MSR (SDM Vol. 3D A.3-A.5);
 * the TRUE_* MSRs are used when IA32_VMX_BASIC[55] says they exist. */
#include "lib/lib.h"
#include "vmx/vmx.h"
#include "x86/x86.h"

static bool allowed1(uint64_t ctl_msr, unsigned bit)
{
	return ctl_msr >> 32 >> bit & 1;
}

void vmx_probe(struct vmx_caps *c)
{
	memset(c, 0, sizeof *c);
	c->vmx = cpuid(1, 0).ecx >> 5 & 1;
	if (!c->vmx) {
		c->why_unusable = "CPUID.1:ECX.VMX[bit 5] is 0: this CPU offers no VT-x";
		return;
	}
	/* IA32_FEATURE_CONTROL (SDM Vol. 3C 24.7): bit 0 lock, bit 2 VMX outside
	 * SMX. Locked with bit 2 clear means firmware turned VMX off. */
	if (!rdmsr_safe(MSR_IA32_FEATURE_CONTROL, &c->feature_control))
		c->feature_control = 0;
	if ((c->feature_control & 1) && !(c->feature_control & 4)) {
		c->why_unusable =
		    "VMX is disabled by the firmware (IA32_FEATURE_CONTROL locked without bit 2)";
		return;
	}
	c->usable = true;

	c->basic = rdmsr(MSR_IA32_VMX_BASIC);
	c->vmcs_revision = (uint32_t)(c->basic & 0x7fffffff);
	c->vmcs_size = (uint32_t)(c->basic >> 32 & 0x1fff);
	c->true_ctls = c->basic >> 55 & 1;
	c->pin = rdmsr(c->true_ctls ? MSR_IA32_VMX_TRUE_PINBASED_CTLS : MSR_IA32_VMX_PINBASED_CTLS);
	c->proc =
	    rdmsr(c->true_ctls ? MSR_IA32_VMX_TRUE_PROCBASED_CTLS : MSR_IA32_VMX_PROCBASED_CTLS);
	c->exit = rdmsr(c->true_ctls ? MSR_IA32_VMX_TRUE_EXIT_CTLS : MSR_IA32_VMX_EXIT_CTLS);
	c->entry = rdmsr(c->true_ctls ? MSR_IA32_VMX_TRUE_ENTRY_CTLS : MSR_IA32_VMX_ENTRY_CTLS);
	c->misc = rdmsr(MSR_IA32_VMX_MISC);
	c->cr0_fixed0 = rdmsr(MSR_IA32_VMX_CR0_FIXED0);
	c->cr0_fixed1 = rdmsr(MSR_IA32_VMX_CR0_FIXED1);
	c->cr4_fixed0 = rdmsr(MSR_IA32_VMX_CR4_FIXED0);
	c->cr4_fixed1 = rdmsr(MSR_IA32_VMX_CR4_FIXED1);

	/* Pin-based bit 6: VMX-preemption timer (SDM 25.6.1); MISC[4:0] its rate. */
	c->preemption_timer = allowed1(c->pin, 6);
	c->preemption_timer_rate = (unsigned)(c->misc & 0x1f);
	/* Primary proc-based bit 31 enables the secondary controls (SDM 25.6.2). */
	if (allowed1(c->proc, 31)) {
		c->proc2 = rdmsr(MSR_IA32_VMX_PROCBASED_CTLS2);
		c->ept = allowed1(c->proc2, 1);
		c->vpid = allowed1(c->proc2, 5);
		c->unrestricted_guest = allowed1(c->proc2, 7);
		c->pml = allowed1(c->proc2, 17);
	}
	/* IA32_VMX_EPT_VPID_CAP exists if EPT or VPID can be enabled (A.10). */
	if (c->ept || c->vpid) {
		c->ept_vpid = rdmsr(MSR_IA32_VMX_EPT_VPID_CAP);
		uint64_t e = c->ept_vpid;
		c->ept_4level = e >> 6 & 1;
		c->ept_wb = e >> 14 & 1;
		c->ept_2m = e >> 16 & 1;
		c->ept_1g = e >> 17 & 1;
		c->invept = e >> 20 & 1;
		c->ept_ad = e >> 21 & 1;
		c->invept_single = e >> 25 & 1;
		c->invept_all = e >> 26 & 1;
		c->invvpid = e >> 32 & 1;
	}
	/* PML needs the EPT A/D bits to have anything to log (SDM 29.3.6). */
	c->pml = c->pml && c->ept_ad;
}

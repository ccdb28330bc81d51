/* Pure (built on the host too): the rules a vCPU's state from elsewhere (a
 * migration's blob) is held to, with this CPU's VMX fixed bits and what
 * this guest's CPUID shows passed in (struct vcpu_rules), so that each rule
 * is unit-tested (tests/unit/test_vcpu_rules.c). cr.c fills the rules from
 * the CPU; the guest's own writes go through cr.c's validator, whose rules
 * these are. */
#include "vm/vm.h"
#include "vmx/vmx.h"
#include "x86/x86.h"

uint64_t vcpu_rules_real_cr0(const struct vcpu_rules *r, uint64_t shadow)
{
	/* NE (fixed0) is added; PE and PG may be 0 with unrestricted guest
	 * (SDM 27.3.1.1). */
	return (shadow | (r->cr0_fixed0 & ~(CR0_PE | CR0_PG))) & (r->cr0_fixed1 | CR0_PE | CR0_PG);
}

uint64_t vcpu_rules_real_cr4(const struct vcpu_rules *r, uint64_t shadow)
{
	return (shadow | r->cr4_fixed0 | CR4_VMXE) & r->cr4_fixed1;
}

/* Each of the 8 entries is UC 0, WC 1, WT 4, WP 5, WB 6 or UC- 7. */
bool vcpu_pat_valid(uint64_t pat)
{
	for (unsigned i = 0; i < 8; i++) {
		unsigned type = (pat >> (8 * i)) & 0xFF;
		if (type > 7 || type == 2 || type == 3)
			return false;
	}
	return true;
}

/* What the CPU refuses (SDM Vol. 4 table 2-2): a non-canonical LSTAR,
 * CSTAR or KERNEL_GS_BASE; bits 63:32 of SFMASK or TSC_AUX. Any STAR is
 * taken. hv loads these into the real MSRs (vcpu.c), so a value from a
 * migration's blob is held to the same rule. */
bool vcpu_swapped_msr_value_ok(unsigned i, uint64_t value)
{
	if (i == VCPU_MSR_SFMASK || i == VCPU_MSR_TSC_AUX)
		return value >> 32 == 0;
	return i == VCPU_MSR_STAR || is_canonical(value);
}

/* A vCPU state from elsewhere (a migration's blob) is held to the rules
 * above and to the VM-entry checks (SDM Vol. 3C 27.3.1.1 control and debug
 * registers, MSRs and IA-32e mode, 27.3.1.4 RIP and RFLAGS, 27.3.1.5
 * activity and interruptibility state, 27.2.1.3 the event to inject), so
 * that a corrupt blob is refused with its reason instead of failing the VM
 * entry after the source has let the VM go. The real CR0 and CR4 are not
 * taken from the blob: the restore derives them from the shadows for this
 * CPU (vcpu_real_cr0/cr4), as the guest's own writes do. Segment state is
 * not checked here: the blob's comes from a VM entry that took it. */
const char *vcpu_rules_problem(const struct vcpu_rules *r, const struct vcpu_control_state *s)
{
	uint64_t cr0 = vcpu_rules_real_cr0(r, s->cr0_shadow),
	         cr4 = vcpu_rules_real_cr4(r, s->cr4_shadow);
	bool pe = cr0 & CR0_PE, pg = (cr0 & CR0_PG) != 0;
	if (s->cr0_shadow & ~CR0_DEFINED || !(s->cr0_shadow & CR0_ET))
		return "CR0 has bits no write sets";
	if (pg && !pe)
		return "CR0.PG without CR0.PE";
	if ((cr0 & CR0_NW) && !(cr0 & CR0_CD))
		return "CR0.NW without CR0.CD";
	if (s->cr4_shadow & ~r->cr4_allowed)
		return "CR4 has a bit reserved to this guest";
	if ((cr4 & CR4_CET) && !(cr0 & CR0_WP))
		return "CR4.CET without CR0.WP";
	if (s->efer & ~r->efer_allowed)
		return "IA32_EFER has a bit reserved to this guest";
	/* With "load IA32_EFER": LMA is the IA-32e mode guest control, and
	 * with paging on LME is LMA (27.3.1.1). */
	if (!!(s->efer & EFER_LMA) != s->ia32e || (pg && !!(s->efer & EFER_LME) != s->ia32e))
		return "IA32_EFER's LME and LMA differ from the IA-32e mode guest control";
	if (s->ia32e && (!pg || !(cr4 & CR4_PAE)))
		return "IA-32e mode without paging or PAE";
	if ((cr4 & CR4_PCIDE) && !s->ia32e)
		return "CR4.PCIDE outside IA-32e mode";
	if (s->cr3 & r->phys_reserved)
		return "CR3 beyond the physical-address width";
	if (s->dr7 >> 32 || s->debugctl)
		return "DR7 bits 63:32 or IA32_DEBUGCTL set (no guest write sets them)";
	if (!vcpu_pat_valid(s->pat))
		return "IA32_PAT has a reserved memory type";
	if (!is_canonical(s->sysenter_esp) || !is_canonical(s->sysenter_eip) ||
	    !is_canonical(s->fs_base) || !is_canonical(s->gs_base))
		return "a SYSENTER, FS or GS base that is not canonical";
	bool long_cs = s->ia32e && (s->cs_ar & CS_AR_LONG);
	if (long_cs ? !is_canonical(s->rip) : s->rip >> 32)
		return "RIP out of range for its mode";
	/* RFLAGS: bit 1 is 1; 63:22, 15, 5 and 3 are 0; VM only in
	 * protected mode outside IA-32e mode. */
	if (!(s->rflags & 2) || s->rflags & (~0x3FFFFFull | 1u << 15 | 1u << 5 | 1u << 3))
		return "RFLAGS has reserved bits wrong";
	if ((s->rflags & RFLAGS_VM) && (s->ia32e || !pe))
		return "RFLAGS.VM outside protected mode";
	/* hv exits on HLT: a vCPU is never left in the HLT activity state. */
	if (s->activity_state != 0)
		return "an activity state other than active";
	uint64_t blocking = s->interruptibility;
	if (blocking >> 5 || (blocking & 3) == 3 || ((blocking & 1) && !(s->rflags & RFLAGS_IF)))
		return "an interruptibility state no instruction leaves";
	uint64_t info = s->entry_intr_info;
	if (info & (1u << 31)) {
		unsigned type = (info >> 8) & 7, vector = info & 0xFF;
		bool error_code = info & (1u << 11);
		/* the exceptions that push an error code (SDM Vol. 3A 6.13) */
		bool pushes = type == 3 && pe && vector < 32 && (0x00227D00u >> vector & 1);
		if (info & 0x7FFFF000u || type == 1 || (type == 2 && vector != 2) ||
		    (type == 3 && vector > 31) || (type == 7 && vector != 0) ||
		    error_code != pushes ||
		    (type == 0 && (!(s->rflags & RFLAGS_IF) || (blocking & 3))))
			return "an event to inject that VM entry would refuse";
	}
	return NULL;
}

/* Runs in VM-exit context: the one place that validates and applies a
 * guest's writes to CR0, CR4 and IA32_EFER. hv owns every bit of CR0 and
 * CR4 (guest/host masks of all ones, SDM Vol. 3C 25.6.6), so each MOV to
 * CR0/CR4, CLTS and LMSW that changes a bit exits here; the guest reads
 * the read shadow, which holds exactly what it wrote. A write a CPU would
 * refuse gets #GP(0) and changes nothing (SDM Vol. 2B "MOV-Move to/from
 * Control Registers", Vol. 3A 2.5 and 4.1.1, Vol. 3A 10.8.5 for IA-32e mode
 * activation); an accepted one is made into a state that passes the
 * VM-entry checks of SDM Vol. 3C 27.3.1 (the fixed bits, IA-32e mode guest
 * consistent with EFER.LMA, PDPTEs for PAE paging). */
#include "lib/lib.h"
#include "vmx/exits.h"
#include "x86/x86.h"

static bool paging(uint64_t cr0)
{
	return cr0 & CR0_PG;
}

/* 64-bit mode, not compatibility mode: IA-32e active and CS.L. */
static bool in_64bit_mode(void)
{
	return (vmcs_read(VMCS_GUEST_IA32_EFER) & EFER_LMA) &&
	       (vmcs_read(VMCS_GUEST_CS_AR) & CS_AR_LONG);
}

/* The CR4 bits this guest may set: those whose feature its CPUID shows
 * (a bit for a hidden feature is reserved to it, as KVM does), and only
 * those the CPU can hold in VMX operation. VMXE is reserved: VMX is
 * hidden. */
static uint64_t cr4_allowed(struct vcpu *v)
{
	struct cpuid_regs l1, l7;
	vcpu_cpuid(v, 1, 0, &l1);
	vcpu_cpuid(v, 7, 0, &l7);
	/* VME PVI TSD DE PSE PAE MCE PGE PCE OSFXSR OSXMMEXCPT: base features. */
	uint64_t allowed = 0x7FF;
	if (l7.ebx & (1u << 0))
		allowed |= 1ull << 16; /* FSGSBASE */
	if (l1.ecx & (1u << 17))
		allowed |= CR4_PCIDE;
	if (l1.ecx & (1u << 26))
		allowed |= 1ull << 18; /* OSXSAVE: only with XSAVE shown */
	if (l7.ebx & (1u << 7))
		allowed |= CR4_SMEP;
	if (l7.ebx & (1u << 20))
		allowed |= CR4_SMAP;
	if (l7.ecx & (1u << 2))
		allowed |= 1ull << 11; /* UMIP */
	if (l7.ecx & (1u << 3))
		allowed |= 1ull << 22; /* PKE */
	if (l7.ecx & (1u << 7))
		allowed |= CR4_CET;
	if (l7.ecx & (1u << 16))
		allowed |= CR4_LA57;
	return allowed & vmx_host_caps.cr4_fixed1 & ~CR4_VMXE;
}

/* SDM Vol. 3A 4.4.1: PAE paging (not IA-32e) uses four PDPTEs loaded from
 * CR3 when CR0/CR4 enter it or change its paging bits. With EPT and
 * unrestricted guest the VM entry loads them from the VMCS (SDM 27.3.2.4),
 * so an emulated write must put them there. A present PDPTE with a
 * reserved bit set makes the write #GP. */
static bool load_pdptes(struct vcpu *v)
{
	uint64_t cr3 = vmcs_read(VMCS_GUEST_CR3) & 0xFFFFFFE0u;
	const uint64_t *pdpte = vm_gpa_to_host(v->vm, cr3, 4 * sizeof(uint64_t));
	if (!pdpte)
		return false; /* outside guest memory: no PDPTEs to load */
	uint64_t reserved = (1ull << 1) | (1ull << 2) | (0xFull << 5) | phys_addr_reserved_bits();
	uint64_t e[4];
	for (unsigned i = 0; i < 4; i++) {
		memcpy(&e[i], &pdpte[i], sizeof e[i]);
		if ((e[i] & 1) && (e[i] & reserved))
			return false;
	}
	vmcs_write(VMCS_GUEST_PDPTE0, e[0]);
	vmcs_write(VMCS_GUEST_PDPTE1, e[1]);
	vmcs_write(VMCS_GUEST_PDPTE2, e[2]);
	vmcs_write(VMCS_GUEST_PDPTE3, e[3]);
	return true;
}

static bool pae_paging(uint64_t cr0, uint64_t cr4, uint64_t efer)
{
	return paging(cr0) && (cr4 & CR4_PAE) && !(efer & EFER_LMA);
}

/* The guest's TLB entries belong to its VPID: a write that changes how
 * it translates must flush them, as the native instruction would (SDM
 * Vol. 3A 4.10.4.1), since an emulated write does not. */
static void flush_guest_tlb(struct vcpu *v)
{
	if (vmcs_read(VMCS_PROC_BASED_CTLS2) & PROC2_ENABLE_VPID)
		invvpid_single(v->vm->id + 1);
}

static void set_ia32e(bool on, uint64_t efer)
{
	uint64_t entry = vmcs_read(VMCS_ENTRY_CTLS);
	vmcs_write(VMCS_GUEST_IA32_EFER, on ? efer | EFER_LMA : efer & ~EFER_LMA);
	vmcs_write(VMCS_ENTRY_CTLS,
	           on ? entry | ENTRY_IA32E_MODE_GUEST : entry & ~(uint64_t)ENTRY_IA32E_MODE_GUEST);
}

/* This CPU's VMX fixed bits as the rules take them (what the guest may
 * set is added where a check needs it). */
static struct vcpu_rules this_cpu_rules(void)
{
	const struct vmx_caps *c = &vmx_host_caps;
	return (struct vcpu_rules){.cr0_fixed0 = c->cr0_fixed0,
	                           .cr0_fixed1 = c->cr0_fixed1,
	                           .cr4_fixed0 = c->cr4_fixed0,
	                           .cr4_fixed1 = c->cr4_fixed1};
}

uint64_t vcpu_real_cr0(uint64_t shadow)
{
	struct vcpu_rules r = this_cpu_rules();
	return vcpu_rules_real_cr0(&r, shadow);
}

uint64_t vcpu_real_cr4(uint64_t shadow)
{
	struct vcpu_rules r = this_cpu_rules();
	return vcpu_rules_real_cr4(&r, shadow);
}

bool vcpu_write_cr0(struct vcpu *v, uint64_t value)
{
	uint64_t old = vmcs_read(VMCS_CR0_READ_SHADOW);
	uint64_t cr4 = vmcs_read(VMCS_CR4_READ_SHADOW);
	uint64_t efer = vmcs_read(VMCS_GUEST_IA32_EFER);
	if (!in_64bit_mode())
		value = (uint32_t)value; /* a 32-bit operand */
	if (value >> 32)
		return false;
	value = (value & CR0_DEFINED) | CR0_ET; /* ET is fixed at 1 */
	if ((value & CR0_PG) && !(value & CR0_PE))
		return false;
	if ((value & CR0_NW) && !(value & CR0_CD))
		return false;
	if (!(value & CR0_WP) && (cr4 & CR4_CET))
		return false;
	bool pg_on = !paging(old) && paging(value), pg_off = paging(old) && !paging(value);
	if (pg_on && (efer & EFER_LME)) {
		/* IA-32e mode activation (SDM Vol. 3A 10.8.5): PAE first, and not
		 * from a 64-bit code segment. */
		if (!(cr4 & CR4_PAE) || (vmcs_read(VMCS_GUEST_CS_AR) & CS_AR_LONG))
			return false;
	}
	if (pg_off && (in_64bit_mode() || (cr4 & CR4_PCIDE)))
		return false;
	bool pdpte_change = (value ^ old) & (CR0_PG | CR0_CD | CR0_NW);
	if (pae_paging(value, cr4, pg_on && (efer & EFER_LME) ? efer | EFER_LMA : efer) &&
	    (pg_on || pdpte_change) && !load_pdptes(v))
		return false;
	/* Accepted: the shadow is what the guest sees; the real CR0 keeps the
	 * bits VMX operation needs (NE; PE and PG may be 0 with unrestricted
	 * guest, SDM 27.3.1.1). */
	vmcs_write(VMCS_CR0_READ_SHADOW, value);
	vmcs_write(VMCS_GUEST_CR0, vcpu_real_cr0(value));
	if (pg_on && (efer & EFER_LME))
		set_ia32e(true, efer);
	else if (pg_off && (efer & EFER_LMA))
		set_ia32e(false, efer); /* leaving IA-32e mode clears LMA */
	if ((value ^ old) & (CR0_PG | CR0_WP | CR0_CD | CR0_NW))
		flush_guest_tlb(v);
	return true;
}

bool vcpu_write_cr4(struct vcpu *v, uint64_t value)
{
	uint64_t old = vmcs_read(VMCS_CR4_READ_SHADOW);
	uint64_t cr0 = vmcs_read(VMCS_CR0_READ_SHADOW);
	uint64_t efer = vmcs_read(VMCS_GUEST_IA32_EFER);
	if (!in_64bit_mode())
		value = (uint32_t)value;
	if (value & ~cr4_allowed(v))
		return false; /* reserved, or a feature this guest was not shown */
	if ((efer & EFER_LMA) && !(value & CR4_PAE))
		return false; /* IA-32e mode needs PAE */
	if ((efer & EFER_LMA) && ((value ^ old) & CR4_LA57))
		return false;
	if ((value & CR4_PCIDE) && !(old & CR4_PCIDE) &&
	    (!(efer & EFER_LMA) || (vmcs_read(VMCS_GUEST_CR3) & 0xFFF)))
		return false; /* PCIDE only in IA-32e mode, with CR3[11:0] = 0 */
	if ((value & CR4_CET) && !(cr0 & CR0_WP))
		return false;
	uint64_t paging_bits = CR4_PSE | CR4_PAE | CR4_PGE | CR4_SMEP | CR4_SMAP | CR4_PCIDE;
	if (pae_paging(cr0, value, efer) && ((value ^ old) & paging_bits) && !load_pdptes(v))
		return false;
	vmcs_write(VMCS_CR4_READ_SHADOW, value);
	vmcs_write(VMCS_GUEST_CR4, vcpu_real_cr4(value));
	if ((value ^ old) & paging_bits)
		flush_guest_tlb(v);
	return true;
}

/* The EFER bits this guest may set: what its CPUID shows, as for CR4. */
static uint64_t efer_allowed(struct vcpu *v)
{
	struct cpuid_regs ext;
	vcpu_cpuid(v, 0x80000001, 0, &ext);
	uint64_t allowed = EFER_LMA;
	if (ext.edx & (1u << 11))
		allowed |= EFER_SCE;
	if (ext.edx & (1u << 29))
		allowed |= EFER_LME;
	if (ext.edx & (1u << 20))
		allowed |= EFER_NXE;
	return allowed;
}

bool vcpu_write_efer(struct vcpu *v, uint64_t value)
{
	uint64_t old = vmcs_read(VMCS_GUEST_IA32_EFER);
	if (value & ~efer_allowed(v))
		return false;
	/* LME cannot change while paging is on (SDM Vol. 3A 10.8.5). */
	if (paging(vmcs_read(VMCS_CR0_READ_SHADOW)) && ((value ^ old) & EFER_LME))
		return false;
	/* LMA is the CPU's to set: it follows CR0.PG (10.8.5). */
	vmcs_write(VMCS_GUEST_IA32_EFER, (value & ~EFER_LMA) | (old & EFER_LMA));
	return true;
}

/* A vCPU state from elsewhere (a migration's blob): held to this CPU's and
 * this guest's rules (vcpu_rules.c says which). */
const char *vcpu_control_state_problem(struct vcpu *v, const struct vcpu_control_state *s)
{
	struct vcpu_rules r = this_cpu_rules();
	r.cr4_allowed = cr4_allowed(v);
	r.efer_allowed = efer_allowed(v);
	r.phys_reserved = phys_addr_reserved_bits();
	return vcpu_rules_problem(&r, s);
}

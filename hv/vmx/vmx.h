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
/* On another CPU: its own VMX capabilities, checked against the boot
 * CPU's, and the same round trip, silently. NULL if it can run hv's VMs,
 * else why not. */
const char *vmx_check_this_cpu(const struct vmx_caps *boot_cpu);

/* ---- vcpu_rules.c (pure): a vCPU state from elsewhere, checked ---- */

#define CR0_PE (1ull << 0)
#define CR0_MP (1ull << 1)
#define CR0_EM (1ull << 2)
#define CR0_TS (1ull << 3)
#define CR0_ET (1ull << 4)
#define CR0_NE (1ull << 5)
#define CR0_WP (1ull << 16)
#define CR0_AM (1ull << 18)
#define CR0_NW (1ull << 29)
#define CR0_CD (1ull << 30)
#define CR0_PG (1ull << 31)
/* The bits CR0 has (SDM Vol. 3A 2.5); setting another of bits 31:0 is
 * ignored, setting one of 63:32 is #GP. */
#define CR0_DEFINED                                                                                \
	(CR0_PE | CR0_MP | CR0_EM | CR0_TS | CR0_ET | CR0_NE | CR0_WP | CR0_AM | CR0_NW | CR0_CD | \
	 CR0_PG)

#define CR4_PSE    (1ull << 4)
#define CR4_PAE    (1ull << 5)
#define CR4_PGE    (1ull << 7)
#define CR4_LA57   (1ull << 12)
#define CR4_VMXE   (1ull << 13)
#define CR4_PCIDE  (1ull << 17)
#define CR4_SMEP   (1ull << 20)
#define CR4_SMAP   (1ull << 21)
#define CR4_CET    (1ull << 23)
#define EFER_SCE   (1ull << 0)
#define EFER_LME   (1ull << 8)
#define EFER_LMA   (1ull << 10)
#define EFER_NXE   (1ull << 11)
#define CS_AR_LONG (1ull << 13) /* CS.L, SDM 25.4.1 table 25-2 */
#define RFLAGS_IF  (1ull << 9)
#define RFLAGS_VM  (1ull << 17)
/* VCPU_MSR_* indices of the swapped MSRs (vm/vm.h) */
struct vcpu_rules {
	uint64_t cr0_fixed0, cr0_fixed1, cr4_fixed0, cr4_fixed1; /* this CPU's VMX bits */
	uint64_t cr4_allowed, efer_allowed; /* what this guest's CPUID lets it set */
	uint64_t phys_reserved;             /* physical-address bits above MAXPHYADDR */
};
/* A vCPU's control state as a migration's blob brings it. */
struct vcpu_control_state {
	uint64_t cr0_shadow, cr4_shadow, cr3, efer, rflags, rip, cs_ar;
	uint64_t activity_state, interruptibility, entry_intr_info;
	uint64_t dr7, debugctl, pat, sysenter_esp, sysenter_eip, fs_base, gs_base;
	bool ia32e;
};
/* The real CR0 and CR4 for what the guest wrote (the read shadows). */
uint64_t vcpu_rules_real_cr0(const struct vcpu_rules *r, uint64_t shadow);
uint64_t vcpu_rules_real_cr4(const struct vcpu_rules *r, uint64_t shadow);
/* NULL if the guest could have reached s and VM entry takes it, else what
 * is wrong with it. */
const char *vcpu_rules_problem(const struct vcpu_rules *r, const struct vcpu_control_state *s);
/* A value the CPU takes for swapped MSR i (vcpu_swapped_msrs), IA32_PAT. */
bool vcpu_swapped_msr_value_ok(unsigned i, uint64_t value);
bool vcpu_pat_valid(uint64_t pat);

#endif

/* ---- ept.c (pure): extended page tables (SDM Vol. 3C 29.3) ----
 * Table pages are addressed by physical address; hv maps them 1:1, and the
 * unit tests hand out host pointers as "physical" addresses. */
#define EPT_READ       (1ull << 0)
#define EPT_WRITE      (1ull << 1)
#define EPT_EXEC       (1ull << 2)
#define EPT_RWX        (EPT_READ | EPT_WRITE | EPT_EXEC)
#define EPT_MEMTYPE_WB (6ull << 3) /* leaf memory type, SDM 29.3.7 */
#define EPT_ACCESSED   (1ull << 8)
#define EPT_DIRTY      (1ull << 9)
#define EPT_ADDR_MASK  0x000FFFFFFFFFF000ull

/* Returns the physical address of a zeroed 4 KiB page, or 0. */
typedef uint64_t (*ept_alloc_fn)(void *ctx);
/* Maps [gpa, gpa+len) to [hpa, hpa+len) with 4 KiB leaves (write-back,
 * perms from EPT_READ/WRITE/EXEC). Returns 0, or -1 if a table could not
 * be allocated or an address is misaligned. */
int ept_map_range(uint64_t root, uint64_t gpa, uint64_t hpa, uint64_t len, uint64_t perms,
                  ept_alloc_fn alloc, void *ctx);
/* The leaf entry for gpa, or NULL if it is not mapped. */
uint64_t *ept_leaf(uint64_t root, uint64_t gpa);
/* EPTP (SDM 25.6.11): write-back, 4-level walk, A/D flags if ad. */
uint64_t ept_pointer(uint64_t root, bool ad);

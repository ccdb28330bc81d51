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

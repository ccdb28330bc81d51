/* Private to vmx/: the VM-exit dispatch contract. One handler per basic
 * exit reason (SDM Vol. 3C Appendix C), each in a file of its family
 * (exit_cpuid.c, exit_msr.c, exit_io.c, exit_vmcall.c, exit_misc.c). Runs in
 * VM-exit context with the vCPU's VMCS current. */
#ifndef HV_VMX_EXITS_H
#define HV_VMX_EXITS_H

#include "vm/vm.h"
#include "vmx/vmcs_fields.h"
#include "vmx/vmx.h"
#include "vmx/vmx_insn.h"
#include "x86/x86.h"

/* Basic exit reasons (SDM Vol. 3C Appendix C, table C-1). */
enum {
	EXIT_EXCEPTION_NMI = 0,
	EXIT_EXTERNAL_INTERRUPT = 1,
	EXIT_TRIPLE_FAULT = 2,
	EXIT_INIT = 3,
	EXIT_SIPI = 4,
	EXIT_INTERRUPT_WINDOW = 7,
	EXIT_CPUID = 10,
	EXIT_GETSEC = 11,
	EXIT_HLT = 12,
	EXIT_INVD = 13,
	EXIT_VMCALL = 18,
	EXIT_VMCLEAR = 19,
	EXIT_VMLAUNCH = 20,
	EXIT_VMPTRLD = 21,
	EXIT_VMPTRST = 22,
	EXIT_VMREAD = 23,
	EXIT_VMRESUME = 24,
	EXIT_VMWRITE = 25,
	EXIT_VMXOFF = 26,
	EXIT_VMXON = 27,
	EXIT_CR_ACCESS = 28,
	EXIT_IO = 30,
	EXIT_RDMSR = 31,
	EXIT_WRMSR = 32,
	EXIT_ENTRY_FAIL_GUEST_STATE = 33,
	EXIT_ENTRY_FAIL_MSR_LOADING = 34,
	EXIT_ENTRY_FAIL_MACHINE_CHECK = 41,
	EXIT_EPT_VIOLATION = 48,
	EXIT_EPT_MISCONFIG = 49,
	EXIT_INVEPT = 50,
	EXIT_PREEMPTION_TIMER = 52,
	EXIT_INVVPID = 53,
	EXIT_XSETBV = 55,
	EXIT_INVPCID = 58,
	EXIT_VMFUNC = 59,
	EXIT_PML_FULL = 62,
};

/* What the dispatcher does after a handler. */
enum exit_action {
	EXIT_RESUME,    /* re-enter at the same RIP (e.g. after injecting a fault) */
	EXIT_NEXT_INSN, /* the instruction is done: RIP += its length */
	EXIT_END_SLICE, /* give the CPU back to the scheduler, RIP unchanged */
	EXIT_STOP,      /* the VM was stopped (vm_stop already said why) */
};

struct vmx_exit {
	uint32_t reason; /* basic reason, bits 15:0 */
	uint64_t qualification;
	uint32_t instruction_length;
};

typedef enum exit_action (*exit_handler_fn)(struct vcpu *v, const struct vmx_exit *e);

enum exit_action exit_cpuid(struct vcpu *v, const struct vmx_exit *e);
enum exit_action exit_rdmsr(struct vcpu *v, const struct vmx_exit *e);
enum exit_action exit_wrmsr(struct vcpu *v, const struct vmx_exit *e);
enum exit_action exit_io(struct vcpu *v, const struct vmx_exit *e);
enum exit_action exit_vmcall(struct vcpu *v, const struct vmx_exit *e);
enum exit_action exit_hlt(struct vcpu *v, const struct vmx_exit *e);
enum exit_action exit_interrupt_window(struct vcpu *v, const struct vmx_exit *e);
enum exit_action exit_preemption_timer(struct vcpu *v, const struct vmx_exit *e);
enum exit_action exit_external_interrupt(struct vcpu *v, const struct vmx_exit *e);
enum exit_action exit_triple_fault(struct vcpu *v, const struct vmx_exit *e);
enum exit_action exit_ept_violation(struct vcpu *v, const struct vmx_exit *e);
enum exit_action exit_ept_misconfig(struct vcpu *v, const struct vmx_exit *e);
enum exit_action exit_cr_access(struct vcpu *v, const struct vmx_exit *e);
enum exit_action exit_entry_failure(struct vcpu *v, const struct vmx_exit *e);
enum exit_action exit_inject_ud(struct vcpu *v, const struct vmx_exit *e);
enum exit_action exit_ignore(struct vcpu *v, const struct vmx_exit *e);
enum exit_action exit_pml_full(struct vcpu *v, const struct vmx_exit *e);
/* dirty.c: a write to a page write-protected for dirty logging; true if
 * it was that (logged, page writable again), false if a real violation. */
bool dirty_wp_violation(struct vcpu *v, uint64_t gpa, uint64_t qualification);
enum exit_action exit_next_insn(struct vcpu *v, const struct vmx_exit *e);

/* exit_cpuid.c: CPUID as this vCPU sees it (the host's, filtered). */
void vcpu_cpuid(struct vcpu *v, uint32_t leaf, uint32_t subleaf, struct cpuid_regs *out);
/* cr.c: the one validator of CR0, CR4 and EFER writes. False: a CPU would
 * refuse the value (the caller injects #GP(0)); nothing was changed. */
bool vcpu_write_cr0(struct vcpu *v, uint64_t value);
bool vcpu_write_cr4(struct vcpu *v, uint64_t value);
bool vcpu_write_efer(struct vcpu *v, uint64_t value);
/* cr.c: a vCPU's control state from a migration's blob, against this CPU
 * and this guest (vcpu_rules.c, vmx.h); the real CR0 and CR4 for what the
 * guest wrote, on this CPU. */
const char *vcpu_control_state_problem(struct vcpu *v, const struct vcpu_control_state *s);
uint64_t vcpu_real_cr0(uint64_t shadow);
uint64_t vcpu_real_cr4(uint64_t shadow);

/* vcpu.c: an interrupt the vCPU could be given (x2APIC or PIC). */
bool vcpu_interrupt_pending(const struct vcpu *v);

/* Helpers for handlers. */
uint64_t vmcs_read(uint64_t field); /* 0 if the field cannot be read */
void vmcs_write(uint64_t field, uint64_t value);
/* Queues a hardware exception for the next entry (SDM 27.6). */
void vmx_inject_exception(unsigned vector, bool has_error_code, uint32_t error_code);
/* GPR number n (0 = RAX ... 15 = R15; 4 = RSP comes from the VMCS). */
uint64_t *vcpu_gpr(struct vcpu *v, unsigned n);
/* Prints the whole guest state: for exits nobody expected. */
void vmx_dump_guest_state(struct vcpu *v, const char *why);
extern struct vmx_caps vmx_host_caps;
/* vcpu.c: the MSRs swapped on a vCPU switch, in enum VCPU_MSR_* order. */
extern const uint32_t vcpu_swapped_msrs[VCPU_SWAPPED_MSRS];
/* Whether entry i is switched on this host (TSC_AUX needs RDTSCP). */
bool vcpu_msr_is_switched(unsigned i);

/* xsave.c: the guest's x87/SSE/AVX state and XCR0. */
#define XCR0_X87        (1ull << 0)
#define XCR0_SSE        (1ull << 1)
#define XCR0_AVX        (1ull << 2)
#define XCR0_GUEST_MASK (XCR0_X87 | XCR0_SSE | XCR0_AVX) /* all a guest may enable */
#define HOST_XCR0       XCR0_GUEST_MASK                  /* hv's own, outside guests */
extern bool xsave_shown; /* guests see XSAVE and AVX (the host has them) */
void xsave_init(void);   /* at boot, after CR4 has its VMX bits */
void xsave_vcpu_reset(struct vcpu *v);
void xsave_load(struct vcpu *v);              /* area -> registers, with hv's XCR0 */
void xsave_save(struct vcpu *v);              /* registers -> area, with hv's XCR0 */
void xsave_enter_guest(const struct vcpu *v); /* right before VM entry */
void xsave_leave_guest(const struct vcpu *v); /* right after VM exit */
bool xsave_xcr0_valid(uint64_t xcr0);
uint32_t xsave_size_for(uint64_t xcr0); /* CPUID 0DH.0:EBX for that XCR0 */
bool xsave_area_valid(const uint8_t *area, uint64_t xcr0);
enum exit_action exit_xsetbv(struct vcpu *v, const struct vmx_exit *e);

#endif

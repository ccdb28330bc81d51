/* Runs in VM-exit context: the exit dispatch table, indexed by basic exit
 * reason (SDM Vol. 3C Appendix C). A reason with no entry stops the VM with
 * a dump of its state; nothing a guest does can stop hv. */
#include "vmx/exits.h"

const exit_handler_fn exit_handlers[VM_EXIT_REASONS] = {
    [EXIT_EXCEPTION_NMI] = exit_ignore,
    [EXIT_EXTERNAL_INTERRUPT] = exit_external_interrupt,
    [EXIT_TRIPLE_FAULT] = exit_triple_fault,
    [EXIT_INIT] = exit_ignore,
    [EXIT_SIPI] = exit_ignore,
    [EXIT_INTERRUPT_WINDOW] = exit_interrupt_window,
    [EXIT_CPUID] = exit_cpuid,
    [EXIT_GETSEC] = exit_inject_ud,
    [EXIT_HLT] = exit_hlt,
    [EXIT_INVD] = exit_next_insn,
    [EXIT_VMCALL] = exit_vmcall,
    [EXIT_VMCLEAR] = exit_inject_ud,
    [EXIT_VMLAUNCH] = exit_inject_ud,
    [EXIT_VMPTRLD] = exit_inject_ud,
    [EXIT_VMPTRST] = exit_inject_ud,
    [EXIT_VMREAD] = exit_inject_ud,
    [EXIT_VMRESUME] = exit_inject_ud,
    [EXIT_VMWRITE] = exit_inject_ud,
    [EXIT_VMXOFF] = exit_inject_ud,
    [EXIT_VMXON] = exit_inject_ud,
    [EXIT_CR_ACCESS] = exit_cr_access,
    [EXIT_IO] = exit_io,
    [EXIT_RDMSR] = exit_rdmsr,
    [EXIT_WRMSR] = exit_wrmsr,
    [EXIT_EPT_VIOLATION] = exit_ept_violation,
    [EXIT_EPT_MISCONFIG] = exit_ept_misconfig,
    [EXIT_INVEPT] = exit_inject_ud,
    [EXIT_PREEMPTION_TIMER] = exit_preemption_timer,
    [EXIT_INVVPID] = exit_inject_ud,
    [EXIT_XSETBV] = exit_xsetbv,
    [EXIT_VMFUNC] = exit_inject_ud,
    [EXIT_PML_FULL] = exit_pml_full,
};

const char *arch_exit_name(unsigned reason)
{
	switch (reason) {
	case EXIT_EXCEPTION_NMI: return "exception";
	case EXIT_EXTERNAL_INTERRUPT: return "external_interrupt";
	case EXIT_TRIPLE_FAULT: return "triple_fault";
	case EXIT_INIT: return "init";
	case EXIT_SIPI: return "sipi";
	case EXIT_INTERRUPT_WINDOW: return "interrupt_window";
	case EXIT_CPUID: return "cpuid";
	case EXIT_HLT: return "hlt";
	case EXIT_INVD: return "invd";
	case EXIT_VMCALL: return "vmcall";
	case EXIT_CR_ACCESS: return "cr_access";
	case EXIT_IO: return "io";
	case EXIT_RDMSR: return "rdmsr";
	case EXIT_WRMSR: return "wrmsr";
	case EXIT_ENTRY_FAIL_GUEST_STATE: return "entry_fail_guest_state";
	case EXIT_ENTRY_FAIL_MSR_LOADING: return "entry_fail_msr_loading";
	case EXIT_EPT_VIOLATION: return "ept_violation";
	case EXIT_EPT_MISCONFIG: return "ept_misconfig";
	case EXIT_PREEMPTION_TIMER: return "preemption_timer";
	case EXIT_XSETBV: return "xsetbv";
	case EXIT_PML_FULL: return "pml_full";
	/* One name per reason: the names are the keys of vm_exit's counts. */
	case EXIT_GETSEC: return "getsec";
	case EXIT_VMCLEAR: return "vmclear";
	case EXIT_VMLAUNCH: return "vmlaunch";
	case EXIT_VMPTRLD: return "vmptrld";
	case EXIT_VMPTRST: return "vmptrst";
	case EXIT_VMREAD: return "vmread";
	case EXIT_VMRESUME: return "vmresume";
	case EXIT_VMWRITE: return "vmwrite";
	case EXIT_VMXOFF: return "vmxoff";
	case EXIT_VMXON: return "vmxon";
	case EXIT_INVEPT: return "invept";
	case EXIT_INVVPID: return "invvpid";
	case EXIT_VMFUNC: return "vmfunc";
	case EXIT_INVPCID: return "invpcid";
	default: return NULL; /* the caller says "reason_N" */
	}
}

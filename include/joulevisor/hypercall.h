/* Joulevisor hypercall ABI, shared by hv and the guest kernel.
 *
 * A guest finds Joulevisor by CPUID leaf 0x40000000: EBX,ECX,EDX spell
 * "Joulevisor\0\0" and EAX is the highest hypervisor leaf. Leaf 0x40000010
 * gives the TSC frequency in kHz in EAX (the VMware/KVM convention), so the
 * guest need not calibrate against a PIT.
 *
 * Calling convention (VMCALL, SDM Vol. 3C 25.1.3 "Instructions That Cause VM
 * Exits Unconditionally"): RAX = hypercall number, arguments in RDI, RSI,
 * RDX, R10 (the x86-64 syscall order), result in RAX. A negative result is
 * an error from enum jv_hc_error. Every pointer argument is a guest-physical
 * address; hv checks that the whole range lies inside the VM's memory and
 * never trusts a length it did not bound. An unknown number returns
 * -JV_ENOSYS: a hostile or buggy guest cannot stop the hypervisor.
 */
#ifndef JOULEVISOR_HYPERCALL_H
#define JOULEVISOR_HYPERCALL_H

#define JV_CPUID_SIGNATURE_LEAF 0x40000000u
#define JV_CPUID_TIMING_LEAF    0x40000010u
/* "Joulevisor\0\0" as EBX, ECX, EDX little-endian words. */
#define JV_CPUID_SIG_EBX 0x6c756f4au /* "Joul" */
#define JV_CPUID_SIG_ECX 0x73697665u /* "evis" */
#define JV_CPUID_SIG_EDX 0x0000726fu /* "or\0\0" */

enum jv_hypercall {
	JV_HC_CONSOLE_WRITE = 0, /* (gpa buf, len) -> bytes written; len <= 4096 */
	JV_HC_EXIT = 1,          /* (status) -> does not return */
	JV_HC_YIELD = 2,         /* () -> 0; gives up the rest of the slice */
	JV_HC_TIME_NS = 3,       /* () -> ns since the VM started (host clock) */
	/* The paravirtual NIC (include/joulevisor/pvnet.h has the protocol). */
	JV_HC_NET_ATTACH = 4, /* (gpa of the 3-page area, interrupt vector) -> 0 */
	JV_HC_NET_KICK = 5,   /* (PVNET_KICK_TX | PVNET_KICK_RX) -> 0 */
	JV_HC_NET_BATCH = 6,  /* (gpa of text, len) e.g. "policy=fixed-time tbuf=1ms" -> 0 */
	JV_HC_NET_STATS = 7,  /* () -> 0; hv prints this vNIC's net_stats event */
	JV_HC_COUNT
};

enum jv_hc_error {
	JV_ENOSYS = 38, /* unknown hypercall number */
	JV_EFAULT = 14, /* a buffer outside guest memory */
	JV_EINVAL = 22, /* an argument out of range */
};

#define JV_HC_CONSOLE_MAX 4096u

#endif

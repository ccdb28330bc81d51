/* Runs in a Linux guest (tools/linux/shim): which hypervisor runs us, from
 * CPUID as the guest kernel does (user mode may run CPUID). No hypercalls:
 * VMCALL is the kernel's business under Linux. */
#ifndef JV_SHIM_HYPER_H
#define JV_SHIM_HYPER_H

#include <stdbool.h>
#include <stdint.h>

bool hyper_is_joulevisor(void);
/* "bare", "Joulevisor", or another hypervisor's signature ("KVMKVMKVM"). */
const char *hyper_name(void);
uint32_t hyper_max_leaf(void);

#endif

/* Runs in the guest: finding out whether a hypervisor runs us, and calling
 * Joulevisor (include/joulevisor/hypercall.h has the ABI). */
#ifndef GUEST_HYPER_H
#define GUEST_HYPER_H

#include <stdbool.h>
#include <stdint.h>

#include "joulevisor/hypercall.h"

/* Reads CPUID once; call it first (the console depends on it). */
void hyper_detect(void);
/* True when CPUID leaf 0x40000000 carries the Joulevisor signature. */
bool hyper_is_joulevisor(void);
/* "bare" with no hypervisor bit, "Joulevisor", or the vendor signature of
 * another hypervisor (e.g. "TCGTCGTCGTCG", "KVMKVMKVM"). */
const char *hyper_name(void);
/* Highest hypervisor CPUID leaf (0 when bare). */
uint32_t hyper_max_leaf(void);

/* VMCALL: RAX = number, arguments in RDI, RSI, RDX; result in RAX. Only
 * valid under Joulevisor (bare, VMCALL raises #UD). */
long hyper_call(enum jv_hypercall number, uint64_t arg0, uint64_t arg1, uint64_t arg2);

#endif

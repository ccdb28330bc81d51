/* Runs in the guest: reading the energy counters. Under Joulevisor these
 * are the VM's own virtual RAPL MSRs (its share of the host's energy, in
 * hardware units, refreshed at most every millisecond); bare, they are only
 * read on request, since an emulator without RAPL faults on them. */
#ifndef GUEST_POWER_H
#define GUEST_POWER_H

#include <stdbool.h>
#include <stdint.h>

/* True where the counters can be read without faulting: under Joulevisor. */
bool rapl_available(void);
/* Energy in microjoules since the counter's origin (the VM's start under
 * Joulevisor), from MSR_PKG_ENERGY_STATUS in MSR_RAPL_POWER_UNIT units. The
 * 32-bit counter wraps; rapl_energy_uj follows wraps between calls. */
uint64_t rapl_energy_uj(void);

#endif

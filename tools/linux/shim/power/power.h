/* Runs in a Linux guest (tools/linux/shim): the energy counter through
 * Linux's powercap driver (intel_rapl_msr, which under Joulevisor reads the
 * VM's virtual RAPL): /sys/class/powercap/intel-rapl:0/energy_uj, the
 * package domain, in microjoules, wrapping at max_energy_range_uj. */
#ifndef JV_SHIM_POWER_H
#define JV_SHIM_POWER_H

#include <stdbool.h>
#include <stdint.h>

/* True when the package counter can be read (the module is loaded, e.g.
 * with jv.modules=intel_rapl_msr, and found a RAPL package domain). */
bool rapl_available(void);
/* Microjoules since the counter's origin (the VM's start under
 * Joulevisor); follows wraps between calls. */
uint64_t rapl_energy_uj(void);

#endif

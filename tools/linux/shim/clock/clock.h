/* Runs in a Linux guest (tools/linux/shim): the guest kernel's clock API
 * over Linux. The TSC is still the clock (user mode reads it; Linux leaves
 * RDTSC enabled); its rate comes from Joulevisor's CPUID leaf 0x40000010
 * when there, else from a 20 ms calibration against CLOCK_MONOTONIC_RAW
 * at program start. Sleeps are nanosleep. */
#ifndef JV_SHIM_CLOCK_H
#define JV_SHIM_CLOCK_H

#include <stdint.h>
#include <x86intrin.h>

uint64_t tsc_hz(void);
/* "hypervisor-0x40000010" or "calibrated". */
const char *tsc_source(void);

static inline uint64_t tsc_read(void)
{
	return __rdtsc();
}

uint64_t clock_ns_since_boot(void); /* since the program started */
uint64_t tsc_ticks_to_ns(uint64_t ticks);
uint64_t ns_to_tsc_ticks(uint64_t ns);
/* "nanosleep". */
const char *timer_kind(void);
void sleep_until_tsc(uint64_t deadline);

#endif

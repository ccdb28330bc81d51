/* Runs in the guest: time. The TSC is the clock (calibrated once at boot);
 * the local APIC's TSC-deadline timer wakes the CPU from HLT for sleeps. */
#ifndef GUEST_CLOCK_H
#define GUEST_CLOCK_H

#include <stdint.h>

#include "x86/x86.h"

/* Measures the TSC frequency: CPUID leaf 0x15, else Joulevisor's leaf
 * 0x40000010, else the PIT over 10 ms. Call once at boot. */
void tsc_calibrate(void);
uint64_t tsc_hz(void);
/* Where tsc_hz() came from: "cpuid-0x15", "hypervisor-0x40000010", "pit". */
const char *tsc_source(void);

static inline uint64_t tsc_read(void)
{
	return rdtsc();
}

/* TSC ticks since boot converted to nanoseconds. */
uint64_t clock_ns_since_boot(void);
uint64_t tsc_ticks_to_ns(uint64_t ticks);
uint64_t ns_to_tsc_ticks(uint64_t ns);

/* Sets up the x2APIC and its TSC-deadline timer where the CPU has them. */
void timer_init(void);
/* "x2apic-tsc-deadline" or "busy-wait". */
const char *timer_kind(void);
/* Returns once the TSC has reached deadline: halts until a timer interrupt
 * where possible, else spins (and says so the first time). */
void sleep_until_tsc(uint64_t deadline);

#endif

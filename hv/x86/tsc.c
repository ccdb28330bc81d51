/* Runs at boot: how fast the TSC ticks. CPUID leaf 0x15 gives it exactly
 * where the CPU reports its crystal (SDM Vol. 3B 19.7.3 "Determining the
 * Processor Base Frequency"); otherwise we count TSC ticks across a 10 ms
 * one-shot of PIT channel 2 (the gate on port 0x61 needs no interrupt). */
#include "x86/x86.h"

#define PIT_HZ         1193182u
#define CALIBRATION_MS 10u

static uint64_t pit_measure_khz(void)
{
	uint16_t count = (uint16_t)(PIT_HZ * CALIBRATION_MS / 1000);
	/* Gate channel 2 on, speaker off. */
	outb(0x61, (uint8_t)((inb(0x61) & ~0x02) | 0x01));
	outb(0x43, 0xB0); /* channel 2, lobyte/hibyte, mode 0 (terminal count), binary */
	outb(0x42, (uint8_t)count);
	uint64_t start = rdtsc();
	outb(0x42, (uint8_t)(count >> 8)); /* mode 0 counts from this write */
	uint64_t spins = 0;
	while (!(inb(0x61) & 0x20)) { /* OUT2 goes high at terminal count */
		if (++spins > 100000000ull)
			return 0; /* no PIT answered */
	}
	uint64_t ticks = rdtsc() - start;
	return ticks / CALIBRATION_MS;
}

struct tsc_info tsc_calibrate(void)
{
	/* The PIT measures the TSC against the platform clock. CPUID 0x15 is
	 * exact on real CPUs, but an emulator may report a crystal that has
	 * nothing to do with its emulated clock (bochs says 2.4 GHz while its
	 * TSC ticks once per instruction): trust 0x15 only when the PIT agrees
	 * within 2%. */
	uint64_t pit_khz = pit_measure_khz();
	struct cpuid_regs max = cpuid(0, 0);
	if (max.eax >= 0x15) {
		struct cpuid_regs r = cpuid(0x15, 0);
		/* EAX/EBX = TSC/crystal ratio, ECX = crystal Hz (0 = not given). */
		if (r.eax && r.ebx && r.ecx) {
			uint64_t khz = (uint64_t)r.ecx * r.ebx / r.eax / 1000;
			if (!pit_khz || (khz * 50 > pit_khz * 49 && khz * 50 < pit_khz * 51))
				return (struct tsc_info){khz, "cpuid15"};
		}
	}
	return (struct tsc_info){pit_khz, pit_khz ? "pit" : "none"};
}

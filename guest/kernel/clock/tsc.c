/* Runs in the guest, at boot: TSC calibration. Everything timed in a
 * workload (GFLOPS, pages per second) is TSC ticks divided by tsc_hz(). */
#include "clock/clock.h"

#include "hyper/hyper.h"

#define PIT_HZ                1193182u /* the PIT's input clock */
#define PIT_CALIBRATION_COUNT 11932    /* PIT ticks in 10 ms */
#define PORT_PIT_CHANNEL2     0x42
#define PORT_PIT_COMMAND      0x43
#define PORT_SPEAKER_GATE                                                                          \
	0x61 /* bit 0: channel 2 gate, bit 1: speaker,                                             \
	        bit 5 (read): channel 2 output */

static uint64_t tsc_frequency_hz;
static const char *tsc_frequency_source = "none";
static uint64_t tsc_at_boot;

/* CPUID leaf 0x15: TSC = crystal Hz * EBX / EAX (SDM Vol. 2A, CPUID
 * "Time Stamp Counter and Nominal Core Crystal Clock Information Leaf").
 * Many CPUs and emulators leave the crystal frequency (ECX) at 0. */
static uint64_t tsc_hz_from_cpuid_leaf_15(void)
{
	if (cpuid(0, 0).eax < 0x15)
		return 0;
	struct cpuid_result leaf = cpuid(0x15, 0);
	if (leaf.eax == 0 || leaf.ebx == 0 || leaf.ecx == 0)
		return 0;
	return (uint64_t)leaf.ecx * leaf.ebx / leaf.eax;
}

/* Joulevisor (like VMware and KVM) reports the TSC rate in kHz. */
static uint64_t tsc_hz_from_hypervisor(void)
{
	if (!hyper_is_joulevisor() || hyper_max_leaf() < JV_CPUID_TIMING_LEAF)
		return 0;
	return (uint64_t)cpuid(JV_CPUID_TIMING_LEAF, 0).eax * 1000;
}

/* Count TSC ticks while PIT channel 2 counts down 10 ms in mode 0
 * ("interrupt on terminal count": its output goes high at zero). */
static uint64_t tsc_hz_from_pit(void)
{
	uint8_t gate = inb(PORT_SPEAKER_GATE);
	outb(PORT_SPEAKER_GATE, (gate & ~0x02) | 0x01); /* speaker off, gate on */
	outb(PORT_PIT_COMMAND, 0xB0);                   /* channel 2, low then high byte, mode 0 */
	outb(PORT_PIT_CHANNEL2, PIT_CALIBRATION_COUNT & 0xFF);
	outb(PORT_PIT_CHANNEL2, PIT_CALIBRATION_COUNT >> 8);
	uint64_t start = rdtsc();
	uint64_t spins = 0;
	while (!(inb(PORT_SPEAKER_GATE) & 0x20) && ++spins < 100000000)
		;
	uint64_t elapsed = rdtsc() - start;
	outb(PORT_SPEAKER_GATE, gate);
	return elapsed * PIT_HZ / PIT_CALIBRATION_COUNT;
}

/* Within 2% of each other. */
static bool agree(uint64_t a, uint64_t b)
{
	return a * 50 > b * 49 && a * 50 < b * 51;
}

void tsc_calibrate(void)
{
	tsc_at_boot = rdtsc();
	/* Under Joulevisor the hypervisor's figure is the host's own
	 * calibration. Bare, the PIT measures the TSC against the platform
	 * clock; CPUID 0x15 is exact on real CPUs but emulators may report a
	 * crystal unrelated to their clock (bochs says 2.4 GHz while its TSC
	 * ticks once per emulated instruction), so it is used only when the
	 * PIT agrees with it. */
	uint64_t from_leaf_15 = tsc_hz_from_cpuid_leaf_15();
	if ((tsc_frequency_hz = tsc_hz_from_hypervisor()) != 0) {
		tsc_frequency_source = "hypervisor-0x40000010";
	} else {
		tsc_frequency_hz = tsc_hz_from_pit();
		tsc_frequency_source = "pit";
		if (from_leaf_15 && agree(from_leaf_15, tsc_frequency_hz)) {
			tsc_frequency_hz = from_leaf_15;
			tsc_frequency_source = "cpuid-0x15";
		}
	}
	/* No PIT (its port reads all ones at once) gives nonsense: fall back
	 * to a guess rather than divide by zero later, and say so. */
	if (tsc_frequency_hz < 1000000) {
		tsc_frequency_hz = 1000000000;
		tsc_frequency_source = "guess (calibration failed)";
	}
}

uint64_t tsc_hz(void)
{
	return tsc_frequency_hz;
}

const char *tsc_source(void)
{
	return tsc_frequency_source;
}

uint64_t tsc_ticks_to_ns(uint64_t ticks)
{
	/* Split so that ticks * 1e9 cannot overflow 64 bits. */
	uint64_t seconds = ticks / tsc_frequency_hz;
	uint64_t rest = ticks % tsc_frequency_hz;
	return seconds * 1000000000u + rest * 1000000000u / tsc_frequency_hz;
}

uint64_t ns_to_tsc_ticks(uint64_t ns)
{
	uint64_t seconds = ns / 1000000000u;
	uint64_t rest = ns % 1000000000u;
	return seconds * tsc_frequency_hz + rest * tsc_frequency_hz / 1000000000u;
}

uint64_t clock_ns_since_boot(void)
{
	return tsc_ticks_to_ns(rdtsc() - tsc_at_boot);
}

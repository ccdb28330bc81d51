/* Runs in a Linux guest (tools/linux/shim): the guest-kernel functions the
 * plain-C workloads call (hello, mvb, dirty, energy), over Linux, so the
 * same workload sources build as static Linux programs for the initramfs.
 * Each header in this folder says what its part does differently. */
#define _GNU_SOURCE
#include <cpuid.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock/clock.h"
#include "hyper/hyper.h"
#include "joulevisor/hypercall.h"
#include "net/net.h"
#include "power/power.h"
#include "tool/tool.h"

/* ---- hypervisor ---------------------------------------------------------- */

static bool detected, under_joulevisor;
static uint32_t max_leaf;
static char vendor[13] = "bare";

static void detect(void)
{
	if (detected)
		return;
	detected = true;
	unsigned a, b, c, d;
	__cpuid(1, a, b, c, d);
	if (!(c & (1u << 31))) /* CPUID.1:ECX[31], "hypervisor present" */
		return;
	__cpuid(JV_CPUID_SIGNATURE_LEAF, a, b, c, d);
	max_leaf = a;
	memcpy(vendor + 0, &b, 4);
	memcpy(vendor + 4, &c, 4);
	memcpy(vendor + 8, &d, 4);
	vendor[12] = '\0';
	if (vendor[0] == '\0')
		strcpy(vendor, "unknown");
	under_joulevisor = b == JV_CPUID_SIG_EBX && c == JV_CPUID_SIG_ECX && d == JV_CPUID_SIG_EDX;
}

bool hyper_is_joulevisor(void)
{
	detect();
	return under_joulevisor;
}

const char *hyper_name(void)
{
	detect();
	return vendor;
}

uint32_t hyper_max_leaf(void)
{
	detect();
	return max_leaf;
}

/* ---- clock --------------------------------------------------------------- */

static uint64_t hz, start_tsc;
static const char *source = "calibrated";

static uint64_t monotonic_ns(void)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC_RAW, &now);
	return (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
}

/* Before main: the workloads read the clock in their first lines. */
__attribute__((constructor)) static void clock_start(void)
{
	start_tsc = tsc_read();
	detect();
	if (under_joulevisor && max_leaf >= JV_CPUID_TIMING_LEAF) {
		unsigned a, b, c, d;
		__cpuid(JV_CPUID_TIMING_LEAF, a, b, c, d);
		if (a) {
			hz = (uint64_t)a * 1000;
			source = "hypervisor-0x40000010";
			return;
		}
	}
	uint64_t ns0 = monotonic_ns(), tsc0 = tsc_read(), ns1, tsc1;
	do {
		ns1 = monotonic_ns();
		tsc1 = tsc_read();
	} while (ns1 - ns0 < 20000000ull);
	hz = (uint64_t)((double)(tsc1 - tsc0) * 1e9 / (double)(ns1 - ns0));
	if (hz == 0)
		hz = 1;
}

uint64_t tsc_hz(void)
{
	return hz;
}

const char *tsc_source(void)
{
	return source;
}

uint64_t tsc_ticks_to_ns(uint64_t ticks)
{
	return (uint64_t)((unsigned __int128)ticks * 1000000000u / hz);
}

uint64_t ns_to_tsc_ticks(uint64_t ns)
{
	return (uint64_t)((unsigned __int128)ns * hz / 1000000000u);
}

uint64_t clock_ns_since_boot(void)
{
	return tsc_ticks_to_ns(tsc_read() - start_tsc);
}

const char *timer_kind(void)
{
	return "nanosleep";
}

void sleep_until_tsc(uint64_t deadline)
{
	for (;;) {
		uint64_t now = tsc_read();
		if (now >= deadline)
			return;
		uint64_t ns = tsc_ticks_to_ns(deadline - now);
		struct timespec wait = {.tv_sec = (time_t)(ns / 1000000000u),
		                        .tv_nsec = (long)(ns % 1000000000u)};
		nanosleep(&wait, NULL);
	}
}

/* ---- energy -------------------------------------------------------------- */

#define RAPL_ZONE "/sys/class/powercap/intel-rapl:0/"

static bool read_u64(const char *path, uint64_t *value)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	unsigned long long v;
	bool ok = fscanf(f, "%llu", &v) == 1;
	fclose(f);
	if (ok)
		*value = v;
	return ok;
}

bool rapl_available(void)
{
	uint64_t value;
	return read_u64(RAPL_ZONE "energy_uj", &value);
}

uint64_t rapl_energy_uj(void)
{
	static bool started;
	static uint64_t last, range, total;
	uint64_t now;
	if (!read_u64(RAPL_ZONE "energy_uj", &now))
		return total;
	if (!started) {
		started = true;
		if (!read_u64(RAPL_ZONE "max_energy_range_uj", &range))
			range = 0;
		last = total = now;
		return total;
	}
	if (now >= last)
		total += now - last;
	else if (range)
		total += range - last + now + 1;
	last = now;
	return total;
}

/* ---- options ------------------------------------------------------------- */

bool arg_whole(const char *text, long min, long max, long *value)
{
	char *end;
	errno = 0;
	long number = strtol(text, &end, 10);
	if (errno || end == text || *end != '\0' || number < min || number > max)
		return false;
	*value = number;
	return true;
}

bool arg_number(const char *text, double min, double max, double *value)
{
	char *end;
	double number = strtod(text, &end);
	if (end == text || *end != '\0' || !(number >= min && number <= max))
		return false;
	*value = number;
	return true;
}

/* ---- network (none: Linux owns the NICs) --------------------------------- */

bool net_attach(void)
{
	printf("net: no NIC of ours under Linux (the network modes use Joulevisor's pvnet or an "
	       "e1000 driven by our guest kernel)\n");
	return false;
}

bool net_send(const void *frame, size_t length)
{
	(void)frame;
	(void)length;
	return false;
}

size_t net_recv(void *buffer, size_t capacity, uint64_t timeout_ns)
{
	(void)buffer;
	(void)capacity;
	(void)timeout_ns;
	return 0;
}

void net_flush(void) {}

const void *stream_parse(const void *frame, size_t length, enum stream_type *type)
{
	(void)frame;
	(void)length;
	(void)type;
	return NULL;
}

void stream_turn_around(void *frame, enum stream_type type)
{
	(void)frame;
	(void)type;
}

/* Runs in the guest: energy [--busy S] [--idle S] [--repeat N] reads the
 * VM's own energy (its virtual RAPL under Joulevisor) around phases of
 * work (a compute loop) and of sleep (HLT until a timer), and prints what
 * each phase cost. The final line gives the counter's absolute value so a
 * test can compare it with what the hypervisor attributed to this VM. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot/boot.h"
#include "clock/clock.h"
#include "power/power.h"

static int usage(const char *problem)
{
	fprintf(stderr, "energy: %s\n", problem);
	fprintf(stderr,
	        "usage: energy [--busy SECONDS] [--idle SECONDS] [--repeat N]\n"
	        "  busy: compute for that long; idle: sleep for that long (default 1 and 1);\n"
	        "  the pair is repeated N times (default 1). Seconds may be fractional.\n");
	return GUEST_EXIT_USAGE;
}

/* Milliseconds from "0.25" or "2": fractional seconds without floating
 * point surprises at the edges. */
static int parse_ms(const char *text, long *ms)
{
	char *end;
	double seconds = strtod(text, &end);
	if (end == text || *end != '\0' || seconds < 0 || seconds > 3600)
		return -1;
	*ms = (long)(seconds * 1000 + 0.5);
	return 0;
}

static volatile double sink;

static void busy_for(long ms)
{
	uint64_t end = tsc_read() + ns_to_tsc_ticks((uint64_t)ms * 1000000ull);
	double x = 1.0;
	while (tsc_read() < end) {
		for (int i = 0; i < 1000; i++)
			x = x * 1.0000001 + 1e-9;
		sink = x;
	}
}

int main(int argc, char **argv)
{
	long busy_ms = 1000, idle_ms = 1000, repeat = 1;
	for (int i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			return usage("every option needs a value");
		if (!strcmp(argv[i], "--busy")) {
			if (parse_ms(argv[++i], &busy_ms))
				return usage("--busy wants seconds, 0..3600");
		} else if (!strcmp(argv[i], "--idle")) {
			if (parse_ms(argv[++i], &idle_ms))
				return usage("--idle wants seconds, 0..3600");
		} else if (!strcmp(argv[i], "--repeat")) {
			char *end;
			repeat = strtol(argv[++i], &end, 10);
			if (*end || repeat < 1 || repeat > 1000)
				return usage("--repeat wants 1..1000");
		} else {
			return usage("unknown option");
		}
	}
	if (!rapl_available()) {
		printf("energy: no energy counters to read here: run under Joulevisor (virtual "
		       "RAPL)\n");
		return 1;
	}
	uint64_t busy_uj = 0, idle_uj = 0;
	for (long r = 0; r < repeat; r++) {
		uint64_t e0 = rapl_energy_uj();
		busy_for(busy_ms);
		uint64_t e1 = rapl_energy_uj();
		sleep_until_tsc(tsc_read() + ns_to_tsc_ticks((uint64_t)idle_ms * 1000000ull));
		uint64_t e2 = rapl_energy_uj();
		busy_uj += e1 - e0;
		idle_uj += e2 - e1;
		printf("energy: round %ld: busy %ld ms %llu uJ, idle %ld ms %llu uJ\n", r + 1,
		       busy_ms, (unsigned long long)(e1 - e0), idle_ms,
		       (unsigned long long)(e2 - e1));
	}
	uint64_t total = rapl_energy_uj();
	printf(
	    "@ {\"ev\":\"energy_guest\",\"busy_uj\":%llu,\"idle_uj\":%llu,\"counter_uj\":%llu}\n",
	    (unsigned long long)busy_uj, (unsigned long long)idle_uj, (unsigned long long)total);
	return 0;
}

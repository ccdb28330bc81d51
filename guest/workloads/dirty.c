/* Runs in the guest: dirty [--ws MIB] [--rate PAGES_PER_S] [--seconds S]
 * [--checksum] [--echo]. Writes RATE pages per second, round-robin over a working
 * set of MIB MiB, for S seconds: the load a live migration has to chase.
 *
 * The work is fixed, the pacing is not: exactly RATE * S page writes happen,
 * spread over S * 100 bursts of 10 ms, and the guest sleeps (HLT until a
 * TSC deadline) between bursts. So the final memory, and its checksum, only
 * depend on the arguments; a burst that overruns its 10 ms is counted as
 * late instead of dropping work. Each write fills the whole page with
 * values derived from the write's sequence number. With --echo it also
 * answers netping's PINGs between bursts (the soak test's VM that writes
 * memory and answers pings while it moves); what it writes is the same. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot/boot.h"
#include "clock/clock.h"
#include "net/net.h"
#include "tool/tool.h"

#define PAGE_SIZE         4096u
#define WORDS_PER_PAGE    (PAGE_SIZE / sizeof(uint64_t))
#define BURSTS_PER_SECOND 100
#define GOLDEN_RATIO_64   0x9E3779B97F4A7C15ull /* spreads sequence numbers */
#define FNV_OFFSET_BASIS  0xcbf29ce484222325ull
#define FNV_PRIME         0x100000001b3ull

struct options {
	long working_set_mib;
	long pages_per_second;
	double seconds;
	bool checksum;
	bool echo;
};

static int usage(const char *problem, const char *argument)
{
	fprintf(stderr, "dirty: %s%s%s\n", problem, argument ? ": " : "", argument ? argument : "");
	fprintf(stderr,
	        "usage: dirty [--ws MIB] [--rate PAGES_PER_S] [--seconds S] [--checksum]\n"
	        "  --ws MIB            working set, 1..4096 MiB (default 4)\n"
	        "  --rate PAGES_PER_S  page writes per second, 1..10000000 (default 1000)\n"
	        "  --seconds S         how long, 0.01..3600, may have decimals (default 2)\n"
	        "  --checksum          print an FNV-1a 64 checksum of the working set at the end\n"
	        "  --echo              answer netping's PINGs between bursts\n");
	return GUEST_EXIT_USAGE;
}

static bool is_option_with_value(const char *name)
{
	return strcmp(name, "--ws") == 0 || strcmp(name, "--rate") == 0 ||
	       strcmp(name, "--seconds") == 0;
}

/* Accepts "--ws 8" and "--ws=8". Returns 0 or the exit status for main. */
static int parse_options(int argc, char **argv, struct options *options)
{
	*options = (struct options){.working_set_mib = 4, .pages_per_second = 1000, .seconds = 2};
	for (int i = 1; i < argc; i++) {
		char *name = argv[i];
		if (strcmp(name, "--checksum") == 0) {
			options->checksum = true;
			continue;
		}
		if (strcmp(name, "--echo") == 0) {
			options->echo = true;
			continue;
		}
		char *value = strchr(name, '=');
		if (value)
			*value++ = '\0';
		if (!is_option_with_value(name))
			return usage(strncmp(name, "--", 2) == 0 ? "unknown option"
			                                         : "unexpected argument",
			             name);
		if (!value && i + 1 >= argc)
			return usage("missing value after", name);
		if (!value)
			value = argv[++i];
		if (strcmp(name, "--ws") == 0) {
			if (!arg_whole(value, 1, 4096, &options->working_set_mib))
				return usage("--ws wants 1..4096 MiB, not", value);
		} else if (strcmp(name, "--rate") == 0) {
			if (!arg_whole(value, 1, 10000000, &options->pages_per_second))
				return usage("--rate wants 1..10000000 pages per second, not",
				             value);
		} else if (!arg_number(value, 0.01, 3600, &options->seconds)) {
			return usage("--seconds wants 0.01..3600, not", value);
		}
	}
	return 0;
}

/* Write number `sequence` (0, 1, 2, ...) goes to page sequence mod pages. */
static void write_page(uint64_t *working_set, uint64_t pages, uint64_t sequence)
{
	uint64_t *page = working_set + (sequence % pages) * WORDS_PER_PAGE;
	uint64_t base = (sequence + 1) * GOLDEN_RATIO_64;
	for (unsigned word = 0; word < WORDS_PER_PAGE; word++)
		page[word] = base + word;
}

/* Until the TSC reaches deadline: answers every PING (as netping --echo
 * does), ignores anything else. Returns the PINGs answered. */
static uint64_t echo_until_tsc(uint64_t deadline)
{
	static uint8_t frame[NET_FRAME_MAX];
	uint64_t echoed = 0;
	for (uint64_t now = tsc_read(); now < deadline; now = tsc_read()) {
		size_t length = net_recv(frame, sizeof frame, tsc_ticks_to_ns(deadline - now));
		enum stream_type type;
		if (length && stream_parse(frame, length, &type) && type == STREAM_PING) {
			stream_turn_around(frame, STREAM_PONG);
			net_send(frame, length);
			net_flush();
			echoed++;
		}
	}
	return echoed;
}

static uint64_t fnv1a_64(const unsigned char *bytes, uint64_t length)
{
	uint64_t hash = FNV_OFFSET_BASIS;
	for (uint64_t i = 0; i < length; i++) {
		hash ^= bytes[i];
		hash *= FNV_PRIME;
	}
	return hash;
}

int main(int argc, char **argv)
{
	struct options options;
	int status = parse_options(argc, argv, &options);
	if (status != 0)
		return status;

	if (options.echo && !net_attach())
		return GUEST_EXIT_FAILURE;
	uint64_t echoed = 0;
	uint64_t bytes = (uint64_t)options.working_set_mib << 20;
	uint64_t pages = bytes / PAGE_SIZE;
	uint64_t *working_set = aligned_alloc(PAGE_SIZE, bytes);
	if (!working_set) {
		printf("dirty: cannot allocate a %ld MiB working set\n", options.working_set_mib);
		return GUEST_EXIT_FAILURE;
	}
	/* Pass 0: every page gets known contents (and is touched once). */
	for (uint64_t page = 0; page < pages; page++)
		for (unsigned word = 0; word < WORDS_PER_PAGE; word++)
			working_set[page * WORDS_PER_PAGE + word] = word;

	uint64_t total_writes =
	    (uint64_t)llround((double)options.pages_per_second * options.seconds);
	uint64_t bursts = (uint64_t)ceil(options.seconds * BURSTS_PER_SECOND);
	uint64_t burst_ticks = tsc_hz() / BURSTS_PER_SECOND;
	uint64_t written = 0, late_bursts = 0;
	/* The clock as the program sees it: a live migration must neither turn
	 * it back nor jump it ahead (the longest step between two bursts'
	 * readings; a burst period when all is well). */
	uint64_t clock_backwards = 0, max_step_ticks = 0, max_step_at = 0;
	uint64_t start = tsc_read(), previous = start;
	for (uint64_t burst = 0; burst < bursts; burst++) {
		uint64_t target = total_writes * (burst + 1) / bursts;
		for (; written < target; written++)
			write_page(working_set, pages, written);
		uint64_t deadline = start + burst_ticks * (burst + 1);
		uint64_t now = tsc_read();
		if (now < previous)
			clock_backwards++;
		else if (now - previous > max_step_ticks) {
			max_step_ticks = now - previous;
			max_step_at = previous - start;
		}
		previous = now;
		if (now > deadline)
			late_bursts++;
		else if (options.echo)
			echoed += echo_until_tsc(deadline);
		else
			sleep_until_tsc(deadline);
	}
	uint64_t elapsed_ms = tsc_ticks_to_ns(tsc_read() - start) / 1000000;

	char checksum_text[32] = "";
	char checksum_json[48] = "";
	if (options.checksum) {
		uint64_t checksum = fnv1a_64((const unsigned char *)working_set, bytes);
		snprintf(checksum_text, sizeof(checksum_text), " checksum=0x%016llx",
		         (unsigned long long)checksum);
		snprintf(checksum_json, sizeof(checksum_json), ",\"checksum\":\"0x%016llx\"",
		         (unsigned long long)checksum);
	}
	printf("dirty: ws=%ldMiB rate=%ld seconds=%g pages_written=%llu late_bursts=%llu "
	       "elapsed_ms=%llu%s\n",
	       options.working_set_mib, options.pages_per_second, options.seconds,
	       (unsigned long long)written, (unsigned long long)late_bursts,
	       (unsigned long long)elapsed_ms, checksum_text);
	printf(
	    "@ {\"ev\":\"dirty\",\"ws_mib\":%ld,\"rate\":%ld,\"seconds\":%g,\"pages_written\":%llu,"
	    "\"late_bursts\":%llu,\"elapsed_ms\":%llu,\"clock_backwards\":%llu,"
	    "\"max_step_ms\":%llu,\"max_step_at_ms\":%llu,\"echoed\":%llu%s}\n",
	    options.working_set_mib, options.pages_per_second, options.seconds,
	    (unsigned long long)written, (unsigned long long)late_bursts,
	    (unsigned long long)elapsed_ms, (unsigned long long)clock_backwards,
	    (unsigned long long)(tsc_ticks_to_ns(max_step_ticks) / 1000000),
	    (unsigned long long)(tsc_ticks_to_ns(max_step_at) / 1000000),
	    (unsigned long long)echoed, checksum_json);
	free(working_set);
	return GUEST_EXIT_OK;
}

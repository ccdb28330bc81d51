/* Runs in the guest: what the workloads (command-line tools) share, so each
 * does not carry its own copy: reading option values, and summarizing
 * latency samples into the percentiles the network tools report. */
#ifndef GUEST_TOOL_H
#define GUEST_TOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A whole decimal number in min..max, all of text; false otherwise. */
bool arg_whole(const char *text, long min, long max, long *value);
/* A decimal number (may have a fraction) in min..max, all of text. */
bool arg_number(const char *text, double min, double max, double *value);

/* argv[*index] is "--name=value" or "--name value". Cuts "=value" off
 * argv[*index] (which then holds just the name) and points *value at the
 * value, moving *index onto the value's own word when it has one. False
 * when no value follows. */
bool arg_value(int argc, char **argv, int *index, char **value);

/* Takes "--batch TEXT" or "--batch=TEXT" at argv[*index]: hv's batching
 * text, whose words arrive split (module command lines have no quoting;
 * stream_join_words puts them back together). */
enum arg_batch_result {
	ARG_BATCH_OTHER, /* argv[*index] is another option: nothing taken */
	ARG_BATCH_TAKEN, /* text holds it; *index is on its last word */
	ARG_BATCH_BAD,   /* missing, empty, or longer than size */
};
enum arg_batch_result arg_batch(int argc, char **argv, int *index, char *text, size_t size);

/* Latency samples in TSC ticks, summarized in microseconds. Percentiles
 * are nearest-rank (the smallest sample with at least p% of the samples at
 * or below it), so every figure is a time that was really measured. */
struct latency_summary {
	size_t count;
	double min_us, p50_us, p90_us, p99_us, max_us, mean_us;
};

/* Sorts ticks in place and fills summary (all zero when count is 0). */
void latency_summarize(uint64_t *ticks, size_t count, struct latency_summary *summary);
/* '"min_us":1.2,"p50_us":...,"mean_us":...' for an event line (the values
 * are null when there were no samples). Returns what snprintf returns. */
int latency_json(const struct latency_summary *summary, char *text, size_t size);

#endif

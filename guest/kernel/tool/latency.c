/* Runs in the guest: latency percentiles for the network tools (tool.h). */
#include <stdio.h>
#include <stdlib.h>

#include "clock/clock.h"
#include "tool/tool.h"

static int compare_ticks(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

static double ticks_to_us(uint64_t ticks)
{
	return (double)ticks * 1e6 / (double)tsc_hz();
}

/* Nearest rank: the ceil(p/100 * count)-th smallest sample (1-based). */
static uint64_t percentile(const uint64_t *sorted, size_t count, unsigned p)
{
	size_t rank = (count * p + 99) / 100;
	return sorted[rank ? rank - 1 : 0];
}

void latency_summarize(uint64_t *ticks, size_t count, struct latency_summary *summary)
{
	*summary = (struct latency_summary){.count = count};
	if (count == 0)
		return;
	qsort(ticks, count, sizeof *ticks, compare_ticks);
	double sum = 0;
	for (size_t i = 0; i < count; i++)
		sum += (double)ticks[i];
	summary->min_us = ticks_to_us(ticks[0]);
	summary->p50_us = ticks_to_us(percentile(ticks, count, 50));
	summary->p90_us = ticks_to_us(percentile(ticks, count, 90));
	summary->p99_us = ticks_to_us(percentile(ticks, count, 99));
	summary->max_us = ticks_to_us(ticks[count - 1]);
	summary->mean_us = sum * 1e6 / (double)tsc_hz() / (double)count;
}

int latency_json(const struct latency_summary *s, char *text, size_t size)
{
	if (s->count == 0)
		return snprintf(text, size,
		                "\"min_us\":null,\"p50_us\":null,\"p90_us\":null,\"p99_us\":null,"
		                "\"max_us\":null,\"mean_us\":null");
	return snprintf(text, size,
	                "\"min_us\":%.2f,\"p50_us\":%.2f,\"p90_us\":%.2f,\"p99_us\":%.2f,"
	                "\"max_us\":%.2f,\"mean_us\":%.2f",
	                s->min_us, s->p50_us, s->p90_us, s->p99_us, s->max_us, s->mean_us);
}

/* Runs on the host: what tools/sim_batch.c and tools/sim_migrate.c share.
 * Reading a trace (JSON lines, one flat object each, as hv prints them
 * with trace=batch,migrate and tools/trace_extract.py keeps them) and
 * turning a POLICIES= word, NAME or NAME:k=v,k=v (as make exp-net and
 * make exp-migrate take them), into hv's text "policy=NAME k=v k=v". */
#ifndef SIM_TRACE_H
#define SIM_TRACE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The text after "key": in a flat JSON object, or NULL. */
static inline const char *json_at(const char *line, const char *key)
{
	char pat[64];
	snprintf(pat, sizeof pat, "\"%s\":", key);
	const char *p = strstr(line, pat);
	return p ? p + strlen(pat) : NULL;
}

static inline bool json_u64(const char *line, const char *key, uint64_t *out)
{
	const char *p = json_at(line, key);
	if (!p || *p < '0' || *p > '9')
		return false;
	char *end;
	*out = strtoull(p, &end, 10);
	return *end == ',' || *end == '}';
}

/* A string value without escapes (hv's trace strings have none). */
static inline bool json_str(const char *line, const char *key, char *out, size_t size)
{
	const char *p = json_at(line, key);
	if (!p || *p != '"')
		return false;
	const char *end = strchr(p + 1, '"');
	if (!end || (size_t)(end - p - 1) >= size)
		return false;
	memcpy(out, p + 1, (size_t)(end - p - 1));
	out[end - p - 1] = '\0';
	return true;
}

/* "NAME:k=v,k=v" -> "policy=NAME k=v k=v". */
static inline void policy_words(const char *spec, char *out, size_t size)
{
	snprintf(out, size, "policy=%s", spec);
	char *colon = strchr(out, ':');
	if (colon) {
		*colon = ' ';
		for (char *c = colon; *c; c++)
			if (*c == ',')
				*c = ' ';
	}
}

/* Reads the trace's lines: each a JSON object; calls take() for every line
 * whose "ev" is one of the prefix's events. Exits with the file and line
 * of the first line that is not an object, or that take() refuses. */
typedef bool (*trace_line_fn)(void *ctx, const char *ev, const char *line, char *why,
                              size_t why_len);
static inline void trace_read(const char *path, void *ctx, trace_line_fn take)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "%s: cannot open the trace\n", path);
		exit(2);
	}
	static char line[8192];
	unsigned n = 0;
	while (fgets(line, sizeof line, f)) {
		n++;
		size_t len = strlen(line);
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (!len)
			continue;
		char ev[64], why[200] = "";
		if (line[0] != '{' || line[len - 1] != '}' ||
		    !json_str(line, "ev", ev, sizeof ev) || !take(ctx, ev, line, why, sizeof why)) {
			fprintf(stderr, "%s:%u: bad trace line: %s\n", path, n,
			        why[0] ? why : "not a JSON object with an \"ev\"");
			exit(2);
		}
	}
	fclose(f);
}

#endif

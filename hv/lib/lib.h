/* lib: the small C library hv is built with: string functions, a
 * printf-style formatter, the command-line parser and the console log.
 * Runs anywhere in hv (boot, VM-exit context). The pure parts (fmt.c,
 * cmdline.c, knobs.c) are also built for the host by the unit tests. */
#ifndef HV_LIB_H
#define HV_LIB_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef HOSTED_TEST
#include <string.h>
#else
void *memset(void *dst, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
size_t strnlen(const char *s, size_t max);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);
void *memchr(const void *s, int c, size_t n);
#endif

#define ARRAY_SIZE(a)    (sizeof(a) / sizeof((a)[0]))
#define ALIGN_UP(x, a)   (((x) + (a)-1) & ~((__typeof__(x))(a)-1))
#define ALIGN_DOWN(x, a) ((x) & ~((__typeof__(x))(a)-1))
#define MIN(a, b)        ((a) < (b) ? (a) : (b))
#define MAX(a, b)        ((a) > (b) ? (a) : (b))

/* fmt.c: %d %i %u %x %X %p %s %c %% with flags '-' '0', width, precision
 * for %s, and length modifiers hh h l ll z. Always NUL-terminates when
 * size > 0; returns the length the full output would have had. */
int fmt_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int fmt_snprintf(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Copies s into buf as the inside of a JSON string (quotes not added). */
void fmt_json_escape(char *buf, size_t size, const char *s);

/* cmdline.c: "key=value flag key2=value2" parsing. */
struct cmdline_option {
	const char *key;
	const char *const *choices; /* NULL-terminated allowed values, or NULL for any */
	const char *help;
};
/* Checks every word of cmdline against the known options; returns 0, or -1
 * with a one-line reason in err naming the bad word and what is allowed. */
int cmdline_validate(const char *cmdline, const struct cmdline_option *options, size_t option_count,
                     char *err, size_t err_len);
/* Copies the value of the last "key=value" into out; returns true if found.
 * A bare "key" gives the value "". */
bool cmdline_get(const char *cmdline, const char *key, char *out, size_t out_len);
/* The decimal digits that start [s, s+len) into *out; returns how many
 * there were, 0 if none or if the number does not fit in 64 bits. */
size_t parse_decimal(const char *s, size_t len, uint64_t *out);

/* limit.c: a token bucket. rate tokens a second (0: no limit), at most
 * burst of them kept; it starts full. Times are nanoseconds of any clock
 * that only goes forward (one that goes back earns nothing). */
#define TOKEN_BUCKET_MAX 1000000000ull /* rate and burst are clamped to this */
struct token_bucket {
	uint64_t rate, burst;
	uint64_t level; /* tokens * 10^9 */
	uint64_t last_ns;
};
void token_bucket_init(struct token_bucket *b, uint64_t rate, uint64_t burst, uint64_t now_ns);
/* Takes tokens if the bucket has them (true), else takes nothing (false).
 * More than burst costs the whole bucket. */
bool token_bucket_take(struct token_bucket *b, uint64_t now_ns, uint64_t tokens);
/* How long until token_bucket_take(tokens) would succeed: 0 if now. */
uint64_t token_bucket_wait_ns(struct token_bucket *b, uint64_t now_ns, uint64_t tokens);

/* knobs.c: the knobs of a policy (batching, migration), declared by the
 * policy as a table and handled by its mechanism as text: "tbuf=500us
 * count=8". The mechanism never names a knob; the policy never parses.
 * A knob's value is a uint64_t: a count, a duration in ns, or the index of
 * a choice. */
#define NS_PER_US 1000ull
#define NS_PER_MS 1000000ull
#define NS_PER_S  1000000000ull

enum knob_kind {
	KNOB_NUMBER,   /* a whole number of .unit ("packets", "%", "per mille") */
	KNOB_DURATION, /* ns, written with a unit: 750ns 500us 1ms 2s */
	KNOB_CHOICE,   /* the index into .choices, written as the word */
};

struct knob {
	const char *name;
	enum knob_kind kind;
	const char *unit; /* KNOB_NUMBER: what it counts, for help texts */
	uint64_t def, min, max;
	const char *const *choices; /* KNOB_CHOICE: NULL-terminated words */
	const char *help;           /* one line: what it changes */
};

/* The most knobs one policy may declare (the mechanisms store this many). */
#define KNOBS_MAX 8

/* One owner's knobs and where their values go, for knobs_parse: a policy,
 * or the mechanism's own (the migration engine's round limit). */
struct knob_group {
	const char *owner; /* for messages: "fixed-time", "engine" */
	const struct knob *knobs;
	size_t count;
	uint64_t *values; /* count of them, in the table's order */
};

void knobs_default(const struct knob *knobs, size_t count, uint64_t *values);
/* Every "name=value" word of text (spaces or tabs between words) into the
 * groups' values, which hold their defaults or earlier settings. Words
 * whose name is skip_key (e.g. "policy") are left to the caller. Refused
 * with a one-line reason in err, naming what is allowed: a word without
 * '=', a knob no group has, a value out of range, a duration without its
 * unit, a knob given twice. On refusal some values may have changed:
 * parse into a copy. */
int knobs_parse(const struct knob_group *groups, size_t group_count, const char *text,
                const char *skip_key, char *err, size_t err_len);
/* "name=value name=value" in the table's order, each value as it parses
 * back; returns what fmt_snprintf returns. */
int knobs_format(const struct knob *knobs, size_t count, const uint64_t *values, char *buf,
                 size_t size);
/* One knob's value as text ("500us", "8", "paper"). */
int knob_format_value(const struct knob *k, uint64_t value, char *buf, size_t size);
/* "tbuf=DURATION (default 500us, 0ns..1s): ...": the help line of a knob. */
int knob_describe(const struct knob *k, char *buf, size_t size);
/* The value of the word "key=value" in text: true and *value, *value_len
 * when key appears exactly once; *times says how often it appeared. */
bool knob_text_find(const char *text, const char *key, const char **value, size_t *value_len,
                    unsigned *times);

#ifndef HOSTED_TEST
/* log.c: console output to COM1 and the debug port. */
void kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void kvprintf(const char *fmt, va_list ap);
/* One machine-readable event: prints "@ " + the formatted JSON object. */
void log_event(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Console output waits in a ring for the UART: log_drain sends what it can
 * take without waiting (the scheduler calls it), log_flush all of it. */
void log_drain(void);
/* trace=batch,migrate (boot option): hv prints what the policies see as
 * trace_batch and trace_migrate events, for make sim-batch and
 * make sim-migrate (docs/policies.md). Off unless asked for. */
extern bool trace_batch_on, trace_migrate_on;
/* Sets the flags from "batch", "migrate" or both with a comma; false on
 * anything else (nothing set). */
bool trace_parse(const char *text);
void log_flush(void);
#endif

#endif

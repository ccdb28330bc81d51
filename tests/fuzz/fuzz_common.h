/* Helpers shared by the libFuzzer targets in tests/fuzz (host only).
 *
 * Every target reads its input through a struct fuzz_in: a cursor that
 * hands out little-endian integers and byte runs and gives zeros once the
 * input is used up, so any input, however short, is a valid run (libFuzzer
 * mutates bytes; a harness that refused short inputs would waste most of
 * them). FUZZ_ASSERT turns a broken invariant into an abort, which
 * libFuzzer reports as a crash and saves the input for. */
#ifndef TESTS_FUZZ_COMMON_H
#define TESTS_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_ASSERT(cond)                                                                          \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz invariant failed: %s (%s:%d)\n", #cond, __FILE__,    \
			        __LINE__);                                                         \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

struct fuzz_in {
	const uint8_t *p;
	size_t n;
};

static inline struct fuzz_in fuzz_in_make(const uint8_t *data, size_t size)
{
	return (struct fuzz_in){data, size};
}

static inline bool fuzz_empty(const struct fuzz_in *in)
{
	return in->n == 0;
}

static inline uint8_t fuzz_u8(struct fuzz_in *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static inline uint16_t fuzz_u16(struct fuzz_in *in)
{
	uint16_t lo = fuzz_u8(in);
	return (uint16_t)(lo | fuzz_u8(in) << 8);
}

static inline uint32_t fuzz_u32(struct fuzz_in *in)
{
	uint32_t lo = fuzz_u16(in);
	return lo | (uint32_t)fuzz_u16(in) << 16;
}

static inline uint64_t fuzz_u64(struct fuzz_in *in)
{
	uint64_t lo = fuzz_u32(in);
	return lo | (uint64_t)fuzz_u32(in) << 32;
}

/* Up to want bytes into dst; the rest of dst (up to want) is zeroed.
 * Returns how many came from the input. */
static inline size_t fuzz_bytes(struct fuzz_in *in, void *dst, size_t want)
{
	size_t n = want < in->n ? want : in->n;
	memcpy(dst, in->p, n);
	memset((uint8_t *)dst + n, 0, want - n);
	in->p += n;
	in->n -= n;
	return n;
}

/* A NUL-terminated copy of the whole input in a buffer of exactly the
 * size it needs, so that ASan sees any read past the terminator. Stops at
 * an embedded NUL, as a C string from a boot loader would. */
static inline char *fuzz_cstring(const uint8_t *data, size_t size)
{
	size_t n = strnlen((const char *)data, size);
	char *s = malloc(n + 1);
	if (!s)
		abort();
	memcpy(s, data, n);
	s[n] = '\0';
	return s;
}

/* True when buf[0..size) holds a NUL: what every err/out buffer must. */
static inline bool fuzz_terminated(const char *buf, size_t size)
{
	return memchr(buf, '\0', size) != NULL;
}

/* True when s is valid as the inside of a JSON string: what
 * fmt_json_escape promises (hv prints it between quotes in its events). */
static inline bool fuzz_json_string_ok(const char *s)
{
	static const char hex[] = "0123456789abcdefABCDEF";
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 || c == '"')
			return false;
		if (c != '\\')
			continue;
		s++;
		if (*s == 'u') {
			for (int i = 1; i <= 4; i++)
				if (!s[i] || !strchr(hex, s[i]))
					return false;
			s += 4;
		} else if (!*s || !strchr("\"\\/bfnrt", *s)) {
			return false;
		}
	}
	return true;
}

#endif

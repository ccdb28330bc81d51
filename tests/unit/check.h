/* A very small C test framework for the host-built unit tests.
 *
 *   TEST(frame_alloc_returns_aligned_frames) { CHECK(x == y); CHECK_EQ(a, b); }
 *
 * Tests register themselves; main.c runs them all, prints "PASS name" or
 * "FAIL name: file:line: expression", and ends with the line
 * "N passed, N failed" that CI reads. A failed CHECK ends its test. */
#ifndef TESTS_CHECK_H
#define TESTS_CHECK_H

#include <stdio.h>

typedef void (*test_fn)(void);
void test_register(const char *name, test_fn fn);
void test_fail(const char *file, int line, const char *what);
extern int test_current_failed;

#define TEST(name)                                                                                 \
	static void name(void);                                                                    \
	__attribute__((constructor)) static void register_##name(void)                             \
	{                                                                                          \
		test_register(#name, name);                                                        \
	}                                                                                          \
	static void name(void)

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			test_fail(__FILE__, __LINE__, #cond);                                      \
			return;                                                                    \
		}                                                                                  \
	} while (0)

#define CHECK_EQ(a, b)                                                                             \
	do {                                                                                       \
		unsigned long long check_a_ = (unsigned long long)(a);                             \
		unsigned long long check_b_ = (unsigned long long)(b);                             \
		if (check_a_ != check_b_) {                                                        \
			char check_msg_[256];                                                      \
			snprintf(check_msg_, sizeof check_msg_,                                    \
			         "%.80s == %.80s (0x%llx != 0x%llx)", #a, #b, check_a_, check_b_); \
			test_fail(__FILE__, __LINE__, check_msg_);                                 \
			return;                                                                    \
		}                                                                                  \
	} while (0)

#define CHECK_STR(a, b)                                                                            \
	do {                                                                                       \
		const char *check_a_ = (a), *check_b_ = (b);                                       \
		if (strcmp(check_a_, check_b_)) {                                                  \
			char check_msg_[512];                                                      \
			snprintf(check_msg_, sizeof check_msg_,                                    \
			         "%.100s == \"%.150s\" (got \"%.200s\")", #a, check_b_, check_a_); \
			test_fail(__FILE__, __LINE__, check_msg_);                                 \
			return;                                                                    \
		}                                                                                  \
	} while (0)

#endif

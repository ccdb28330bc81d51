/* Runs every registered unit test and prints the summary CI reads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define MAX_TESTS 512
static struct {
	const char *name;
	test_fn fn;
} tests[MAX_TESTS];
static int test_count;
int test_current_failed;

void test_register(const char *name, test_fn fn)
{
	if (test_count == MAX_TESTS) {
		fprintf(stderr, "too many tests: raise MAX_TESTS\n");
		exit(2);
	}
	tests[test_count].name = name;
	tests[test_count].fn = fn;
	test_count++;
}

void test_fail(const char *file, int line, const char *what)
{
	printf("  %s:%d: %s\n", file, line, what);
	test_current_failed = 1;
}

int main(int argc, char **argv)
{
	const char *filter = argc > 1 ? argv[1] : NULL;
	int passed = 0, failed = 0;
	for (int i = 0; i < test_count; i++) {
		if (filter && !strstr(tests[i].name, filter))
			continue;
		test_current_failed = 0;
		tests[i].fn();
		printf("%s %s\n", test_current_failed ? "FAIL" : "PASS", tests[i].name);
		if (test_current_failed)
			failed++;
		else
			passed++;
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}

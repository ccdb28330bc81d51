/* Runs in the guest: mvb N [ITERS], a double-precision matrix-vector
 * product y = A x repeated ITERS times, reported in GFLOPS (2 N^2 ITERS
 * floating-point operations over the TSC time of the loop). A and x are
 * chosen so that the exact y is known: A[i][j] = (i + j) mod 7 + 1 and
 * x[j] = 1, so y[i] is a sum of small integers, exact in a double. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "boot/boot.h"
#include "clock/clock.h"
#include "power/power.h"

#define DEFAULT_N 256
#define MAX_N     16384
/* Without ITERS, repeat until about this much work is done: ~0.5 s in QEMU
 * TCG, ~1.5 s in bochs. */
#define DEFAULT_FLOPS 50000000ull

static int usage(const char *problem)
{
	fprintf(stderr, "mvb: %s\n", problem);
	fprintf(stderr,
	        "usage: mvb [N [ITERS]]\n"
	        "  N      matrix size, 1..%d (default %d)\n"
	        "  ITERS  repetitions, >= 1 (default: about %llu flops in all)\n",
	        MAX_N, DEFAULT_N, DEFAULT_FLOPS);
	return GUEST_EXIT_USAGE;
}

/* A whole decimal number in [1, max], nothing else. */
static bool parse_count(const char *text, long max, long *value)
{
	char *end;
	long number = strtol(text, &end, 10);
	if (end == text || *end != '\0' || number < 1 || number > max)
		return false;
	*value = number;
	return true;
}

/* y[i] = sum over j of ((i + j) mod 7 + 1): every 7 consecutive j add
 * 1 + 2 + ... + 7 = 28 whatever i is; the n mod 7 left over add one each. */
static double expected_y(size_t i, size_t n)
{
	uint64_t sum = (n / 7) * 28;
	for (size_t k = 0; k < n % 7; k++)
		sum += (i + k) % 7 + 1;
	return (double)sum;
}

static void multiply(size_t n, const double *a, const double *x, double *y)
{
	for (size_t i = 0; i < n; i++) {
		const double *row = a + i * n;
		double sum = 0.0;
		for (size_t j = 0; j < n; j++)
			sum += row[j] * x[j];
		y[i] = sum;
	}
}

int main(int argc, char **argv)
{
	long n = DEFAULT_N, iterations = 0;
	if (argc > 3)
		return usage("too many arguments");
	if (argc > 1 && !parse_count(argv[1], MAX_N, &n))
		return usage("N must be a whole number from 1 to 16384");
	if (argc > 2 && !parse_count(argv[2], 1000000000L, &iterations))
		return usage("ITERS must be a whole number from 1 to 1000000000");
	if (iterations == 0) {
		uint64_t per_iteration = 2ull * (uint64_t)n * (uint64_t)n;
		iterations = (long)(DEFAULT_FLOPS / per_iteration);
		if (iterations < 1)
			iterations = 1;
	}

	size_t size = (size_t)n;
	double *a = malloc(size * size * sizeof(double));
	double *x = malloc(size * sizeof(double));
	double *y = malloc(size * sizeof(double));
	if (!a || !x || !y) {
		printf("mvb: cannot allocate a %ld x %ld matrix (%llu MiB)\n", n, n,
		       (unsigned long long)(size * size * sizeof(double) >> 20));
		return GUEST_EXIT_FAILURE;
	}
	for (size_t i = 0; i < size; i++) {
		x[i] = 1.0;
		for (size_t j = 0; j < size; j++)
			a[i * size + j] = (double)((i + j) % 7 + 1);
	}

	/* Under Joulevisor the VM's virtual RAPL gives the energy of the loop. */
	bool have_energy = rapl_available();
	uint64_t energy_start = have_energy ? rapl_energy_uj() : 0;
	uint64_t start = tsc_read();
	for (long k = 0; k < iterations; k++) {
		multiply(size, a, x, y);
		/* Each pass must really run: the compiler may not assume y
		 * unchanged and skip the repeats. */
		__asm__ volatile("" : : "r"(y) : "memory");
	}
	uint64_t ticks = tsc_read() - start;
	uint64_t energy_uj = have_energy ? rapl_energy_uj() - energy_start : 0;

	bool ok = true;
	for (size_t i = 0; i < size && ok; i++)
		ok = y[i] == expected_y(i, size);

	double seconds = (double)(ticks ? ticks : 1) / (double)tsc_hz();
	double gflops = 2.0 * (double)n * (double)n * (double)iterations / seconds / 1e9;
	const char *check = ok ? "ok" : "FAIL";
	printf("mvb: n=%ld iters=%ld gflops=%.4g check=%s\n", n, iterations, gflops, check);
	if (have_energy) {
		/* J per GFLOP = uJ / (flops / 1e9) / 1e6 = uJ * 1000 / flops */
		double flops = 2.0 * (double)n * (double)n * (double)iterations;
		printf("mvb: energy %llu uJ (virtual RAPL), %.4g J per GFLOP\n",
		       (unsigned long long)energy_uj, (double)energy_uj * 1000.0 / flops);
	}
	printf("@ "
	       "{\"ev\":\"mvb\",\"n\":%ld,\"iters\":%ld,\"gflops\":%.6g,\"seconds\":%.6f,\"check\":"
	       "\"%s\",\"energy_uj\":%llu}\n",
	       n, iterations, gflops, seconds, check, (unsigned long long)energy_uj);
	free(a);
	free(x);
	free(y);
	return ok ? GUEST_EXIT_OK : GUEST_EXIT_FAILURE;
}

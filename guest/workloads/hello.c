/* Runs in the guest: the smallest workload. Says where it runs and echoes
 * its arguments; a boot test for the kernel, newlib and the exit path. */
#include <stdio.h>

#include "hyper/hyper.h"

int main(int argc, char **argv)
{
	printf("hello from %s guest\n", hyper_is_joulevisor() ? "Joulevisor" : "bare");
	for (int i = 0; i < argc; i++)
		printf("hello: argv[%d] = \"%s\"\n", i, argv[i]);
	return 0;
}

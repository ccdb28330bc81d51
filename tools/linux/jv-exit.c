/* Runs in a Linux guest: jv-exit STATUS ends the VM with that status.
 *
 * It writes STATUS to port 0xf4, QEMU's isa-debug-exit convention (QEMU
 * then exits with (STATUS << 1) | 1; Joulevisor ends the VM with STATUS).
 * Where nothing listens on that port the write does nothing, so it then
 * powers the machine off (reboot(RB_POWER_OFF)), which needs root, as /init
 * is. Built static: the initramfs has no C library. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/reboot.h>
#include <unistd.h>

#define DEBUG_EXIT_PORT 0xf4

static int usage(const char *problem)
{
	fprintf(stderr, "jv-exit: %s\nusage: jv-exit STATUS   (0..255)\n", problem);
	return 2;
}

int main(int argc, char **argv)
{
	if (argc != 2)
		return usage("wants exactly one argument");
	char *end;
	errno = 0;
	long status = strtol(argv[1], &end, 10);
	if (errno || end == argv[1] || *end != '\0' || status < 0 || status > 255)
		return usage("STATUS must be a whole number from 0 to 255");

	fflush(NULL);
	sync();
	if (ioperm(DEBUG_EXIT_PORT, 1, 1) == 0) {
		outb((unsigned char)status, DEBUG_EXIT_PORT);
		fprintf(stderr, "jv-exit: nothing ended the VM at port 0x%x; ", DEBUG_EXIT_PORT);
	} else {
		fprintf(stderr, "jv-exit: ioperm(0x%x): %s; ", DEBUG_EXIT_PORT, strerror(errno));
	}
	/* Still running: no debug-exit device here, and the status is lost. */
	fprintf(stderr, "powering off (status %ld is lost)\n", status);
	reboot(RB_POWER_OFF);
	fprintf(stderr, "jv-exit: reboot(RB_POWER_OFF): %s\n", strerror(errno));
	return 1;
}

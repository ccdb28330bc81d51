/* Runs in a Linux guest: jv-exit STATUS ends the VM with that status.
 *
 * It writes STATUS to port 0xf4, QEMU's isa-debug-exit convention (QEMU
 * then exits with (STATUS << 1) | 1; Joulevisor ends the VM with STATUS).
 * Where nothing listens on that port the write does nothing: it then says
 * the status as a bare guest's end event (the line tools/run.py reads from
 * a guest booted without hv), asks bochs to quit through its shutdown port
 * (0x8900, the word "Shutdown" one byte at a time, as bochs' BIOS does),
 * and last powers the machine off (reboot(RB_POWER_OFF)), which needs
 * root, as /init is. Built static: the initramfs has no C library. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/reboot.h>
#include <termios.h>
#include <unistd.h>

#define DEBUG_EXIT_PORT     0xf4
#define BOCHS_SHUTDOWN_PORT 0x8900

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

	/* What the console still holds in Linux's tty buffer would be lost
	 * when the machine ends: wait until the UART has sent it. */
	fflush(NULL);
	tcdrain(STDOUT_FILENO);
	tcdrain(STDERR_FILENO);
	sync();
	if (ioperm(DEBUG_EXIT_PORT, 1, 1) == 0) {
		outb((unsigned char)status, DEBUG_EXIT_PORT);
	} else {
		fprintf(stderr, "jv-exit: ioperm(0x%x): %s\n", DEBUG_EXIT_PORT, strerror(errno));
	}
	/* Still running: no hypervisor and no debug-exit device took it. */
	printf("@ {\"ev\":\"guest_exit\",\"status\":%ld,\"name\":\"jv-exit (bare)\"}\n", status);
	fflush(stdout);
	tcdrain(STDOUT_FILENO);
	if (ioperm(BOCHS_SHUTDOWN_PORT, 1, 1) == 0)
		for (const char *word = "Shutdown"; *word; word++)
			outb((unsigned char)*word, BOCHS_SHUTDOWN_PORT);
	fprintf(stderr, "jv-exit: no hypervisor or emulator took the status; powering off\n");
	reboot(RB_POWER_OFF);
	fprintf(stderr, "jv-exit: reboot(RB_POWER_OFF): %s\n", strerror(errno));
	return 1;
}

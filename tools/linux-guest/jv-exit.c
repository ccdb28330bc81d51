/* Runs in a Linux guest (a static program in the initramfs): ends the VM
 * with a status, by writing it to port 0xf4, QEMU's isa-debug-exit
 * convention that hv also follows (hv/vmx/exit_io.c). Where no hypervisor
 * takes the port, it powers off. Usage: jv-exit STATUS */
#include <stdio.h>
#include <stdlib.h>
#include <sys/io.h>
#include <sys/reboot.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: jv-exit STATUS (0-255)\n");
		return 2;
	}
	int status = atoi(argv[1]) & 0xFF;
	sync();
	if (ioperm(0xf4, 1, 1) == 0)
		outb((unsigned char)status, 0xf4);
	reboot(RB_POWER_OFF);
	return status;
}

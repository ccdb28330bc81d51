/* Runs in a Linux guest (tools/linux/shim): what the workloads take from
 * the guest kernel's boot/boot.h, for a hosted (glibc, static) build. */
#ifndef JV_SHIM_BOOT_H
#define JV_SHIM_BOOT_H

/* The statuses every workload returns from main (as in the guest kernel). */
enum guest_exit_status {
	GUEST_EXIT_OK = 0,
	GUEST_EXIT_FAILURE = 1,
	GUEST_EXIT_USAGE = 2,
	GUEST_EXIT_CRASH = 3,
};

#endif

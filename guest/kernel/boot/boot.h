/* Runs in the guest: how it starts (boot.S -> guest_start -> main) and how
 * it ends (guest_exit). */
#ifndef GUEST_BOOT_H
#define GUEST_BOOT_H

#include <stdbool.h>
#include <stdint.h>

/* Exit statuses every workload shares, so a runner can tell them apart. */
enum guest_exit_status {
	GUEST_EXIT_OK = 0,
	GUEST_EXIT_FAILURE = 1, /* the workload's own check failed */
	GUEST_EXIT_USAGE = 2,   /* bad arguments */
	GUEST_EXIT_CRASH = 3,   /* CPU exception, or the kernel could not start */
};

/* What the loader told us, copied into the kernel's own memory before the
 * heap can overwrite the loader's structures. */
struct boot_info {
	const char *protocol;    /* "multiboot1" or "pvh" */
	const char *loader_name; /* from multiboot, or "" */
	const char *cmdline;     /* as the loader gave it */
	uint64_t ram_top;        /* end of the RAM region holding the image */
	int argc;
	char **argv; /* argv[argc] == NULL */
};

/* Parses the multiboot1 info or the PVH start info at info_address. False
 * (with a message) when magic names neither. */
bool boot_info_read(uint32_t magic, uint64_t info_address, struct boot_info *info);

/* Splits a command line into argv in place. A multiboot loader puts the
 * kernel's path first: with drop_kernel_path, a first word that looks like
 * a path (has a '/' or ends in ".elf") is dropped, and if nothing follows
 * it, its base name without ".elf" becomes argv[0]. */
int boot_split_arguments(char *line, bool drop_kernel_path, char **argv, int max_arguments);

const struct boot_info *boot_info(void);

/* Prints the one line '@ {"ev":"guest_exit","status":N}' and stops the
 * machine: JV_HC_EXIT under Joulevisor; bare, QEMU's isa-debug-exit (port
 * 0xf4), then bochs' shutdown port, then HLT forever. Does not flush
 * stdio: exit() does that before it calls _exit() -> guest_exit(). */
_Noreturn void guest_exit(int status);

/* Entry from boot.S (boot stack), and its helper to move to the big stack. */
void guest_start(uint32_t magic, uint64_t info_address);
_Noreturn void boot_switch_stack(void (*function)(void), uint64_t stack_top);

/* Each workload defines it. */
int main(int argc, char **argv);

#endif

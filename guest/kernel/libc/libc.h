/* Runs in the guest: the glue between newlib and the kernel. syscalls.c
 * defines the functions newlib calls by name (write, sbrk, _exit, ...;
 * gotcha A1: no leading underscore except _exit). */
#ifndef GUEST_LIBC_H
#define GUEST_LIBC_H

/* exit(main(argc, argv)): stdio is flushed, then _exit -> guest_exit. */
_Noreturn void libc_run_main(int argc, char **argv);

#endif

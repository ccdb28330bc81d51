/* Runs in the guest: the system calls newlib needs, for a machine with one
 * program, a console and a heap. The console is fds 0-2; there are no
 * files. Time is the TSC since boot (the guest reads no real-time clock). */
#define _DEFAULT_SOURCE /* sbrk, kill, gettimeofday are POSIX, not C11 */
#include "libc/libc.h"

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/times.h>
#include <time.h>
#include <unistd.h>

#include "boot/boot.h"
#include "clock/clock.h"
#include "console/console.h"
#include "mem/mem.h"

#define GUEST_PID 1

static int is_console(int fd)
{
	return fd >= 0 && fd <= 2;
}

_READ_WRITE_RETURN_TYPE write(int fd, const void *buffer, size_t length)
{
	if (fd != STDOUT_FILENO && fd != STDERR_FILENO) {
		errno = EBADF;
		return -1;
	}
	console_write(buffer, length);
	return (_READ_WRITE_RETURN_TYPE)length;
}

/* newlib declares read and write as returning int (_READ_WRITE_RETURN_TYPE).
 * No input device: stdin is always at end of file. */
_READ_WRITE_RETURN_TYPE read(int fd, void *buffer, size_t length)
{
	(void)buffer;
	(void)length;
	if (!is_console(fd)) {
		errno = EBADF;
		return -1;
	}
	return 0;
}

int close(int fd)
{
	if (!is_console(fd)) {
		errno = EBADF;
		return -1;
	}
	return 0;
}

/* A character device: newlib then line-buffers stdout. */
int fstat(int fd, struct stat *status)
{
	if (!is_console(fd)) {
		errno = EBADF;
		return -1;
	}
	*status = (struct stat){.st_mode = S_IFCHR};
	return 0;
}

int isatty(int fd)
{
	if (!is_console(fd)) {
		errno = EBADF;
		return 0;
	}
	return 1;
}

off_t lseek(int fd, off_t offset, int whence)
{
	(void)fd;
	(void)offset;
	(void)whence;
	errno = ESPIPE;
	return -1;
}

/* The heap runs from the end of the image up to the stack guard
 * (mem/mem.h). Past that, malloc sees ENOMEM and returns NULL. */
void *sbrk(ptrdiff_t increment)
{
	static uint64_t current_break;
	if (current_break == 0)
		current_break = mem_heap_start();
	uint64_t old_break = current_break;
	if ((increment > 0 && (uint64_t)increment > mem_heap_limit() - old_break) ||
	    (increment < 0 && (uint64_t)-increment > old_break - mem_heap_start())) {
		errno = ENOMEM;
		return (void *)-1;
	}
	current_break += (uint64_t)increment;
	return (void *)old_break;
}

/* newlib 3.3's C11 aligned_alloc() calls posix_memalign() but does not
 * define it; memalign() is its own. */
int posix_memalign(void **result, size_t alignment, size_t size)
{
	if (alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0)
		return EINVAL;
	void *memory = memalign(alignment, size);
	if (!memory)
		return ENOMEM;
	*result = memory;
	return 0;
}

pid_t getpid(void)
{
	return GUEST_PID;
}

/* abort() and raise() end here: the one process dies of the signal, with
 * the status a shell would show (128 + signal). */
int kill(pid_t pid, int signal_number)
{
	if (pid != GUEST_PID) {
		errno = ESRCH;
		return -1;
	}
	fflush(stdout);
	console_print("guest: killed by signal ");
	console_print_decimal((uint64_t)signal_number);
	console_print("\n");
	guest_exit(128 + signal_number);
}

void _exit(int status)
{
	guest_exit(status);
}

clock_t times(struct tms *buffer)
{
	clock_t ticks = (clock_t)(clock_ns_since_boot() / (1000000000u / CLOCKS_PER_SEC));
	*buffer = (struct tms){.tms_utime = ticks};
	return ticks;
}

/* Seconds since boot, not since 1970: the guest has no wall clock. */
int gettimeofday(struct timeval *now, void *timezone)
{
	(void)timezone;
	uint64_t ns = clock_ns_since_boot();
	now->tv_sec = (time_t)(ns / 1000000000u);
	now->tv_usec = (suseconds_t)(ns % 1000000000u / 1000);
	return 0;
}

_Noreturn void libc_run_main(int argc, char **argv)
{
	exit(main(argc, argv));
}

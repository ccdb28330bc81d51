/* Runs in the guest: from boot.S to the workload's main() and, at the end,
 * out of the machine. */
#include "boot/boot.h"

#include <stdio.h>

#include "clock/clock.h"
#include "console/console.h"
#include "hyper/hyper.h"
#include "libc/libc.h"
#include "mem/mem.h"
#include "x86/x86.h"

#define QEMU_DEBUG_EXIT_PORT 0xF4   /* -device isa-debug-exit,iobase=0xf4 */
#define BOCHS_SHUTDOWN_PORT  0x8900 /* "Shutdown", one byte at a time */

static struct boot_info the_boot_info;

const struct boot_info *boot_info(void)
{
	return &the_boot_info;
}

/* Second half of the start, on the big stack at the top of RAM: newlib is
 * usable from here on (heap and SSE are set up). */
static _Noreturn void guest_run(void)
{
	tsc_calibrate();
	timer_init();
	const struct boot_info *info = &the_boot_info;
	uint64_t ram_mib = (info->ram_top - 0x100000) >> 20;
	printf("guest: %s%s%s, %llu MiB RAM above 1 MiB, hypervisor: %s\n", info->protocol,
	       info->loader_name[0] ? " from " : "", info->loader_name, (unsigned long long)ram_mib,
	       hyper_name());
	printf("guest: tsc %llu.%03llu MHz (%s), timer %s, cmdline \"%s\"\n",
	       (unsigned long long)(tsc_hz() / 1000000),
	       (unsigned long long)(tsc_hz() / 1000 % 1000), tsc_source(), timer_kind(),
	       info->cmdline);
	printf(
	    "@ {\"ev\":\"guest_boot\",\"protocol\":\"%s\",\"hypervisor\":\"%s\",\"ram_mib\":%llu,"
	    "\"tsc_hz\":%llu,\"tsc_source\":\"%s\",\"timer\":\"%s\"}\n",
	    info->protocol, hyper_is_joulevisor() ? "Joulevisor" : hyper_name(),
	    (unsigned long long)ram_mib, (unsigned long long)tsc_hz(), tsc_source(), timer_kind());
	libc_run_main(info->argc, info->argv);
}

void guest_start(uint32_t magic, uint64_t info_address)
{
	hyper_detect();
	console_init();
	idt_init();
	if (!boot_info_read(magic, info_address, &the_boot_info) ||
	    !mem_init(the_boot_info.ram_top))
		guest_exit(GUEST_EXIT_CRASH);
	boot_switch_stack(guest_run, mem_stack_top());
}

_Noreturn void guest_exit(int status)
{
	static bool exiting;
	status &= 0xFF; /* what a Unix parent would see */
	if (!exiting) {
		exiting = true;
		console_print("@ {\"ev\":\"guest_exit\",\"status\":");
		console_print_decimal((uint64_t)status);
		console_print("}\n");
	}
	uart_flush();
	interrupts_off();
	if (hyper_is_joulevisor())
		hyper_call(JV_HC_EXIT, (uint64_t)status, 0, 0);
	/* Bare: QEMU exits with (status << 1) | 1; elsewhere nothing listens. */
	outb(QEMU_DEBUG_EXIT_PORT, (uint8_t)status);
	for (const char *word = "Shutdown"; *word; word++)
		outb(BOCHS_SHUTDOWN_PORT, (uint8_t)*word);
	for (;;)
		__asm__ volatile("hlt");
}

/* Runs in VM-exit context: port I/O (unconditional I/O exiting, SDM Vol.
 * 3C 25.6.2). Qualification layout: SDM 28.2.1 table 28-5. The UART at
 * 0x3F8, the debug port 0xE9, the PIC pair and the RTC (vpic.c) are
 * emulated, and port 0xF4 ends the VM with the status written (QEMU's
 * isa-debug-exit convention, which test kernels for QEMU's -kernel use);
 * other ports read as all ones and ignore writes, like an empty ISA bus. */
#include "vmx/exits.h"

enum exit_action exit_io(struct vcpu *v, const struct vmx_exit *e)
{
	unsigned size = (unsigned)(e->qualification & 7) + 1;
	bool in = e->qualification >> 3 & 1;
	bool string = e->qualification >> 4 & 1;
	uint16_t port = (uint16_t)(e->qualification >> 16);
	if (string) {
		/* INS/OUTS would need guest linear address translation; no device
		 * of ours needs them, so they fault. */
		vmx_inject_exception(13, true, 0);
		return EXIT_RESUME;
	}
	uint32_t mask = size == 4 ? 0xFFFFFFFFu : (1u << (8 * size)) - 1;
	if (in) {
		uint32_t value = mask;
		if (port >= 0x3F8 && port <= 0x3FF)
			value = vuart_read(v->vm, port - 0x3F8u) & mask;
		else if (vpic_io(v->vm, port, true, &value))
			value &= mask;
		v->regs.rax = (v->regs.rax & ~(uint64_t)mask) | value;
	} else {
		uint32_t value = (uint32_t)v->regs.rax & mask;
		if (port >= 0x3F8 && port <= 0x3FF)
			vuart_write(v->vm, port - 0x3F8u, value);
		else if (port == 0xE9 && !v->vm->uart.used)
			vm_console_putc(v->vm,
			                (char)value); /* a second copy once the UART is used */
		else if (port == 0xF4) {
			vm_stop(v->vm, (int)(value & 0xFF), "exited");
			return EXIT_STOP;
		} else
			vpic_io(v->vm, port, false, &value);
	}
	return EXIT_NEXT_INSN;
}

/* Runs in VM-exit context: the 16550 each guest sees at 0x3F8 (register
 * map: PC16550D datasheet). Output is collected per line and printed as
 * "[vm0] text", so the lines of several VMs never interleave mid-line. */
#include "lib/lib.h"
#include "vm/vm.h"

enum { RBR_THR = 0, IER = 1, IIR_FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7 };
#define LCR_DLAB 0x80

void vuart_reset(struct vuart *u)
{
	memset(u, 0, sizeof *u);
}

void vm_console_flush(struct vm *vm)
{
	struct vuart *u = &vm->uart;
	if (!u->line_len)
		return;
	u->line[u->line_len] = '\0';
	kprintf("[%s] %s\n", vm->name, u->line);
	u->line_len = 0;
}

void vm_console_putc(struct vm *vm, char c)
{
	struct vuart *u = &vm->uart;
	if (c == '\r')
		return;
	if (c == '\n') {
		vm_console_flush(vm);
		return;
	}
	/* Keep the host log printable: control bytes become '?'. */
	u->line[u->line_len++] = (c >= 0x20 && c < 0x7f) || c == '\t' ? c : '?';
	if (u->line_len == sizeof u->line - 1)
		vm_console_flush(vm);
}

uint32_t vuart_read(struct vm *vm, unsigned offset)
{
	struct vuart *u = &vm->uart;
	switch (offset) {
	case RBR_THR: return u->lcr & LCR_DLAB ? u->dll : 0; /* no input yet */
	case IER: return u->lcr & LCR_DLAB ? u->dlm : u->ier;
	case IIR_FCR: return 0xC1; /* FIFOs on, no interrupt pending */
	case LCR: return u->lcr;
	case MCR: return u->mcr;
	case LSR: return 0x60; /* transmitter empty and idle: output never waits */
	case MSR: return 0xB0; /* CTS, DSR, DCD */
	case SCR: return u->scr;
	default: return 0xFF;
	}
}

void vuart_write(struct vm *vm, unsigned offset, uint32_t value)
{
	struct vuart *u = &vm->uart;
	uint8_t b = (uint8_t)value;
	switch (offset) {
	case RBR_THR:
		if (u->lcr & LCR_DLAB)
			u->dll = b;
		else
			vm_console_putc(vm, (char)b);
		break;
	case IER:
		if (u->lcr & LCR_DLAB)
			u->dlm = b;
		else
			u->ier = b & 0x0F;
		break;
	case LCR: u->lcr = b; break;
	case MCR: u->mcr = b & 0x1F; break;
	case SCR: u->scr = b; break;
	default: break; /* FCR, LSR, MSR: nothing to keep */
	}
}

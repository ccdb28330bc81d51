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
	u->line_len = 0;
	/* The host's log is everyone's: a flood is dropped and counted. */
	if (vm_limit_take(vm, LIMIT_CONSOLE_LINES, 1))
		kprintf("[%s] %s\n", vm->name, u->line);
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
	/* A line over console_line_bytes goes on in a new line. */
	if (u->line_len >= vm_limit(vm, LIMIT_CONSOLE_LINE_BYTES) ||
	    u->line_len == sizeof u->line - 1) {
		vm_limit_exceeded(vm, LIMIT_CONSOLE_LINE_BYTES, u->line_len + 1);
		vm_console_flush(vm);
	}
	/* Keep the host log printable: control bytes become '?'. */
	u->line[u->line_len++] = (c >= 0x20 && c < 0x7f) || c == '\t' ? c : '?';
}

/* The interrupt the UART asks for, as its IIR says it (PC16550D table 4):
 * only "transmitter holding register empty" here, pending while IER.ETBEI
 * is set, since our transmitter is always empty; reading IIR with it the
 * source, or writing THR, clears it until the next write makes the THR
 * empty again (at once). The line reaches IRQ 4 only with MCR.OUT2. */
#define IER_ETBEI 0x02
#define MCR_OUT2  0x08
static void update_irq(struct vm *vm)
{
	struct vuart *u = &vm->uart;
	vpic_set_irq(&vm->pic, 4, u->thre_pending && (u->ier & IER_ETBEI) && (u->mcr & MCR_OUT2));
}

uint32_t vuart_read(struct vm *vm, unsigned offset)
{
	struct vuart *u = &vm->uart;
	switch (offset) {
	case RBR_THR: return u->lcr & LCR_DLAB ? u->dll : 0; /* no input yet */
	case IER: return u->lcr & LCR_DLAB ? u->dlm : u->ier;
	case IIR_FCR:
		if (u->thre_pending && (u->ier & IER_ETBEI)) {
			u->thre_pending = false; /* read with THRE the source: cleared */
			update_irq(vm);
			return 0xC2;
		}
		return 0xC1; /* FIFOs on, no interrupt pending */
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
		if (u->lcr & LCR_DLAB) {
			u->dll = b;
		} else {
			vm_console_putc(vm, (char)b);
			u->used = true;
			/* Sent at once: the THR is empty again, a new edge. */
			u->thre_pending = false;
			update_irq(vm);
			u->thre_pending = true;
			update_irq(vm);
		}
		break;
	case IER:
		if (u->lcr & LCR_DLAB) {
			u->dlm = b;
		} else {
			if ((b & IER_ETBEI) && !(u->ier & IER_ETBEI))
				u->thre_pending = true; /* enabling it with the THR empty */
			u->ier = b & VUART_IER_BITS;
			update_irq(vm);
		}
		break;
	case LCR: u->lcr = b; break;
	case MCR:
		u->mcr = b & VUART_MCR_BITS;
		update_irq(vm);
		break;
	case SCR: u->scr = b; break;
	default: break; /* FCR, LSR, MSR: nothing to keep */
	}
}

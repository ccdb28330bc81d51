/* Runs in VM-exit context: the legacy devices a Linux guest needs and no
 * more (../shared/PLATFORM.md Part C): an 8259A PIC pair (ports 0x20/0x21,
 * 0xA0/0xA1, ELCR 0x4D0/0x4D1) that delivers the UART's IRQ 4 as ExtINT
 * through LVT0, and a CMOS RTC (0x70/0x71) whose update-in-progress bit
 * reads 0 (Linux otherwise polls it for a second). Port I/O only: nothing
 * here needs an instruction decoder. Register behaviour: Intel 8259A data
 * sheet (ICW1-4, OCW1-3), MC146818 data sheet. */
#include "lib/lib.h"
#include "vm/vm.h"

void vpic_reset(struct vpic *p)
{
	memset(p, 0, sizeof *p);
	p->chip[0].imr = p->chip[1].imr = 0xFF; /* everything masked until set up */
	p->chip[0].vector_base = 0x08;
	p->chip[1].vector_base = 0x70;
}

/* The highest-priority request of one chip (IRQ 0 first) that is not
 * masked and not blocked by one in service at equal or higher priority;
 * -1 if none. */
static int chip_pending(const struct vpic_chip *c)
{
	uint8_t req = c->irr & ~c->imr;
	for (int irq = 0; irq < 8; irq++) {
		if (c->isr & (1u << irq))
			return -1;
		if (req & (1u << irq))
			return irq;
	}
	return -1;
}

int vpic_pending_vector(const struct vpic *p)
{
	int irq = chip_pending(&p->chip[0]);
	if (irq < 0)
		return -1;
	if (irq == 2) { /* the cascade: the slave's request */
		int s = chip_pending(&p->chip[1]);
		return s < 0 ? -1 : p->chip[1].vector_base + s;
	}
	return p->chip[0].vector_base + irq;
}

static void chip_ack(struct vpic_chip *c, int irq)
{
	c->irr &= (uint8_t) ~(1u << irq);
	if (!c->auto_eoi)
		c->isr |= (uint8_t)(1u << irq);
}

void vpic_ack(struct vpic *p)
{
	int irq = chip_pending(&p->chip[0]);
	if (irq < 0)
		return;
	chip_ack(&p->chip[0], irq);
	if (irq == 2) {
		int s = chip_pending(&p->chip[1]);
		if (s >= 0)
			chip_ack(&p->chip[1], s);
	}
}

/* An interrupt line of a device: a rising edge requests the IRQ (edge
 * triggered, as Linux programs ISA IRQs); the level is kept for the next
 * edge. */
void vpic_set_irq(struct vpic *p, unsigned irq, bool level)
{
	struct vpic_chip *c = &p->chip[irq / 8];
	uint8_t bit = (uint8_t)(1u << (irq % 8));
	bool was = c->line & bit;
	if (level)
		c->line |= bit;
	else
		c->line &= (uint8_t)~bit;
	if (level && !was)
		c->irr |= bit;
	if (irq >= 8) /* the slave's output is the master's IRQ 2 */
		vpic_set_irq(p, 2, chip_pending(c) >= 0);
}

static void cmd_write(struct vpic_chip *c, uint8_t v)
{
	if (v & 0x10) { /* ICW1: start initialisation */
		c->icw_step = 2;
		c->need_icw4 = v & 1;
		c->single = v & 2;
		c->imr = 0;
		c->isr = 0;
		c->irr = 0;
		c->auto_eoi = false;
		c->read_isr = false;
	} else if (v & 0x08) { /* OCW3: which register a read of the command port gives */
		if (v & 2)
			c->read_isr = v & 1;
	} else { /* OCW2: end of interrupt */
		unsigned op = v >> 5;
		if (op == 1) { /* non-specific EOI: the highest in service */
			for (int irq = 0; irq < 8; irq++)
				if (c->isr & (1u << irq)) {
					c->isr &= (uint8_t) ~(1u << irq);
					break;
				}
		} else if (op == 3) { /* specific EOI */
			c->isr &= (uint8_t) ~(1u << (v & 7));
		}
	}
}

static void data_write(struct vpic_chip *c, uint8_t v)
{
	switch (c->icw_step) {
	case 2: /* ICW2: vector base */
		c->vector_base = v & 0xF8;
		c->icw_step = c->single ? (c->need_icw4 ? 4 : 0) : 3;
		break;
	case 3: /* ICW3: cascade wiring, fixed here */ c->icw_step = c->need_icw4 ? 4 : 0; break;
	case 4: /* ICW4: auto-EOI (bit 1) */
		c->auto_eoi = v & 2;
		c->icw_step = 0;
		break;
	default: c->imr = v; break; /* OCW1: the mask */
	}
}

static uint8_t bcd(unsigned v)
{
	return (uint8_t)((v / 10) << 4 | (v % 10));
}

/* The RTC's registers: a fixed date (2026-01-01 00:00:00, the guest keeps
 * its own time from the TSC), 24-hour BCD, no update in progress, valid. */
static uint8_t rtc_read(uint8_t index)
{
	switch (index) {
	case 0x00:
	case 0x02:
	case 0x04: return 0; /* seconds, minutes, hours */
	case 0x06: return 5; /* day of week */
	case 0x07:
	case 0x08: return bcd(1);  /* day, month */
	case 0x09: return bcd(26); /* year */
	case 0x0A: return 0x26;    /* UIP clear, 32 kHz, 1024 Hz */
	case 0x0B: return 0x02;    /* 24-hour, BCD, no interrupts */
	case 0x0C: return 0;       /* no interrupt flags */
	case 0x0D: return 0x80;    /* valid RAM and time */
	case 0x32: return bcd(20); /* century */
	default: return 0;
	}
}

bool vpic_io(struct vm *vm, uint16_t port, bool in, uint32_t *value)
{
	struct vpic *p = &vm->pic;
	switch (port) {
	case 0x20:
	case 0xA0: {
		struct vpic_chip *c = &p->chip[port == 0xA0];
		if (in)
			*value = c->read_isr ? c->isr : c->irr;
		else
			cmd_write(c, (uint8_t)*value);
		return true;
	}
	case 0x21:
	case 0xA1: {
		struct vpic_chip *c = &p->chip[port == 0xA1];
		if (in)
			*value = c->imr;
		else
			data_write(c, (uint8_t)*value);
		return true;
	}
	case 0x4D0:
	case 0x4D1: /* ELCR: edge/level per IRQ; kept, all edge in effect */
		if (in)
			*value = p->elcr[port - 0x4D0];
		else
			p->elcr[port - 0x4D0] = (uint8_t)*value;
		return true;
	case 0x70:
		if (!in)
			p->rtc_index = (uint8_t)(*value & 0x7F); /* bit 7: NMI mask */
		else
			*value = p->rtc_index;
		return true;
	case 0x71:
		if (in)
			*value = rtc_read(p->rtc_index);
		return true; /* writes (alarms, the date) are ignored */
	default: return false;
	}
}

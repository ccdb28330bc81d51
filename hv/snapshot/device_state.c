/* Pure (built on the host too): the snapshot sections of the devices hv
 * emulates in vm/ (the x2APIC, the 16550 UART, the PIC pair with the RTC
 * index). Each saves its device's struct, checks a section from another
 * host against what the device's own code could have reached (its write
 * masks, its buffer sizes, its initialisation steps) and restores it. A
 * bool is checked as the byte it is on the wire: a value other than 0 or 1
 * would be undefined behaviour once read as a bool. */
#include "lib/lib.h"
#include "migrate/migrate.h"
#include "snapshot/snapshot.h"

static bool bool_bytes_ok(const void *in, const size_t *offsets, size_t count, size_t *bad)
{
	const uint8_t *bytes = in;
	for (size_t i = 0; i < count; i++)
		if (bytes[offsets[i]] > 1) {
			*bad = i;
			return false;
		}
	return true;
}

/* ---- x2APIC (vlapic.c) ---- */

/* The timer's deadline travels on the guest's clock: the host TSCs of the
 * two hosts are unrelated, the guest's goes on (the clock section). Its
 * period travels in ns: the two hosts' TSC rates may differ. */
struct lapic_saved {
	struct vlapic regs; /* timer_deadline: on the guest's TSC, if armed; timer_period 0 */
	uint64_t timer_armed;
	uint64_t timer_period_ns;
};

static size_t lapic_size(void)
{
	return sizeof(struct lapic_saved);
}

static bool lapic_save(struct vm *vm, struct snapshot_host *host, void *out)
{
	struct lapic_saved s = {.regs = vm->vcpu.lapic};
	s.timer_armed = s.regs.timer_deadline != 0;
	s.regs.timer_deadline = s.timer_armed ? s.regs.timer_deadline + vm->vcpu.tsc_offset : 0;
	/* Rounded up, so that a period at the bound stays at it. */
	s.timer_period_ns = migrate_scale(s.regs.timer_period, 1000000, host->tsc_khz);
	if (migrate_scale(s.timer_period_ns, host->tsc_khz, 1000000) < s.regs.timer_period)
		s.timer_period_ns++;
	s.regs.timer_period = 0;
	memcpy(out, &s, sizeof s);
	return true;
}

static bool lapic_check(const struct vm *vm, const struct snapshot_host *host, const void *in,
                        char *why, size_t why_len)
{
	(void)vm;
	struct lapic_saved s;
	memcpy(&s, in, sizeof s);
	const struct vlapic *l = &s.regs;
	uint64_t base_reserved = VLAPIC_BASE_RESERVED | host->phys_addr_reserved;
	const char *bad = NULL;
	if (l->apic_base & base_reserved)
		bad = "IA32_APIC_BASE has reserved bits set";
	else if ((l->apic_base & VLAPIC_BASE_X2APIC) && !(l->apic_base & VLAPIC_BASE_ENABLE))
		bad = "IA32_APIC_BASE has x2APIC mode without the APIC enabled";
	else if (l->svr & ~VLAPIC_SVR_BITS || l->tpr & ~0xFFu)
		bad = "SVR or TPR has bits no write can set";
	else if (l->lvt_timer & ~VLAPIC_LVT_TIMER_BITS || VLAPIC_LVT_MODE(l->lvt_timer) == 3)
		bad = "the LVT timer has reserved bits or mode 3";
	else if (l->lvt_lint0 & ~VLAPIC_LVT_LINT0_BITS)
		bad = "LVT LINT0 has reserved bits";
	else if (l->divide_config & ~VLAPIC_DIVIDE_BITS)
		bad = "the divide configuration has reserved bits";
	else if (l->isr[0] & 0xFFFF)
		/* The IRR may hold one (an LVT with such a vector: it is never
		 * delivered, vlapic_pending_vector), the ISR never. */
		bad = "a vector below 16 in service (vectors 0-15 are never delivered)";
	else if (s.timer_armed > 1)
		bad = "timer_armed is neither 0 nor 1";
	else if (!s.timer_armed && l->timer_deadline)
		bad = "a deadline on a timer that is not armed";
	else if (l->timer_period)
		bad = "a period in host ticks (it travels in ns)";
	if (bad) {
		fmt_snprintf(why, why_len, "%s", bad);
		return false;
	}
	/* A period only a periodic timer has, never below the VM's bound
	 * here (a period of one tick would keep the vCPU from ever running an
	 * instruction: vlapic.c, the timer_period_us limit), and never above
	 * what a guest can program ((2^32 - 1) x 128 bus ticks; 16 times that,
	 * for hosts of other TSC rates): deadline + period must not wrap.
	 * Both in this host's ticks, as vlapic.c bounds a write. */
	uint64_t ticks = migrate_scale(s.timer_period_ns, host->tsc_khz, 1000000);
	uint64_t min_ticks = vlapic_min_period_ticks(host->tsc_khz, host->timer_period_min_us);
	uint64_t max_ticks = (uint64_t)UINT32_MAX << 11;
	if (s.timer_period_ns &&
	    (VLAPIC_LVT_MODE(l->lvt_timer) != 1 || ticks < min_ticks || ticks > max_ticks)) {
		fmt_snprintf(why, why_len,
		             "a timer period of %llu ns, %llu ticks here (mode %u; only periodic "
		             "mode has one, of %llu to %llu ticks)",
		             (unsigned long long)s.timer_period_ns, (unsigned long long)ticks,
		             VLAPIC_LVT_MODE(l->lvt_timer), (unsigned long long)min_ticks,
		             (unsigned long long)max_ticks);
		return false;
	}
	return true;
}

static bool lapic_restore(struct vm *vm, struct snapshot_host *host, const void *in)
{
	struct lapic_saved s;
	memcpy(&s, in, sizeof s);
	vm->vcpu.lapic = s.regs;
	/* The clock section has set the TSC offset: the guest's deadline
	 * becomes this host's. */
	vm->vcpu.lapic.timer_deadline =
	    s.timer_armed ? vlapic_host_deadline(&vm->vcpu, s.regs.timer_deadline, host->now_tsc)
	                  : 0;
	vm->vcpu.lapic.timer_period = migrate_scale(s.timer_period_ns, host->tsc_khz, 1000000);
	return true;
}

const struct snapshot_section snapshot_lapic_section = {
    .name = "x2apic",
    .tag = SNAPSHOT_TAG('L', 'A', 'P', '1'),
    .size = lapic_size,
    .save = lapic_save,
    .check = lapic_check,
    .restore = lapic_restore,
};

/* ---- 16550 UART (vuart.c) ---- */

static size_t uart_size(void)
{
	return sizeof(struct vuart);
}

static bool uart_save(struct vm *vm, struct snapshot_host *host, void *out)
{
	(void)host;
	memcpy(out, &vm->uart, sizeof vm->uart);
	return true;
}

static bool uart_check(const struct vm *vm, const struct snapshot_host *host, const void *in,
                       char *why, size_t why_len)
{
	(void)vm, (void)host;
	static const size_t bools[] = {offsetof(struct vuart, thre_pending),
	                               offsetof(struct vuart, used)};
	size_t bad;
	if (!bool_bytes_ok(in, bools, ARRAY_SIZE(bools), &bad)) {
		fmt_snprintf(why, why_len, "%s is neither 0 nor 1", bad ? "used" : "thre_pending");
		return false;
	}
	struct vuart u;
	memcpy(&u, in, sizeof u);
	/* vuart.c flushes a line before it fills the buffer: the NUL it then
	 * writes at line[line_len] must land inside. */
	if (u.line_len >= sizeof u.line) {
		fmt_snprintf(why, why_len, "a line of %u bytes, its buffer holds %llu", u.line_len,
		             (unsigned long long)(sizeof u.line - 1));
		return false;
	}
	for (unsigned i = 0; i < u.line_len; i++)
		if (!((u.line[i] >= 0x20 && u.line[i] < 0x7f) || u.line[i] == '\t')) {
			/* vuart.c stores '?' for any other byte: a control byte
			 * here did not come from a guest through it. */
			fmt_snprintf(why, why_len, "byte %u of the pending line is 0x%02x", i,
			             (unsigned)(uint8_t)u.line[i]);
			return false;
		}
	if (u.ier & ~VUART_IER_BITS || u.mcr & ~VUART_MCR_BITS) {
		fmt_snprintf(why, why_len, "IER 0x%02x or MCR 0x%02x has bits no write can set",
		             u.ier, u.mcr);
		return false;
	}
	return true;
}

static bool uart_restore(struct vm *vm, struct snapshot_host *host, const void *in)
{
	(void)host;
	memcpy(&vm->uart, in, sizeof vm->uart);
	return true;
}

const struct snapshot_section snapshot_uart_section = {
    .name = "uart",
    .tag = SNAPSHOT_TAG('U', 'A', 'R', '1'),
    .size = uart_size,
    .save = uart_save,
    .check = uart_check,
    .restore = uart_restore,
};

/* ---- PIC pair and RTC index (vpic.c) ---- */

static size_t pic_size(void)
{
	return sizeof(struct vpic);
}

static bool pic_save(struct vm *vm, struct snapshot_host *host, void *out)
{
	(void)host;
	memcpy(out, &vm->pic, sizeof vm->pic);
	return true;
}

static bool pic_check(const struct vm *vm, const struct snapshot_host *host, const void *in,
                      char *why, size_t why_len)
{
	(void)vm, (void)host;
	static const char *const bool_names[] = {"need_icw4", "single", "auto_eoi", "read_isr"};
	for (unsigned c = 0; c < 2; c++) {
		size_t at = offsetof(struct vpic, chip) + c * sizeof(struct vpic_chip);
		const size_t bools[] = {at + offsetof(struct vpic_chip, need_icw4),
		                        at + offsetof(struct vpic_chip, single),
		                        at + offsetof(struct vpic_chip, auto_eoi),
		                        at + offsetof(struct vpic_chip, read_isr)};
		size_t bad;
		if (!bool_bytes_ok(in, bools, ARRAY_SIZE(bools), &bad)) {
			fmt_snprintf(why, why_len, "chip %u: %s is neither 0 nor 1", c,
			             bool_names[bad]);
			return false;
		}
	}
	struct vpic p;
	memcpy(&p, in, sizeof p);
	for (unsigned c = 0; c < 2; c++) {
		const struct vpic_chip *chip = &p.chip[c];
		/* vpic.c: ICW2 keeps bits 7:3; the ICW steps are 0 (done), 2, 3, 4 */
		/* and ICW3 only in cascade mode, ICW4 only when ICW1 asked */
		if (chip->vector_base & 7 || chip->icw_step == 1 || chip->icw_step > 4 ||
		    (chip->icw_step == 3 && chip->single) ||
		    (chip->icw_step == 4 && !chip->need_icw4)) {
			fmt_snprintf(why, why_len, "chip %u: vector base 0x%02x or ICW step %u", c,
			             chip->vector_base, chip->icw_step);
			return false;
		}
	}
	if (p.rtc_index & 0x80) { /* vpic.c keeps bits 6:0; bit 7 is the NMI mask */
		fmt_snprintf(why, why_len, "RTC index 0x%02x", p.rtc_index);
		return false;
	}
	return true;
}

static bool pic_restore(struct vm *vm, struct snapshot_host *host, const void *in)
{
	(void)host;
	memcpy(&vm->pic, in, sizeof vm->pic);
	return true;
}

const struct snapshot_section snapshot_pic_section = {
    .name = "pic",
    .tag = SNAPSHOT_TAG('P', 'I', 'C', '1'),
    .size = pic_size,
    .save = pic_save,
    .check = pic_check,
    .restore = pic_restore,
};

/* Runs in VM-exit context: the x2APIC each guest sees, enough of it for a
 * timer: ID, version, TPR, EOI, SVR, the LVT timer in one-shot, periodic and
 * TSC-deadline modes (SDM Vol. 3A 11.5.4), and the IA32_TSC_DEADLINE MSR.
 * The timer counts TSC ticks (divide configuration applied), which is also
 * what bochs' own LAPIC does. Register map: SDM Vol. 3A table 11-6. */
#include "lib/lib.h"
#include "vm/vm.h"
#include "x86/x86.h"

#define MSR_IA32_APIC_BASE    0x1B
#define MSR_IA32_TSC_DEADLINE 0x6E0

enum {
	X2APIC_ID = 0x802,
	X2APIC_VERSION = 0x803,
	X2APIC_TPR = 0x808,
	X2APIC_PPR = 0x80A,
	X2APIC_EOI = 0x80B,
	X2APIC_LDR = 0x80D,
	X2APIC_SVR = 0x80F,
	X2APIC_ESR = 0x828,
	X2APIC_ICR = 0x830,
	X2APIC_LVT_TIMER = 0x832,
	X2APIC_LVT_THERMAL = 0x833,
	X2APIC_LVT_PMC = 0x834,
	X2APIC_LVT_LINT0 = 0x835,
	X2APIC_LVT_LINT1 = 0x836,
	X2APIC_LVT_ERROR = 0x837,
	X2APIC_TIMER_INITIAL = 0x838,
	X2APIC_TIMER_CURRENT = 0x839,
	X2APIC_TIMER_DIVIDE = 0x83E,
	X2APIC_SELF_IPI = 0x83F,
};

void vlapic_reset(struct vlapic *l)
{
	memset(l, 0, sizeof *l);
	l->apic_base = 0xFEE00000ull | VLAPIC_BASE_ENABLE | VLAPIC_BASE_BSP;
	l->lvt_timer = VLAPIC_LVT_MASKED;
	/* LINT0 as ExtINT, unmasked: the virtual-wire mode firmware leaves
	 * (MultiProcessor Specification 3.6.2.2), so the PIC's interrupts
	 * reach the CPU until the OS says otherwise. The PIC starts with every
	 * IRQ masked, so nothing arrives unless a guest sets it up. */
	l->lvt_lint0 = 0x700;
	l->svr = 0xFF;
}

static unsigned divide_shift(uint32_t config)
{
	/* bits 3,1,0: 000 = /2 ... 110 = /128, 111 = /1 (SDM figure 11-10) */
	unsigned code = (config & 3) | ((config >> 1) & 4);
	return code == 7 ? 0 : code + 1;
}

static void set_bit(uint64_t *bits, int v)
{
	bits[v / 64] |= 1ull << (v % 64);
}
static void clear_bit(uint64_t *bits, int v)
{
	bits[v / 64] &= ~(1ull << (v % 64));
}
static int highest(const uint64_t *bits)
{
	for (int w = 3; w >= 0; w--)
		if (bits[w])
			return w * 64 + 63 - __builtin_clzll(bits[w]);
	return -1;
}

int vlapic_pending_vector(const struct vlapic *l)
{
	if (!(l->apic_base & VLAPIC_BASE_ENABLE))
		return -1; /* a disabled APIC delivers nothing (SDM 11.4.3) */
	int requested = highest(l->irr);
	if (requested < 16)
		return -1; /* vectors 0-15 are illegal for the LAPIC */
	int in_service = highest(l->isr);
	/* Only a higher priority class than what is in service, or the TPR. */
	if (in_service >= 0 && (requested >> 4) <= (in_service >> 4))
		return -1;
	if ((unsigned)(requested >> 4) <= ((l->tpr >> 4) & 15))
		return -1;
	return requested;
}

bool vlapic_extint_enabled(const struct vlapic *l)
{
	return (l->apic_base & VLAPIC_BASE_ENABLE) && !(l->lvt_lint0 & VLAPIC_LVT_MASKED) &&
	       ((l->lvt_lint0 >> 8) & 7) == 7;
}

void vlapic_raise(struct vcpu *v, int vector)
{
	set_bit(v->lapic.irr, vector);
	if (v->state == VCPU_HALTED)
		v->state = VCPU_RUNNABLE;
}

void vlapic_ack(struct vlapic *l, int vector)
{
	clear_bit(l->irr, vector);
	set_bit(l->isr, vector);
}

void vlapic_tick(struct vcpu *v, uint64_t now)
{
	struct vlapic *l = &v->lapic;
	if (!l->timer_deadline || now < l->timer_deadline)
		return;
	if (l->timer_period) {
		/* Periodic: next deadline, skipping periods missed while the VM
		 * did not run (one interrupt for them, as real APICs coalesce). */
		uint64_t missed = (now - l->timer_deadline) / l->timer_period + 1;
		l->timer_deadline += missed * l->timer_period;
	} else {
		l->timer_deadline = 0;
	}
	if (!(l->lvt_timer & VLAPIC_LVT_MASKED) && (l->svr & 0x100)) {
		set_bit(l->irr, (int)(l->lvt_timer & 0xFF));
		if (v->state == VCPU_HALTED)
			v->state = VCPU_RUNNABLE;
	}
}

bool vlapic_read_msr(struct vcpu *v, uint32_t msr, uint64_t *value)
{
	struct vlapic *l = &v->lapic;
	if (msr == MSR_IA32_APIC_BASE) {
		*value = l->apic_base;
		return true;
	}
	if (msr == MSR_IA32_TSC_DEADLINE) {
		/* The value written until the timer fires (SDM 11.5.4.1): the
		 * host-clock copy may have been clamped to "due now". */
		*value = VLAPIC_LVT_MODE(l->lvt_timer) == 2 && l->timer_deadline
		             ? l->tsc_deadline_written
		             : 0;
		return true;
	}
	if (msr < 0x800 || msr > 0x8FF || !(l->apic_base & VLAPIC_BASE_X2APIC))
		return false;
	switch (msr) {
	case X2APIC_ID: *value = 0; break;
	case X2APIC_VERSION: *value = 0x00050014; break; /* version 0x14, 6 LVTs */
	case X2APIC_TPR: *value = l->tpr; break;
	case X2APIC_PPR: *value = l->tpr; break;
	case X2APIC_LDR: *value = 1; break;
	case X2APIC_SVR: *value = l->svr; break;
	case X2APIC_ESR: *value = 0; break;
	case X2APIC_LVT_TIMER: *value = l->lvt_timer; break;
	case X2APIC_LVT_LINT0: *value = l->lvt_lint0; break;
	case X2APIC_LVT_THERMAL:
	case X2APIC_LVT_PMC:
	case X2APIC_LVT_LINT1:
	case X2APIC_LVT_ERROR: *value = VLAPIC_LVT_MASKED; break;
	case X2APIC_TIMER_INITIAL: *value = l->initial_count; break;
	case X2APIC_TIMER_CURRENT: {
		uint64_t now = rdtsc();
		*value = VLAPIC_LVT_MODE(l->lvt_timer) < 2 && l->timer_deadline > now
		             ? (l->timer_deadline - now) >> divide_shift(l->divide_config)
		             : 0;
		break;
	}
	case X2APIC_TIMER_DIVIDE: *value = l->divide_config; break;
	default:
		if (msr >= 0x810 && msr <= 0x827) { /* ISR, TMR, IRR words */
			unsigned reg = (msr - 0x810) / 8, word = (msr - 0x810) % 8;
			const uint64_t *bits = reg == 0 ? l->isr : reg == 2 ? l->irr : NULL;
			*value = bits ? (uint32_t)(bits[word / 2] >> (32 * (word % 2))) : 0;
		} else {
			return false;
		}
	}
	return true;
}

/* MOV to CR8 (64-bit mode): CR8[3:0] is TPR[7:4] (SDM Vol. 3A 11.8.6);
 * bits 63:4 are reserved (#GP). The real TPR is never touched. */
bool vlapic_write_cr8(struct vcpu *v, uint64_t value)
{
	if (value & ~0xFull)
		return false;
	v->lapic.tpr = (uint32_t)value << 4;
	return true;
}

/* SDM Vol. 3A 11.12.5 and figure 11-27: IA32_APIC_BASE. Bits 7:0, 9 and
 * those above MAXPHYADDR are reserved; EXTD without EN is invalid; x2APIC
 * mode can only be left by disabling the APIC, and entered only from
 * xAPIC mode. A refused write is #GP. */
static bool apic_base_write(struct vlapic *l, uint64_t value)
{
	uint64_t reserved = VLAPIC_BASE_RESERVED | phys_addr_reserved_bits();
	if (value & reserved)
		return false;
	bool en = value & VLAPIC_BASE_ENABLE, extd = value & VLAPIC_BASE_X2APIC;
	bool was_en = l->apic_base & VLAPIC_BASE_ENABLE,
	     was_extd = l->apic_base & VLAPIC_BASE_X2APIC;
	if (extd && !en)
		return false;
	if (was_extd && was_en && en && !extd)
		return false; /* x2APIC -> xAPIC */
	if (!was_en && en && extd)
		return false; /* disabled -> x2APIC */
	if (was_en && !en) {
		/* Disabling resets the APIC's state but keeps its base (11.4.3). */
		uint64_t keep = value;
		vlapic_reset(l);
		l->apic_base = keep;
		return true;
	}
	l->apic_base = value;
	return true;
}

/* A periodic timer fires at most once per timer_period_us (the limits
 * table, default 200 us): a period of one tick would keep the
 * VMX-preemption timer at zero and the vCPU from ever running an
 * instruction (KVM's min_timer_period_us is the same bound). */
static uint64_t min_period_ticks(const struct vcpu *v)
{
	return vlapic_min_period_ticks(host_tsc_khz, vm_limit(v->vm, LIMIT_TIMER_PERIOD_US));
}

enum vlapic_msr vlapic_write_msr(struct vcpu *v, uint32_t msr, uint64_t value)
{
	struct vlapic *l = &v->lapic;
	uint64_t now = rdtsc();
	if (msr == MSR_IA32_APIC_BASE)
		return apic_base_write(l, value) ? VLAPIC_MSR_DONE : VLAPIC_MSR_FAULT;
	if (msr == MSR_IA32_TSC_DEADLINE) {
		/* SDM 11.5.4.1: ignored unless the timer is in TSC-deadline mode;
		 * 0 disarms. */
		if (VLAPIC_LVT_MODE(l->lvt_timer) == 2) {
			l->timer_deadline = value ? vlapic_host_deadline(v, value, now) : 0;
			l->tsc_deadline_written = value;
			l->timer_period = 0;
		}
		return VLAPIC_MSR_DONE;
	}
	if (msr < 0x800 || msr > 0x8FF || !(l->apic_base & VLAPIC_BASE_X2APIC))
		return VLAPIC_MSR_NOT_MINE;
	uint32_t v32 = (uint32_t)value;
	switch (msr) {
	case X2APIC_TPR: l->tpr = v32 & 0xFF; break;
	case X2APIC_EOI: {
		int in_service = highest(l->isr);
		if (in_service >= 0)
			clear_bit(l->isr, in_service);
		break;
	}
	case X2APIC_SVR: l->svr = v32 & VLAPIC_SVR_BITS; break;
	case X2APIC_ESR: break;
	case X2APIC_ICR: {
		/* SDM 11.6.1, 11.12.9: one CPU, so an IPI reaches only us: a
		 * fixed or lowest-priority one with shorthand self or all
		 * including self, or addressed to our ID (0) or broadcast. The
		 * other delivery modes (SMI, NMI, INIT, SIPI) are dropped. */
		unsigned mode = (v32 >> 8) & 7, shorthand = (v32 >> 18) & 3;
		uint32_t dest = (uint32_t)(value >> 32);
		bool to_self = shorthand == 1 || shorthand == 2 ||
		               (shorthand == 0 && (dest == 0 || dest == 0xFFFFFFFFu));
		if ((mode == 0 || mode == 1) && to_self && (v32 & 0xFF) >= 16)
			vlapic_raise(v, (int)(v32 & 0xFF));
		break;
	}
	case X2APIC_SELF_IPI:
		if ((v32 & 0xFF) >= 16) /* vectors 0-15 are illegal (SDM 11.5.3) */
			vlapic_raise(v, (int)(v32 & 0xFF));
		break;
	case X2APIC_LVT_TIMER:
		if (VLAPIC_LVT_MODE(v32) != VLAPIC_LVT_MODE(l->lvt_timer)) {
			l->timer_deadline = 0; /* a mode change disarms (SDM 11.5.4.1) */
			l->timer_period = 0;
		}
		l->lvt_timer = v32 & VLAPIC_LVT_TIMER_BITS;
		break;
	case X2APIC_LVT_LINT0: l->lvt_lint0 = v32 & VLAPIC_LVT_LINT0_BITS; break;
	case X2APIC_LVT_THERMAL:
	case X2APIC_LVT_PMC:
	case X2APIC_LVT_LINT1:
	case X2APIC_LVT_ERROR: break;
	case X2APIC_TIMER_INITIAL:
		if (VLAPIC_LVT_MODE(l->lvt_timer) < 2) {
			l->initial_count = v32;
			uint64_t ticks = (uint64_t)v32 << divide_shift(l->divide_config);
			if (VLAPIC_LVT_MODE(l->lvt_timer) == 1 && ticks < min_period_ticks(v)) {
				vm_limit_exceeded(v->vm, LIMIT_TIMER_PERIOD_US,
				                  ticks * 1000 / (host_tsc_khz ? host_tsc_khz : 1));
				ticks = min_period_ticks(v);
			}
			l->timer_deadline = v32 ? now + ticks : 0;
			l->timer_period = VLAPIC_LVT_MODE(l->lvt_timer) == 1 ? ticks : 0;
		}
		break;
	case X2APIC_TIMER_DIVIDE: l->divide_config = v32 & VLAPIC_DIVIDE_BITS; break;
	default: return VLAPIC_MSR_NOT_MINE;
	}
	return VLAPIC_MSR_DONE;
}

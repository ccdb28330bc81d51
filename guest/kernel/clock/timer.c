/* Runs in the guest: sleeping with the local APIC's TSC-deadline timer in
 * x2APIC mode (SDM Vol. 3A 11.12 "Extended XAPIC (x2APIC)" and 11.5.4.1
 * "TSC-Deadline Mode"). Under a hypervisor every access here is an MSR exit
 * and HLT is a real idle period: exactly what an energy study wants. */
#include "clock/clock.h"

#include <stdbool.h>
#include <stdio.h>

#include "hyper/hyper.h"

#define IA32_APIC_BASE         0x1B
#define APIC_BASE_ENABLE       (1u << 11)
#define APIC_BASE_X2APIC       (1u << 10)
#define IA32_TSC_DEADLINE      0x6E0
#define X2APIC_EOI             0x80B
#define X2APIC_SPURIOUS        0x80F
#define X2APIC_LVT_TIMER       0x832
#define SPURIOUS_APIC_ENABLE   (1u << 8)
#define LVT_TIMER_TSC_DEADLINE (2u << 17) /* timer mode, bits 18:17 */

#define PIC_MASTER_DATA 0x21
#define PIC_SLAVE_DATA  0xA1

extern void isr_timer(void);

static bool have_deadline_timer;
static const char *why_no_deadline_timer = "";
static volatile uint64_t timer_interrupts;

/* Called by isr.S. No SSE here: the interrupted code's XMM registers are
 * not saved by the stub. */
__attribute__((target("general-regs-only"))) void timer_interrupt(void);

__attribute__((target("general-regs-only"))) void timer_interrupt(void)
{
	timer_interrupts++;
	__asm__ volatile("wrmsr" : : "c"(X2APIC_EOI), "a"(0), "d"(0));
}

void timer_init(void)
{
	struct cpuid_result features = cpuid(1, 0);
	if (!(features.ecx & CPUID1_ECX_X2APIC)) {
		why_no_deadline_timer = "no x2APIC";
		return;
	}
	if (!(features.ecx & CPUID1_ECX_TSC_DEADLINE)) {
		why_no_deadline_timer = "no TSC-deadline timer";
		return;
	}
	/* The legacy 8259 PICs stay silent: the BIOS may have left the PIT
	 * interrupt unmasked, and it would arrive on an exception vector. */
	if (!hyper_is_joulevisor()) {
		outb(PIC_MASTER_DATA, 0xFF);
		outb(PIC_SLAVE_DATA, 0xFF);
	}
	/* xAPIC first, then x2APIC: going straight from disabled to x2APIC
	 * is an invalid transition (SDM Vol. 3A 11.12.5). */
	uint64_t base = rdmsr(IA32_APIC_BASE);
	if (!(base & APIC_BASE_ENABLE))
		wrmsr(IA32_APIC_BASE, base |= APIC_BASE_ENABLE);
	if (!(base & APIC_BASE_X2APIC))
		wrmsr(IA32_APIC_BASE, base | APIC_BASE_X2APIC);

	idt_set_handler(VECTOR_TIMER, isr_timer);
	wrmsr(X2APIC_SPURIOUS, SPURIOUS_APIC_ENABLE | VECTOR_SPURIOUS);
	wrmsr(X2APIC_LVT_TIMER, LVT_TIMER_TSC_DEADLINE | VECTOR_TIMER);
	/* The mode change must be seen before the first deadline write
	 * (SDM Vol. 3A 11.5.4.1). */
	__asm__ volatile("mfence" : : : "memory");
	wrmsr(IA32_TSC_DEADLINE, 0);
	have_deadline_timer = true;
}

const char *timer_kind(void)
{
	return have_deadline_timer ? "x2apic-tsc-deadline" : "busy-wait";
}

void sleep_until_tsc(uint64_t deadline)
{
	if (!have_deadline_timer) {
		static bool said_so;
		if (!said_so) {
			printf("guest: %s: sleeping by busy-waiting on the TSC\n",
			       why_no_deadline_timer);
			said_so = true;
		}
		while (rdtsc() < deadline)
			cpu_relax();
		return;
	}
	/* A deadline already in the past fires at once, so arming and then
	 * halting cannot miss the wake-up; any other wake-up just loops. */
	while (rdtsc() < deadline) {
		interrupts_off();
		wrmsr(IA32_TSC_DEADLINE, deadline);
		enable_interrupts_and_halt();
		interrupts_off();
	}
	wrmsr(IA32_TSC_DEADLINE, 0); /* disarm */
}

/* Runs at boot: completes the boot GDT with a 64-bit TSS and loads TR.
 * VM exits need a valid host TR (SDM Vol. 3C 27.2.3 "Checks on Host Segment
 * and Descriptor-Table Registers": TR selector must not be 0), and the TSS
 * gives double faults a known-good stack through IST1 (SDM Vol. 3A 7.14.5). */
#include "lib/lib.h"
#include "x86/x86.h"

struct tss64 {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
} __attribute__((packed));

#define GDT_ENTRIES 5 /* null, code, data, TSS (16 bytes) */

extern uint64_t boot_gdt[];
static struct tss64 tss __attribute__((aligned(16)));
static uint8_t double_fault_stack[8192] __attribute__((aligned(16)));

/* The 16-byte system descriptor of a TSS at tss_base: type 9 (available
 * 64-bit TSS), present (SDM Vol. 3A 8.2.3). */
static void set_tss_descriptor(uint64_t *gdt, const struct tss64 *t)
{
	uint64_t base = (uint64_t)(uintptr_t)t;
	uint64_t limit = sizeof *t - 1;
	gdt[GDT_SEL_TSS / 8] = (limit & 0xffff) | (base & 0xffffff) << 16 | 0x89ull << 40 |
	                       ((limit >> 16) & 0xf) << 48 | ((base >> 24) & 0xff) << 56;
	gdt[GDT_SEL_TSS / 8 + 1] = base >> 32;
}

static void tss_setup(struct tss64 *t, uint64_t double_fault_stack_top)
{
	memset(t, 0, sizeof *t);
	t->ist[0] = double_fault_stack_top;
	t->iomap_base = sizeof *t; /* no I/O bitmap */
}

void gdt_init(void)
{
	tss_setup(&tss, (uint64_t)(uintptr_t)(double_fault_stack + sizeof double_fault_stack));
	set_tss_descriptor(boot_gdt, &tss);
	__asm__ volatile("ltr %w0" ::"r"(GDT_SEL_TSS));
}

/* Each other CPU: its own copy of the GDT (a TSS descriptor is marked busy
 * by LTR, so CPUs cannot share one) and its own TSS. */
static uint64_t cpu_gdt[GDT_MAX_CPUS][GDT_ENTRIES] __attribute__((aligned(16)));
static struct tss64 cpu_tss[GDT_MAX_CPUS] __attribute__((aligned(16)));

bool gdt_init_this_cpu(unsigned index, uint64_t double_fault_stack_top)
{
	if (index == 0 || index >= GDT_MAX_CPUS)
		return false;
	uint64_t *gdt = cpu_gdt[index];
	memcpy(gdt, boot_gdt, 3 * sizeof *gdt); /* null, code, data as the boot CPU's */
	tss_setup(&cpu_tss[index], double_fault_stack_top);
	set_tss_descriptor(gdt, &cpu_tss[index]);
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) gdtr = {GDT_ENTRIES * 8 - 1, (uint64_t)(uintptr_t)gdt};
	/* Load it, reload CS with a far return, the data segments, then TR. */
	__asm__ volatile("lgdt %0\n\t"
	                 "pushq %1\n\t"
	                 "leaq 1f(%%rip), %%rax\n\t"
	                 "pushq %%rax\n\t"
	                 "lretq\n"
	                 "1:\n\t"
	                 "movw %w2, %%ax\n\t"
	                 "movw %%ax, %%ds\n\t"
	                 "movw %%ax, %%es\n\t"
	                 "movw %%ax, %%ss\n\t"
	                 "ltr %w3"
	                 :
	                 : "m"(gdtr), "i"(GDT_SEL_CODE), "i"(GDT_SEL_DATA), "r"(GDT_SEL_TSS)
	                 : "rax", "memory");
	return true;
}

uint64_t gdt_tss_base(void)
{
	return (uint64_t)(uintptr_t)&tss;
}

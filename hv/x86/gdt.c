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

extern uint64_t boot_gdt[];
static struct tss64 tss __attribute__((aligned(16)));
static uint8_t double_fault_stack[8192] __attribute__((aligned(16)));

void gdt_init(void)
{
	memset(&tss, 0, sizeof tss);
	tss.ist[0] = (uint64_t)(uintptr_t)(double_fault_stack + sizeof double_fault_stack);
	tss.iomap_base = sizeof tss; /* no I/O bitmap */

	/* 16-byte system descriptor, type 9 (available 64-bit TSS), present. */
	uint64_t base = (uint64_t)(uintptr_t)&tss;
	uint64_t limit = sizeof tss - 1;
	boot_gdt[GDT_SEL_TSS / 8] = (limit & 0xffff) | (base & 0xffffff) << 16 | 0x89ull << 40 |
	                            ((limit >> 16) & 0xf) << 48 | ((base >> 24) & 0xff) << 56;
	boot_gdt[GDT_SEL_TSS / 8 + 1] = base >> 32;
	__asm__ volatile("ltr %w0" ::"r"(GDT_SEL_TSS));
}

uint64_t gdt_tss_base(void)
{
	return (uint64_t)(uintptr_t)&tss;
}

/* Runs in the guest: the interrupt descriptor table and the report printed
 * for a CPU exception. The guest has no user mode and nothing to recover:
 * an exception is a bug, so we print what a student needs to find it and
 * end the guest with GUEST_EXIT_CRASH. */
#include "x86/x86.h"

#include "boot/boot.h"
#include "console/console.h"
#include "mem/mem.h"

/* A 64-bit interrupt gate (SDM Vol. 3A 7.14.1 "64-Bit Mode IDT"). */
struct idt_gate {
	uint16_t offset_low;
	uint16_t code_selector;
	uint8_t ist;
	uint8_t type_attributes;
	uint16_t offset_middle;
	uint32_t offset_high;
	uint32_t reserved;
} __attribute__((packed));

#define KERNEL_CODE_SELECTOR   0x08 /* boot.S's 64-bit code segment */
#define GATE_INTERRUPT_PRESENT 0x8E /* P=1, DPL=0, type 14 (interrupt gate) */

static struct idt_gate idt[256] __attribute__((aligned(16)));

/* The 64-bit TSS only matters here for its interrupt stack table: every
 * exception switches to a stack of its own (IST1), so that a stack
 * overflow into the guard page is reported instead of becoming a double
 * and then a triple fault (SDM Vol. 3A 7.14.5 "Interrupt Stack Table"). */
struct tss {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t io_map_base;
} __attribute__((packed));

#define TSS_SELECTOR         0x20
#define EXCEPTION_IST        1
#define EXCEPTION_STACK_SIZE 16384

static struct tss tss;
static uint8_t exception_stack[EXCEPTION_STACK_SIZE] __attribute__((aligned(16)));
extern uint64_t boot_gdt[]; /* boot.S; entries 4 and 5 are for the TSS */

static void tss_init(void)
{
	tss.ist[EXCEPTION_IST - 1] = (uint64_t)exception_stack + EXCEPTION_STACK_SIZE;
	tss.io_map_base = sizeof(tss); /* no I/O permission bitmap */
	uint64_t base = (uint64_t)&tss, limit = sizeof(tss) - 1;
	/* A 16-byte system descriptor, type 9 (available 64-bit TSS), present
	 * (SDM Vol. 3A 8.2.3 "TSS Descriptor in 64-bit mode"). */
	boot_gdt[TSS_SELECTOR / 8] = (limit & 0xFFFF) | (base & 0xFFFFFF) << 16 | 0x89ull << 40 |
	                             ((limit >> 16) & 0xF) << 48 | ((base >> 24) & 0xFF) << 56;
	boot_gdt[TSS_SELECTOR / 8 + 1] = base >> 32;
	__asm__ volatile("ltr %w0" : : "r"(TSS_SELECTOR));
}

/* What isr.S pushed, lowest address first. */
struct exception_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error_code;
	uint64_t rip, cs, rflags, rsp, ss; /* pushed by the CPU */
};

extern void (*const isr_exception_stubs[32])(void);
extern void isr_spurious(void);

static const char *const exception_names[32] = {
    [0] = "#DE divide error",
    [1] = "#DB debug",
    [2] = "NMI",
    [3] = "#BP breakpoint",
    [4] = "#OF overflow",
    [5] = "#BR bound range",
    [6] = "#UD invalid opcode",
    [7] = "#NM device not available",
    [8] = "#DF double fault",
    [10] = "#TS invalid TSS",
    [11] = "#NP segment not present",
    [12] = "#SS stack fault",
    [13] = "#GP general protection",
    [14] = "#PF page fault",
    [16] = "#MF x87 error",
    [17] = "#AC alignment check",
    [18] = "#MC machine check",
    [19] = "#XM SIMD floating point",
    [20] = "#VE virtualization",
    [21] = "#CP control protection",
};

static void set_gate(uint8_t vector, void (*stub)(void), uint8_t ist)
{
	uint64_t address = (uint64_t)stub;
	idt[vector] = (struct idt_gate){
	    .offset_low = address & 0xFFFF,
	    .code_selector = KERNEL_CODE_SELECTOR,
	    .ist = ist,
	    .type_attributes = GATE_INTERRUPT_PRESENT,
	    .offset_middle = (address >> 16) & 0xFFFF,
	    .offset_high = address >> 32,
	};
}

/* Interrupts (not exceptions) stay on the current stack. */
void idt_set_handler(uint8_t vector, void (*stub)(void))
{
	set_gate(vector, stub, 0);
}

void idt_init(void)
{
	tss_init();
	for (int vector = 0; vector < 32; vector++)
		set_gate(vector, isr_exception_stubs[vector], EXCEPTION_IST);
	idt_set_handler(VECTOR_SPURIOUS, isr_spurious);

	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) pointer = {sizeof(idt) - 1, (uint64_t)idt};
	__asm__ volatile("lidt %0" : : "m"(pointer));
}

static void print_register(const char *name, uint64_t value)
{
	console_print(name);
	console_print_hex(value);
}

/* Called by isr.S; never returns. */
_Noreturn void exception_report(struct exception_frame *frame);

uint64_t fault_probe_armed, fault_probe_saved_rsp;
struct fault_probe_info fault_probe_last;
_Noreturn void fault_probe_resume(int vector);

_Noreturn void exception_report(struct exception_frame *frame)
{
	if (fault_probe_armed && frame->vector < 32) {
		/* A test asked to see this fault: hand it back (isr.S). */
		fault_probe_armed = 0;
		fault_probe_last = (struct fault_probe_info){frame->vector, frame->error_code,
		                                             frame->rip, read_cr2()};
		fault_probe_resume((int)frame->vector);
	}
	static bool reporting;
	if (reporting) /* a fault while reporting a fault: just stop */
		guest_exit(GUEST_EXIT_CRASH);
	reporting = true;

	const char *name = frame->vector < 32 ? exception_names[frame->vector] : 0;
	console_print("\nguest: CPU exception ");
	console_print_decimal(frame->vector);
	console_print(" (");
	console_print(name ? name : "reserved");
	console_print(")\n");
	print_register("guest:   error code ", frame->error_code);
	print_register("  rip ", frame->rip);
	print_register("  cr2 ", read_cr2());
	print_register("\nguest:   rsp ", frame->rsp);
	print_register("  rbp ", frame->rbp);
	print_register("  rflags ", frame->rflags);
	print_register("\nguest:   rax ", frame->rax);
	print_register("  rbx ", frame->rbx);
	print_register("  rcx ", frame->rcx);
	print_register("  rdx ", frame->rdx);
	print_register("\nguest:   rsi ", frame->rsi);
	print_register("  rdi ", frame->rdi);
	console_print("\n");
	if (frame->vector == 14 && mem_is_stack_guard(read_cr2()))
		console_print("guest:   the address is in the stack guard: stack overflow\n");
	guest_exit(GUEST_EXIT_CRASH);
}

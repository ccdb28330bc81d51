/* Runs on CPU exceptions in hv itself (not in guests: their faults are VM
 * exits). Reports vector, error code, RIP, CR2, registers and a frame-pointer
 * stack trace, then stops hv with the "panic" status. */
#include "core/core.h"
#include "lib/lib.h"
#include "x86/x86.h"

struct trap_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error_code;
	uint64_t rip, cs, rflags, rsp, ss; /* pushed by the CPU */
};

struct idt_gate {
	uint16_t offset_low, selector;
	uint8_t ist, type_attr;
	uint16_t offset_mid;
	uint32_t offset_high, reserved;
} __attribute__((packed));

static struct idt_gate idt[256] __attribute__((aligned(16)));
extern const uint64_t isr_stub_table[32];

struct extable_entry {
	uint64_t fault_rip, fixup_rip;
};
extern const struct extable_entry __extable_start[], __extable_end[];

static const char *const exception_names[32] = {
    "#DE divide error",
    "#DB debug",
    "NMI",
    "#BP breakpoint",
    "#OF overflow",
    "#BR bound range",
    "#UD invalid opcode",
    "#NM device not available",
    "#DF double fault",
    "coprocessor segment overrun",
    "#TS invalid TSS",
    "#NP segment not present",
    "#SS stack fault",
    "#GP general protection",
    "#PF page fault",
    "reserved 15",
    "#MF x87 error",
    "#AC alignment check",
    "#MC machine check",
    "#XM SIMD exception",
    "#VE virtualization exception",
    "#CP control protection",
    "reserved 22",
    "reserved 23",
    "reserved 24",
    "reserved 25",
    "reserved 26",
    "reserved 27",
    "reserved 28",
    "reserved 29",
    "reserved 30",
    "reserved 31",
};

extern char isr_host_timer[], isr_spurious[];

static void set_gate(int vector, uint64_t handler, uint8_t ist)
{
	idt[vector] = (struct idt_gate){
	    .offset_low = (uint16_t)handler,
	    .selector = GDT_SEL_CODE,
	    .ist = ist,
	    .type_attr = 0x8E, /* present, DPL 0, 64-bit interrupt gate */
	    .offset_mid = (uint16_t)(handler >> 16),
	    .offset_high = (uint32_t)(handler >> 32),
	};
}

void idt_init(void)
{
	for (int v = 0; v < 32; v++)
		set_gate(v, isr_stub_table[v], v == 8 ? 1 : 0); /* #DF on its own stack (IST1) */
	/* hv's idle timer and the APIC's spurious vector (power/power.c). */
	set_gate(0xF0, (uint64_t)(uintptr_t)isr_host_timer, 0);
	set_gate(0xFF, (uint64_t)(uintptr_t)isr_spurious, 0);
	idt_load();
}

void idt_load(void)
{
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) idtr = {sizeof idt - 1, (uint64_t)(uintptr_t)idt};
	__asm__ volatile("lidt %0" ::"m"(idtr));
}

uint64_t idt_base(void)
{
	return (uint64_t)(uintptr_t)idt;
}

/* A frame pointer we may follow: inside the identity map, aligned. */
static bool plausible_frame(uint64_t rbp)
{
	return rbp && !(rbp & 7) && rbp < (4ull << 30) - 16;
}

void trap_handler(struct trap_frame *f);
void trap_handler(struct trap_frame *f)
{
	for (const struct extable_entry *e = __extable_start; e < __extable_end; e++) {
		if (e->fault_rip == f->rip && (f->vector == 13 || f->vector == 6)) {
			f->rip = e->fixup_rip;
			return;
		}
	}
	uint64_t cr2 = read_cr2();
	kprintf("\nhv: CPU exception %llu (%s) in hv, error code 0x%llx\n",
	        (unsigned long long)f->vector, exception_names[f->vector & 31],
	        (unsigned long long)f->error_code);
	kprintf("  RIP=%016llx CS=%04llx RFLAGS=%016llx RSP=%016llx CR2=%016llx\n",
	        (unsigned long long)f->rip, (unsigned long long)f->cs,
	        (unsigned long long)f->rflags, (unsigned long long)f->rsp, (unsigned long long)cr2);
	kprintf("  RAX=%016llx RBX=%016llx RCX=%016llx RDX=%016llx\n", (unsigned long long)f->rax,
	        (unsigned long long)f->rbx, (unsigned long long)f->rcx, (unsigned long long)f->rdx);
	kprintf("  RSI=%016llx RDI=%016llx RBP=%016llx\n", (unsigned long long)f->rsi,
	        (unsigned long long)f->rdi, (unsigned long long)f->rbp);
	kprintf("  stack trace (addr2line -e build/hv.elf ADDR):\n    %016llx\n",
	        (unsigned long long)f->rip);
	uint64_t rbp = f->rbp;
	for (int depth = 0; depth < 16 && plausible_frame(rbp); depth++) {
		const uint64_t *frame = (const uint64_t *)(uintptr_t)rbp;
		if (!frame[1])
			break;
		kprintf("    %016llx\n", (unsigned long long)frame[1]);
		rbp = frame[0];
	}
	log_event("{\"ev\":\"panic\",\"vector\":%llu,\"name\":\"%s\",\"error_code\":%llu,"
	          "\"rip\":\"0x%llx\",\"cr2\":\"0x%llx\"}",
	          (unsigned long long)f->vector, exception_names[f->vector & 31],
	          (unsigned long long)f->error_code, (unsigned long long)f->rip,
	          (unsigned long long)cr2);
	hv_stop(HV_STATUS_PANIC, "CPU exception in hv");
}

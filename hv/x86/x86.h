/* x86: the CPU as hv uses it: port and MSR access (with a fault-tolerant
 * rdmsr for MSRs that may not exist), CPUID, control registers, the TSC,
 * the GDT/TSS and the IDT with its exception reporting. Runs anywhere. */
#ifndef HV_X86_H
#define HV_X86_H

#include <stdbool.h>
#include <stdint.h>

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port));
}
static inline void outw(uint16_t port, uint16_t v)
{
	__asm__ volatile("outw %0, %1" ::"a"(v), "Nd"(port));
}
static inline void outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" ::"a"(v), "Nd"(port));
}
static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline uint32_t inl(uint16_t port)
{
	uint32_t v;
	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return (uint64_t)hi << 32 | lo;
}
static inline void wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr" ::"c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

/* rdmsr that survives a #GP (an MSR the CPU or emulator does not have):
 * the fault handler finds the faulting RIP in the .extable section and
 * resumes at the fixup, which reports failure. Returns true on success. */
static inline bool rdmsr_safe(uint32_t msr, uint64_t *value)
{
	uint32_t lo = 0, hi = 0, failed = 0;
	__asm__ volatile("1: rdmsr\n"
	                 "2:\n"
	                 ".pushsection .extable, \"a\"\n"
	                 ".balign 8\n"
	                 ".quad 1b, 3f\n"
	                 ".popsection\n"
	                 ".pushsection .text.fixup, \"ax\"\n"
	                 "3: movl $1, %2\n"
	                 "jmp 2b\n"
	                 ".popsection\n"
	                 : "+a"(lo), "+d"(hi), "+r"(failed)
	                 : "c"(msr));
	*value = (uint64_t)hi << 32 | lo;
	return !failed;
}

struct cpuid_regs {
	uint32_t eax, ebx, ecx, edx;
};
static inline struct cpuid_regs cpuid(uint32_t leaf, uint32_t subleaf)
{
	struct cpuid_regs r;
	__asm__ volatile("cpuid"
	                 : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx)
	                 : "a"(leaf), "c"(subleaf));
	return r;
}

/* XSETBV/XGETBV: extended control register idx (0 = XCR0, the enabled
 * XSAVE state components; SDM Vol. 2D XSETBV, Vol. 2C XGETBV). Need
 * CR4.OSXSAVE. */
static inline void xsetbv(uint32_t idx, uint64_t v)
{
	__asm__ volatile("xsetbv" ::"c"(idx), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}
static inline uint64_t xgetbv(uint32_t idx)
{
	uint32_t lo, hi;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(idx));
	return (uint64_t)hi << 32 | lo;
}

/* Bits 63..MAXPHYADDR of a physical address: reserved in PDPTEs and
 * IA32_APIC_BASE (CPUID 0x80000008 EAX[7:0], SDM Vol. 3A 4.1.4). */
static inline uint64_t phys_addr_reserved_bits(void)
{
	return ~((1ull << (cpuid(0x80000008, 0).eax & 0xFF)) - 1);
}

/* A 48-bit linear address is canonical when bits 63:47 are all equal (SDM
 * Vol. 1 3.3.7.1); hv and its guests see no 5-level paging (LA57 hidden). */
static inline bool is_canonical(uint64_t address)
{
	return (uint64_t)((int64_t)(address << 16) >> 16) == address;
}

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

#define DEFINE_CR_ACCESS(n)                                                                        \
	static inline uint64_t read_cr##n(void)                                                    \
	{                                                                                          \
		uint64_t v;                                                                        \
		__asm__ volatile("mov %%cr" #n ", %0" : "=r"(v));                                  \
		return v;                                                                          \
	}                                                                                          \
	static inline void write_cr##n(uint64_t v)                                                 \
	{                                                                                          \
		__asm__ volatile("mov %0, %%cr" #n ::"r"(v) : "memory");                           \
	}
DEFINE_CR_ACCESS(0)
DEFINE_CR_ACCESS(2)
DEFINE_CR_ACCESS(3)
DEFINE_CR_ACCESS(4)
DEFINE_CR_ACCESS(8)
#undef DEFINE_CR_ACCESS

#define DEFINE_DR_ACCESS(n)                                                                        \
	static inline uint64_t read_dr##n(void)                                                    \
	{                                                                                          \
		uint64_t v;                                                                        \
		__asm__ volatile("mov %%db" #n ", %0" : "=r"(v));                                  \
		return v;                                                                          \
	}                                                                                          \
	static inline void write_dr##n(uint64_t v)                                                 \
	{                                                                                          \
		__asm__ volatile("mov %0, %%db" #n ::"r"(v));                                      \
	}
DEFINE_DR_ACCESS(0)
DEFINE_DR_ACCESS(1)
DEFINE_DR_ACCESS(2)
DEFINE_DR_ACCESS(3)
DEFINE_DR_ACCESS(6)
#undef DEFINE_DR_ACCESS

static inline void cpu_relax(void)
{
	__asm__ volatile("pause");
}
static inline void irq_disable(void)
{
	__asm__ volatile("cli" ::: "memory");
}
__attribute__((noreturn)) static inline void halt_forever(void)
{
	for (;;)
		__asm__ volatile("cli; hlt");
}

/* MSRs used by hv (SDM Vol. 4 "Model-Specific Registers"). */
#define MSR_IA32_FEATURE_CONTROL         0x3A
#define MSR_IA32_VMX_BASIC               0x480
#define MSR_IA32_VMX_PINBASED_CTLS       0x481
#define MSR_IA32_VMX_PROCBASED_CTLS      0x482
#define MSR_IA32_VMX_EXIT_CTLS           0x483
#define MSR_IA32_VMX_ENTRY_CTLS          0x484
#define MSR_IA32_VMX_MISC                0x485
#define MSR_IA32_VMX_CR0_FIXED0          0x486
#define MSR_IA32_VMX_CR0_FIXED1          0x487
#define MSR_IA32_VMX_CR4_FIXED0          0x488
#define MSR_IA32_VMX_CR4_FIXED1          0x489
#define MSR_IA32_VMX_PROCBASED_CTLS2     0x48B
#define MSR_IA32_VMX_EPT_VPID_CAP        0x48C
#define MSR_IA32_VMX_TRUE_PINBASED_CTLS  0x48D
#define MSR_IA32_VMX_TRUE_PROCBASED_CTLS 0x48E
#define MSR_IA32_VMX_TRUE_EXIT_CTLS      0x48F
#define MSR_IA32_VMX_TRUE_ENTRY_CTLS     0x490
#define MSR_RAPL_POWER_UNIT              0x606
#define MSR_PKG_ENERGY_STATUS            0x611
#define MSR_DRAM_ENERGY_STATUS           0x619
#define MSR_PP0_ENERGY_STATUS            0x639
#define MSR_IA32_EFER                    0xC0000080

/* gdt.c: loads a GDT with a 64-bit TSS (needed as host TR by VMX, SDM Vol.
 * 3C 27.2.3) whose IST1 stack serves double faults. */
#define GDT_SEL_CODE 0x08
#define GDT_SEL_DATA 0x10
#define GDT_SEL_TSS  0x18
void gdt_init(void);
uint64_t gdt_tss_base(void);
/* On another CPU (index 1..GDT_MAX_CPUS-1): loads its own GDT copy and TSS
 * (double faults on the stack given). False for a bad index. */
#define GDT_MAX_CPUS 64
bool gdt_init_this_cpu(unsigned index, uint64_t double_fault_stack_top);
/* Loads the IDT idt_init built (one table serves every CPU). */
void idt_load(void);

/* idt.c: exception vectors 0-31 report and stop hv (status "panic"),
 * except faults at an .extable address, which resume at the fixup. */
void idt_init(void);
uint64_t idt_base(void);

/* tsc.c: TSC frequency from CPUID 0x15 or the PIT; source names where the
 * figure came from ("cpuid15" or "pit"). */
struct tsc_info {
	uint64_t khz;
	const char *source;
};
struct tsc_info tsc_calibrate(void);

#endif

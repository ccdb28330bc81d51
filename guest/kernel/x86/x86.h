/* Runs in the guest: the x86 instructions the kernel needs (port I/O, MSRs,
 * CPUID, TSC), and the interrupt table. */
#ifndef GUEST_X86_H
#define GUEST_X86_H

#include <stdbool.h>
#include <stdint.h>

static inline void outb(uint16_t port, uint8_t value)
{
	__asm__ volatile("outb %0, %1" : : "a"(value), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t value;
	__asm__ volatile("inb %1, %0" : "=a"(value) : "Nd"(port));
	return value;
}

static inline void outl(uint16_t port, uint32_t value)
{
	__asm__ volatile("outl %0, %1" : : "a"(value), "Nd"(port));
}

static inline uint32_t inl(uint16_t port)
{
	uint32_t value;
	__asm__ volatile("inl %1, %0" : "=a"(value) : "Nd"(port));
	return value;
}

static inline uint64_t rdmsr(uint32_t msr)
{
	uint32_t low, high;
	__asm__ volatile("rdmsr" : "=a"(low), "=d"(high) : "c"(msr));
	return ((uint64_t)high << 32) | low;
}

static inline void wrmsr(uint32_t msr, uint64_t value)
{
	__asm__ volatile("wrmsr"
	                 :
	                 : "c"(msr), "a"((uint32_t)value), "d"((uint32_t)(value >> 32))
	                 : "memory");
}

struct cpuid_result {
	uint32_t eax, ebx, ecx, edx;
};

static inline struct cpuid_result cpuid(uint32_t leaf, uint32_t subleaf)
{
	struct cpuid_result r;
	__asm__ volatile("cpuid"
	                 : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx)
	                 : "a"(leaf), "c"(subleaf));
	return r;
}

static inline uint64_t rdtsc(void)
{
	uint32_t low, high;
	__asm__ volatile("rdtsc" : "=a"(low), "=d"(high));
	return ((uint64_t)high << 32) | low;
}

static inline uint64_t read_cr2(void)
{
	uint64_t value;
	__asm__ volatile("mov %%cr2, %0" : "=r"(value));
	return value;
}

static inline void cpu_relax(void)
{
	__asm__ volatile("pause");
}

static inline void interrupts_off(void)
{
	__asm__ volatile("cli" : : : "memory");
}

/* STI takes effect after the next instruction, so no interrupt can slip in
 * between the two and be missed: HLT wakes on it. */
static inline void enable_interrupts_and_halt(void)
{
	__asm__ volatile("sti; hlt" : : : "memory");
}

/* CPUID feature bits used by the kernel (SDM Vol. 2A, CPUID leaf 1). */
#define CPUID1_ECX_X2APIC       (1u << 21)
#define CPUID1_ECX_TSC_DEADLINE (1u << 24)
#define CPUID1_ECX_HYPERVISOR   (1u << 31)

/* Interrupt vectors the kernel uses. 0-31 are CPU exceptions. */
#define VECTOR_TIMER    0x40
#define VECTOR_SPURIOUS 0xFF

/* Installs the IDT: every exception prints its state and ends the guest. */
void idt_init(void);
/* Runs fn(arg); returns -1 if it returned, else the vector of the CPU
 * exception it raised (then fault_probe_last says more). For tests only:
 * the fault is not reported and the kernel goes on. */
int fault_probe(void (*fn)(void *), void *arg);
struct fault_probe_info {
	uint64_t vector, error_code, rip, cr2;
};
extern struct fault_probe_info fault_probe_last;
/* Points one vector at an entry stub (an interrupt gate). */
void idt_set_handler(uint8_t vector, void (*stub)(void));

#endif

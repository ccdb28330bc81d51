/* Runs as a guest (the guest kernel, 64-bit ring 0, its own IDT): the
 * hostile-guest battery. `hostile GROUP` runs every case of one group and
 * prints, for each, "TEST <case> PASS" or "TEST <case> FAIL: <why>", then
 * exits 0 if all passed. Each case says what a real CPU would do (the fault
 * it raises, delivered to this guest, or the value it reads back) and
 * checks that hv did exactly that. Groups whose cases end the VM on purpose
 * (triple fault, halt with interrupts off, ...) are run one to a VM by
 * tests/system/hostile_tests.py, which checks the reason hv gives. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock/clock.h"
#include "hyper/hyper.h"
#include "joulevisor/pvnet.h"
#include "net/net.h"
#include "x86/x86.h"

#define GP   13
#define UD   6
#define DB   1
#define BP   3
#define DE   0
#define PF   14
#define NONE (-1)

static char why[160];
static int failures, cases;

static void report(const char *name, bool ok)
{
	cases++;
	if (ok) {
		printf("TEST %s PASS\n", name);
	} else {
		failures++;
		printf("TEST %s FAIL: %s\n", name, why);
	}
}

/* ---- small register accessors (ring 0, 64-bit) ---- */
static uint64_t get_cr0(void)
{
	uint64_t v;
	__asm__ volatile("mov %%cr0, %0" : "=r"(v));
	return v;
}
static uint64_t get_cr4(void)
{
	uint64_t v;
	__asm__ volatile("mov %%cr4, %0" : "=r"(v));
	return v;
}
static uint64_t get_cr3(void)
{
	uint64_t v;
	__asm__ volatile("mov %%cr3, %0" : "=r"(v));
	return v;
}
static uint64_t get_cr8(void)
{
	uint64_t v;
	__asm__ volatile("mov %%cr8, %0" : "=r"(v));
	return v;
}

/* The operand of the instruction a probe runs. */
static uint64_t operand;
static uint32_t operand_msr;

static void do_set_cr0(void *a)
{
	(void)a;
	__asm__ volatile("mov %0, %%cr0" ::"r"(operand) : "memory");
}
static void do_set_cr4(void *a)
{
	(void)a;
	__asm__ volatile("mov %0, %%cr4" ::"r"(operand) : "memory");
}
static void do_set_cr3(void *a)
{
	(void)a;
	__asm__ volatile("mov %0, %%cr3" ::"r"(operand) : "memory");
}
static void do_set_cr8(void *a)
{
	(void)a;
	__asm__ volatile("mov %0, %%cr8" ::"r"(operand) : "memory");
}
static void do_wrmsr(void *a)
{
	(void)a;
	wrmsr(operand_msr, operand);
}
static void do_rdmsr(void *a)
{
	(void)a;
	operand = rdmsr(operand_msr);
}

/* Runs fn; true if the vector it raised is the one expected (NONE: none). */
static bool expect_fault(const char *what, void (*fn)(void *), int expected)
{
	int got = fault_probe(fn, NULL);
	if (got == expected)
		return true;
	snprintf(why, sizeof why, "%s: %s %d, a CPU raises %s%d", what,
	         got < 0 ? "no fault, expected" : "vector", got < 0 ? expected : got,
	         expected < 0 ? "none " : "", expected);
	return false;
}

/* A control-register write a CPU refuses: #GP, and the register unchanged. */
static bool cr_write_faults(const char *what, void (*set)(void *), uint64_t (*get)(void),
                            uint64_t value)
{
	uint64_t before = get();
	operand = value;
	bool ok = expect_fault(what, set, GP);
	if (ok && get() != before) {
		snprintf(why, sizeof why, "%s: the register changed to 0x%llx after #GP", what,
		         (unsigned long long)get());
		return false;
	}
	return ok;
}

static bool cr0_write_faults(const char *what, uint64_t value)
{
	return cr_write_faults(what, do_set_cr0, get_cr0, value);
}

static bool cr4_write_faults(const char *what, uint64_t value)
{
	return cr_write_faults(what, do_set_cr4, get_cr4, value);
}

static bool msr_write_faults(const char *what, uint32_t msr, uint64_t value)
{
	operand_msr = msr;
	operand = value;
	return expect_fault(what, do_wrmsr, GP);
}

#define CR0_PE      (1ull << 0)
#define CR0_TS      (1ull << 3)
#define CR0_NE      (1ull << 5)
#define CR0_NW      (1ull << 29)
#define CR0_CD      (1ull << 30)
#define CR0_PG      (1ull << 31)
#define CR4_PAE     (1ull << 5)
#define CR4_PGE     (1ull << 7)
#define CR4_LA57    (1ull << 12)
#define CR4_VMXE    (1ull << 13)
#define CR4_PCIDE   (1ull << 17)
#define CR4_OSXSAVE (1ull << 18)
#define CR4_PKE     (1ull << 22)
#define CR4_CET     (1ull << 23)

/* ---- group cr: control registers ---- */
static void group_cr(void)
{
	uint64_t cr0 = get_cr0(), cr4 = get_cr4();
	report("cr0_pg_without_pe", cr0_write_faults("PG=1 PE=0", cr0 & ~CR0_PE));
	report("cr0_nw_without_cd", cr0_write_faults("NW=1 CD=0", (cr0 | CR0_NW) & ~CR0_CD));
	report("cr0_upper_bits", cr0_write_faults("CR0 bit 32", cr0 | (1ull << 32)));
	report("cr0_clear_pg_in_64bit_mode",
	       cr0_write_faults("PG=0 in 64-bit mode", cr0 & ~CR0_PG));
	report("cr4_vmxe_while_vmx_hidden", cr4_write_faults("CR4.VMXE", cr4 | CR4_VMXE));
	report("cr4_reserved_bit", cr4_write_faults("CR4 bit 28", cr4 | (1ull << 28)));
	report("cr4_pke_while_pku_hidden", cr4_write_faults("CR4.PKE", cr4 | CR4_PKE));
	report("cr4_clear_pae_in_long_mode", cr4_write_faults("PAE=0", cr4 & ~CR4_PAE));
	report("cr4_la57_in_long_mode", cr4_write_faults("CR4.LA57", cr4 | CR4_LA57));
	report("cr4_cet_hidden", cr4_write_faults("CR4.CET", cr4 | CR4_CET));
	/* PCIDE with CR3[11:0] != 0: #GP (and #GP too where PCID is hidden). */
	uint64_t cr3 = get_cr3();
	operand = cr3 | 0x8; /* PWT */
	fault_probe(do_set_cr3, NULL);
	bool pcide = cr4_write_faults("PCIDE with CR3.PWT", cr4 | CR4_PCIDE);
	operand = cr3;
	fault_probe(do_set_cr3, NULL);
	report("cr4_pcide_with_cr3_low_bits", pcide);

	/* CR4.OSXSAVE: XSAVE is shown, so the write is taken, reads back, and
	 * CPUID.1:ECX.OSXSAVE follows it (SDM Vol. 2A table 3-10). */
	bool osx = cpuid(1, 0).ecx & (1u << 26);
	if (!osx)
		snprintf(why, sizeof why, "CPUID.1:ECX.XSAVE is 0");
	operand = cr4 | CR4_OSXSAVE;
	osx = osx && expect_fault("set CR4.OSXSAVE", do_set_cr4, NONE) &&
	      get_cr4() == (cr4 | CR4_OSXSAVE);
	bool shown = cpuid(1, 0).ecx & (1u << 27);
	operand = cr4;
	osx = osx && expect_fault("clear CR4.OSXSAVE", do_set_cr4, NONE) && get_cr4() == cr4;
	bool hidden = !(cpuid(1, 0).ecx & (1u << 27));
	if (osx && !(shown && hidden))
		snprintf(why, sizeof why,
		         "CPUID.1:ECX.OSXSAVE reads %d with CR4.OSXSAVE set, %d clear", shown,
		         !hidden);
	report("cr4_osxsave_accepted_and_in_cpuid", osx && shown && hidden);

	/* Legal writes read back what was written. */
	operand = cr0 & ~CR0_NE;
	bool ok = expect_fault("clear NE", do_set_cr0, NONE) && get_cr0() == (cr0 & ~CR0_NE);
	if (ok) {
		operand = cr0;
		ok = expect_fault("set NE back", do_set_cr0, NONE) && get_cr0() == cr0;
	}
	if (!ok && !why[0])
		snprintf(why, sizeof why, "CR0 reads 0x%llx", (unsigned long long)get_cr0());
	report("cr0_ne_roundtrip", ok);
	operand = cr4 ^ CR4_PGE;
	ok = expect_fault("toggle PGE", do_set_cr4, NONE) && get_cr4() == (cr4 ^ CR4_PGE);
	operand = cr4;
	ok = ok && expect_fault("PGE back", do_set_cr4, NONE) && get_cr4() == cr4;
	report("cr4_pge_roundtrip", ok);
	operand = cr0 | CR0_TS;
	ok = expect_fault("set TS", do_set_cr0, NONE) && (get_cr0() & CR0_TS);
	__asm__ volatile("clts");
	ok = ok && !(get_cr0() & CR0_TS);
	snprintf(why, sizeof why, "CLTS left CR0 0x%llx", (unsigned long long)get_cr0());
	report("clts_clears_ts", ok);
	uint16_t msw = 0; /* LMSW cannot clear PE */
	__asm__ volatile("lmsw %0" ::"r"(msw));
	snprintf(why, sizeof why, "LMSW 0 left CR0 0x%llx", (unsigned long long)get_cr0());
	report("lmsw_cannot_clear_pe", (get_cr0() & CR0_PE) != 0);
	operand = cr0;
	fault_probe(do_set_cr0, NULL);

	/* CR8 is the virtual APIC's TPR[7:4]; reserved bits #GP. */
	operand = 15;
	ok = expect_fault("CR8=15", do_set_cr8, NONE) && get_cr8() == 15 &&
	     (rdmsr(0x808) & 0xFF) == 0xF0;
	snprintf(why, sizeof why, "CR8 %llu, TPR 0x%llx", (unsigned long long)get_cr8(),
	         (unsigned long long)rdmsr(0x808));
	operand = 0;
	fault_probe(do_set_cr8, NULL);
	report("cr8_is_the_virtual_tpr", ok);
	operand = 16;
	report("cr8_reserved_bits", expect_fault("CR8=16", do_set_cr8, GP) && get_cr8() == 0);
}

/* ---- group msr ---- */
#define MSR_EFER      0xC0000080
#define MSR_PAT       0x277
#define MSR_APIC_BASE 0x1B
static void group_msr(void)
{
	uint64_t efer = rdmsr(MSR_EFER);
	report("efer_reserved_bit", msr_write_faults("EFER bit 2", MSR_EFER, efer | 4));
	report("efer_clear_lme_while_paging",
	       msr_write_faults("EFER.LME=0 with paging on", MSR_EFER, efer & ~(1ull << 8)));
	operand_msr = MSR_EFER;
	operand = efer & ~(1ull << 10); /* LMA is read-only: ignored */
	bool ok = expect_fault("EFER without LMA", do_wrmsr, NONE) && rdmsr(MSR_EFER) == efer;
	report("efer_lma_is_read_only", ok);
	uint64_t pat = rdmsr(MSR_PAT);
	report("pat_reserved_type_2",
	       msr_write_faults("PAT type 2", MSR_PAT, (pat & ~0xFFull) | 2));
	report("pat_reserved_type_8",
	       msr_write_faults("PAT type 8", MSR_PAT, (pat & ~0xFFull) | 8));
	operand_msr = MSR_PAT;
	operand = 0x0000000000000106ull; /* WB, WC, UC... */
	ok = expect_fault("valid PAT", do_wrmsr, NONE) && rdmsr(MSR_PAT) == operand;
	wrmsr(MSR_PAT, pat);
	report("pat_roundtrip", ok);
	uint64_t base = rdmsr(MSR_APIC_BASE);
	report("apic_base_reserved_bit",
	       msr_write_faults("APIC_BASE bit 9", MSR_APIC_BASE, base | (1ull << 9)));
	report("apic_base_x2apic_to_xapic",
	       msr_write_faults("x2APIC -> xAPIC", MSR_APIC_BASE, base & ~(1ull << 10)));
	report("apic_base_extd_without_en",
	       msr_write_faults("EXTD without EN", MSR_APIC_BASE, base & ~(1ull << 11)));
	report("apic_base_unchanged", rdmsr(MSR_APIC_BASE) == base);
	operand_msr = 0x12345;
	report("unknown_msr_read", expect_fault("rdmsr 0x12345", do_rdmsr, GP));
	report("unknown_msr_write", msr_write_faults("wrmsr 0x12345", 0x12345, 1));
	report("feature_control_write", msr_write_faults("wrmsr FEATURE_CONTROL", 0x3A, 5));
	report("lstar_noncanonical",
	       msr_write_faults("LSTAR non-canonical", 0xC0000082, 0x8000000000000000ull));
	report("sfmask_upper_bits", msr_write_faults("SFMASK bit 32", 0xC0000084, 1ull << 32));
	/* Every MSR in the architectural and AMD-style ranges: each read
	 * returns or faults, none stops the VM. */
	unsigned faulted = 0, read = 0;
	for (uint32_t m = 0; m < 0x2000; m++) {
		operand_msr = m;
		if (fault_probe(do_rdmsr, NULL) < 0)
			read++;
		else
			faulted++;
	}
	for (uint32_t m = 0xC0000000u; m < 0xC0002000u; m++) {
		operand_msr = m;
		if (fault_probe(do_rdmsr, NULL) < 0)
			read++;
		else
			faulted++;
	}
	printf("hostile: MSR sweep: %u read, %u #GP\n", read, faulted);
	snprintf(why, sizeof why, "%u read, %u faulted", read, faulted);
	report("msr_sweep_survives", read > 10 && faulted > 1000);
}

/* ---- group insn: instructions a guest may not use, and emulated ones ---- */
#define INSN(name, text)                                                                           \
	static void do_##name(void *a)                                                             \
	{                                                                                          \
		(void)a;                                                                           \
		__asm__ volatile(text ::: "memory", "rax", "rcx", "rdx");                          \
	}
static uint64_t scratch[4] __attribute__((aligned(16)));
INSN(vmxon, "vmxon scratch(%%rip)")
INSN(vmclear, "vmclear scratch(%%rip)")
INSN(vmptrld, "vmptrld scratch(%%rip)")
INSN(vmptrst, "vmptrst scratch(%%rip)")
INSN(vmread, "xor %%eax, %%eax; vmread %%rax, %%rcx")
INSN(vmwrite, "xor %%eax, %%eax; vmwrite %%rax, %%rcx")
INSN(vmlaunch, "vmlaunch")
INSN(vmresume, "vmresume")
INSN(vmxoff, "vmxoff")
INSN(invept, "mov $1, %%eax; invept scratch(%%rip), %%rax")
INSN(invvpid, "mov $1, %%eax; invvpid scratch(%%rip), %%rax")
INSN(getsec, "getsec")
INSN(xsetbv, "xor %%ecx, %%ecx; mov $1, %%eax; xor %%edx, %%edx; xsetbv")
INSN(invd, "invd")
INSN(wbinvd, "wbinvd")
INSN(ud2, "ud2")
INSN(int3, "int3")
INSN(rdpmc, "mov $0x40000000, %%ecx; rdpmc")
INSN(noncanonical, "movabs $0x8000000000000000, %%rax; mov (%%rax), %%rax")
INSN(far_jump_to_tss, "ljmp *scratch(%%rip)")
static void do_divide(void *a)
{
	(void)a;
	__asm__ volatile("xor %%ecx, %%ecx; mov $1, %%eax; xor %%edx, %%edx; div %%ecx" ::
	                     : "rax", "rcx", "rdx");
}

/* The last page of the canonical lower half, mapped to a page of ours:
 * a CPUID (which hv emulates) in its last two bytes ends exactly at
 * 0x0000800000000000. A CPU raises #GP(0) there instead of running on at
 * a non-canonical RIP; hv must do the same, not fail the VM entry. */
#define TOP_OF_LOWER_HALF 0x00007FFFFFFFF000ull
static uint64_t top_tables[3][512] __attribute__((aligned(4096)));
static uint8_t top_page[4096] __attribute__((aligned(4096)));

static void map_top_of_lower_half(void)
{
	/* 4-level paging (SDM Vol. 3A 5.5): PML4[255] -> PDPT[511] -> PD[511]
	 * -> PT[511] -> top_page; present | writable. Identity-mapped kernel:
	 * these arrays' addresses are their physical addresses. */
	uint64_t *pml4 = (uint64_t *)(get_cr3() & ~0xFFFull);
	pml4[255] = (uint64_t)(uintptr_t)top_tables[0] | 3;
	top_tables[0][511] = (uint64_t)(uintptr_t)top_tables[1] | 3;
	top_tables[1][511] = (uint64_t)(uintptr_t)top_tables[2] | 3;
	top_tables[2][511] = (uint64_t)(uintptr_t)top_page | 3;
	top_page[4094] = 0x0F; /* CPUID */
	top_page[4095] = 0xA2;
	__asm__ volatile("invlpg (%0)" ::"r"(TOP_OF_LOWER_HALF) : "memory");
}

static void do_cpuid_at_top(void *a)
{
	(void)a;
	__asm__ volatile("xor %%eax, %%eax; movabs $0x7FFFFFFFFFFE, %%rdx; call *%%rdx"
	                 :
	                 :
	                 : "rax", "rbx", "rcx", "rdx", "memory");
}

static void group_insn(void)
{
	static const struct {
		const char *name;
		void (*fn)(void *);
		int vector;
	} table[] = {
	    {"vmxon_is_ud", do_vmxon, UD},
	    {"vmclear_is_ud", do_vmclear, UD},
	    {"vmptrld_is_ud", do_vmptrld, UD},
	    {"vmptrst_is_ud", do_vmptrst, UD},
	    {"vmread_is_ud", do_vmread, UD},
	    {"vmwrite_is_ud", do_vmwrite, UD},
	    {"vmlaunch_is_ud", do_vmlaunch, UD},
	    {"vmresume_is_ud", do_vmresume, UD},
	    {"vmxoff_is_ud", do_vmxoff, UD},
	    {"invept_is_ud", do_invept, UD},
	    {"invvpid_is_ud", do_invvpid, UD},
	    {"getsec_is_ud", do_getsec, UD},
	    {"xsetbv_without_osxsave_is_ud", do_xsetbv, UD},
	    {"invd_completes", do_invd, NONE},
	    {"wbinvd_completes", do_wbinvd, NONE},
	    {"ud2_is_ud", do_ud2, UD},
	    {"int3_is_bp", do_int3, BP},
	    {"divide_by_zero_is_de", do_divide, DE},
	    {"noncanonical_load_is_gp", do_noncanonical, GP},
	};
	for (unsigned i = 0; i < sizeof table / sizeof table[0]; i++)
		report(table[i].name, expect_fault(table[i].name, table[i].fn, table[i].vector));
	/* A far jump through a selector of a TSS: task switches do not exist in
	 * IA-32e mode, the CPU raises #GP (SDM Vol. 3A 8.7). Selector 0x20 is
	 * the kernel's 64-bit TSS. */
	uint8_t far_ptr[10] = {0}; /* selector 0x20 for m16:32 and m16:64 */
	far_ptr[4] = 0x20;
	far_ptr[8] = 0x20;
	memcpy(scratch, far_ptr, sizeof far_ptr);
	report("task_switch_is_gp", expect_fault("ljmp to a TSS", do_far_jump_to_tss, GP));
	map_top_of_lower_half();
	bool top_ok = expect_fault("CPUID ending at 0x800000000000", do_cpuid_at_top, GP);
	if (top_ok && fault_probe_last.rip != TOP_OF_LOWER_HALF + 4094) {
		snprintf(why, sizeof why, "#GP at RIP 0x%llx, the CPUID is at 0x%llx",
		         (unsigned long long)fault_probe_last.rip,
		         (unsigned long long)(TOP_OF_LOWER_HALF + 4094));
		top_ok = false;
	}
	report("emulated_insn_ending_at_noncanonical_rip_is_gp", top_ok);
	/* RDPMC with a bad counter: #GP, or a value; never a stopped VM. */
	int r = fault_probe(do_rdpmc, NULL);
	snprintf(why, sizeof why, "rdpmc raised vector %d", r);
	report("rdpmc_bad_counter", r == GP || r == NONE);
}

/* ---- group debug: debug registers kept across exits, single step ---- */
static uint64_t get_dr(int n)
{
	uint64_t v = 0;
	switch (n) {
	case 0: __asm__ volatile("mov %%db0, %0" : "=r"(v)); break;
	case 1: __asm__ volatile("mov %%db1, %0" : "=r"(v)); break;
	case 2: __asm__ volatile("mov %%db2, %0" : "=r"(v)); break;
	case 3: __asm__ volatile("mov %%db3, %0" : "=r"(v)); break;
	case 6: __asm__ volatile("mov %%db6, %0" : "=r"(v)); break;
	case 7: __asm__ volatile("mov %%db7, %0" : "=r"(v)); break;
	}
	return v;
}
static void set_dr(int n, uint64_t v)
{
	switch (n) {
	case 0: __asm__ volatile("mov %0, %%db0" ::"r"(v)); break;
	case 1: __asm__ volatile("mov %0, %%db1" ::"r"(v)); break;
	case 2: __asm__ volatile("mov %0, %%db2" ::"r"(v)); break;
	case 3: __asm__ volatile("mov %0, %%db3" ::"r"(v)); break;
	case 6: __asm__ volatile("mov %0, %%db6" ::"r"(v)); break;
	case 7: __asm__ volatile("mov %0, %%db7" ::"r"(v)); break;
	}
}
static volatile uint64_t watched;
static void do_write_watched(void *a)
{
	(void)a;
	watched = 42;
}
static void do_single_step_cpuid(void *a)
{
	(void)a;
	/* TF on, then CPUID (emulated by hv): #DB after it, as on a CPU. */
	__asm__ volatile("pushfq; orq $0x100, (%%rsp); popfq; cpuid\n"
	                 ".globl after_stepped_cpuid\nafter_stepped_cpuid: nop" ::
	                     : "rax", "rbx", "rcx", "rdx", "memory");
}
extern char after_stepped_cpuid[];

static void group_debug(void)
{
	/* A data breakpoint armed, then exits (CPUID, a yield), then the write:
	 * #DB, so DR7 survived the exits. */
	set_dr(0, (uint64_t)&watched);
	set_dr(7, (1ull << 1) | (1ull << 16) | (3ull << 18)); /* G0, write, 8 bytes */
	(void)cpuid(0, 0);
	hyper_call(JV_HC_YIELD, 0, 0, 0);
	uint64_t dr7 = get_dr(7);
	bool ok = expect_fault("write to a watched word", do_write_watched, DB);
	if (!why[0] || ok)
		snprintf(why, sizeof why, "DR7 0x%llx after exits", (unsigned long long)dr7);
	report("dr7_breakpoint_fires_after_exits", ok && (dr7 & 2));
	set_dr(7, 0x400);
	set_dr(6, 0xFFFF0FF0);
	ok = expect_fault("single step over CPUID", do_single_step_cpuid, DB) &&
	     (get_dr(6) & (1u << 14)) && fault_probe_last.rip == (uint64_t)after_stepped_cpuid;
	snprintf(why, sizeof why,
	         "#DB at 0x%llx, expected right after the CPUID at 0x%llx (DR6 0x%llx)",
	         (unsigned long long)fault_probe_last.rip, (unsigned long long)after_stepped_cpuid,
	         (unsigned long long)get_dr(6));
	report("single_step_over_emulated_cpuid", ok);
	set_dr(6, 0xFFFF0FF0);
}

/* ---- group io: every port, string I/O ---- */
static char io_buf[16];
static void do_ins(void *a)
{
	(void)a;
	void *d = io_buf;
	uint64_t c = 4;
	__asm__ volatile("cld; rep insb" : "+D"(d), "+c"(c) : "d"(0x80) : "memory");
}
static void do_outs_wrap(void *a)
{
	(void)a;
	uint64_t s = ~0ull - 1, c = 4;
	__asm__ volatile("cld; rep outsb" : "+S"(s), "+c"(c) : "d"(0x80) : "memory");
}
static void group_io(void)
{
	unsigned ones = 0;
	for (uint32_t port = 0; port < 0x10000; port++) {
		if (port >= 0x3F8 && port < 0x400)
			continue; /* our own console */
		if (inb((uint16_t)port) == 0xFF)
			ones++;
	}
	snprintf(why, sizeof why, "%u ports read all ones", ones);
	report("in_every_port", ones > 60000);
	for (uint32_t port = 0; port < 0x10000; port++)
		if (!(port >= 0x3F8 && port < 0x400) && port != 0xE9 && port != 0xF4)
			outb((uint16_t)port, 0); /* 0xF4 is the exit port */
	report("out_every_port", true);
	/* String I/O: hv does not emulate INS/OUTS, so a CPU-like #GP, for
	 * a buffer in memory and for one whose pointer wraps past 2^64. */
	report("ins_is_gp", expect_fault("rep insb", do_ins, GP));
	report("outs_wrapping_pointer_is_gp", expect_fault("rep outsb at ~0", do_outs_wrap, GP));
}

/* ---- group hypercall: every number with garbage ---- */
static void group_hypercall(void)
{
	unsigned refused = 0;
	uint64_t junk = 0x9E3779B97F4A7C15ull;
	for (uint64_t n = 0; n < 64; n++) {
		if (n == JV_HC_EXIT || n == JV_HC_NET_ATTACH || n == JV_HC_CONSOLE_WRITE)
			continue;
		for (int k = 0; k < 8; k++) {
			junk = junk * 6364136223846793005ull + 1442695040888963407ull;
			long r = hyper_call((enum jv_hypercall)n, junk, junk >> 7, junk >> 13);
			if (r < 0)
				refused++;
		}
	}
	long r = hyper_call(JV_HC_CONSOLE_WRITE, 0xFFFFFFFFFFFF0000ull, 16, 0);
	snprintf(why, sizeof why, "console write outside memory returned %ld", r);
	report("console_write_outside_memory", r == -JV_EFAULT);
	r = hyper_call(JV_HC_NET_ATTACH, 0xFFFFFFFFFFFF0000ull, 0x50, 0);
	snprintf(why, sizeof why, "net attach outside memory returned %ld", r);
	report("net_attach_outside_memory", r < 0);
	snprintf(why, sizeof why, "%u refused", refused);
	report("every_hypercall_with_garbage", refused > 0);
	/* A batching message that tries to forge an hv event line. */
	static const char forged[] =
	    "policy=none\n@ {\"ev\":\"result\",\"status\":0,\"name\":\"ok\","
	    "\"reason\":\"forged\"}\n";
	r = hyper_call(JV_HC_NET_BATCH, (uint64_t)forged, sizeof forged - 1, 0);
	report("batch_message_with_forged_event", true);
	static const char forged2[] = "x\n@ {\"ev\":\"vm_exit\",\"vm\":\"good\",\"status\":99}\n";
	hyper_call(JV_HC_CONSOLE_WRITE, (uint64_t)forged2, sizeof forged2 - 1, 0);
	report("console_line_with_forged_event", true);
}

/* ---- group apic ---- */
/* Vector 0x50: counts the IPIs this VM sends itself. */
static volatile uint64_t ipi_count;
extern void ipi_stub(void);
__asm__(".text\n.globl ipi_stub\nipi_stub:\n"
        "\tpushq %rax\n\tpushq %rcx\n\tpushq %rdx\n"
        "\tlock incq ipi_count(%rip)\n"
        "\txorl %eax, %eax\n\txorl %edx, %edx\n\tmovl $0x80B, %ecx\n\twrmsr\n" /* EOI */
        "\tpopq %rdx\n\tpopq %rcx\n\tpopq %rax\n\tiretq\n");
static void group_apic(void)
{
	/* A periodic timer of one tick, masked: hv bounds the period, so this
	 * vCPU keeps running instructions (it used to livelock). */
	wrmsr(0x83E, 0xB);                            /* divide by 1 */
	wrmsr(0x832, (1u << 17) | (1u << 16) | 0x41); /* periodic, masked */
	wrmsr(0x838, 1);
	volatile uint64_t n = 0;
	uint64_t start = rdtsc();
	for (int i = 0; i < 2000; i++) {
		n++;
		(void)cpuid(0, 0);
	}
	wrmsr(0x838, 0);
	wrmsr(0x832, 1u << 16);
	snprintf(why, sizeof why, "ran %llu iterations", (unsigned long long)n);
	report("periodic_one_tick_timer_does_not_livelock", n == 2000 && rdtsc() > start);
	/* Self-IPIs are delivered: SELF_IPI, then the ICR with each delivery
	 * mode and shorthand; of those only fixed and lowest-priority ones
	 * that include this CPU arrive (shorthand self, all-including-self,
	 * or our ID 0): 2 modes x 3 ways. */
	idt_set_handler(0x50, ipi_stub);
	__asm__ volatile("sti");
	wrmsr(0x83F, 0x50);
	__asm__ volatile("nop; nop");
	uint64_t after_self = ipi_count;
	snprintf(why, sizeof why, "SELF_IPI delivered %llu interrupts",
	         (unsigned long long)after_self);
	report("self_ipi_is_delivered", after_self == 1);
	for (uint64_t mode = 0; mode < 8; mode++)
		for (uint64_t shorthand = 0; shorthand < 4; shorthand++) {
			operand_msr = 0x830;
			operand = 0x50ull | mode << 8 | shorthand << 18 | (1ull << 14);
			fault_probe(do_wrmsr, NULL);
			__asm__ volatile("nop; nop");
		}
	snprintf(why, sizeof why, "%llu ICR IPIs arrived, expected 6",
	         (unsigned long long)(ipi_count - after_self));
	report("icr_every_mode_and_shorthand", ipi_count - after_self == 6);
}

/* ---- group xsave: XSETBV as a CPU does it, XGETBV, CPUID leaf 0DH ---- */
static uint32_t xsetbv_ecx;
static uint64_t xsetbv_value;
static void do_xsetbv_op(void *a)
{
	(void)a;
	__asm__ volatile("xsetbv" ::"c"(xsetbv_ecx), "a"((uint32_t)xsetbv_value),
	                 "d"((uint32_t)(xsetbv_value >> 32))
	                 : "memory");
}
static uint64_t get_xcr0(void)
{
	uint32_t lo, hi;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return (uint64_t)hi << 32 | lo;
}
static void set_xcr0(uint64_t v)
{
	xsetbv_ecx = 0;
	xsetbv_value = v;
	fault_probe(do_xsetbv_op, NULL);
}
static void set_osxsave(bool on)
{
	uint64_t cr4 = get_cr4();
	operand = on ? cr4 | CR4_OSXSAVE : cr4 & ~CR4_OSXSAVE;
	fault_probe(do_set_cr4, NULL);
}
/* One XSETBV a CPU refuses with `vector`: XCR0 unchanged. */
static bool xsetbv_refused(const char *what, uint32_t ecx, uint64_t value, int vector)
{
	uint64_t before = get_xcr0();
	xsetbv_ecx = ecx;
	xsetbv_value = value;
	if (!expect_fault(what, do_xsetbv_op, vector))
		return false;
	if (get_xcr0() != before) {
		snprintf(why, sizeof why, "%s: XCR0 changed to 0x%llx", what,
		         (unsigned long long)get_xcr0());
		return false;
	}
	return true;
}

static void group_xsave(void)
{
	/* SDM Vol. 2D XSETBV: #UD while CR4.OSXSAVE is 0. */
	set_osxsave(false);
	xsetbv_ecx = 0;
	xsetbv_value = 7;
	report("xsetbv_without_osxsave_is_ud",
	       expect_fault("XSETBV, CR4.OSXSAVE=0", do_xsetbv_op, UD));
	set_osxsave(true);
	uint64_t first = get_xcr0();
	snprintf(why, sizeof why, "XGETBV reads 0x%llx, power-on XCR0 is 1",
	         (unsigned long long)first);
	report("xcr0_starts_at_1", first == 1);
	/* #GP(0): an XCR other than XCR0, bit 0 clear, AVX without SSE, bits
	 * outside CPUID.(EAX=0DH,ECX=0):EDX:EAX (0x7 here: AVX-512's 0xE0,
	 * PKRU's 0x200, a bit of EDX). */
	report("xsetbv_ecx_1_is_gp", xsetbv_refused("XSETBV ECX=1", 1, 1, GP));
	report("xsetbv_x87_clear_is_gp", xsetbv_refused("XSETBV 0x6", 0, 6, GP));
	report("xsetbv_avx_without_sse_is_gp", xsetbv_refused("XSETBV 0x5", 0, 5, GP));
	report("xsetbv_avx512_is_gp", xsetbv_refused("XSETBV 0xE7", 0, 0xE7, GP));
	report("xsetbv_pkru_is_gp", xsetbv_refused("XSETBV 0x207", 0, 0x207, GP));
	report("xsetbv_high_bit_is_gp", xsetbv_refused("XSETBV EDX=1", 0, 0x100000007ull, GP));
	/* A valid one: XGETBV (native) reads it back; CPUID 0DH follows. */
	set_xcr0(7);
	uint64_t got = get_xcr0();
	struct cpuid_result d0 = cpuid(0xD, 0), d1 = cpuid(0xD, 1), d2 = cpuid(0xD, 2);
	snprintf(why, sizeof why, "XGETBV reads 0x%llx after XSETBV 0x7", (unsigned long long)got);
	report("xsetbv_7_then_xgetbv_reads_7", got == 7);
	snprintf(why, sizeof why,
	         "CPUID 0DH: 0: %x %x %x %x, 1: %x, 2: %x %x (want 7 832 832 0, 0, 256 576)",
	         d0.eax, d0.ebx, d0.ecx, d0.edx, d1.eax, d2.eax, d2.ebx);
	report("cpuid_0d_is_x87_sse_avx_only", d0.eax == 7 && d0.ebx == 832 && d0.ecx == 832 &&
	                                           d0.edx == 0 && d1.eax == 0 && d2.eax == 256 &&
	                                           d2.ebx == 576 && cpuid(0xD, 5).eax == 0 &&
	                                           cpuid(0xD, 9).eax == 0);
	struct cpuid_result l7 = cpuid(7, 0);
	snprintf(why, sizeof why, "CPUID 7: EBX 0x%x ECX 0x%x EDX 0x%x", l7.ebx, l7.ecx, l7.edx);
	/* AVX-512 F/DQ/IFMA/PF/ER/CD/BW/VL, MPX; PKU, AVX-512 ECX bits; AMX. */
	report("cpuid_7_hides_avx512_mpx_pku_amx",
	       !(l7.ebx & 0xDC234000u) &&
	           !(l7.ecx &
	             ((1u << 3) | (1u << 1) | (1u << 6) | (1u << 11) | (1u << 12) | (1u << 14))) &&
	           !(l7.edx & ((1u << 22) | (1u << 24) | (1u << 25))));
	/* AVX runs: a YMM register holds all 256 bits. */
	static uint64_t in[4] = {0x1111, 0x2222, 0x3333, 0x4444}, out[4];
	__asm__ volatile("vmovdqu %1, %%ymm5; vmovdqu %%ymm5, %0" : "=m"(out) : "m"(in) : "xmm5");
	snprintf(why, sizeof why, "YMM5 reads %llx %llx %llx %llx", (unsigned long long)out[0],
	         (unsigned long long)out[1], (unsigned long long)out[2],
	         (unsigned long long)out[3]);
	report("avx_ymm_roundtrip", !memcmp(in, out, sizeof in));
	set_xcr0(3);
	d0 = cpuid(0xD, 0);
	snprintf(why, sizeof why, "CPUID 0DH.0:EBX %u with XCR0 = 3 (want 576)", d0.ebx);
	report("cpuid_0d_size_follows_xcr0", d0.ebx == 576);
	/* This VM's XCR0 stays its own while the other VMs of the battery
	 * (XCR0 1, or 7 in the xsave groups) and hv (7) run. */
	bool kept = true;
	for (int round = 0; round < 50 && kept; round++) {
		hyper_call(JV_HC_YIELD, 0, 0, 0);
		if (get_xcr0() != 3) {
			snprintf(why, sizeof why, "XCR0 reads 0x%llx after a VM switch, wrote 3",
			         (unsigned long long)get_xcr0());
			kept = false;
		}
	}
	report("xcr0_kept_across_switches", kept);
	set_xcr0(1);
	set_osxsave(false);
}

/* ---- group leak: what one VM leaves in registers, another never sees ---- */
struct marked {
	const char *name;
	uint64_t reset; /* what a new vCPU reads */
	uint64_t (*get)(void);
	void (*set)(uint64_t);
};
static uint64_t g_dr0(void)
{
	return get_dr(0);
}
static uint64_t g_dr1(void)
{
	return get_dr(1);
}
static uint64_t g_dr2(void)
{
	return get_dr(2);
}
static uint64_t g_dr3(void)
{
	return get_dr(3);
}
static uint64_t g_dr6(void)
{
	return get_dr(6) & 0xF;
}
static uint64_t g_dr7(void)
{
	return get_dr(7) & 0xFF;
}
static void s_dr0(uint64_t v)
{
	set_dr(0, v);
}
static void s_dr1(uint64_t v)
{
	set_dr(1, v);
}
static void s_dr2(uint64_t v)
{
	set_dr(2, v);
}
static void s_dr3(uint64_t v)
{
	set_dr(3, v);
}
static void s_dr6(uint64_t v)
{
	set_dr(6, 0xFFFF0FF0 | (v & 0xF));
}
static void s_dr7(uint64_t v)
{
	set_dr(7, 0x400 | (v & 0xAA));
} /* G bits only, no R/W */
static uint64_t g_cr2(void)
{
	return read_cr2();
}
static void do_touch(void *a)
{
	(void)*(volatile char *)a;
}
static void s_cr2(uint64_t v)
{
	fault_probe(do_touch, (void *)v);
}
static uint64_t g_cr8(void)
{
	return get_cr8();
}
static void s_cr8(uint64_t v)
{
	__asm__ volatile("mov %0, %%cr8" ::"r"(v & 0xF));
}
#define MSR_MARK(n, msr, mask)                                                                     \
	static uint64_t g_##n(void)                                                                \
	{                                                                                          \
		return rdmsr(msr) & (mask);                                                        \
	}                                                                                          \
	static void s_##n(uint64_t v)                                                              \
	{                                                                                          \
		wrmsr(msr, v &(mask));                                                             \
	}
MSR_MARK(star, 0xC0000081, 0xFFFFFFFFFFFFFFFFull)
MSR_MARK(cstar, 0xC0000083, 0x00007FFFFFFFFFFFull)
MSR_MARK(sfmask, 0xC0000084, 0xFFFFFFFFull)
MSR_MARK(kgs, 0xC0000102, 0x00007FFFFFFFFFFFull)
MSR_MARK(tsc_aux, 0xC0000103, 0xFFFFFFFFull)
MSR_MARK(fs, 0xC0000100, 0x00007FFFFFFFFFFFull)
MSR_MARK(pat, 0x277, 0x0707070707070707ull)
MSR_MARK(sysenter_cs, 0x174, 0xFFFFFFFFull)
MSR_MARK(sysenter_esp, 0x175, 0x00007FFFFFFFFFFFull)
MSR_MARK(sysenter_eip, 0x176, 0x00007FFFFFFFFFFFull)

/* XCR0: XGETBV and XSETBV need CR4.OSXSAVE, set by group_leak first. */
static uint64_t g_xcr0(void)
{
	return get_xcr0();
}
static void s_xcr0(uint64_t v)
{
	set_xcr0(v);
}

static const struct marked marks[] = {
    {"DR0", 0, g_dr0, s_dr0},
    {"DR1", 0, g_dr1, s_dr1},
    {"DR2", 0, g_dr2, s_dr2},
    {"DR3", 0, g_dr3, s_dr3},
    {"DR6", 0, g_dr6, s_dr6},
    {"DR7", 0, g_dr7, s_dr7},
    {"CR2", 0, g_cr2, s_cr2},
    {"CR8", 0, g_cr8, s_cr8},
    {"STAR", 0, g_star, s_star},
    {"CSTAR", 0, g_cstar, s_cstar},
    {"SFMASK", 0, g_sfmask, s_sfmask},
    {"KERNEL_GS_BASE", 0, g_kgs, s_kgs},
    {"TSC_AUX", 0, g_tsc_aux, s_tsc_aux},
    {"FS_BASE", 0, g_fs, s_fs},
    {"PAT", 0x0007040600070406ull, g_pat, s_pat},
    {"SYSENTER_CS", 0, g_sysenter_cs, s_sysenter_cs},
    {"SYSENTER_ESP", 0, g_sysenter_esp, s_sysenter_esp},
    {"SYSENTER_EIP", 0, g_sysenter_eip, s_sysenter_eip},
    {"XCR0", 1, g_xcr0, s_xcr0}, /* before the YMM markers: AVX needs XCR0 = 7 */
};
#define MARKS (sizeof marks / sizeof marks[0])

/* The marker of register i in VM number `who` (1 or 2): distinct per VM
 * and register, valid for each register's mask. */
static uint64_t marker(unsigned i, unsigned who)
{
	if (!strcmp(marks[i].name, "PAT"))
		return who == 1 ? 0x0001040600070406ull : 0x0006040600070401ull;
	if (!strcmp(marks[i].name, "CR8") || !strcmp(marks[i].name, "DR6"))
		return who == 1 ? 0x5 : 0xA;
	if (!strcmp(marks[i].name, "DR7"))
		return who == 1 ? 0x02 : 0x08;
	if (!strcmp(marks[i].name, "XCR0"))
		return 7; /* the only XCR0 with AVX: group xsave checks other values */
	if (!strcmp(marks[i].name, "CR2"))
		return 0x100000000ull + ((uint64_t)who << 20) + i * 0x1000; /* unmapped: #PF */
	return 0x1000ull * (who * 16 + i) + who;
}

/* The upper halves (bits 255:128) of YMM0-YMM15: AVX state, which hv
 * switches with XSAVE. */
#define YMM_HI(n)                                                                                  \
	case n:                                                                                    \
		if (set)                                                                           \
			__asm__ volatile("vinsertf128 $1, %0, %%ymm" #n ", %%ymm" #n ::"m"(*v)     \
			                 : "xmm" #n);                                              \
		else                                                                               \
			__asm__ volatile("vextractf128 $1, %%ymm" #n ", %0" : "=m"(*v));           \
		break;
static void ymm_hi(unsigned n, bool set, uint64_t (*v)[2])
{
	switch (n) {
		YMM_HI(0)
		YMM_HI(1)
		YMM_HI(2) YMM_HI(3) YMM_HI(4) YMM_HI(5) YMM_HI(6) YMM_HI(7) YMM_HI(8) YMM_HI(9)
		    YMM_HI(10) YMM_HI(11) YMM_HI(12) YMM_HI(13) YMM_HI(14) YMM_HI(15) default
		    : break;
	}
}
static uint64_t ymm_marker(unsigned n, unsigned who, unsigned half)
{
	return 0xA5A5000000000000ull | (uint64_t)who << 32 | n << 8 | half;
}
/* Which YMM upper half (0-15) differs from this VM's markers, or -1;
 * `clean`: compare with zero, the initial state, instead. */
static int ymm_check(unsigned who, bool clean, uint64_t (*got)[2])
{
	for (unsigned n = 0; n < 16; n++) {
		ymm_hi(n, false, got);
		uint64_t want0 = clean ? 0 : ymm_marker(n, who, 0);
		uint64_t want1 = clean ? 0 : ymm_marker(n, who, 1);
		if ((*got)[0] != want0 || (*got)[1] != want1)
			return (int)n;
	}
	return -1;
}

static void group_leak(unsigned who)
{
	set_osxsave(true); /* so XCR0 and YMM can be read */
	/* Before writing: the power-on values, not another VM's markers. */
	for (unsigned i = 0; i < MARKS; i++) {
		uint64_t got = marks[i].get();
		char name[48];
		snprintf(name, sizeof name, "leak_%s_starts_clean", marks[i].name);
		snprintf(why, sizeof why,
		         "%s reads 0x%llx before this VM wrote it (VM %u's marker "
		         "is 0x%llx)",
		         marks[i].name, (unsigned long long)got, 3 - who,
		         (unsigned long long)marker(i, 3 - who));
		report(name, got == marks[i].reset);
	}
	for (unsigned i = 0; i < MARKS; i++)
		marks[i].set(marker(i, who));
	uint64_t ymm[2];
	int bad = ymm_check(who, true, &ymm);
	snprintf(why, sizeof why, "YMM%d[255:128] reads %llx:%llx before this VM wrote it", bad,
	         (unsigned long long)ymm[1], (unsigned long long)ymm[0]);
	report("leak_YMM_upper_halves_start_clean", bad < 0);
	for (unsigned n = 0; n < 16; n++) {
		uint64_t m[2] = {ymm_marker(n, who, 0), ymm_marker(n, who, 1)};
		ymm_hi(n, true, &m);
	}
	/* Give the CPU to the other VM many times; our values must stay. */
	bool kept = true;
	for (int round = 0; round < 200 && kept; round++) {
		hyper_call(JV_HC_YIELD, 0, 0, 0);
		if ((bad = ymm_check(who, false, &ymm)) >= 0) {
			snprintf(
			    why, sizeof why,
			    "YMM%d[255:128] reads %llx:%llx after a VM switch, wrote %llx:%llx",
			    bad, (unsigned long long)ymm[1], (unsigned long long)ymm[0],
			    (unsigned long long)ymm_marker((unsigned)bad, who, 1),
			    (unsigned long long)ymm_marker((unsigned)bad, who, 0));
			kept = false;
			break;
		}
		for (unsigned i = 0; i < MARKS; i++)
			if (marks[i].get() != marker(i, who)) {
				snprintf(why, sizeof why,
				         "%s reads 0x%llx after a VM switch, wrote "
				         "0x%llx",
				         marks[i].name, (unsigned long long)marks[i].get(),
				         (unsigned long long)marker(i, who));
				kept = false;
				break;
			}
	}
	report("leak_state_kept_across_switches", kept);
	s_dr7(0);
	s_cr8(0);
	set_xcr0(1);
	set_osxsave(false);
}

/* ---- avx_hold: XCR0 and YMM upper halves across a migration ----
 * tests/system/hostile_tests.py moves this VM to another (local) VM while
 * it runs; its AVX state must arrive with it (vCPU blob JCV3). */
static void group_avx_hold(unsigned seconds)
{
	set_osxsave(true);
	set_xcr0(7);
	for (unsigned n = 0; n < 16; n++) {
		uint64_t m[2] = {ymm_marker(n, 1, 0), ymm_marker(n, 1, 1)};
		ymm_hi(n, true, &m);
	}
	printf("hostile: avx_hold: markers written, holding %u s\n", seconds);
	uint64_t end = rdtsc() + ns_to_tsc_ticks(seconds * 1000000000ull);
	uint64_t ymm[2];
	int bad = -1;
	uint64_t xcr0 = 7;
	while (rdtsc() < end && bad < 0 && xcr0 == 7) {
		sleep_until_tsc(rdtsc() + ns_to_tsc_ticks(5000000ull));
		bad = ymm_check(1, false, &ymm);
		xcr0 = get_xcr0();
	}
	if (xcr0 != 7)
		snprintf(why, sizeof why, "XCR0 reads 0x%llx, wrote 7", (unsigned long long)xcr0);
	else
		snprintf(why, sizeof why, "YMM%d[255:128] reads %llx:%llx", bad,
		         (unsigned long long)ymm[1], (unsigned long long)ymm[0]);
	report("avx_state_kept_while_held", bad < 0 && xcr0 == 7);
	set_xcr0(1);
	set_osxsave(false);
}

/* ---- floods: a guest over one of its limits (hv/vm/limits.c) ----
 * tests/system/hostile_tests.py gives each its limits= on the module line
 * (the constants below) and checks hv's side: the limit event and line,
 * the counts, the good VM beside it. A flood that is held must still get
 * everything done, only later; a dropped one must not mute the VM for
 * good. */
#define FLOOD_LINES        3000
#define FLOOD_LONG_LINE    2000 /* bytes with no newline: cut at 511 */
#define FLOOD_CALLS        3000
#define FLOOD_CALLS_RATE   1000 /* limits=hypercalls:1000/100 */
#define FLOOD_CALLS_BURST  100
#define FLOOD_FRAMES       1500
#define FLOOD_FRAMES_RATE  500 /* limits=packets:500/64 */
#define FLOOD_FRAMES_BURST 64
#define FLOOD_STATS        2000

static uint64_t hv_now_ns(void)
{
	return (uint64_t)hyper_call(JV_HC_TIME_NS, 0, 0, 0);
}

static void pause_ms(uint64_t ms)
{
	sleep_until_tsc(rdtsc() + ns_to_tsc_ticks(ms * 1000000ull));
}

/* At least (uses - burst) / rate seconds, less 5% for clock granularity. */
static bool took_long_enough(uint64_t ns, unsigned uses, unsigned rate, unsigned burst)
{
	uint64_t min_ns = (uint64_t)(uses - burst) * 1000000000ull / rate;
	return ns >= min_ns - min_ns / 20;
}

static void group_console_flood(void)
{
	static char line[FLOOD_LONG_LINE + 1];
	memset(line, 'L', FLOOD_LONG_LINE);
	fputs(line, stdout); /* no newline: hv cuts it into lines */
	putchar('\n');
	uint64_t start = hv_now_ns();
	for (unsigned i = 0; i < FLOOD_LINES; i++)
		printf("flood line %u\n", i);
	fflush(stdout);
	uint64_t ns = hv_now_ns() - start;
	/* Dropped lines cost the guest nothing: it was not slowed. The
	 * bucket refills (limits=console_lines:20/50): after 3 s these lines
	 * get through again. */
	pause_ms(3000);
	printf("@ {\"ev\":\"console_flood\",\"lines\":%u,\"ns\":%llu}\n", FLOOD_LINES,
	       (unsigned long long)ns);
	report("console_flood_then_heard_again", true);
}

static void group_hypercall_flood(void)
{
	uint64_t first = hv_now_ns(), last = first;
	bool monotonic = true;
	for (unsigned i = 1; i < FLOOD_CALLS; i++) {
		uint64_t t = hv_now_ns();
		monotonic &= (int64_t)t >= 0 && t >= last;
		last = t;
	}
	uint64_t ns = last - first;
	snprintf(why, sizeof why, "a time_ns result went back or was an error");
	report("hypercall_flood_every_call_answered", monotonic);
	snprintf(why, sizeof why, "%u calls in %llu ns: over %u calls/s, burst %u", FLOOD_CALLS,
	         (unsigned long long)ns, FLOOD_CALLS_RATE, FLOOD_CALLS_BURST);
	report("hypercall_flood_held_to_its_rate",
	       took_long_enough(ns, FLOOD_CALLS - 1, FLOOD_CALLS_RATE, FLOOD_CALLS_BURST));
	printf("@ {\"ev\":\"hypercall_flood\",\"calls\":%u,\"ns\":%llu}\n", FLOOD_CALLS,
	       (unsigned long long)ns);
}

static void group_packet_flood(void)
{
	if (!net_attach()) {
		snprintf(why, sizeof why, "no pvnet");
		report("packet_flood_attached", false);
		return;
	}
	static uint8_t frame[64];
	memset(frame, 0xFF, NET_MAC_LEN); /* broadcast: the switch floods it */
	memcpy(frame + NET_MAC_LEN, net_mac(), NET_MAC_LEN);
	frame[12] = 0x88; /* a local experimental EtherType */
	frame[13] = 0xB5;
	uint64_t start = hv_now_ns();
	unsigned sent = 0;
	for (unsigned i = 0; i < FLOOD_FRAMES; i++) {
		frame[14] = (uint8_t)i;
		sent += net_send(frame, sizeof frame);
	}
	net_flush();
	/* The last send returned when the ring had room for it: hv had taken
	 * all but a ring's worth (PVNET_RING_SIZE) by then. */
	uint64_t ns = hv_now_ns() - start;
	/* A ring's worth still waits for hv (500 frames/s: half a second);
	 * frames in the ring when a VM exits are lost, as on a NIC. */
	pause_ms(1500);
	snprintf(why, sizeof why, "net_send refused %u of %u frames", FLOOD_FRAMES - sent,
	         FLOOD_FRAMES);
	report("packet_flood_no_frame_refused", sent == FLOOD_FRAMES);
	snprintf(why, sizeof why, "%u frames in %llu ns: over %u frames/s, burst %u", FLOOD_FRAMES,
	         (unsigned long long)ns, FLOOD_FRAMES_RATE, FLOOD_FRAMES_BURST);
	report("packet_flood_held_to_its_rate",
	       took_long_enough(ns, FLOOD_FRAMES - PVNET_RING_SIZE, FLOOD_FRAMES_RATE,
	                        FLOOD_FRAMES_BURST));
	printf("@ {\"ev\":\"packet_flood\",\"frames\":%u,\"ns\":%llu,\"tx_full_waits\":%llu}\n",
	       FLOOD_FRAMES, (unsigned long long)ns,
	       (unsigned long long)net_counters()->tx_full_waits);
}

static void group_hv_line_flood(void)
{
	/* Each call asks hv for a net_stats event: hv's log, not ours. */
	bool attached = net_attach();
	snprintf(why, sizeof why, "no pvnet");
	report("hv_line_flood_attached", attached);
	long bad = 0;
	for (unsigned i = 0; i < FLOOD_STATS; i++)
		bad += hyper_call(JV_HC_NET_STATS, 0, 0, 0) != 0;
	snprintf(why, sizeof why, "%ld of %u net_stats calls failed", bad, FLOOD_STATS);
	report("hv_line_flood_calls_answered", bad == 0);
}

/* ---- groups that end the VM on purpose ---- */
static void end_triple_fault(void)
{
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) empty = {0, 0};
	__asm__ volatile("lidt %0; int3" ::"m"(empty));
}
static void end_double_fault(void)
{
	/* #GP with no usable IDT entry for it escalates; the IDT is otherwise
	 * intact. A limit that covers only vectors 0-12 does it. */
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) idtr;
	__asm__ volatile("sidt %0" : "=m"(idtr));
	idtr.limit = 13 * 16 - 1;
	__asm__ volatile("lidt %0" ::"m"(idtr));
	__asm__ volatile("movabs $0x8000000000000000, %%rax; mov (%%rax), %%rax" ::: "rax");
}
static void end_hlt_with_interrupts_off(void)
{
	__asm__ volatile("cli; hlt");
}
static void end_cr8_then_exit(void)
{
	/* The defect that hung the host: a raised TPR left behind. */
	__asm__ volatile("mov %0, %%cr8" ::"r"(15ull));
	exit(0);
}
static void end_spin_with_interrupts_off(void)
{
	uint64_t end = rdtsc() + 3 * 50000000ull; /* ~3 s at bochs' 50 MHz */
	__asm__ volatile("cli");
	while (rdtsc() < end)
		;
	__asm__ volatile("sti");
	exit(0);
}
static void end_outside_memory(void)
{
	*(volatile uint64_t *)0xF0000000ull = 1; /* mapped by the kernel, no RAM there */
}

int main(int argc, char **argv)
{
	const char *group = argc > 1 ? argv[1] : "";
	static const struct {
		const char *name;
		void (*run)(void);
	} groups[] = {{"cr", group_cr},
	              {"msr", group_msr},
	              {"insn", group_insn},
	              {"debug", group_debug},
	              {"io", group_io},
	              {"hypercall", group_hypercall},
	              {"apic", group_apic},
	              {"xsave", group_xsave},
	              {"console_flood", group_console_flood},
	              {"hypercall_flood", group_hypercall_flood},
	              {"packet_flood", group_packet_flood},
	              {"hv_line_flood", group_hv_line_flood}};
	static const struct {
		const char *name;
		void (*run)(void);
	} enders[] = {{"triple_fault", end_triple_fault},
	              {"double_fault", end_double_fault},
	              {"hlt_with_interrupts_off", end_hlt_with_interrupts_off},
	              {"cr8_then_exit", end_cr8_then_exit},
	              {"spin_with_interrupts_off", end_spin_with_interrupts_off},
	              {"outside_memory", end_outside_memory}};
	if (!strcmp(group, "leak") && argc > 2) {
		group_leak((unsigned)atoi(argv[2]) == 2 ? 2 : 1);
	} else if (!strcmp(group, "avx_hold") && argc > 2) {
		group_avx_hold((unsigned)atoi(argv[2]));
	} else {
		bool found = false;
		for (unsigned i = 0; i < sizeof groups / sizeof groups[0]; i++)
			if (!strcmp(group, groups[i].name)) {
				groups[i].run();
				found = true;
			}
		for (unsigned i = 0; i < sizeof enders / sizeof enders[0]; i++)
			if (!strcmp(group, enders[i].name)) {
				printf("hostile: %s: this VM should now be stopped or exit 0\n",
				       group);
				enders[i].run();
				printf("hostile: %s: still running\n", group);
				return 1;
			}
		if (!found) {
			fprintf(stderr,
			        "usage: hostile cr|msr|insn|debug|io|hypercall|apic|xsave|leak "
			        "1|leak 2|avx_hold S"
			        "|console_flood|hypercall_flood|packet_flood|hv_line_flood"
			        "|triple_fault|double_fault|hlt_with_interrupts_off|cr8_then_exit"
			        "|spin_with_interrupts_off|outside_memory\n");
			return 2;
		}
	}
	printf("hostile: %s: %d cases, %d failed\n", group, cases, failures);
	return failures ? 1 : 0;
}

/* The rules a migrated vCPU state is held to (hv/vmx/vcpu_rules.c): each
 * VM-entry check and each rule of the guest's own writes refuses the
 * state with its reason, and states that guests really reach (32-bit
 * protected mode at PVH entry, a 64-bit kernel) are taken. */
#include <string.h>

#include "check.h"
#include "vm/vm.h"
#include "vmx/vmx.h"

/* bochs' tigerlake: NE, PE, PG fixed to 1 (PE/PG freed by unrestricted
 * guest), VMXE in CR4; a guest shown PAE, PGE, OSFXSR..., SMEP, SMAP, PCID,
 * FSGSBASE, OSXSAVE; SCE, LME, NXE; 39 physical-address bits. */
static const struct vcpu_rules rules = {
    .cr0_fixed0 = 0x80000021,
    .cr0_fixed1 = 0xFFFFFFFF,
    .cr4_fixed0 = 0x2000,
    .cr4_fixed1 = 0x3727FF,
    .cr4_allowed = 0x7FF | (1u << 16) | (1u << 17) | (1u << 18) | (1u << 20) | (1u << 21),
    .efer_allowed = (1u << 0) | (1u << 8) | (1u << 10) | (1u << 11),
    .phys_reserved = ~0ull << 39,
};

/* A 64-bit Linux kernel at work. */
static struct vcpu_control_state linux64(void)
{
	return (struct vcpu_control_state){
	    .cr0_shadow = 0x80050033,             /* PG WP AM NE ET MP PE */
	    .cr4_shadow = 0x3606F0 & ~(1u << 13), /* PAE PGE OSFXSR OSXMMEXCPT FSGSBASE... */
	    .cr3 = 0x1a0c000,
	    .efer = 0xD01, /* SCE LME LMA NXE */
	    .rflags = 0x246,
	    .rip = 0xffffffff81000000ull,
	    .cs_ar = 0xA09B, /* 64-bit code */
	    .pat = 0x0007040600070406ull,
	    .ia32e = true,
	};
}

/* The PVH entry state hv sets up: 32-bit protected mode, paging off. */
static struct vcpu_control_state pvh32(void)
{
	return (struct vcpu_control_state){
	    .cr0_shadow = 0x11, /* PE ET */
	    .rflags = 0x2,
	    .rip = 0x100026,
	    .cs_ar = 0xC09B,
	    .pat = 0x0007040600070406ull,
	};
}

static const char *problem(struct vcpu_control_state s)
{
	return vcpu_rules_problem(&rules, &s);
}

TEST(vcpu_rules_take_states_guests_reach)
{
	CHECK(problem(linux64()) == NULL);
	CHECK(problem(pvh32()) == NULL);
	/* The real registers add what VMX needs: NE and VMXE. */
	CHECK_EQ(vcpu_rules_real_cr0(&rules, 0x11), 0x31);
	CHECK_EQ(vcpu_rules_real_cr4(&rules, 0), 0x2000);
}

TEST(vcpu_rules_refuse_each_state_no_guest_reaches)
{
	struct {
		struct vcpu_control_state s;
		const char *why;
	} cases[16];
	unsigned n = 0;
#define CASE(base, field, value, text)                                                             \
	do {                                                                                       \
		cases[n].s = base();                                                               \
		cases[n].s.field = (value);                                                        \
		cases[n++].why = (text);                                                           \
	} while (0)
	CASE(linux64, cr0_shadow, 0x80050033ull | 1ull << 32, "CR0 has bits no write sets");
	CASE(pvh32, cr0_shadow, 0x80000010, "CR0.PG without CR0.PE");
	CASE(pvh32, cr0_shadow, 0x20000011, "CR0.NW without CR0.CD");
	CASE(linux64, cr4_shadow, linux64().cr4_shadow | 1u << 22,
	     "CR4 has a bit reserved"); /* PKE */
	CASE(linux64, cr4_shadow, linux64().cr4_shadow | 1u << 13,
	     "CR4 has a bit reserved"); /* VMXE */
	CASE(linux64, efer, 0xD01 | 1u << 12, "IA32_EFER has a bit reserved");
	CASE(linux64, efer, 0x901, "LME and LMA differ"); /* LMA clear in IA-32e mode */
	CASE(pvh32, efer, 0x100, "IA-32e mode");          /* LME with paging off is fine... */
	cases[n - 1].s.cr0_shadow = 0x80000011; /* ...not with paging on, outside IA-32e */
	CASE(linux64, cr4_shadow, 0x6D0, "IA-32e mode without paging or PAE"); /* PAE cleared */
	CASE(pvh32, cr4_shadow, 1u << 17, "CR4.PCIDE outside IA-32e mode");
	CASE(linux64, cr3, 1ull << 40, "CR3 beyond the physical-address width");
	CASE(linux64, pat, 0x0007040600070402ull, "IA32_PAT has a reserved memory type");
	CASE(linux64, rip, 0x0000800000000000ull, "RIP out of range");
	CASE(pvh32, rflags, 0x20002, "RFLAGS.VM outside protected mode");
	cases[n - 1].s.cr0_shadow = 0x10; /* real mode */
	CASE(linux64, interruptibility, 3, "an interruptibility state no instruction leaves");
	CASE(linux64, entry_intr_info, 0x80000B0Eu & ~(1u << 11),
	     "an event to inject"); /* #PF without its code */
#undef CASE
	CHECK(n <= sizeof cases / sizeof cases[0]);
	for (unsigned i = 0; i < n; i++) {
		const char *why = problem(cases[i].s);
		if (!why || !strstr(why, cases[i].why))
			printf("  case %u: '%s', expected '%s'\n", i, why ? why : "(taken)",
			       cases[i].why);
		CHECK(why && strstr(why, cases[i].why));
	}
}

TEST(vcpu_rules_check_events_rflags_and_msrs_like_vm_entry)
{
	struct vcpu_control_state s = linux64();
	s.entry_intr_info = 0x80000B0E; /* #PF with its error code: taken */
	CHECK(problem(s) == NULL);
	s.entry_intr_info = 0x80000020; /* an external interrupt, IF set */
	CHECK(problem(s) == NULL);
	s.rflags &= ~0x200ull; /* IF clear: VM entry refuses it (SDM 27.3.1.4) */
	CHECK(problem(s) != NULL);
	s = linux64();
	s.rflags = 0x246 | 1u << 15; /* a reserved bit */
	CHECK(problem(s) != NULL);
	s = linux64();
	s.activity_state = 1; /* hv exits on HLT: never saved in that state */
	CHECK(problem(s) != NULL);
	s = linux64();
	s.debugctl = 1;
	CHECK(problem(s) != NULL);
	/* The syscall MSRs the CPU would refuse in hv's own WRMSR. */
	CHECK(vcpu_swapped_msr_value_ok(VCPU_MSR_LSTAR, 0xffffffff81a00080ull));
	CHECK(!vcpu_swapped_msr_value_ok(VCPU_MSR_LSTAR, 0x8000000000000000ull));
	CHECK(vcpu_swapped_msr_value_ok(VCPU_MSR_STAR, 0x8000000000000000ull));
	CHECK(!vcpu_swapped_msr_value_ok(VCPU_MSR_SFMASK, 1ull << 32));
	CHECK(vcpu_swapped_msr_value_ok(VCPU_MSR_SFMASK, 0x47700));
}

/* The guest's XSAVE-managed state (SDM Vol. 1 chapter 13): x87, SSE and
 * AVX, enabled by the guest's own XCR0, which VT-x does not switch (no
 * VMCS field holds XCR0: SDM Vol. 3C 25.4, 27.3, 28.3). Runs at boot
 * (xsave_init), in the scheduler loop (switching vCPUs, entering and
 * leaving the guest) and in VM-exit context (XSETBV).
 *
 * hv runs with XCR0 = x87|SSE|AVX (HOST_XCR0) so one XSAVE/XRSTOR of
 * that mask moves all of a vCPU's state, whatever XCR0 the guest chose;
 * the guest's XCR0 is in the register only from just before its VM entry
 * to just after its exit, loaded only when it differs from hv's (as KVM's
 * kvm_load_guest_xsave_state does). hv itself never touches x87/SSE/AVX
 * registers (-mgeneral-regs-only), so the state stays the guest's
 * between the two. Only these three components are offered: AVX-512,
 * MPX, PKRU, AMX and the supervisor states stay hidden (exit_cpuid.c). */
#include "lib/lib.h"
#include "vmx/exits.h"
#include "x86/x86.h"

#define CR4_OSXSAVE (1ull << 18)
#define ECX_XSAVE   (1u << 26)
#define ECX_AVX     (1u << 28)

#define XSAVE_HEADER   512 /* XSTATE_BV at +0, XCOMP_BV at +8, then 48 zero bytes */
#define FXSAVE_MXCSR   24
#define FXSAVE_MXMASK  28
#define AVX_OFFSET     576 /* CPUID.(EAX=0DH,ECX=2):EBX in the standard format */
#define AVX_SIZE       256
#define LEGACY_SIZE    576 /* legacy region + header: the size with AVX off */
#define MXCSR_DEFAULT  0x1F80
#define MXCSR_MASK_DEF 0xFFBF /* where FXSAVE stores 0 (SDM Vol. 1 11.6.6) */

bool xsave_shown;
static uint32_t mxcsr_mask = MXCSR_MASK_DEF;

void xsave_init(void)
{
	/* Needs XSAVE, AVX, the three components in CPUID.(EAX=0DH,ECX=0):EAX
	 * and the standard layout our area assumes (AVX at 576, 256 bytes). */
	struct cpuid_regs l1 = cpuid(1, 0);
	if ((l1.ecx & (ECX_XSAVE | ECX_AVX)) == (ECX_XSAVE | ECX_AVX) &&
	    (vmx_host_caps.cr4_fixed1 & CR4_OSXSAVE)) {
		struct cpuid_regs d0 = cpuid(0xD, 0), d2 = cpuid(0xD, 2);
		xsave_shown = (d0.eax & XCR0_GUEST_MASK) == XCR0_GUEST_MASK && d2.eax == AVX_SIZE &&
		              d2.ebx == AVX_OFFSET;
	}
	if (xsave_shown) {
		write_cr4(read_cr4() | CR4_OSXSAVE);
		xsetbv(0, HOST_XCR0);
	}
	/* MXCSR_MASK, which bits of MXCSR this CPU takes: an XRSTOR or FXRSTOR
	 * of a migrated area with others set would #GP in hv. */
	static uint8_t probe[512] __attribute__((aligned(16)));
	__asm__ volatile("fxsave64 %0" : "=m"(probe));
	uint32_t mask;
	memcpy(&mask, probe + FXSAVE_MXMASK, sizeof mask);
	if (mask)
		mxcsr_mask = mask;
	kprintf("hv: guest FPU state: %s\n",
	        xsave_shown ? "XSAVE with XCR0 up to x87|SSE|AVX (832 bytes)"
	                    : "FXSAVE only (this CPU lacks XSAVE or AVX: both hidden from guests)");
}

void xsave_vcpu_reset(struct vcpu *v)
{
	/* The state after FNINIT with MXCSR at its default, AVX in its initial
	 * state (XSTATE_BV bit 2 clear: XRSTOR zeroes it); XCR0 = 1 as at
	 * power-on (SDM Vol. 3A 9.1.1 table 9-1). */
	memset(v->fpu_area, 0, sizeof v->fpu_area);
	v->fpu_area[0] = 0x7F; /* FCW 0x037F */
	v->fpu_area[1] = 0x03;
	uint32_t mxcsr = MXCSR_DEFAULT;
	memcpy(v->fpu_area + FXSAVE_MXCSR, &mxcsr, sizeof mxcsr);
	uint64_t xstate_bv = XCR0_X87 | XCR0_SSE;
	memcpy(v->fpu_area + XSAVE_HEADER, &xstate_bv, sizeof xstate_bv);
	v->xcr0 = XCR0_X87;
}

void xsave_load(struct vcpu *v)
{
	if (xsave_shown)
		__asm__ volatile("xrstor64 %0" ::"m"(v->fpu_area), "a"((uint32_t)HOST_XCR0),
		                 "d"(0));
	else
		__asm__ volatile("fxrstor64 %0" ::"m"(v->fpu_area));
}

void xsave_save(struct vcpu *v)
{
	/* "+m": XSAVE leaves XCOMP_BV and the reserved header bytes as they
	 * are (SDM Vol. 1 13.7), so the old contents matter. */
	if (xsave_shown)
		__asm__ volatile("xsave64 %0"
		                 : "+m"(v->fpu_area)
		                 : "a"((uint32_t)HOST_XCR0), "d"(0)
		                 : "memory");
	else
		__asm__ volatile("fxsave64 %0" : "=m"(v->fpu_area));
}

void xsave_enter_guest(const struct vcpu *v)
{
	if (xsave_shown && v->xcr0 != HOST_XCR0)
		xsetbv(0, v->xcr0);
}

void xsave_leave_guest(const struct vcpu *v)
{
	if (xsave_shown && v->xcr0 != HOST_XCR0)
		xsetbv(0, HOST_XCR0);
}

/* The XCR0 values XSETBV takes here (SDM Vol. 2D XSETBV, Vol. 1 13.3):
 * x87 always on, AVX only with SSE, nothing outside what CPUID 0DH
 * shows. */
bool xsave_xcr0_valid(uint64_t xcr0)
{
	if (!xsave_shown)
		return xcr0 == XCR0_X87;
	return (xcr0 & XCR0_X87) && !(xcr0 & ~(uint64_t)XCR0_GUEST_MASK) &&
	       !((xcr0 & XCR0_AVX) && !(xcr0 & XCR0_SSE));
}

/* SDM Vol. 3C 25.1.2: XSETBV exits unconditionally. The checks are the
 * instruction's own, in its order (SDM Vol. 2D XSETBV "Protected Mode
 * Exceptions"): #UD without CR4.OSXSAVE, then #GP(0) for CPL > 0, an XCR
 * other than XCR0, or a value XCR0 cannot hold. The new value reaches the
 * register at the next VM entry (xsave_enter_guest). */
enum exit_action exit_xsetbv(struct vcpu *v, const struct vmx_exit *e)
{
	(void)e;
	if (!(vmcs_read(VMCS_GUEST_CR4) & CR4_OSXSAVE)) {
		vmx_inject_exception(6, false, 0);
		return EXIT_RESUME;
	}
	/* CPL is SS.DPL (SDM 25.4.1), access rights bits 6:5. */
	unsigned cpl = (unsigned)(vmcs_read(VMCS_GUEST_SS_AR) >> 5) & 3;
	uint64_t value = (uint64_t)(uint32_t)v->regs.rdx << 32 | (uint32_t)v->regs.rax;
	if (cpl != 0 || (uint32_t)v->regs.rcx != 0 || !xsave_xcr0_valid(value)) {
		vmx_inject_exception(13, true, 0);
		return EXIT_RESUME;
	}
	v->xcr0 = value;
	return EXIT_NEXT_INSN;
}

uint32_t xsave_size_for(uint64_t xcr0)
{
	return xcr0 & XCR0_AVX ? LEGACY_SIZE + AVX_SIZE : LEGACY_SIZE;
}

/* An area XRSTOR (or FXRSTOR) takes without #GP (SDM Vol. 1 13.8.1: the
 * header's XSTATE_BV only enabled components, XCOMP_BV 0 for the standard
 * format, bytes 16-63 zero; MXCSR within MXCSR_MASK, Vol. 1 11.6.6), with
 * an XCR0 this host can give: what a migrated vCPU must bring. */
bool xsave_area_valid(const uint8_t *area, uint64_t xcr0)
{
	uint32_t mxcsr;
	memcpy(&mxcsr, area + FXSAVE_MXCSR, sizeof mxcsr);
	if (!xsave_xcr0_valid(xcr0) || (mxcsr & ~mxcsr_mask))
		return false;
	if (!xsave_shown)
		return true; /* FXRSTOR reads only the legacy region */
	uint64_t xstate_bv;
	memcpy(&xstate_bv, area + XSAVE_HEADER, sizeof xstate_bv);
	if (xstate_bv & ~(uint64_t)HOST_XCR0)
		return false;
	for (unsigned i = 8; i < 64; i++)
		if (area[XSAVE_HEADER + i])
			return false;
	return true;
}

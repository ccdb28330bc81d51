/* libFuzzer target: the rules a migrated vCPU's state is held to
 * (hv/vmx/vcpu_rules.c), fed arbitrary states and CPUs.
 *
 * Input: struct vcpu_rules, then struct vcpu_control_state, then a swapped
 * MSR index and value, as raw bytes (zeros past the end).
 *
 * Asserted besides the sanitizers: a refusal is printable text; a state
 * taken satisfies what VM entry checks of it (SDM Vol. 3C 27.3.1: the real
 * CR0/CR4 within this CPU's fixed bits, PG only with PE, IA-32e mode only
 * with paging, PAE and LME = LMA, RFLAGS bit 1 set and its reserved bits
 * clear, RIP within its mode), and the rules decide the same twice. */
#include "fuzz_common.h"
#include "vm/vm.h"
#include "vmx/vmx.h"
#include "x86/x86.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = fuzz_in_make(data, size);
	struct vcpu_rules r;
	struct vcpu_control_state s;
	memset(&r, 0, sizeof r);
	memset(&s, 0, sizeof s);
	fuzz_bytes(&in, &r, sizeof r);
	fuzz_bytes(&in, &s, sizeof s - sizeof s.ia32e);
	s.ia32e = fuzz_u8(&in) & 1;
	unsigned msr = fuzz_u8(&in) % VCPU_SWAPPED_MSRS;
	uint64_t value = fuzz_u64(&in);
	bool ok = vcpu_swapped_msr_value_ok(msr, value);
	FUZZ_ASSERT(ok == vcpu_swapped_msr_value_ok(msr, value));
	if (ok && msr != VCPU_MSR_STAR)
		FUZZ_ASSERT(msr == VCPU_MSR_SFMASK || msr == VCPU_MSR_TSC_AUX
		                ? value >> 32 == 0
		                : is_canonical(value));
	const char *why = vcpu_rules_problem(&r, &s);
	FUZZ_ASSERT(why == vcpu_rules_problem(&r, &s));
	if (why) {
		for (const char *c = why; *c; c++)
			FUZZ_ASSERT(*c >= 0x20 && *c < 0x7f);
		return 0;
	}
	uint64_t cr0 = vcpu_rules_real_cr0(&r, s.cr0_shadow),
	         cr4 = vcpu_rules_real_cr4(&r, s.cr4_shadow);
	uint64_t free_bits = CR0_PE | CR0_PG;
	FUZZ_ASSERT((cr0 & r.cr0_fixed0 & ~free_bits) == (r.cr0_fixed0 & ~free_bits) ||
	            (r.cr0_fixed0 & ~r.cr0_fixed1 & ~free_bits));
	FUZZ_ASSERT(!(cr0 & ~(r.cr0_fixed1 | free_bits)));
	FUZZ_ASSERT(!(cr4 & ~r.cr4_fixed1));
	FUZZ_ASSERT(!(cr0 & CR0_PG) || (cr0 & CR0_PE));
	if (s.ia32e)
		FUZZ_ASSERT((cr0 & CR0_PG) && (cr4 & CR4_PAE) && (s.efer & EFER_LMA) &&
		            (s.efer & EFER_LME));
	FUZZ_ASSERT((s.rflags & 2) && !(s.rflags >> 22));
	FUZZ_ASSERT(s.ia32e && (s.cs_ar & (1u << 13)) ? is_canonical(s.rip) : !(s.rip >> 32));
	FUZZ_ASSERT(s.activity_state == 0 && !(s.cr3 & r.phys_reserved) && vcpu_pat_valid(s.pat));
	return 0;
}

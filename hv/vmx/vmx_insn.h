/* VMX instructions as C functions (SDM Vol. 3C 31 "VMX Instruction
 * Reference"). Each returns VMX_OK, VMX_FAIL_INVALID (CF=1: no current
 * VMCS or bad operand) or VMX_FAIL_VALID (ZF=1: the reason is in the
 * VM-instruction error field, SDM 31.4). Runs in VMX root operation. */
#ifndef HV_VMX_INSN_H
#define HV_VMX_INSN_H

#include <stdint.h>

enum vmx_result { VMX_OK = 0, VMX_FAIL_INVALID = 1, VMX_FAIL_VALID = 2 };

#define VMX_RESULT(cf, zf) ((cf) ? VMX_FAIL_INVALID : (zf) ? VMX_FAIL_VALID : VMX_OK)

static inline enum vmx_result vmxon(uint64_t region_pa)
{
	uint8_t cf, zf;
	__asm__ volatile("vmxon %2; setc %0; setz %1"
	                 : "=qm"(cf), "=qm"(zf)
	                 : "m"(region_pa)
	                 : "cc", "memory");
	return VMX_RESULT(cf, zf);
}

static inline enum vmx_result vmxoff(void)
{
	uint8_t cf, zf;
	__asm__ volatile("vmxoff; setc %0; setz %1" : "=qm"(cf), "=qm"(zf)::"cc", "memory");
	return VMX_RESULT(cf, zf);
}

static inline enum vmx_result vmclear(uint64_t vmcs_pa)
{
	uint8_t cf, zf;
	__asm__ volatile("vmclear %2; setc %0; setz %1"
	                 : "=qm"(cf), "=qm"(zf)
	                 : "m"(vmcs_pa)
	                 : "cc", "memory");
	return VMX_RESULT(cf, zf);
}

static inline enum vmx_result vmptrld(uint64_t vmcs_pa)
{
	uint8_t cf, zf;
	__asm__ volatile("vmptrld %2; setc %0; setz %1"
	                 : "=qm"(cf), "=qm"(zf)
	                 : "m"(vmcs_pa)
	                 : "cc", "memory");
	return VMX_RESULT(cf, zf);
}

static inline uint64_t vmptrst(void)
{
	uint64_t pa;
	__asm__ volatile("vmptrst %0" : "=m"(pa)::"memory");
	return pa;
}

static inline enum vmx_result vmwrite(uint64_t field, uint64_t value)
{
	uint8_t cf, zf;
	__asm__ volatile("vmwrite %3, %2; setc %0; setz %1"
	                 : "=qm"(cf), "=qm"(zf)
	                 : "r"(field), "rm"(value)
	                 : "cc");
	return VMX_RESULT(cf, zf);
}

static inline enum vmx_result vmread(uint64_t field, uint64_t *value)
{
	uint8_t cf, zf;
	__asm__ volatile("vmread %3, %2; setc %0; setz %1"
	                 : "=qm"(cf), "=qm"(zf), "=rm"(*value)
	                 : "r"(field)
	                 : "cc");
	return VMX_RESULT(cf, zf);
}

/* INVEPT single-context (type 1, SDM Vol. 3C 31 "INVEPT"): drops the
 * cached translations of one EPT after its entries changed. */
static inline enum vmx_result invept_single(uint64_t eptp)
{
	struct {
		uint64_t eptp, reserved;
	} desc = {eptp, 0};
	uint8_t cf, zf;
	__asm__ volatile("invept %2, %3; setc %0; setz %1"
	                 : "=qm"(cf), "=qm"(zf)
	                 : "m"(desc), "r"((uint64_t)1)
	                 : "cc", "memory");
	return VMX_RESULT(cf, zf);
}

/* INVVPID single-context (type 1, SDM Vol. 3C 31 "INVVPID"): drops the
 * linear translations cached for one VPID, as a guest's own CR0/CR4 write
 * would have done had it not been emulated. */
static inline enum vmx_result invvpid_single(uint16_t vpid)
{
	struct {
		uint64_t vpid, linear_address;
	} desc = {vpid, 0};
	uint8_t cf, zf;
	__asm__ volatile("invvpid %2, %3; setc %0; setz %1"
	                 : "=qm"(cf), "=qm"(zf)
	                 : "m"(desc), "r"((uint64_t)1)
	                 : "cc", "memory");
	return VMX_RESULT(cf, zf);
}

/* VMCS field encodings used so far (SDM Vol. 3C Appendix B). */
#define VMCS_VM_INSTRUCTION_ERROR 0x4400
#define VMCS_GUEST_RIP            0x681E

#endif

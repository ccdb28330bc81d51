/* Runs in the guest: hypervisor detection by CPUID and the VMCALL hypercall
 * (SDM Vol. 2A, CPUID leaf 1 ECX bit 31 is "reserved for hypervisor use";
 * leaves 0x40000000.. are the hypervisor's by the common convention). */
#include "hyper/hyper.h"

#include <string.h>

#include "x86/x86.h"

static bool under_joulevisor;
static uint32_t max_hypervisor_leaf;
static char vendor[13] = "bare";

void hyper_detect(void)
{
	if (!(cpuid(1, 0).ecx & CPUID1_ECX_HYPERVISOR))
		return;
	struct cpuid_result signature = cpuid(JV_CPUID_SIGNATURE_LEAF, 0);
	max_hypervisor_leaf = signature.eax;
	memcpy(vendor + 0, &signature.ebx, 4);
	memcpy(vendor + 4, &signature.ecx, 4);
	memcpy(vendor + 8, &signature.edx, 4);
	vendor[12] = '\0';
	under_joulevisor = signature.ebx == JV_CPUID_SIG_EBX && signature.ecx == JV_CPUID_SIG_ECX &&
	                   signature.edx == JV_CPUID_SIG_EDX;
	if (vendor[0] == '\0')
		memcpy(vendor, "unknown", 8);
}

bool hyper_is_joulevisor(void)
{
	return under_joulevisor;
}

const char *hyper_name(void)
{
	return vendor;
}

uint32_t hyper_max_leaf(void)
{
	return max_hypervisor_leaf;
}

long hyper_call(enum jv_hypercall number, uint64_t arg0, uint64_t arg1, uint64_t arg2)
{
	long result;
	__asm__ volatile("vmcall"
	                 : "=a"(result)
	                 : "a"((uint64_t)number), "D"(arg0), "S"(arg1), "d"(arg2)
	                 : "memory");
	return result;
}

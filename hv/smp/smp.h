/* smp: the physical CPUs. Which ones the firmware says exist (ACPI MADT,
 * or the MP table where there is no ACPI: cpu_tables.c, pure and unit
 * tested), and bringing them up (smp.c: INIT-SIPI-SIPI through the local
 * APIC, a real-mode trampoline in trampoline.S, each CPU with its own GDT,
 * TSS, stacks and VMX check).
 *
 * Today the other CPUs are started, checked and then parked (halted with
 * interrupts off): VMs still run on the boot CPU. Bring-up is sequential
 * (the boot CPU waits for each one), so nothing here needs a lock yet;
 * what the next step shares between CPUs will say what protects it.
 * Runs at boot. */
#ifndef HV_SMP_H
#define HV_SMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "boot/boot.h"

#define SMP_MAX_CPUS 64

/* What the firmware lists: one entry per enabled (or online-capable)
 * processor, in table order; the tables' own processor ids are not kept. */
struct cpu_list {
	uint32_t apic_id[SMP_MAX_CPUS];
	unsigned count;
	unsigned disabled;  /* entries marked neither enabled nor online-capable */
	unsigned beyond;    /* processors past SMP_MAX_CPUS, not listed */
	const char *source; /* "acpi-madt" or "mp-table" */
};

/* ---- cpu_tables.c (pure) ---- */

/* Where to look: an RSDP the loader gave (0 if none), else the BIOS areas
 * (the EBDA's first KiB, whose segment is at 0x40E, and 0xE0000-0xFFFFF)
 * for the RSDP and then for the MP floating pointer. Every address goes
 * through map (boot/boot.h), every length and checksum is checked.
 * Returns 0, or -1 with a one-line reason. */
int cpu_tables_find(uint64_t rsdp_hint, boot_phys_map_fn map, void *ctx, struct cpu_list *out,
                    char *err, size_t err_len);

/* cpus=N: a whole number from 1 to SMP_MAX_CPUS. */
bool smp_parse_cpus(const char *value, unsigned *n);

/* ---- smp.c ---- */

struct vmx_caps;
/* Finds the CPUs, starts every one but the boot CPU (at most cpus=N in
 * all, from hv's options), checks each can run VMX like the boot CPU
 * (VMXON, VMPTRLD, VMXOFF, same VMCS revision and EPT), and parks them.
 * Prints one line per CPU left out and the "cpus" event. */
void smp_init(const struct boot_info *boot, const char *options, const struct vmx_caps *bsp,
              uint32_t tsc_khz);
/* CPUs online, the boot CPU included. */
unsigned smp_cpus_online(void);

#endif

/* Runs in the guest, bare: PCI configuration space through configuration
 * mechanism #1, ports 0xCF8/0xCFC (PCI Local Bus spec 3.0 section
 * 3.2.2.3.2). Under Joulevisor those ports read all ones, so nothing is
 * found there. */
#ifndef GUEST_PCI_H
#define GUEST_PCI_H

#include <stdbool.h>
#include <stdint.h>

/* Configuration header offsets (PCI spec 6.1, type 0 header). */
#define PCI_COMMAND 0x04 /* command in 15:0, status (write one to clear) in 31:16 */
#define PCI_BAR0    0x10
#define PCI_BAR1    0x14
/* Command register bits (PCI spec 6.2.2). */
#define PCI_COMMAND_MEMORY       (1u << 1)
#define PCI_COMMAND_BUS_MASTER   (1u << 2)
#define PCI_COMMAND_INTX_DISABLE (1u << 10)
/* Memory BAR bits (PCI spec 6.2.5.1). */
#define PCI_BAR_IO          (1u << 0)
#define PCI_BAR_TYPE_MASK   (3u << 1)
#define PCI_BAR_TYPE_64     (2u << 1)
#define PCI_BAR_MEMORY_MASK (~0xFu)

struct pci_function {
	uint8_t bus, slot, function;
};

uint32_t pci_read32(struct pci_function where, uint8_t offset);
void pci_write32(struct pci_function where, uint8_t offset, uint32_t value);
/* The first function with this vendor and device id, scanning every bus.
 * False when there is none. */
bool pci_find(uint16_t vendor, uint16_t device, struct pci_function *found);

#endif

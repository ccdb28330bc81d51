/* Runs in the guest, bare: finding a PCI function by its ids (pci.h). */
#include "pci/pci.h"

#include "x86/x86.h"

#define PCI_CONFIG_ADDRESS 0xCF8
#define PCI_CONFIG_DATA    0xCFC
#define PCI_ENABLE         0x80000000u
#define PCI_ID             0x00 /* vendor in 15:0, device in 31:16 */
#define PCI_HEADER_TYPE    0x0C /* byte 2 of this dword; bit 7: multi-function */
#define PCI_NO_DEVICE      0xFFFFu

static uint32_t config_address(struct pci_function where, uint8_t offset)
{
	return PCI_ENABLE | (uint32_t)where.bus << 16 | (uint32_t)where.slot << 11 |
	       (uint32_t)where.function << 8 | (offset & 0xFCu);
}

uint32_t pci_read32(struct pci_function where, uint8_t offset)
{
	outl(PCI_CONFIG_ADDRESS, config_address(where, offset));
	return inl(PCI_CONFIG_DATA);
}

void pci_write32(struct pci_function where, uint8_t offset, uint32_t value)
{
	outl(PCI_CONFIG_ADDRESS, config_address(where, offset));
	outl(PCI_CONFIG_DATA, value);
}

/* Every bus is probed (8192 reads of function 0), which finds devices
 * behind bridges without walking them. */
bool pci_find(uint16_t vendor, uint16_t device, struct pci_function *found)
{
	uint32_t wanted = (uint32_t)device << 16 | vendor;
	for (unsigned bus = 0; bus < 256; bus++) {
		for (uint8_t slot = 0; slot < 32; slot++) {
			struct pci_function where = {(uint8_t)bus, slot, 0};
			if ((pci_read32(where, PCI_ID) & 0xFFFF) == PCI_NO_DEVICE)
				continue;
			bool multi = pci_read32(where, PCI_HEADER_TYPE) >> 23 & 1;
			for (uint8_t function = 0; function < (multi ? 8 : 1); function++) {
				where.function = function;
				if (pci_read32(where, PCI_ID) == wanted) {
					*found = where;
					return true;
				}
			}
		}
	}
	return false;
}

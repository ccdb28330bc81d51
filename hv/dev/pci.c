/* Runs at boot: PCI enumeration through configuration mechanism #1 (PCI
 * Local Bus spec 3.0 section 3.2.2.3.2). Every bus is probed: it costs 8192
 * reads and finds devices behind bridges without walking them. */
#include "dev/dev.h"
#include "x86/x86.h"

static uint32_t config_address(uint8_t bus, uint8_t slot, uint8_t func, uint8_t offset)
{
	return 0x80000000u | (uint32_t)bus << 16 | (uint32_t)slot << 11 | (uint32_t)func << 8 |
	       (offset & 0xFC);
}

uint32_t pci_read32(uint8_t bus, uint8_t slot, uint8_t func, uint8_t offset)
{
	outl(0xCF8, config_address(bus, slot, func, offset));
	return inl(0xCFC);
}

void pci_write32(uint8_t bus, uint8_t slot, uint8_t func, uint8_t offset, uint32_t v)
{
	outl(0xCF8, config_address(bus, slot, func, offset));
	outl(0xCFC, v);
}

unsigned pci_enumerate(struct pci_device *devs, unsigned max)
{
	unsigned n = 0;
	for (unsigned bus = 0; bus < 256; bus++) {
		for (uint8_t slot = 0; slot < 32; slot++) {
			uint32_t id0 = pci_read32((uint8_t)bus, slot, 0, 0);
			if ((id0 & 0xffff) == 0xffff)
				continue;
			/* Header type bit 7: a multi-function device. */
			bool multi = pci_read32((uint8_t)bus, slot, 0, 0x0C) >> 23 & 1;
			for (uint8_t func = 0; func < (multi ? 8 : 1); func++) {
				uint32_t id = pci_read32((uint8_t)bus, slot, func, 0);
				if ((id & 0xffff) == 0xffff)
					continue;
				if (n == max)
					return n;
				struct pci_device *d = &devs[n++];
				uint32_t class_reg = pci_read32((uint8_t)bus, slot, func, 0x08);
				d->bus = (uint8_t)bus;
				d->slot = slot;
				d->func = func;
				d->vendor = (uint16_t)id;
				d->device = (uint16_t)(id >> 16);
				d->class_code = (uint8_t)(class_reg >> 24);
				d->subclass = (uint8_t)(class_reg >> 16);
				d->prog_if = (uint8_t)(class_reg >> 8);
				d->irq_line = (uint8_t)pci_read32((uint8_t)bus, slot, func, 0x3C);
				for (uint8_t b = 0; b < 6; b++)
					d->bar[b] = pci_read32((uint8_t)bus, slot, func,
					                       (uint8_t)(0x10 + 4 * b));
			}
		}
	}
	return n;
}

const char *pci_class_name(uint8_t class_code, uint8_t subclass)
{
	switch (class_code) {
	case 0x01: return subclass == 0x06 ? "storage (SATA)" : "storage";
	case 0x02: return subclass == 0x00 ? "network (ethernet)" : "network";
	case 0x03: return "display";
	case 0x04: return "multimedia";
	case 0x05: return "memory";
	case 0x06:
		switch (subclass) {
		case 0x00: return "bridge (host)";
		case 0x01: return "bridge (ISA)";
		case 0x04: return "bridge (PCI-PCI)";
		case 0x80: return "bridge (other)";
		default: return "bridge";
		}
	case 0x07: return "communication";
	case 0x08: return "system peripheral";
	case 0x0C: return subclass == 0x03 ? "serial bus (USB)" : "serial bus";
	default: return "other";
	}
}

/* dev: the host's devices as hv drives them: the 16550 UART (COM1), the
 * emulator debug port 0xE9, and the PCI bus. Runs anywhere in hv. */
#ifndef HV_DEV_H
#define HV_DEV_H

#include <stdbool.h>
#include <stdint.h>

/* uart.c: COM1 at 0x3F8, 115200 8N1, polled. */
void uart_init(void);
bool uart_present(void);
void uart_putc(char c);
/* debugcon: port 0xE9 (bochs port_e9_hack, QEMU -debugcon). */
void debugcon_putc(char c);

/* pci.c: configuration mechanism #1 (ports 0xCF8/0xCFC). */
struct pci_device {
	uint8_t bus, slot, func;
	uint16_t vendor, device;
	uint8_t class_code, subclass, prog_if;
	uint8_t irq_line;
	uint32_t bar[6];
};
#define PCI_MAX_DEVICES 64
uint32_t pci_read32(uint8_t bus, uint8_t slot, uint8_t func, uint8_t offset);
void pci_write32(uint8_t bus, uint8_t slot, uint8_t func, uint8_t offset, uint32_t v);
/* Scans every bus; fills devs, returns how many were found (at most max). */
unsigned pci_enumerate(struct pci_device *devs, unsigned max);
const char *pci_class_name(uint8_t class_code, uint8_t subclass);

#endif

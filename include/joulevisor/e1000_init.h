/* The 82540EM's register-level set-up steps that hv's driver
 * (hv/dev/e1000.c) and the bare guest's (guest/kernel/net/e1000.c) take
 * the same way, as static inline functions over BAR0 (8254x SDM chapter
 * 14; registers and bits in e1000_regs.h). Waiting, memory, descriptors'
 * contents and messages stay in each driver: the two are separate
 * freestanding programs with their own clocks and allocators. */
#ifndef JOULEVISOR_E1000_INIT_H
#define JOULEVISOR_E1000_INIT_H

#include "joulevisor/e1000_regs.h"

/* Registers are 32 bits wide and accessed as such (chapter 13). */
static inline uint32_t e1000_read(volatile uint32_t *registers, uint32_t offset)
{
	return registers[offset / 4];
}

static inline void e1000_write(volatile uint32_t *registers, uint32_t offset, uint32_t value)
{
	registers[offset / 4] = value;
}

/* Descriptor writes must reach memory before the doorbell (TDT, RDT)
 * that hands them over, and a descriptor's fields must be read only after
 * its DD bit. x86 keeps stores in order and loads in order (an uncached
 * MMIO store is not passed by earlier write-back stores), so only the
 * compiler must be held. */
static inline void e1000_dma_barrier(void)
{
	__asm__ volatile("" ::: "memory");
}

/* 14.3 general configuration, after the reset: link up by software, speed
 * detected, no VLAN tags, no inverted loss-of-signal, PHY out of reset. */
static inline void e1000_configure_link(volatile uint32_t *registers)
{
	uint32_t control = e1000_read(registers, E1000_CTRL);
	control |= E1000_CTRL_SLU | E1000_CTRL_ASDE;
	control &= ~(E1000_CTRL_LRST | E1000_CTRL_PHY_RST | E1000_CTRL_ILOS | E1000_CTRL_VME);
	e1000_write(registers, E1000_CTRL, control);
}

/* Receive filter: only our own address (and broadcast, RCTL.BAM). RAL/RAH
 * read zero after reset in bochs (PLATFORM.md B8), so entry 0 is always
 * programmed and the others cleared; no multicast (bxhub cannot carry it). */
static inline void e1000_program_filters(volatile uint32_t *registers, const uint8_t *mac)
{
	e1000_write(registers, E1000_RAL0,
	            (uint32_t)mac[0] | (uint32_t)mac[1] << 8 | (uint32_t)mac[2] << 16 |
	                (uint32_t)mac[3] << 24);
	e1000_write(registers, E1000_RAH0, (uint32_t)mac[4] | (uint32_t)mac[5] << 8 | E1000_RAH_AV);
	for (unsigned i = 1; i < E1000_RA_ENTRIES; i++) {
		e1000_write(registers, E1000_RAL0 + 8 * i, 0);
		e1000_write(registers, E1000_RAH0 + 8 * i, 0);
	}
	for (unsigned i = 0; i < E1000_MTA_ENTRIES; i++)
		e1000_write(registers, E1000_MTA + 4 * i, 0);
}

/* 14.4: the ring's registers first, then RCTL.EN. RDT = descriptors - 1
 * hands all but one descriptor to the NIC: head == tail means "none
 * left" (13.4, the NIC owns head..tail-1). The descriptors at physical
 * address ring must already point at their buffers. */
static inline void e1000_start_rx(volatile uint32_t *registers, uint64_t ring, uint32_t descriptors)
{
	e1000_write(registers, E1000_RDBAL, (uint32_t)ring);
	e1000_write(registers, E1000_RDBAH, (uint32_t)(ring >> 32));
	e1000_write(registers, E1000_RDLEN, descriptors * (uint32_t)sizeof(struct e1000_rx_desc));
	e1000_write(registers, E1000_RDH, 0);
	e1000_dma_barrier(); /* the descriptors are in memory before RDT */
	e1000_write(registers, E1000_RDT, descriptors - 1);
	e1000_write(registers, E1000_RCTL, E1000_RCTL_EN | E1000_RCTL_BAM | E1000_RCTL_SECRC);
}

/* 14.5: head == tail, nothing to send yet. */
static inline void e1000_start_tx(volatile uint32_t *registers, uint64_t ring, uint32_t descriptors)
{
	e1000_write(registers, E1000_TDBAL, (uint32_t)ring);
	e1000_write(registers, E1000_TDBAH, (uint32_t)(ring >> 32));
	e1000_write(registers, E1000_TDLEN, descriptors * (uint32_t)sizeof(struct e1000_tx_desc));
	e1000_write(registers, E1000_TDH, 0);
	e1000_write(registers, E1000_TDT, 0);
	e1000_write(registers, E1000_TIPG, E1000_TIPG_VALUE);
	e1000_write(registers, E1000_TCTL, E1000_TCTL_FULL_DUPLEX);
}

#endif

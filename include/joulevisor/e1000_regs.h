/* The Intel 82540EM (PCI 8086:100E), the e1000 that bochs and QEMU
 * emulate: register offsets, register bits and the legacy descriptors,
 * shared by hv's driver (hv/dev/e1000.c) and the bare guest's
 * (guest/kernel/net/e1000.c), which are separate freestanding programs.
 *
 * Section numbers are those of the "PCI/PCI-X Family of Gigabit Ethernet
 * Controllers Software Developer's Manual" (8254x SDM, 317453006):
 * chapter 13 describes the registers, chapter 3 the legacy descriptors,
 * chapter 14 the initialization order. What the bochs model does
 * differently is in ../shared/PLATFORM.md Part B. Only what the two drivers
 * use is here; nothing in this file has state or code. */
#ifndef JOULEVISOR_E1000_REGS_H
#define JOULEVISOR_E1000_REGS_H

#include <stdint.h>

#define E1000_VENDOR_INTEL   0x8086
#define E1000_DEVICE_82540EM 0x100E

/* Register byte offsets in BAR0 (13.4 register summary, then one section
 * per register). Every register is 32 bits wide and accessed as such. */
enum e1000_register {
	E1000_CTRL = 0x0000,   /* 13.4.1 Device Control */
	E1000_STATUS = 0x0008, /* 13.4.2 Device Status */
	E1000_EERD = 0x0014,   /* 13.4.4 EEPROM Read */
	E1000_ICR = 0x00C0,    /* 13.4.17 Interrupt Cause Read (clears on read) */
	E1000_IMC = 0x00D8,    /* 13.4.21 Interrupt Mask Clear */
	E1000_RCTL = 0x0100,   /* 13.4.22 Receive Control */
	E1000_TCTL = 0x0400,   /* 13.4.33 Transmit Control */
	E1000_TIPG = 0x0410,   /* 13.4.34 Transmit Inter Packet Gap */
	E1000_RDBAL = 0x2800,  /* 13.4: receive descriptor base low/high, length, head, tail */
	E1000_RDBAH = 0x2804,
	E1000_RDLEN = 0x2808,
	E1000_RDH = 0x2810,
	E1000_RDT = 0x2818,
	E1000_TDBAL = 0x3800, /* 13.4: the same five for transmit */
	E1000_TDBAH = 0x3804,
	E1000_TDLEN = 0x3808,
	E1000_TDH = 0x3810,
	E1000_TDT = 0x3818,
	E1000_MPC = 0x4010,  /* statistics: Missed Packets Count (clears on read) */
	E1000_MTA = 0x5200,  /* filters: Multicast Table Array, E1000_MTA_ENTRIES entries */
	E1000_RAL0 = 0x5400, /* filters: Receive Address Low/High, E1000_RA_ENTRIES pairs */
	E1000_RAH0 = 0x5404,
};
#define E1000_MTA_ENTRIES 128
#define E1000_RA_ENTRIES  16
#define E1000_BAR0_SIZE   0x20000u /* the 82540EM's BAR0: 32-bit memory, 128 KiB */

/* CTRL (13.4.1). */
#define E1000_CTRL_LRST    (1u << 3)  /* link reset */
#define E1000_CTRL_ASDE    (1u << 5)  /* auto-speed detection */
#define E1000_CTRL_SLU     (1u << 6)  /* set link up */
#define E1000_CTRL_ILOS    (1u << 7)  /* invert loss-of-signal */
#define E1000_CTRL_RST     (1u << 26) /* device reset, self-clearing */
#define E1000_CTRL_VME     (1u << 30) /* VLAN mode */
#define E1000_CTRL_PHY_RST (1u << 31)
/* STATUS (13.4.2). */
#define E1000_STATUS_LU (1u << 1) /* link up */
/* EERD (13.4.4; the 82540EM layout: address in 15:8, done in bit 4, data
 * in 31:16). The station address is words 0-2, low byte first (chapter 5,
 * "Ethernet Address"). */
#define E1000_EERD_START       (1u << 0)
#define E1000_EERD_DONE        (1u << 4)
#define E1000_EERD_ADDR_SHIFT  8
#define E1000_EERD_DATA_SHIFT  16
#define E1000_EEPROM_MAC_WORDS 3
/* RAH: Address Valid. */
#define E1000_RAH_AV (1u << 31)
/* RCTL (13.4.22). BSIZE 00b with BSEX 0 means 2048-byte buffers. */
#define E1000_RCTL_EN     (1u << 1)
#define E1000_RCTL_BAM    (1u << 15) /* accept broadcast */
#define E1000_RCTL_SECRC  (1u << 26) /* strip the Ethernet CRC */
#define E1000_RX_BUF_SIZE 2048u      /* what RCTL.BSIZE = 00b gives */
/* TCTL (13.4.33) and TIPG (13.4.34): the values 14.5 recommends for full
 * duplex (collision threshold 0Fh, distance 40h; IPGT 10, IPGR1 8, IPGR2 6). */
#define E1000_TCTL_EN         (1u << 1)
#define E1000_TCTL_PSP        (1u << 3) /* pad short packets to 64 bytes */
#define E1000_TCTL_CT_SHIFT   4
#define E1000_TCTL_COLD_SHIFT 12
#define E1000_TCTL_FULL_DUPLEX                                                                     \
	(E1000_TCTL_EN | E1000_TCTL_PSP | 0x0Fu << E1000_TCTL_CT_SHIFT |                           \
	 0x40u << E1000_TCTL_COLD_SHIFT)
#define E1000_TIPG_VALUE (10u | 8u << 10 | 6u << 20)

/* Legacy descriptors: receive 3.2.3, transmit 3.3.3. The NIC writes status
 * (and the length on receive) back into them. A ring's length (RDLEN,
 * TDLEN) is a multiple of 128 bytes and its base 16-byte aligned (13.4). */
struct e1000_rx_desc {
	uint64_t addr;
	uint16_t length;
	uint16_t checksum;
	uint8_t status;
	uint8_t errors; /* any bit set: the frame is damaged */
	uint16_t special;
};
struct e1000_tx_desc {
	uint64_t addr;
	uint16_t length;
	uint8_t cso;
	uint8_t cmd;
	uint8_t status;
	uint8_t css;
	uint16_t special;
};
_Static_assert(sizeof(struct e1000_rx_desc) == 16, "legacy RX descriptor is 16 bytes");
_Static_assert(sizeof(struct e1000_tx_desc) == 16, "legacy TX descriptor is 16 bytes");
#define E1000_RXD_STAT_DD  (1u << 0) /* 3.2.3.1: descriptor done */
#define E1000_RXD_STAT_EOP (1u << 1) /* last descriptor of a frame */
#define E1000_TXD_CMD_EOP  (1u << 0) /* 3.3.3.1: end of packet */
#define E1000_TXD_CMD_IFCS (1u << 1) /* insert the FCS */
#define E1000_TXD_CMD_RS   (1u << 3) /* report status: write DD back */
#define E1000_TXD_STAT_DD  (1u << 0)

#endif

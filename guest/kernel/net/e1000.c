/* Runs in the guest, bare (no hypervisor): net.h's backend on the Intel
 * 82540EM, the e1000 that bochs and QEMU emulate, found on the PCI bus.
 * Registers, bits and descriptors are in include/joulevisor/e1000_regs.h,
 * the set-up steps shared with hv's own driver (hv/dev/e1000.c) in
 * e1000_init.h, with the sections of the 8254x SDM; the set-up follows its
 * chapter 14. What the bochs model does
 * differently is in ../shared/PLATFORM.md Part B.
 *
 * Polled, no interrupts: net_recv spins on the next RX descriptor's DD bit
 * until a frame or its deadline. Chosen because the workloads call
 * net_recv in a loop anyway, because an e1000 interrupt would need the
 * 8259s or an I/O APIC routed to our x2APIC (the kernel masks the first and
 * has no driver for the second), and because hv's driver polls too, so the
 * bare baseline does the same work per frame as hv's uplink. The cost: a
 * bare receiver never halts while it waits, and counts 0 interrupts.
 *
 * Memory: the kernel maps virtual = physical (mem/mem.h, boot.S), so a
 * pointer into our heap is the physical address the NIC's DMA wants; BAR0
 * lies in boot.S's identity map of the first 4 GiB and mem_map_device
 * makes it uncached. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock/clock.h"
#include "hyper/hyper.h"
#include "joulevisor/e1000_init.h"
#include "mem/mem.h"
#include "net/backend.h"
#include "pci/pci.h"
#include "x86/x86.h"

#define RX_RING             256 /* descriptors; 16 bytes each, one 4 KiB page */
#define TX_RING             256
#define BUFFER_SIZE         E1000_RX_BUF_SIZE /* one per descriptor, RCTL.BSIZE = 00b */
#define RING_ALIGN          4096              /* 16 bytes needed (13.4); a page is tidier */
#define RESET_SETTLE_NS     1000000u          /* before polling CTRL.RST (14.3) */
#define RESET_TIMEOUT_NS    10000000u         /* CTRL.RST must clear within this */
#define EEPROM_TIMEOUT_NS   10000000u         /* one EERD read */
#define TX_STALL_NS         1000000000u /* no TX descriptor done for 1 s: give up on a frame */
#define ETHERTYPE_LOOPBACK  0x9000      /* Ethernet Configuration Testing Protocol */
#define ECTP_FUNCTION_REPLY 1

_Static_assert(RX_RING * sizeof(struct e1000_rx_desc) % 128 == 0, "RDLEN is a multiple of 128");
_Static_assert(TX_RING * sizeof(struct e1000_tx_desc) % 128 == 0, "TDLEN is a multiple of 128");
_Static_assert(NET_FRAME_MAX <= BUFFER_SIZE, "a whole frame fits one RX buffer");

static struct {
	struct pci_function where;
	volatile uint32_t *registers; /* BAR0 */
	volatile struct e1000_rx_desc *rx;
	volatile struct e1000_tx_desc *tx;
	uint8_t *rx_buffers, *tx_buffers;
	uint32_t rx_next;           /* the next descriptor the NIC fills */
	bool rx_dropping_pieces;    /* inside a frame spread over descriptors: drop to its EOP */
	uint32_t tx_tail;           /* the next descriptor we fill */
	uint32_t tx_clean;          /* the oldest descriptor not yet seen done */
	uint32_t tx_doorbell;       /* tx_tail as last written to TDT */
	uint64_t tx_delay_ticks;    /* net_set_tx_delay_ns, in TSC ticks; 0: ring at once */
	uint64_t tx_flush_deadline; /* TSC; 0: no frame held back */
	bool told_tx_stall;
	struct net_counters counters;
} nic;

static uint32_t read_register(uint32_t offset)
{
	return e1000_read(nic.registers, offset);
}

static void write_register(uint32_t offset, uint32_t value)
{
	e1000_write(nic.registers, offset, value);
}

static uint64_t dma_address(const volatile void *pointer)
{
	return (uint64_t)(uintptr_t)pointer; /* identity map: virtual = physical */
}

static uint8_t *buffer_of(uint8_t *buffers, uint32_t slot)
{
	return buffers + (size_t)slot * BUFFER_SIZE;
}

static bool give_up(const char *why)
{
	printf("net: e1000 at %02x:%02x.%x not used: %s\n", nic.where.bus, nic.where.slot,
	       nic.where.function, why);
	return false;
}

static bool eeprom_read(uint8_t word, uint16_t *value)
{
	write_register(E1000_EERD, (uint32_t)word << E1000_EERD_ADDR_SHIFT | E1000_EERD_START);
	uint64_t deadline = tsc_read() + ns_to_tsc_ticks(EEPROM_TIMEOUT_NS);
	while (tsc_read() < deadline) {
		uint32_t eerd = read_register(E1000_EERD);
		if (eerd & E1000_EERD_DONE) {
			*value = (uint16_t)(eerd >> E1000_EERD_DATA_SHIFT);
			return true;
		}
		cpu_relax();
	}
	return false;
}

/* The station address: EEPROM words 0-2, low byte first. Failing that,
 * receive address 0 if it is marked valid (QEMU loads it at reset; bochs
 * leaves it zero, PLATFORM.md B8). All zeros or a group address is no MAC. */
static bool read_mac(uint8_t *mac)
{
	bool from_eeprom = true;
	for (uint8_t word = 0; word < E1000_EEPROM_MAC_WORDS && from_eeprom; word++) {
		uint16_t value = 0;
		from_eeprom = eeprom_read(word, &value);
		mac[2 * word] = (uint8_t)value;
		mac[2 * word + 1] = (uint8_t)(value >> 8);
	}
	if (!from_eeprom) {
		uint32_t low = read_register(E1000_RAL0), high = read_register(E1000_RAH0);
		if (!(high & E1000_RAH_AV))
			return false;
		for (int i = 0; i < 4; i++)
			mac[i] = (uint8_t)(low >> (8 * i));
		mac[4] = (uint8_t)high;
		mac[5] = (uint8_t)(high >> 8);
	}
	static const uint8_t zero[NET_MAC_LEN];
	return memcmp(mac, zero, NET_MAC_LEN) != 0 && !(mac[0] & 1);
}

/* Reset with every interrupt masked before and after (14.3, 13.4.1), then
 * the general configuration of 14.3. */
static bool reset(void)
{
	write_register(E1000_IMC, 0xFFFFFFFFu);
	write_register(E1000_CTRL, read_register(E1000_CTRL) | E1000_CTRL_RST);
	uint64_t settled = tsc_read() + ns_to_tsc_ticks(RESET_SETTLE_NS);
	while (tsc_read() < settled)
		cpu_relax();
	uint64_t deadline = tsc_read() + ns_to_tsc_ticks(RESET_TIMEOUT_NS);
	while (read_register(E1000_CTRL) & E1000_CTRL_RST)
		if (tsc_read() > deadline)
			return false;
	write_register(E1000_IMC, 0xFFFFFFFFu);
	(void)read_register(E1000_ICR);
	e1000_configure_link(nic.registers);
	return true;
}

static bool allocate_rings(void)
{
	nic.rx = aligned_alloc(RING_ALIGN, RX_RING * sizeof(struct e1000_rx_desc));
	nic.tx = aligned_alloc(RING_ALIGN, TX_RING * sizeof(struct e1000_tx_desc));
	nic.rx_buffers = aligned_alloc(RING_ALIGN, (size_t)RX_RING * BUFFER_SIZE);
	nic.tx_buffers = aligned_alloc(RING_ALIGN, (size_t)TX_RING * BUFFER_SIZE);
	return nic.rx && nic.tx && nic.rx_buffers && nic.tx_buffers;
}

static void setup_rings(void)
{
	for (uint32_t slot = 0; slot < RX_RING; slot++)
		nic.rx[slot] =
		    (struct e1000_rx_desc){.addr = dma_address(buffer_of(nic.rx_buffers, slot))};
	for (uint32_t slot = 0; slot < TX_RING; slot++)
		nic.tx[slot] =
		    (struct e1000_tx_desc){.addr = dma_address(buffer_of(nic.tx_buffers, slot))};
	nic.rx_next = 0;
	nic.tx_tail = nic.tx_clean = nic.tx_doorbell = 0;
	e1000_start_rx(nic.registers, dma_address(nic.rx), RX_RING);
	e1000_start_tx(nic.registers, dma_address(nic.tx), TX_RING);
}

/* BAR0 must be an assigned memory BAR (PCI spec 6.2.5.1) below 4 GiB,
 * where boot.S's identity map reaches. The 82540EM's is 32-bit; a 64-bit
 * one is accepted if its high half is zero. */
static bool map_registers(void)
{
	uint32_t bar0 = pci_read32(nic.where, PCI_BAR0);
	if (bar0 & PCI_BAR_IO)
		return give_up("BAR0 is an I/O BAR, not memory");
	if ((bar0 & PCI_BAR_TYPE_MASK) == PCI_BAR_TYPE_64 && pci_read32(nic.where, PCI_BAR1) != 0)
		return give_up("BAR0 lies above 4 GiB, outside our identity map");
	uint64_t base = bar0 & PCI_BAR_MEMORY_MASK;
	if (base == 0)
		return give_up("BAR0 was never assigned (no firmware?)");
	if (!mem_map_device(base, E1000_BAR0_SIZE))
		return give_up("BAR0 overlaps our RAM or is not mappable");
	nic.registers = (volatile uint32_t *)(uintptr_t)base;
	/* Memory space and bus mastering (the NIC's DMA) on, INTx off since we
	 * poll (PCI spec 6.2.2). The status half is written as zero: its bits
	 * are write-one-to-clear. */
	uint32_t command = pci_read32(nic.where, PCI_COMMAND) & 0xFFFF;
	pci_write32(nic.where, PCI_COMMAND,
	            command | PCI_COMMAND_MEMORY | PCI_COMMAND_BUS_MASTER |
	                PCI_COMMAND_INTX_DISABLE);
	return true;
}

static bool e1000_send(const void *frame, size_t length);

/* One broadcast frame from our MAC, so that a learning switch knows where
 * we are before anyone sends to us: bxhub (the bochs link) delivers unicast
 * only to MACs it has seen in a broadcast (PLATFORM.md B1), the way a
 * gratuitous ARP would teach it, but we have no IP address. An ECTP
 * "loopback" frame (Ethernet v2.0, Configuration Testing Protocol) whose
 * only message is a reply: a station that speaks ECTP takes it as a reply
 * to itself and forwards nothing; everyone else ignores the EtherType
 * (netsink counts it among "other frames"). */
static void announce(const uint8_t *mac)
{
	uint8_t frame[60] = {0}; /* the minimum frame without FCS */
	memset(frame, 0xFF, NET_MAC_LEN);
	memcpy(frame + NET_MAC_LEN, mac, NET_MAC_LEN);
	frame[12] = ETHERTYPE_LOOPBACK >> 8;
	frame[13] = ETHERTYPE_LOOPBACK & 0xFF;
	frame[14] = 0;                   /* skipCount, little-endian: the first message */
	frame[16] = ECTP_FUNCTION_REPLY; /* function, little-endian; receipt number 0 */
	e1000_send(frame, sizeof frame);
}

static bool e1000_attach(uint8_t *mac)
{
	if (!pci_find(E1000_VENDOR_INTEL, E1000_DEVICE_82540EM, &nic.where)) {
		printf("net: no NIC: no Intel 82540EM (e1000, PCI 8086:100e) on the PCI bus, and "
		       "no Joulevisor for a pvnet NIC (hypervisor: %s)\n",
		       hyper_name());
		return false;
	}
	if (!map_registers())
		return false;
	if (!reset())
		return give_up("CTRL.RST did not clear after a reset");
	if (!read_mac(mac))
		return give_up("no MAC address in its EEPROM or receive address 0");
	e1000_program_filters(nic.registers, mac);
	if (!allocate_rings())
		return give_up("no memory for its rings and buffers");
	setup_rings();
	announce(mac);
	bool link = read_register(E1000_STATUS) & E1000_STATUS_LU;
	char text[18];
	net_format_mac(mac, text);
	printf("net: e1000 attached at %02x:%02x.%x, MAC %s, BAR0 0x%llx, link %s, %u-entry "
	       "rings, polled\n",
	       nic.where.bus, nic.where.slot, nic.where.function, text,
	       (unsigned long long)dma_address(nic.registers), link ? "up" : "down", RX_RING);
	return true;
}

/* Takes back the descriptors the NIC has finished with (every one asks
 * for a DD write-back with RS). */
static void tx_reclaim(void)
{
	while (nic.tx_clean != nic.tx_tail && (nic.tx[nic.tx_clean].status & E1000_TXD_STAT_DD))
		nic.tx_clean = (nic.tx_clean + 1) % TX_RING;
}

/* TDT is the doorbell: the NIC sends every descriptor before it. */
static void tx_ring_doorbell(void)
{
	if (nic.tx_doorbell != nic.tx_tail) {
		e1000_dma_barrier();
		write_register(E1000_TDT, nic.tx_tail);
		nic.tx_doorbell = nic.tx_tail;
		nic.counters.kicks++;
	}
	nic.tx_flush_deadline = 0;
}

static void tx_check_delay(void)
{
	if (nic.tx_flush_deadline && tsc_read() >= nic.tx_flush_deadline)
		tx_ring_doorbell();
}

static bool tx_ring_full(void)
{
	return (nic.tx_tail + 1) % TX_RING == nic.tx_clean; /* one slot stays empty */
}

/* Rings for everything queued and polls until the NIC frees a slot; false
 * when it has freed none for TX_STALL_NS (the link or the device is dead:
 * better to say so than to hang). */
static bool tx_wait_for_space(void)
{
	nic.counters.tx_full_waits++;
	tx_ring_doorbell();
	uint64_t deadline = tsc_read() + ns_to_tsc_ticks(TX_STALL_NS);
	for (;;) {
		tx_reclaim();
		if (!tx_ring_full())
			return true;
		if (tsc_read() >= deadline)
			break;
		cpu_relax();
	}
	if (!nic.told_tx_stall)
		printf("net: e1000 sent nothing for 1 s (TDH %u, TDT %u): dropping frames\n",
		       read_register(E1000_TDH), read_register(E1000_TDT));
	nic.told_tx_stall = true;
	return false;
}

static bool e1000_send(const void *frame, size_t length)
{
	tx_reclaim();
	if (tx_ring_full() && !tx_wait_for_space()) {
		nic.counters.tx_stalled++;
		return false;
	}
	uint32_t slot = nic.tx_tail;
	memcpy(buffer_of(nic.tx_buffers, slot), frame, length);
	volatile struct e1000_tx_desc *descriptor = &nic.tx[slot];
	descriptor->addr = dma_address(buffer_of(nic.tx_buffers, slot));
	descriptor->length = (uint16_t)length;
	descriptor->cso = 0;
	descriptor->css = 0;
	descriptor->special = 0;
	descriptor->status = 0;
	descriptor->cmd = E1000_TXD_CMD_EOP | E1000_TXD_CMD_IFCS | E1000_TXD_CMD_RS;
	nic.tx_tail = (slot + 1) % TX_RING;
	nic.counters.frames_sent++;

	/* The same guest-side batching as pvnet's kicks: hold the doorbell
	 * back until the delay has passed or half the ring waits. */
	if (nic.tx_delay_ticks == 0) {
		tx_ring_doorbell();
		return true;
	}
	uint64_t now = tsc_read();
	if (!nic.tx_flush_deadline)
		nic.tx_flush_deadline = now + nic.tx_delay_ticks;
	uint32_t waiting = (nic.tx_tail + TX_RING - nic.tx_doorbell) % TX_RING;
	if (now >= nic.tx_flush_deadline || waiting >= TX_RING / 2)
		tx_ring_doorbell();
	return true;
}

/* Takes the descriptor at rx_next if the NIC is done with it: checks what
 * the NIC wrote back, copies the frame out (or drops it), and gives the
 * descriptor back. False when the NIC has not filled it; *length is 0 for
 * a dropped frame. */
static bool rx_take(void *destination, size_t capacity, size_t *length)
{
	uint32_t slot = nic.rx_next;
	volatile struct e1000_rx_desc *descriptor = &nic.rx[slot];
	uint8_t status = descriptor->status;
	if (!(status & E1000_RXD_STAT_DD))
		return false;
	e1000_dma_barrier(); /* the length, errors and data only after DD */
	uint16_t filled = descriptor->length;
	uint8_t errors = descriptor->errors;
	bool end_of_frame = status & E1000_RXD_STAT_EOP;
	const uint8_t *buffer = buffer_of(nic.rx_buffers, slot); /* ours, whatever addr says */
	*length = 0;
	if (nic.rx_dropping_pieces || !end_of_frame) {
		/* A frame larger than a buffer cannot come with long packets
		 * off (RCTL.LPE = 0); if one does, every piece goes. */
		if (!nic.rx_dropping_pieces)
			nic.counters.rx_errors++;
		nic.rx_dropping_pieces = !end_of_frame;
	} else if (errors) {
		nic.counters.rx_errors++;
	} else if (filled == 0 || filled > NET_FRAME_MAX) {
		nic.counters.rx_bad_length++;
	} else if (!net_frame_is_ours(buffer, filled)) {
		nic.counters.rx_not_ours++;
	} else if (filled > capacity) {
		nic.counters.rx_too_long++;
	} else {
		memcpy(destination, buffer, filled);
		*length = filled;
		nic.counters.frames_received++;
	}
	descriptor->addr = dma_address(buffer);
	descriptor->status = 0;
	e1000_dma_barrier(); /* the descriptor is clean before the NIC may fill it again */
	/* This descriptor becomes the one kept back, which returns the one
	 * before it to the NIC. */
	write_register(E1000_RDT, slot);
	nic.rx_next = (slot + 1) % RX_RING;
	return true;
}

static size_t e1000_recv(void *buffer, size_t capacity, uint64_t timeout_ns)
{
	uint64_t deadline =
	    timeout_ns == NET_WAIT_FOREVER ? 0 : tsc_read() + ns_to_tsc_ticks(timeout_ns);
	for (;;) {
		tx_check_delay();
		tx_reclaim();
		size_t length;
		while (rx_take(buffer, capacity, &length))
			if (length)
				return length;
		if (timeout_ns == 0 || (deadline && tsc_read() >= deadline))
			return 0;
		cpu_relax();
	}
}

static void e1000_flush(void)
{
	tx_ring_doorbell();
}

static void e1000_set_tx_delay_ns(uint64_t ns)
{
	nic.tx_delay_ticks = ns ? ns_to_tsc_ticks(ns) : 0;
	if (!nic.tx_delay_ticks)
		tx_ring_doorbell();
}

static const struct net_counters *e1000_counters(void)
{
	return &nic.counters;
}

const struct net_backend net_backend_e1000 = {
    .name = "e1000",
    .attach = e1000_attach,
    .send = e1000_send,
    .recv = e1000_recv,
    .flush = e1000_flush,
    .set_tx_delay_ns = e1000_set_tx_delay_ns,
    .set_batching = NULL, /* no hypervisor to batch our interrupts, and none to batch */
    .counters = e1000_counters,
};

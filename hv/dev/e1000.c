/* Runs at boot (probe, reset, rings) and in hv's polling loops (send,
 * receive): a polled driver for the Intel 82540EM, the e1000 that bochs and
 * QEMU emulate. Registers, bits and descriptors are in
 * include/joulevisor/e1000_regs.h, the set-up steps both drivers share in
 * e1000_init.h (the bare guest's is guest/kernel/net/e1000.c), with the
 * sections of the 8254x SDM; chapter 14's initialization order is followed
 * below. What the bochs model does differently is in
 * ../shared/PLATFORM.md Part B. */
#include "core/core.h"
#include "dev/dev.h"
#include "joulevisor/e1000_init.h"
#include "lib/lib.h"
#include "mm/mm.h"
#include "x86/x86.h"

#define RX_RING              256 /* descriptors; 16 bytes each: one 4 KiB page */
#define TX_RING              256
#define BUF_SIZE             E1000_RX_BUF_SIZE /* per descriptor, RCTL.BSIZE = 00b */
#define RESET_TIMEOUT_MS     10
#define EEPROM_TIMEOUT_POLLS 100000

_Static_assert(RX_RING * sizeof(struct e1000_rx_desc) == PAGE_SIZE, "RX ring is one page");
_Static_assert(TX_RING * sizeof(struct e1000_tx_desc) == PAGE_SIZE, "TX ring is one page");

static struct {
	bool present;
	uint8_t bus, slot, func;
	volatile uint32_t *mmio; /* BAR0, inside hv's identity map of the first 4 GiB */
	uint32_t bar0;
	uint8_t mac[6];
	volatile struct e1000_rx_desc *rx;
	volatile struct e1000_tx_desc *tx;
	uint8_t *rx_buf, *tx_buf;
	unsigned rx_next;  /* the next descriptor the NIC fills */
	bool rx_splitting; /* inside a frame spread over descriptors: drop to its EOP */
	unsigned tx_tail;  /* the next descriptor we fill */
	unsigned tx_clean; /* the oldest descriptor not yet seen done */
	struct e1000_counters counters;
} nic;

static uint32_t rd(uint32_t reg)
{
	return e1000_read(nic.mmio, reg);
}
static void wr(uint32_t reg, uint32_t v)
{
	e1000_write(nic.mmio, reg, v);
}

static void delay_ms(uint64_t tsc_khz, uint64_t ms)
{
	uint64_t end = rdtsc() + tsc_khz * ms;
	while (rdtsc() < end)
		cpu_relax();
}

static bool eeprom_read(uint8_t addr, uint16_t *out)
{
	wr(E1000_EERD, (uint32_t)addr << E1000_EERD_ADDR_SHIFT | E1000_EERD_START);
	for (unsigned i = 0; i < EEPROM_TIMEOUT_POLLS; i++) {
		uint32_t v = rd(E1000_EERD);
		if (v & E1000_EERD_DONE) {
			*out = (uint16_t)(v >> E1000_EERD_DATA_SHIFT);
			return true;
		}
		cpu_relax();
	}
	return false;
}

/* The station address is EEPROM words 0-2, low byte first (SDM chapter 5,
 * "Ethernet Address"). */
static bool read_mac(void)
{
	for (uint8_t w = 0; w < E1000_EEPROM_MAC_WORDS; w++) {
		uint16_t v;
		if (!eeprom_read(w, &v))
			return false;
		nic.mac[2 * w] = (uint8_t)v;
		nic.mac[2 * w + 1] = (uint8_t)(v >> 8);
	}
	static const uint8_t zero[6];
	return memcmp(nic.mac, zero, 6) != 0;
}

/* One page of descriptors and ring * BUF_SIZE bytes of buffers, physically
 * contiguous, below 4 GiB (the allocator hands out nothing above). */
static bool alloc_ring(unsigned ring, void **descs, uint8_t **bufs)
{
	uint64_t d = mm_alloc_zeroed_page();
	uint64_t b = frames_alloc_contig(&host_frames, ring * BUF_SIZE / PAGE_SIZE, 1);
	if (!d || !b)
		return false; /* a few frames leak; hv is out of memory anyway */
	*descs = (void *)(uintptr_t)d;
	*bufs = (uint8_t *)(uintptr_t)b;
	return true;
}

static void setup_rx(void)
{
	for (unsigned i = 0; i < RX_RING; i++) {
		nic.rx[i].addr = (uint64_t)(uintptr_t)(nic.rx_buf + i * BUF_SIZE);
		nic.rx[i].status = 0;
	}
	nic.rx_next = 0;
	e1000_start_rx(nic.mmio, (uint64_t)(uintptr_t)nic.rx, RX_RING);
}

static void setup_tx(void)
{
	for (unsigned i = 0; i < TX_RING; i++)
		nic.tx[i].addr = (uint64_t)(uintptr_t)(nic.tx_buf + i * BUF_SIZE);
	nic.tx_tail = nic.tx_clean = 0;
	e1000_start_tx(nic.mmio, (uint64_t)(uintptr_t)nic.tx, TX_RING);
}

static const struct pci_device *find_82540em(void)
{
	static struct pci_device devs[PCI_MAX_DEVICES];
	unsigned n = pci_enumerate(devs, PCI_MAX_DEVICES);
	for (unsigned i = 0; i < n; i++)
		if (devs[i].vendor == E1000_VENDOR_INTEL && devs[i].device == E1000_DEVICE_82540EM)
			return &devs[i];
	return NULL;
}

static void format_mac(char *out, size_t size, const uint8_t *m)
{
	fmt_snprintf(out, size, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4],
	             m[5]);
}

/* Says why a present NIC is not used (the only output besides success). */
static bool give_up(const char *why)
{
	kprintf("hv: e1000 at %02x:%02x.%x not used: %s\n", nic.bus, nic.slot, nic.func, why);
	char esc[120];
	fmt_json_escape(esc, sizeof esc, why);
	log_event("{\"ev\":\"error\",\"what\":\"nic\",\"message\":\"%s\"}", esc);
	nic.present = false;
	return false;
}

static bool bring_up(uint64_t tsc_khz)
{
	/* BAR0 must be a memory BAR (bit 0 clear; PCI spec 6.2.5.1); the
	 * 82540EM's is 32-bit, 128 KiB. */
	if (nic.bar0 & 1 || (nic.bar0 & ~0xFu) == 0)
		return give_up("BAR0 is not an assigned memory BAR");
	nic.mmio = (volatile uint32_t *)(uintptr_t)(nic.bar0 & ~0xFu);

	/* PCI command register (PCI spec 6.2.2): memory space, bus master, and
	 * INTx disabled since hv polls. The status half is written as zero: its
	 * bits are write-one-to-clear. */
	uint32_t cmd = pci_read32(nic.bus, nic.slot, nic.func, 0x04) & 0xFFFF;
	pci_write32(nic.bus, nic.slot, nic.func, 0x04, cmd | 1u << 1 | 1u << 2 | 1u << 10);

	/* Reset with every interrupt masked before and after (14.3 / 13.4.1).
	 * Without a calibrated TSC, assume a fast one: waiting too long is
	 * harmless. */
	if (!tsc_khz)
		tsc_khz = 4000000;
	wr(E1000_IMC, 0xFFFFFFFFu);
	wr(E1000_CTRL, rd(E1000_CTRL) | E1000_CTRL_RST);
	uint64_t deadline = rdtsc() + tsc_khz * RESET_TIMEOUT_MS;
	delay_ms(tsc_khz, 1); /* let the reset start before polling the bit */
	while (rd(E1000_CTRL) & E1000_CTRL_RST)
		if (rdtsc() > deadline)
			return give_up("CTRL.RST did not clear after reset");
	wr(E1000_IMC, 0xFFFFFFFFu);
	(void)rd(E1000_ICR);
	e1000_configure_link(nic.mmio);

	if (!read_mac())
		return give_up("no MAC address in the EEPROM (EERD)");
	e1000_program_filters(nic.mmio, nic.mac);
	void *rx, *tx;
	if (!alloc_ring(RX_RING, &rx, &nic.rx_buf) || !alloc_ring(TX_RING, &tx, &nic.tx_buf))
		return give_up("out of memory for the descriptor rings");
	nic.rx = rx;
	nic.tx = tx;
	setup_rx();
	setup_tx();
	(void)rd(E1000_MPC); /* start the missed-frames count from zero */
	return true;
}

bool e1000_init_from_pci(uint64_t tsc_khz)
{
	const struct pci_device *d = find_82540em();
	if (!d)
		return false;
	memset(&nic, 0, sizeof nic);
	nic.bus = d->bus;
	nic.slot = d->slot;
	nic.func = d->func;
	nic.bar0 = d->bar[0];
	nic.present = true;
	if (!bring_up(tsc_khz))
		return false;
	char mac[18];
	format_mac(mac, sizeof mac, nic.mac);
	bool link = rd(E1000_STATUS) & E1000_STATUS_LU;
	kprintf("hv: e1000 at %02x:%02x.%x, MAC %s, BAR0 0x%x, link %s, %u RX and %u TX "
	        "descriptors\n",
	        nic.bus, nic.slot, nic.func, mac, nic.bar0 & ~0xFu, link ? "up" : "down", RX_RING,
	        TX_RING);
	log_event("{\"ev\":\"nic\",\"model\":\"82540EM\",\"mac\":\"%s\",\"bdf\":\"%02x:%02x.%x\","
	          "\"bar0\":\"0x%x\",\"link\":%s,\"rx_ring\":%u,\"tx_ring\":%u}",
	          mac, nic.bus, nic.slot, nic.func, nic.bar0 & ~0xFu, link ? "true" : "false",
	          RX_RING, TX_RING);
	return true;
}

bool e1000_present(void)
{
	return nic.present;
}

const uint8_t *e1000_mac(void)
{
	return nic.present ? nic.mac : NULL;
}

/* Takes back the descriptors the NIC has finished with (DD written back
 * because every descriptor asks for it with RS). */
static void tx_reclaim(void)
{
	while (nic.tx_clean != nic.tx_tail && nic.tx[nic.tx_clean].status & E1000_TXD_STAT_DD)
		nic.tx_clean = (nic.tx_clean + 1) % TX_RING;
}

unsigned e1000_send_batch(const struct net_frame *frames, unsigned n)
{
	if (!nic.present)
		return 0;
	tx_reclaim();
	unsigned taken = 0, queued = 0;
	for (; taken < n; taken++) {
		const struct net_frame *f = &frames[taken];
		if (f->len < E1000_FRAME_MIN || f->len > E1000_FRAME_MAX) {
			nic.counters.tx_bad_len++;
			continue;
		}
		unsigned next = (nic.tx_tail + 1) % TX_RING;
		if (next == nic.tx_clean) { /* one slot stays empty: tail == clean means idle */
			nic.counters.tx_ring_full += n - taken;
			break;
		}
		volatile struct e1000_tx_desc *d = &nic.tx[nic.tx_tail];
		memcpy(nic.tx_buf + nic.tx_tail * BUF_SIZE, f->data, f->len);
		d->length = f->len;
		d->cso = 0;
		d->css = 0;
		d->special = 0;
		d->status = 0;
		d->cmd = E1000_TXD_CMD_EOP | E1000_TXD_CMD_IFCS | E1000_TXD_CMD_RS;
		nic.tx_tail = next;
		nic.counters.tx_bytes += f->len;
		queued++;
	}
	if (queued) {
		e1000_dma_barrier();
		wr(E1000_TDT, nic.tx_tail); /* one doorbell for the whole batch */
		nic.counters.tx_frames += queued;
		nic.counters.tx_batches++;
	}
	return taken;
}

unsigned e1000_receive_batch(struct net_frame_buf *bufs, unsigned max)
{
	if (!nic.present)
		return 0;
	unsigned filled = 0, last = RX_RING, seen = 0;
	/* At most one ring's worth per call so the loop always ends. */
	while (filled < max && seen < RX_RING) {
		volatile struct e1000_rx_desc *d = &nic.rx[nic.rx_next];
		uint8_t status = d->status;
		if (!(status & E1000_RXD_STAT_DD))
			break;
		e1000_dma_barrier(); /* read the length and data only after DD */
		uint16_t len = d->length;
		bool eop = status & E1000_RXD_STAT_EOP;
		if (d->errors || !eop || nic.rx_splitting) {
			/* A frame larger than one buffer cannot happen with long
			 * packets off; if it does, drop every piece of it. */
			if (!nic.rx_splitting)
				nic.counters.rx_errors++;
			nic.rx_splitting = !eop;
		} else if (len > bufs[filled].cap) {
			nic.counters.rx_too_big++;
		} else {
			memcpy(bufs[filled].data, nic.rx_buf + nic.rx_next * BUF_SIZE, len);
			bufs[filled].len = len;
			filled++;
			nic.counters.rx_frames++;
			nic.counters.rx_bytes += len;
		}
		d->status = 0;
		last = nic.rx_next;
		nic.rx_next = (nic.rx_next + 1) % RX_RING;
		seen++;
	}
	if (last != RX_RING) {
		/* The descriptor just emptied becomes the one kept back, which
		 * returns all before it to the NIC (13.4: it owns head..tail-1). */
		e1000_dma_barrier();
		wr(E1000_RDT, last);
		if (filled)
			nic.counters.rx_batches++;
	}
	return filled;
}

const struct e1000_counters *e1000_counters(void)
{
	if (nic.present)
		nic.counters.rx_missed += rd(E1000_MPC);
	return &nic.counters;
}

void e1000_log_stats(void)
{
	if (!nic.present)
		return;
	const struct e1000_counters *c = e1000_counters();
	log_event("{\"ev\":\"nic_stats\",\"tx_frames\":%llu,\"tx_bytes\":%llu,\"tx_batches\":%llu,"
	          "\"tx_ring_full\":%llu,\"tx_bad_len\":%llu,\"rx_frames\":%llu,\"rx_bytes\":%llu,"
	          "\"rx_batches\":%llu,\"rx_errors\":%llu,\"rx_too_big\":%llu,\"rx_missed\":%llu}",
	          (unsigned long long)c->tx_frames, (unsigned long long)c->tx_bytes,
	          (unsigned long long)c->tx_batches, (unsigned long long)c->tx_ring_full,
	          (unsigned long long)c->tx_bad_len, (unsigned long long)c->rx_frames,
	          (unsigned long long)c->rx_bytes, (unsigned long long)c->rx_batches,
	          (unsigned long long)c->rx_errors, (unsigned long long)c->rx_too_big,
	          (unsigned long long)c->rx_missed);
}

void e1000_boot(const char *options, uint64_t tsc_khz)
{
	char value[48];
	if (!cmdline_get(options, "pci", value, sizeof value) || strcmp(value, "off"))
		e1000_init_from_pci(tsc_khz);
	if (cmdline_get(options, "linktest", value, sizeof value))
		linktest_run(value, tsc_khz);
}

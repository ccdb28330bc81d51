/* dev: the host's devices as hv drives them: the 16550 UART (COM1), the
 * emulator debug port 0xE9, and the PCI bus. Runs anywhere in hv. */
#ifndef HV_DEV_H
#define HV_DEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* uart.c: COM1 at 0x3F8, 115200 8N1, polled. */
void uart_init(void);
bool uart_present(void);
void uart_putc(char c); /* waits for the transmitter (bounded) */
/* Non-blocking pieces for lib/log.c's ring: is the transmitter free, and
 * hand it one byte (only when it is). */
bool uart_tx_ready(void);
void uart_tx(char c);
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

/* ======== e1000.c: the uplink NIC, an Intel 82540EM (PCI 8086:100E) ========
 * Polled (hv takes no interrupts) and batched: callers hand over or take
 * many frames per call, and each call touches the doorbell register (TDT or
 * RDT) once. The virtual switch's uplink and the migration stream ride on
 * this API. Frames are whole Ethernet frames (destination MAC first) without
 * the FCS, which the NIC adds and strips. Runs at boot and in hv's polling
 * loops, on the one CPU hv runs on (there is no locking). */
#define E1000_FRAME_MAX 1514 /* largest frame without FCS (and the bochs link's limit) */
#define E1000_FRAME_MIN 14   /* an Ethernet header; the NIC pads short frames to 60 */

/* A frame to send; the driver copies it, so the buffer is free on return. */
struct net_frame {
	const void *data;
	uint16_t len;
};
/* Where a received frame is copied: the caller sets data and cap (bytes
 * available), the driver sets len. */
struct net_frame_buf {
	uint8_t *data;
	uint16_t cap;
	uint16_t len;
};
/* Always on; read them with e1000_counters(). */
struct e1000_counters {
	uint64_t tx_frames, tx_bytes;
	uint64_t tx_ring_full; /* frames refused because all TX descriptors were busy */
	uint64_t tx_bad_len;   /* frames refused for a length outside 14..1514 */
	uint64_t rx_frames, rx_bytes;
	uint64_t rx_errors;  /* descriptors with error bits, or frames split over several */
	uint64_t rx_too_big; /* frames dropped because the caller's buffer was smaller */
	uint64_t rx_missed;  /* the NIC's own count of frames it had no descriptor for (MPC) */
	uint64_t tx_batches, rx_batches; /* calls that moved at least one frame */
};

/* Finds the first 82540EM on PCI and brings it up (reset, MAC from the
 * EEPROM, RX and TX rings); prints one line and a "nic" event. Without one
 * it prints nothing, changes nothing and returns false; one it cannot use
 * is reported as an "error" event. tsc_khz times the reset. */
bool e1000_init_from_pci(uint64_t tsc_khz);
/* The boot hook called by hv_main after PCI enumeration: e1000_init_from_pci
 * unless pci=off, then the link test when the command line has linktest=
 * (which ends the run). */
void e1000_boot(const char *options, uint64_t tsc_khz);
bool e1000_present(void);
/* The station address read from the EEPROM (6 bytes); NULL without a NIC. */
const uint8_t *e1000_mac(void);
/* Queues frames[0..n) for transmission with one doorbell write. Returns how
 * many were taken from the front of frames (queued, or dropped for a bad
 * length); the rest found the ring full: offer them again later. */
unsigned e1000_send_batch(const struct net_frame *frames, unsigned n);
/* Copies up to max received frames into bufs, gives their descriptors back
 * to the NIC with one doorbell write, and returns how many were filled. */
unsigned e1000_receive_batch(struct net_frame_buf *bufs, unsigned max);
const struct e1000_counters *e1000_counters(void);
/* The counters as one "nic_stats" event. */
void e1000_log_stats(void);

/* linktest.c: linktest=send:N[:SIZE[:WINDOW]] or recv:N[:DROP] between two
 * hosts on one link (tools/run.py --pair). Windowed, acknowledged, never
 * rate-paced; ends the run with status 0 when every frame arrived exactly
 * once. DROP makes the receiver ignore every DROPth frame, to test the
 * recovery. spec is the option's value. */
__attribute__((noreturn)) void linktest_run(const char *spec, uint64_t tsc_khz);

/* ======== linkfault.c: drop, duplicate, reorder frames on purpose ========
 * For the soak tests (linkfault=drop:P,dup:P,reorder:P[,seed:S], per mille
 * of the migration frames this host sends). Pure decisions and counts; the
 * caller (migration/link.c, on its way to the e1000) acts on them: a HOLD
 * frame goes out after the next one, so the two arrive swapped. */
struct linkfault {
	uint32_t drop, dup, reorder; /* per mille */
	uint64_t seed, state;        /* the PRNG's seed and its state */
	uint64_t frames, dropped, duplicated, reordered;
};
enum linkfault_action { LINKFAULT_SEND, LINKFAULT_DROP, LINKFAULT_DUPLICATE, LINKFAULT_HOLD };
/* false (with err) for a malformed spec or a rate over 500 per mille. */
bool linkfault_parse(struct linkfault *f, const char *spec, char *err, size_t err_size);
enum linkfault_action linkfault_decide(struct linkfault *f);
bool linkfault_active(const struct linkfault *f);

#endif

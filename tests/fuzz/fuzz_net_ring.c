/* libFuzzer target: the pvnet rings as hv consumes and fills them
 * (hv/net/ring.c, with the switch of hv/net/vswitch.c and the batching of
 * hv/net/batch.c), with ring indices, descriptors and frames written by a
 * hostile guest.
 *
 * hv's backend (hv/net/backend.c) needs VMs and the e1000, so it is not
 * host-buildable; this harness does what its tx_process and rx_deliver do
 * with the pure checks, step for step: read prod once, check the index
 * pair, copy each descriptor before checking it, then touch guest memory
 * only where the checks allowed. Guest memory is a buffer of exactly the
 * VM's size, so a descriptor the checks wrongly accept is a heap overflow
 * for ASan, and the invariants below are asserted too.
 *
 * Input: per VM (two of them, switch ports 0 and 1; the uplink is port 15)
 * its memory size in pages, where its pvnet area is, its batching policy;
 * then memory contents; then one op byte each: guest writes (indices,
 * descriptors, bytes), a TX kick, the guest draining RX (with the re-arm),
 * the flush timers, a frame from the uplink, port detach/attach. */
#include "fuzz_common.h"
#include "lib/lib.h"
#include "net/net.h"

#define VMS         2
#define UPLINK_PORT 15
#define MIN_PAGES   4
#define MAX_PAGES   40

struct fvm {
	uint8_t *mem;
	uint64_t size, area;
	bool attached;
	unsigned port;
	uint32_t tx_cons, rx_prod, rx_prod_at_flush;
	struct batch_state batch;
	uint64_t drops[NET_ERR_COUNT], drops_no_buffer, drops_too_small, rx_packets;
	uint64_t interrupts;
};

static struct {
	uint64_t now;
	struct fvm vm[VMS];
	struct vswitch sw;
	uint64_t uplink_frames;
} w;

static struct pvnet_header *header_of(struct fvm *v)
{
	return (struct pvnet_header *)(v->mem + v->area);
}

static struct pvnet_desc *ring_of(struct fvm *v, unsigned offset)
{
	return (struct pvnet_desc *)(v->mem + v->area + offset);
}

/* What ring_check_desc's acceptance must mean. */
static void check_accepted(const struct pvnet_desc *d, const struct fvm *v)
{
	FUZZ_ASSERT(d->len >= 1 && d->len <= PVNET_FRAME_MAX);
	FUZZ_ASSERT(d->addr <= v->size && d->len <= v->size - d->addr);
}

static void check_switch(const struct vswitch *sw)
{
	FUZZ_ASSERT(sw->frames == sw->unicasts + sw->floods + sw->drops_runt + sw->drops_hairpin +
	                              sw->drops_bad_port);
}

/* The ports vswitch_forward may return for a frame from in_port. */
static void check_ports(const struct vswitch *sw, unsigned in_port, uint16_t ports, size_t len)
{
	FUZZ_ASSERT(!(ports & (1u << in_port)));
	FUZZ_ASSERT(!(ports & ~sw->ports));
	if (len < ETH_HEADER_LEN)
		FUZZ_ASSERT(ports == 0);
	check_switch(sw);
}

/* backend.c's attach check of the indices: a corrupt pair is refused. */
static void attach(struct fvm *v)
{
	struct pvnet_header *h = header_of(v);
	uint32_t tx_prod = pvnet_load(&h->tx.prod), tx_cons = pvnet_load(&h->tx.cons);
	uint32_t rx_prod = pvnet_load(&h->rx.prod), rx_cons = pvnet_load(&h->rx.cons);
	if (ring_check_indices(tx_prod, tx_cons) || ring_check_indices(rx_prod, rx_cons))
		return;
	FUZZ_ASSERT(tx_prod - tx_cons <= PVNET_RING_SIZE && rx_prod - rx_cons <= PVNET_RING_SIZE);
	v->attached = true;
	v->tx_cons = tx_cons;
	v->rx_prod = v->rx_prod_at_flush = rx_prod;
	vswitch_attach(&w.sw, v->port);
}

/* rx_deliver: one frame into v's RX ring, or a counted drop. */
static void rx_deliver(struct fvm *v, const uint8_t *frame, uint32_t len)
{
	if (!v->attached)
		return;
	struct pvnet_header *h = header_of(v);
	uint32_t cons = pvnet_load(&h->rx.cons);
	if (ring_check_indices(v->rx_prod, cons)) {
		v->drops[NET_ERR_RING_CORRUPT]++;
		return;
	}
	if (ring_space(v->rx_prod, cons) == 0) {
		v->drops_no_buffer++;
		return;
	}
	FUZZ_ASSERT(v->rx_prod - cons < PVNET_RING_SIZE);
	struct pvnet_desc *slot = &ring_of(v, PVNET_RX_OFFSET)[ring_slot(v->rx_prod)];
	struct pvnet_desc d = *slot;
	enum net_error e = ring_check_desc(&d, v->size);
	if (e) {
		FUZZ_ASSERT(e > NET_OK && e < NET_ERR_COUNT);
		v->drops[e]++;
		return;
	}
	check_accepted(&d, v);
	if (d.len < len) {
		v->drops_too_small++;
		return;
	}
	memcpy(v->mem + d.addr, frame, len);
	slot->len = len;
	v->rx_prod++;
	pvnet_store(&h->rx.prod, v->rx_prod);
	v->rx_packets++;
	FUZZ_ASSERT(ring_used(v->rx_prod, cons) <= PVNET_RING_SIZE);
	bool flush = batch_packet(&v->batch, NET_RX, w.now, ring_used(v->rx_prod, cons));
	if (net_notify_now(&v->batch, flush, pvnet_load(&h->rx.prod_event), v->rx_prod,
	                   v->rx_prod_at_flush))
		v->interrupts++;
	if (flush)
		v->rx_prod_at_flush = v->rx_prod;
}

static void deliver(uint16_t ports, const uint8_t *frame, uint32_t len)
{
	for (unsigned p = 0; p < VMS; p++)
		if (ports & (1u << w.vm[p].port))
			rx_deliver(&w.vm[p], frame, len);
	if (ports & (1u << UPLINK_PORT))
		w.uplink_frames++;
}

/* tx_process: every frame the guest published, switched. */
static void tx_process(struct fvm *v)
{
	static uint8_t frame[PVNET_FRAME_MAX];
	if (!v->attached)
		return;
	struct pvnet_header *h = header_of(v);
	uint32_t prod = pvnet_load(&h->tx.prod);
	if (ring_check_indices(prod, v->tx_cons)) {
		v->drops[NET_ERR_RING_CORRUPT]++;
		return;
	}
	struct pvnet_desc *ring = ring_of(v, PVNET_TX_OFFSET);
	uint32_t old_cons = v->tx_cons;
	unsigned taken = 0;
	while (v->tx_cons != prod) {
		FUZZ_ASSERT(++taken <= PVNET_RING_SIZE); /* the checked pair bounds the loop */
		struct pvnet_desc d = ring[ring_slot(v->tx_cons)];
		v->tx_cons++;
		enum net_error e = ring_check_desc(&d, v->size);
		if (e) {
			v->drops[e]++;
			continue;
		}
		check_accepted(&d, v);
		memcpy(frame, v->mem + d.addr, d.len);
		batch_packet(&v->batch, NET_TX, w.now, ring_used(prod, v->tx_cons));
		uint16_t ports = vswitch_forward(&w.sw, v->port, frame, d.len, w.now);
		check_ports(&w.sw, v->port, ports, d.len);
		deliver(ports, frame, d.len);
	}
	pvnet_store(&h->tx.cons, v->tx_cons);
	pvnet_store(&h->tx.prod_event, v->tx_cons);
	if (pvnet_need_event(pvnet_load(&h->tx.cons_event), v->tx_cons, old_cons))
		v->interrupts++;
}

/* The guest takes what hv put in its RX ring and re-arms, NAPI style. */
static void guest_drain_rx(struct fvm *v, uint32_t how_many)
{
	struct pvnet_header *h = header_of(v);
	uint32_t cons = pvnet_load(&h->rx.cons), prod = pvnet_load(&h->rx.prod);
	uint32_t n = MIN(how_many, prod - cons);
	cons += n;
	pvnet_store(&h->rx.cons, cons);
	bool more = ring_consumer_rearm(&h->rx, cons);
	FUZZ_ASSERT(pvnet_load(&h->rx.prod_event) == cons);
	FUZZ_ASSERT(more == (prod != cons));
}

static void poll_timers(void)
{
	for (unsigned i = 0; i < VMS; i++) {
		struct fvm *v = &w.vm[i];
		if (!v->attached)
			continue;
		uint64_t deadline = batch_next_deadline(&v->batch);
		if (!deadline || w.now < deadline)
			continue;
		batch_timer(&v->batch, NET_TX, w.now);
		if (batch_timer(&v->batch, NET_RX, w.now)) {
			net_notify_now(&v->batch, true, pvnet_load(&header_of(v)->rx.prod_event),
			               v->rx_prod, v->rx_prod_at_flush);
			v->rx_prod_at_flush = v->rx_prod;
		}
	}
}

static void setup(struct fuzz_in *in)
{
	memset(&w, 0, sizeof w);
	vswitch_init(&w.sw, fuzz_u8(in) * 1000000ull);
	vswitch_attach(&w.sw, UPLINK_PORT);
	for (unsigned i = 0; i < VMS; i++) {
		struct fvm *v = &w.vm[i];
		unsigned pages = MIN_PAGES + fuzz_u8(in) % (MAX_PAGES - MIN_PAGES + 1);
		v->size = (uint64_t)pages * PVNET_PAGE_SIZE;
		v->area = (uint64_t)(fuzz_u8(in) % (pages - 2)) * PVNET_PAGE_SIZE;
		v->port = i;
		v->mem = calloc(1, v->size); /* exact size: see the top */
		if (!v->mem)
			abort();
		struct batch_params p;
		batch_params_default(&p);
		p.policy = batch_policies[fuzz_u8(in) % batch_policy_count];
		knobs_default(p.policy->knobs, p.policy->knob_count, p.knob);
		batch_init(&v->batch, &p);
		/* What the guest driver writes before attaching. */
		struct pvnet_header *h = header_of(v);
		h->magic = PVNET_MAGIC;
		h->version = PVNET_VERSION;
		h->ring_size = PVNET_RING_SIZE;
	}
}

/* A guest-physical address a descriptor may name: mostly near the VM's
 * memory, where the edges are, sometimes anything. */
static uint64_t fuzz_addr(struct fuzz_in *in, const struct fvm *v)
{
	uint8_t how = fuzz_u8(in);
	if (how < 16)
		return fuzz_u64(in);
	if (how < 32)
		return v->size - fuzz_u16(in) % 2048;
	return fuzz_u32(in) % (v->size + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = fuzz_in_make(data, size);
	setup(&in);
	for (unsigned i = 0; i < VMS; i++)
		attach(&w.vm[i]);

	for (unsigned ops = 0; !fuzz_empty(&in) && ops < 2048; ops++) {
		uint8_t op = fuzz_u8(&in);
		struct fvm *v = &w.vm[op >> 7];
		struct pvnet_header *h = header_of(v);
		switch (op & 15) {
		case 0: /* the guest publishes n TX frames, descriptors in order */
		case 1: {
			unsigned n = 1 + fuzz_u8(&in) % 8;
			uint32_t prod = h->tx.prod;
			for (unsigned k = 0; k < n; k++) {
				struct pvnet_desc *d =
				    &ring_of(v, PVNET_TX_OFFSET)[ring_slot(prod)];
				d->addr = fuzz_addr(&in, v);
				d->len = fuzz_u16(&in) % (PVNET_FRAME_MAX + 2);
				prod++;
			}
			pvnet_store(&h->tx.prod, prod);
			break;
		}
		case 2: /* the guest writes a descriptor, any ring, any slot */
		{
			unsigned offset = op & 16 ? PVNET_RX_OFFSET : PVNET_TX_OFFSET;
			struct pvnet_desc *d = &ring_of(v, offset)[fuzz_u8(&in)];
			d->addr = fuzz_addr(&in, v);
			d->len = fuzz_u32(&in);
			break;
		}
		case 3: { /* the guest writes an index: any value, or a step */
			uint32_t *fields[] = {&h->tx.prod,       &h->tx.cons_event, &h->rx.cons,
			                      &h->rx.prod_event, &h->tx.cons,       &h->rx.prod};
			uint32_t *f = fields[fuzz_u8(&in) % ARRAY_SIZE(fields)];
			uint32_t value = fuzz_u32(&in);
			pvnet_store(f, op & 16 ? value : *f + (int8_t)value);
			break;
		}
		case 4: /* the guest writes bytes anywhere in its memory (frames) */
		{
			uint64_t at = fuzz_u32(&in) % v->size;
			size_t want = (size_t)fuzz_u8(&in) * 8; /* (MIN evaluates twice) */
			size_t len = MIN(want, v->size - at);
			fuzz_bytes(&in, v->mem + at, len);
			break;
		}
		case 5: /* the guest posts RX buffers for every free slot */
		{
			uint32_t cons = h->rx.cons;
			uint64_t base = fuzz_addr(&in, v);
			uint32_t cap = fuzz_u16(&in) % (PVNET_FRAME_MAX + 2);
			for (uint32_t k = 0; k < PVNET_RING_SIZE; k++) {
				struct pvnet_desc *d =
				    &ring_of(v, PVNET_RX_OFFSET)[ring_slot(cons + k)];
				d->addr = base + (uint64_t)k * cap;
				d->len = cap;
			}
			break;
		}
		case 6:
		case 7: tx_process(v); break;
		case 8: guest_drain_rx(v, fuzz_u8(&in)); break;
		case 9: /* time passes; the scheduler loop polls the flush timers */
			w.now += fuzz_u16(&in) * 1000ull;
			poll_timers();
			break;
		case 10: { /* a frame from the uplink */
			static uint8_t frame[PVNET_FRAME_MAX];
			size_t len = fuzz_u16(&in) % (PVNET_FRAME_MAX + 1);
			fuzz_bytes(&in, frame, len);
			uint16_t ports = vswitch_forward(&w.sw, UPLINK_PORT, frame, len, w.now);
			check_ports(&w.sw, UPLINK_PORT, ports, len);
			deliver(ports, frame, (uint32_t)len);
			break;
		}
		case 11: { /* a port goes or comes (any number: the switch refuses >= 16) */
			unsigned port = fuzz_u8(&in) % 20;
			if (op & 16) {
				vswitch_detach(&w.sw, port);
				FUZZ_ASSERT(!(w.sw.ports & (1u << (port % 16))) || port >= 16);
				for (unsigned i = 0; i < VMS; i++)
					if (w.vm[i].port == port)
						w.vm[i].attached = false;
			} else {
				FUZZ_ASSERT(vswitch_attach(&w.sw, port) == (port < VSWITCH_PORTS));
			}
			break;
		}
		case 12: /* the guest attaches (again) */
			if (!v->attached)
				attach(v);
			break;
		case 13: { /* a lookup: only attached ports are ever answered */
			uint8_t mac[ETH_ADDR_LEN];
			fuzz_bytes(&in, mac, sizeof mac);
			int port = vswitch_lookup(&w.sw, mac, w.now);
			FUZZ_ASSERT(port == -1 || (port >= 0 && port < VSWITCH_PORTS));
			break;
		}
		default: /* a pure-check probe with any values */
		{
			uint32_t prod = fuzz_u32(&in), cons = fuzz_u32(&in);
			FUZZ_ASSERT((ring_check_indices(prod, cons) == NET_OK) ==
			            (prod - cons <= PVNET_RING_SIZE));
			struct pvnet_desc d = {.addr = fuzz_u64(&in), .len = fuzz_u32(&in)};
			uint64_t mem = fuzz_u64(&in);
			if (ring_check_desc(&d, mem) == NET_OK) {
				FUZZ_ASSERT(d.len >= 1 && d.len <= PVNET_FRAME_MAX);
				FUZZ_ASSERT(d.addr <= mem && d.len <= mem - d.addr);
			}
			FUZZ_ASSERT(net_error_name((enum net_error)(op & 7)) != NULL);
			break;
		}
		}
	}
	for (unsigned i = 0; i < VMS; i++)
		free(w.vm[i].mem);
	return 0;
}

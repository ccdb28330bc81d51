/* Runs in VM-exit context and in the scheduler loop: the hypervisor side of
 * the paravirtual NIC. Copies frames between the VMs' pvnet rings through
 * the learning switch, decides interrupts with each vNIC's batching policy,
 * and counts everything. Nothing a guest writes in its rings is trusted:
 * indices are checked as a pair, descriptors are copied before they are
 * checked, frames are copied through an hv buffer. Protocol: pvnet.h. */
#include "dev/dev.h"
#include "joulevisor/hypercall.h"
#include "lib/lib.h"
#include "migrate/migrate.h"
#include "migration/migration.h"
#include "net/net.h"
#include "power/power.h"
#include "snapshot/snapshot.h"
#include "vm/vm.h"
#include "x86/x86.h"

struct vnic_counters {
	uint64_t tx_packets, tx_bytes, rx_packets, rx_bytes, kicks, interrupts;
	uint64_t drops[NET_ERR_COUNT];
	uint64_t drops_no_buffer, drops_too_small, drops_not_attached;
	uint64_t drops_paused; /* arrived while a migration had the VM paused */
	uint64_t tx_held;      /* times TX stopped at the packets limit (limits.c) */
};

struct vnic {
	bool attached;
	uint64_t area_gpa;
	uint8_t vector;
	uint8_t mac[ETH_ADDR_LEN];
	struct batch_state batch;
	/* hv's own copies of the indices it produces or consumes: the guest's
	 * copies in shared memory are only read for the other side. */
	uint32_t tx_cons, rx_prod;
	uint32_t tx_cons_at_flush, rx_prod_at_flush;
	/* Frames left in the TX ring at the packets limit: taken by
	 * net_poll_timers when the bucket has refilled. */
	bool tx_waiting;
	uint32_t trace_events;  /* trace_batch events printed (trace=batch) */
	struct vnic_counters c; /* travel with a migration as they are */
};

static struct vnic vnics[VM_MAX];
static struct vswitch vswitch;
static bool switch_ready;
/* The e1000 is the switch's last port: the way to VMs on other hosts. */
#define UPLINK_PORT (VSWITCH_PORTS - 1)
static struct {
	uint64_t tx_frames, rx_frames, tx_dropped;
} uplink;

/* A broadcast from mac with our announce EtherType (ETH_TYPE_ANNOUNCE,
 * which every receiver ignores): switches and bxhub learn where mac is
 * from it, as they would from a gratuitous ARP (PLATFORM.md gotcha B1). */
#define ANNOUNCE_LEN ETH_FRAME_MIN
static void build_announce(uint8_t frame[ANNOUNCE_LEN], const uint8_t *mac)
{
	eth_frame(frame, ANNOUNCE_LEN, eth_broadcast, mac, ETH_TYPE_ANNOUNCE, NULL, 0);
}

static void switch_init(void)
{
	if (switch_ready)
		return;
	vswitch_init(&vswitch, 300ull * 1000000000ull);
	switch_ready = true;
	if (!e1000_present())
		return;
	vswitch_attach(&vswitch, UPLINK_PORT);
	/* Announce the NIC's own MAC once: the network in between (bxhub)
	 * forwards unicast only to addresses it has seen in a broadcast. */
	uint8_t hello[ANNOUNCE_LEN];
	build_announce(hello, e1000_mac());
	struct net_frame f = {hello, sizeof hello};
	e1000_send_batch(&f, 1);
}

/* Between hosts, VM frames travel inside an outer Ethernet frame from one
 * host's NIC (ETH_TYPE_TUNNEL). The reason is the bochs socket backend: it
 * hands a guest only frames addressed to the NIC's own MAC or broadcast
 * (PLATFORM.md gotcha B8), so a VM's own MAC can never be reached directly.
 * The outer frame is a broadcast: unicast through bxhub depends on what it
 * has learned (gotcha B1) and was seen to vanish; the receiving hosts'
 * switches deliver only to their own VMs' MACs (or flood broadcasts). */
static void uplink_send(const uint8_t *frame, uint32_t len)
{
	static uint8_t outer[ETH_FRAME_MAX];
	size_t total =
	    eth_frame(outer, sizeof outer, eth_broadcast, e1000_mac(), ETH_TYPE_TUNNEL, frame, len);
	if (!total) {
		uplink.tx_dropped++; /* no room for the outer header: too big to tunnel */
		return;
	}
	struct net_frame f = {outer, (uint16_t)total};
	if (e1000_send_batch(&f, 1) == 1)
		uplink.tx_frames++;
	else
		uplink.tx_dropped++; /* the NIC's ring is full: dropped, like a switch */
}

static struct pvnet_header *header_of(struct vm *vm, const struct vnic *n)
{
	return vm_gpa_to_host(vm, n->area_gpa, PVNET_AREA_SIZE);
}

static struct pvnet_desc *ring_of(struct vm *vm, const struct vnic *n, unsigned offset)
{
	return (struct pvnet_desc *)((uint8_t *)header_of(vm, n) + offset);
}

static void inject(struct vm *vm, struct vnic *n)
{
	vlapic_raise(&vm->vcpu, n->vector);
	n->c.interrupts++;
}

/* ---- trace=batch: what the policy saw, for make sim-batch ----
 * One trace_batch event per packet, timer flush, TX-completion interrupt
 * and change of policy, with the ring state the decision read ("k": rx,
 * tx, tm, txi, set; "t" ns; "u" ring_used; "pr"/"pe" the RX producer index
 * and the guest's event index; "f" the flush cause: 0 none, 1 policy, 2
 * half full, 3 a late timer; "n" notified; "late" how long after the
 * deadline the timer ran). tools/sim_batch.c replays them. Bounded: after
 * TRACE_BATCH_MAX events of a vNIC one trace_batch_cut event, then none. */
#define TRACE_BATCH_MAX 30000

static bool trace_take(struct vm *vm, struct vnic *n)
{
	if (!trace_batch_on || n->trace_events > TRACE_BATCH_MAX)
		return false;
	if (++n->trace_events <= TRACE_BATCH_MAX)
		return true;
	log_event("{\"ev\":\"trace_batch_cut\",\"vm\":\"%s\",\"events\":%u}", vm->name,
	          TRACE_BATCH_MAX);
	return false;
}

static void trace_set(struct vm *vm, struct vnic *n, uint64_t now, bool notified)
{
	if (!trace_take(vm, n))
		return;
	char text[BATCH_TEXT_MAX];
	batch_params_format(&n->batch.params, text, sizeof text);
	log_event("{\"ev\":\"trace_batch\",\"vm\":\"%s\",\"k\":\"set\",\"t\":%llu,\"p\":\"%s\","
	          "\"n\":%u}",
	          vm->name, (unsigned long long)now, text, notified);
}

/* The cause of the flush batch_packet just made: the counter that moved. */
struct flush_counts {
	uint64_t policy, half_full, timer;
};
static struct flush_counts flush_counts(const struct batch_dir *d)
{
	return (struct flush_counts){d->flushes_policy, d->flushes_half_full, d->flushes_timer};
}
static unsigned flush_cause(struct flush_counts before, const struct batch_dir *d)
{
	return d->flushes_policy != before.policy         ? 1
	       : d->flushes_half_full != before.half_full ? 2
	       : d->flushes_timer != before.timer         ? 3
	                                                  : 0;
}

int64_t net_attach(struct vm *vm, uint64_t gpa, uint64_t vector)
{
	struct vnic *n = &vnics[vm->id];
	if (gpa & (PVNET_PAGE_SIZE - 1) || !vm_gpa_to_host(vm, gpa, PVNET_AREA_SIZE))
		return -JV_EFAULT;
	if (vector < 32 || vector > 254)
		return -JV_EINVAL;
	struct pvnet_header *h = vm_gpa_to_host(vm, gpa, PVNET_AREA_SIZE);
	if (pvnet_load(&h->magic) != PVNET_MAGIC || pvnet_load(&h->version) != PVNET_VERSION ||
	    pvnet_load(&h->ring_size) != PVNET_RING_SIZE)
		return -JV_EINVAL;
	uint32_t tx_prod = pvnet_load(&h->tx.prod), tx_cons = pvnet_load(&h->tx.cons);
	uint32_t rx_prod = pvnet_load(&h->rx.prod), rx_cons = pvnet_load(&h->rx.cons);
	if (ring_check_indices(tx_prod, tx_cons) || ring_check_indices(rx_prod, rx_cons))
		return -JV_EINVAL;
	switch_init();
	memset(n, 0, sizeof *n);
	n->attached = true;
	n->area_gpa = gpa;
	n->vector = (uint8_t)vector;
	/* A locally administered unicast MAC: 02:4a:56 ("JV"), two bytes of the
	 * host's e1000 MAC (so VMs on two hosts differ), then the VM id. */
	static const uint8_t prefix[3] = {0x02, 0x4a, 0x56};
	memcpy(n->mac, prefix, 3);
	const uint8_t *host_mac = e1000_mac();
	n->mac[3] = host_mac ? host_mac[4] : 0;
	n->mac[4] = host_mac ? host_mac[5] : 0;
	n->mac[5] = (uint8_t)(vm->id + 1);
	memcpy(h->mac, n->mac, ETH_ADDR_LEN);
	vm_mark_dirty(vm, gpa, PVNET_AREA_SIZE); /* an attach during a migration */
	n->tx_cons = n->tx_cons_at_flush = tx_cons;
	n->rx_prod = n->rx_prod_at_flush = rx_prod;
	struct batch_params p;
	batch_params_default(&p);
	batch_init(&n->batch, &p);
	trace_set(vm, n, host_now_ns(), false);
	vswitch_attach(&vswitch, vm->id);
	if (e1000_present()) { /* the new MAC, to the hosts behind the uplink */
		uint8_t hello[ANNOUNCE_LEN];
		build_announce(hello, n->mac);
		uplink_send(hello, sizeof hello);
	}
	if (vm_limit_take(vm, LIMIT_HV_LINES, 1)) /* a guest may attach in a loop */
		kprintf("hv: %s: pvnet attached, MAC %02x:%02x:%02x:%02x:%02x:%02x, vector 0x%x, "
		        "batching "
		        "%s\n",
		        vm->name, n->mac[0], n->mac[1], n->mac[2], n->mac[3], n->mac[4], n->mac[5],
		        n->vector, p.policy->name);
	return 0;
}

/* Writes one frame into dst's RX ring; counts and drops when it cannot. */
static void rx_deliver(struct vm *dst_vm, const uint8_t *frame, uint32_t len, uint64_t now)
{
	struct vnic *n = &vnics[dst_vm->id];
	if (!n->attached || dst_vm->stopped) {
		n->c.drops_not_attached++;
		return;
	}
	if (dst_vm->vcpu.state == VCPU_PAUSED) {
		/* A migration saved this vNIC's indices at the pause: a frame
		 * written now would reach the new host's memory but not its
		 * indices. Lost, as on a real NIC during the move. */
		n->c.drops_paused++;
		return;
	}
	struct pvnet_header *h = header_of(dst_vm, n);
	uint32_t cons = pvnet_load(&h->rx.cons);
	if (ring_check_indices(n->rx_prod, cons)) {
		n->c.drops[NET_ERR_RING_CORRUPT]++;
		return;
	}
	if (ring_space(n->rx_prod, cons) == 0) {
		n->c.drops_no_buffer++;
		return;
	}
	struct pvnet_desc *slot = &ring_of(dst_vm, n, PVNET_RX_OFFSET)[ring_slot(n->rx_prod)];
	struct pvnet_desc d = *slot; /* copy first: the guest may change it */
	pvnet_compiler_barrier();
	enum net_error e = ring_check_desc(&d, dst_vm->mem_size);
	if (e) {
		n->c.drops[e]++;
		return;
	}
	if (d.len < len) {
		n->c.drops_too_small++;
		return;
	}
	memcpy(vm_gpa_to_host(dst_vm, d.addr, len), frame, len);
	vm_mark_dirty(dst_vm, d.addr, len);
	vm_mark_dirty(dst_vm, n->area_gpa, PVNET_AREA_SIZE); /* descriptor and index */
	slot->len = len;
	pvnet_compiler_barrier();
	n->rx_prod++;
	pvnet_store(&h->rx.prod, n->rx_prod);
	pvnet_full_barrier();
	n->c.rx_packets++;
	n->c.rx_bytes += len;
	struct flush_counts before = flush_counts(&n->batch.dir[NET_RX]);
	bool flush = batch_packet(&n->batch, NET_RX, now, ring_used(n->rx_prod, cons));
	uint32_t event = pvnet_load(&h->rx.prod_event);
	bool notify = net_notify_now(&n->batch, flush, event, n->rx_prod, n->rx_prod_at_flush);
	if (notify)
		inject(dst_vm, n);
	if (flush)
		n->rx_prod_at_flush = n->rx_prod;
	if (trace_take(dst_vm, n))
		log_event("{\"ev\":\"trace_batch\",\"vm\":\"%s\",\"k\":\"rx\",\"t\":%llu,\"u\":%u,"
		          "\"pr\":%u,\"pe\":%u,\"f\":%u,\"n\":%u}",
		          dst_vm->name, (unsigned long long)now, ring_used(n->rx_prod, cons),
		          n->rx_prod, event, flush_cause(before, &n->batch.dir[NET_RX]), notify);
}

/* The guest kicked TX: take every published frame, switch it. */
static void tx_process(struct vm *vm, struct vnic *n, uint64_t now)
{
	static uint8_t frame[PVNET_FRAME_MAX];
	struct pvnet_header *h = header_of(vm, n);
	uint32_t prod = pvnet_load(&h->tx.prod);
	if (ring_check_indices(prod, n->tx_cons)) {
		n->c.drops[NET_ERR_RING_CORRUPT]++;
		return; /* nothing from this ring is trusted until it is sane again */
	}
	pvnet_compiler_barrier();
	struct pvnet_desc *ring = ring_of(vm, n, PVNET_TX_OFFSET);
	uint32_t old_cons = n->tx_cons;
	n->tx_waiting = false;
	while (n->tx_cons != prod) {
		/* Over the packets limit the rest wait in the ring, as behind a
		 * slow NIC (Firecracker's TX rate limiter does the same). */
		if (!vm_limit_take(vm, LIMIT_PACKETS, 1)) {
			n->tx_waiting = true;
			n->c.tx_held++;
			break;
		}
		struct pvnet_desc d = ring[ring_slot(n->tx_cons)];
		pvnet_compiler_barrier();
		n->tx_cons++;
		enum net_error e = ring_check_desc(&d, vm->mem_size);
		if (e) {
			n->c.drops[e]++;
			continue;
		}
		memcpy(frame, vm_gpa_to_host(vm, d.addr, d.len), d.len);
		n->c.tx_packets++;
		n->c.tx_bytes += d.len;
		struct flush_counts before = flush_counts(&n->batch.dir[NET_TX]);
		batch_packet(&n->batch, NET_TX, now, ring_used(prod, n->tx_cons));
		if (trace_take(vm, n))
			log_event("{\"ev\":\"trace_batch\",\"vm\":\"%s\",\"k\":\"tx\",\"t\":%llu,"
			          "\"u\":%u,\"f\":%u}",
			          vm->name, (unsigned long long)now, ring_used(prod, n->tx_cons),
			          flush_cause(before, &n->batch.dir[NET_TX]));
		uint16_t ports = vswitch_forward(&vswitch, vm->id, frame, d.len, now);
		for (unsigned p = 0; p < vm_count && ports; p++)
			if (ports & (1u << p))
				rx_deliver(&vms[p], frame, d.len, now);
		if (ports & (1u << UPLINK_PORT))
			uplink_send(frame, d.len);
	}
	pvnet_store(&h->tx.cons, n->tx_cons);
	/* hv takes TX frames only when kicked, so it always wants the kick for
	 * the next one (pvnet.h: the consumer sets prod_event = cons). */
	pvnet_store(&h->tx.prod_event, n->tx_cons);
	vm_mark_dirty(vm, n->area_gpa, PVNET_AREA_SIZE); /* a migration must resend them */
	pvnet_full_barrier();
	/* A guest waiting for TX slots asked through tx.cons_event. */
	if (pvnet_need_event(pvnet_load(&h->tx.cons_event), n->tx_cons, old_cons)) {
		inject(vm, n);
		if (trace_take(vm, n))
			log_event("{\"ev\":\"trace_batch\",\"vm\":\"%s\",\"k\":\"txi\",\"t\":%llu}",
			          vm->name, (unsigned long long)now);
	}
}

int64_t net_kick(struct vm *vm, uint64_t what)
{
	struct vnic *n = &vnics[vm->id];
	if (!n->attached)
		return -JV_EINVAL;
	n->c.kicks++;
	power_switch_to(ACCOUNT_NET_ID);
	if (what & PVNET_KICK_TX)
		tx_process(vm, n, host_now_ns());
	power_switch_to(ACCOUNT_HV(vm->id));
	return 0;
}

int64_t net_set_batching(struct vm *vm, const char *text)
{
	struct vnic *n = &vnics[vm->id];
	struct batch_params p;
	char err[160];
	if (batch_params_parse(text, &p, err, sizeof err)) {
		/* Guest text is quoted escaped: one line, whatever it holds. */
		char quoted[200], why[200];
		fmt_json_escape(quoted, sizeof quoted, text);
		fmt_json_escape(why, sizeof why, err);
		if (vm_limit_take(vm, LIMIT_HV_LINES, 1))
			kprintf("hv: %s: batching \"%s\" refused: %s\n", vm->name, quoted, why);
		return -JV_EINVAL;
	}
	if (!n->attached)
		return -JV_EINVAL;
	uint64_t now = host_now_ns();
	bool pending = batch_set_params(&n->batch, &p, now);
	if (pending)
		inject(vm, n); /* what was pending is flushed now */
	n->rx_prod_at_flush = n->rx_prod;
	trace_set(vm, n, now, pending);
	char fmt[BATCH_TEXT_MAX];
	batch_params_format(&p, fmt, sizeof fmt);
	if (vm_limit_take(vm, LIMIT_HV_LINES, 1))
		kprintf("hv: %s: batching now %s\n", vm->name, fmt);
	return 0;
}

void net_poll_timers(void)
{
	uint64_t now = 0;
	for (unsigned i = 0; i < vm_count; i++) {
		struct vnic *n = &vnics[i];
		struct vm *vm = &vms[i];
		if (!n->attached || vm->stopped)
			continue;
		if (n->tx_waiting && vm->vcpu.state != VCPU_PAUSED &&
		    !vm_limit_wait_ns(vm, LIMIT_PACKETS, 1)) {
			power_switch_to(ACCOUNT_NET_ID);
			tx_process(vm, n, host_now_ns());
			power_switch_to(ACCOUNT_HV_OTHER_ID);
		}
		uint64_t deadline = batch_next_deadline(&n->batch);
		if (!deadline)
			continue;
		if (!now)
			now = host_now_ns();
		if (now < deadline)
			continue;
		batch_timer(&n->batch, NET_TX, now);
		struct pvnet_header *h = header_of(vm, n);
		uint32_t event = pvnet_load(&h->rx.prod_event);
		bool notify = false;
		if (batch_timer(&n->batch, NET_RX, now)) {
			notify =
			    net_notify_now(&n->batch, true, event, n->rx_prod, n->rx_prod_at_flush);
			if (notify)
				inject(vm, n);
			n->rx_prod_at_flush = n->rx_prod;
		}
		if (trace_take(vm, n))
			log_event("{\"ev\":\"trace_batch\",\"vm\":\"%s\",\"k\":\"tm\",\"t\":%llu,"
			          "\"late\":%llu,\"pr\":%u,\"pe\":%u,\"n\":%u}",
			          vm->name, (unsigned long long)now,
			          (unsigned long long)(now - deadline), n->rx_prod, event, notify);
	}
}

uint64_t net_next_deadline_tsc(void)
{
	uint64_t earliest = 0;
	for (unsigned i = 0; i < vm_count; i++) {
		if (!vnics[i].attached || vms[i].stopped)
			continue;
		uint64_t d = batch_next_deadline(&vnics[i].batch);
		if (vnics[i].tx_waiting) { /* when the packets limit lets it go on */
			uint64_t now = host_now_ns();
			uint64_t at = now + vm_limit_wait_ns(&vms[i], LIMIT_PACKETS, 1);
			if (!d || at < d)
				d = at;
		}
		if (d && (!earliest || d < earliest))
			earliest = d;
	}
	if (!earliest)
		return 0;
	/* ns -> TSC */
	uint64_t khz = host_tsc_khz;
	return earliest / 1000000ull * khz + earliest % 1000000ull * khz / 1000000ull;
}

void net_report(struct vm *vm)
{
	struct vnic *n = &vnics[vm->id];
	if (!n->attached)
		return;
	char params[BATCH_TEXT_MAX];
	batch_params_format(&n->batch.params, params, sizeof params);
	uint64_t packets = n->c.tx_packets + n->c.rx_packets;
	uint64_t exits = vm->exits_other;
	for (unsigned r = 0; r < VM_EXIT_REASONS; r++)
		exits += vm->exits[r];
	const struct batch_dir *rx = &n->batch.dir[NET_RX];
	uint64_t vm_nj =
	    power_account_nj(ACCOUNT_GUEST(vm->id)) + power_account_nj(ACCOUNT_HV(vm->id));
	log_event(
	    "{\"ev\":\"net_stats\",\"vm\":\"%s\",\"batching\":\"%s\",\"tx_packets\":%llu,"
	    "\"tx_bytes\":%llu,\"rx_packets\":%llu,\"rx_bytes\":%llu,\"kicks\":%llu,"
	    "\"interrupts\":%llu,\"exits\":%llu,\"drops\":{\"ring_corrupt\":%llu,"
	    "\"desc_len\":%llu,\"desc_addr\":%llu,\"no_buffer\":%llu,\"too_small\":%llu,"
	    "\"not_attached\":%llu,\"paused\":%llu},\"rx_flushes\":{\"policy\":%llu,\"timer\":%llu,"
	    "\"half_full\":%llu},\"tx_held\":%llu,\"rx_added_latency_ns\":%llu,\"vm_uj_per_"
	    "packet\":%llu,"
	    "\"net_backend_uj\":%llu}",
	    vm->name, params, (unsigned long long)n->c.tx_packets,
	    (unsigned long long)n->c.tx_bytes, (unsigned long long)n->c.rx_packets,
	    (unsigned long long)n->c.rx_bytes, (unsigned long long)n->c.kicks,
	    (unsigned long long)n->c.interrupts, (unsigned long long)exits,
	    (unsigned long long)n->c.drops[NET_ERR_RING_CORRUPT],
	    (unsigned long long)n->c.drops[NET_ERR_DESC_LEN],
	    (unsigned long long)n->c.drops[NET_ERR_DESC_ADDR],
	    (unsigned long long)n->c.drops_no_buffer, (unsigned long long)n->c.drops_too_small,
	    (unsigned long long)n->c.drops_not_attached, (unsigned long long)n->c.drops_paused,
	    (unsigned long long)rx->flushes_policy, (unsigned long long)rx->flushes_timer,
	    (unsigned long long)rx->flushes_half_full, (unsigned long long)n->c.tx_held,
	    (unsigned long long)(rx->packets ? rx->added_latency_ns / rx->packets : 0),
	    (unsigned long long)(packets ? vm_nj / 1000 / packets : 0),
	    (unsigned long long)(power_account_nj(ACCOUNT_NET_ID) / 1000));
}

void net_vm_stopped(const struct vm *vm)
{
	if (switch_ready && vnics[vm->id].attached)
		vswitch_detach(&vswitch, vm->id);
}

bool net_attached(const struct vm *vm)
{
	return vnics[vm->id].attached;
}

void net_poll_uplink(void)
{
	if (!e1000_present())
		return;
	switch_init(); /* a host with no VM of its own still hears the wire */
	static uint8_t frames[8][PVNET_FRAME_MAX];
	struct net_frame_buf bufs[8];
	for (unsigned i = 0; i < 8; i++)
		bufs[i] = (struct net_frame_buf){frames[i], PVNET_FRAME_MAX, 0};
	unsigned n = e1000_receive_batch(bufs, 8);
	if (!n)
		return;
	unsigned was = power_switch_to(ACCOUNT_NET_ID);
	uint64_t now = host_now_ns();
	for (unsigned i = 0; i < n; i++) {
		const uint8_t *outer = bufs[i].data;
		uint16_t type = eth_type_of(outer, bufs[i].len);
		if (type == ETH_TYPE_MIGRATE && bufs[i].len > ETH_HEADER_LEN) {
			/* The migration's work, wherever the poll came from. */
			unsigned net = power_switch_to(ACCOUNT_MIGRATION_ID);
			migration_receive_frame(outer + ETH_HEADER_LEN,
			                        bufs[i].len - ETH_HEADER_LEN);
			power_switch_to(net);
			continue;
		}
		if (type != ETH_TYPE_TUNNEL || bufs[i].len < 2 * ETH_HEADER_LEN)
			continue; /* not ours (e.g. another host's link test): ignored */
		uplink.rx_frames++;
		const uint8_t *frame = outer + ETH_HEADER_LEN;
		/* The e1000 pads short frames to 60 bytes: the inner frame's own
		 * length is not on the wire, so a padded frame keeps its padding
		 * (tools carry their own lengths, as on real Ethernet). */
		uint32_t len = bufs[i].len - ETH_HEADER_LEN;
		uint16_t ports = vswitch_forward(&vswitch, UPLINK_PORT, frame, len, now);
		for (unsigned p = 0; p < vm_count && ports; p++)
			if (ports & (1u << p))
				rx_deliver(&vms[p], frame, len, now);
	}
	power_switch_to(was); /* the migration's pass, or the scheduler */
}

bool net_uplink_present(void)
{
	return e1000_present();
}

/* ---- live migration: what a vNIC carries to its new host ---- */

/* No pointers and no host times: the batching travels as its text, the
 * policy and every knob (batch_save, net.h), the batch timers are not
 * carried (frames waiting for a flush get one interrupt at resume, which a
 * guest must take anyway: it re-reads its rings). The ring area itself is
 * guest memory and moves with it. */
struct vnic_state {
	uint32_t magic, version, attached, pad;
	uint64_t area_gpa;
	uint8_t vector, mac[ETH_ADDR_LEN], pad1;
	uint32_t tx_cons, rx_prod;
	struct batch_saved batch;
	struct vnic_counters c;
};
#define VNIC_STATE_MAGIC   0x4E56534Au /* "JSVN" */
#define VNIC_STATE_VERSION 2           /* 1: the knobs as fixed fields */

static bool net_save(const struct vm *vm, struct vnic_state *s)
{
	const struct vnic *n = &vnics[vm->id];
	memset(s, 0, sizeof *s);
	s->magic = VNIC_STATE_MAGIC;
	s->version = VNIC_STATE_VERSION;
	s->attached = n->attached;
	if (!n->attached)
		return true;
	s->area_gpa = n->area_gpa;
	s->vector = n->vector;
	memcpy(s->mac, n->mac, ETH_ADDR_LEN);
	/* A flush decided but not yet done is done by the interrupt at resume;
	 * the guest's event indices stay as they are in its memory. */
	s->tx_cons = n->tx_cons;
	s->rx_prod = n->rx_prod;
	batch_save(&n->batch, &s->batch);
	s->c = n->c;
	return true;
}

/* Checked as at attach: the blob crossed a wire. False with the reason. */
static bool vnic_state_usable(const struct vm *vm, const struct vnic_state *s, char *why,
                              size_t why_len)
{
	if (s->magic != VNIC_STATE_MAGIC) {
		fmt_snprintf(why, why_len, "not a vNIC state");
		return false;
	}
	if (s->version != VNIC_STATE_VERSION) {
		fmt_snprintf(why, why_len, "saved in version %u, this hv reads %u", s->version,
		             VNIC_STATE_VERSION);
		return false;
	}
	if (s->attached > 1 || s->pad || s->pad1 || s->batch.pad) {
		fmt_snprintf(why, why_len, "attached is neither 0 nor 1, or padding is not zero");
		return false;
	}
	if (!s->attached)
		return true;
	if (s->area_gpa & (PVNET_PAGE_SIZE - 1) ||
	    !vm_gpa_to_host((struct vm *)vm, s->area_gpa, PVNET_AREA_SIZE) || s->vector < 32 ||
	    s->vector > 254) {
		fmt_snprintf(why, why_len,
		             "ring area 0x%llx or vector %u outside what attach takes",
		             (unsigned long long)s->area_gpa, s->vector);
		return false;
	}
	/* The batching text gets the checks a control message gets. */
	struct batch_params p;
	char err[160];
	if (s->mac[0] & 1) {
		fmt_snprintf(why, why_len, "a group MAC");
		return false;
	}
	if (batch_saved_check(&s->batch, &p, err, sizeof err)) {
		fmt_snprintf(why, why_len, "%s", err);
		return false;
	}
	return true;
}

/* Only after vnic_state_usable said yes (the snapshot's check). */
static bool net_restore(struct vm *vm, const struct vnic_state *s)
{
	struct vnic *n = &vnics[vm->id];
	memset(n, 0, sizeof *n);
	if (!s->attached)
		return true;
	switch_init();
	n->attached = true;
	n->area_gpa = s->area_gpa;
	n->vector = s->vector;
	memcpy(n->mac, s->mac, ETH_ADDR_LEN); /* the guest knows its MAC: it keeps it */
	n->tx_cons = n->tx_cons_at_flush = s->tx_cons;
	n->rx_prod = n->rx_prod_at_flush = s->rx_prod;
	char err[160];
	if (batch_restore(&n->batch, &s->batch, err, sizeof err))
		return false; /* checked above: cannot happen */
	n->c = s->c;
	n->tx_waiting = true; /* frames a packets limit held on the old host */
	vswitch_attach(&vswitch, vm->id);
	/* Tell the switches the MAC moved here, as a hypervisor sends a
	 * gratuitous ARP after a migration: this host's learns the new port
	 * (on a local move it still points at the old VM's), the other hosts'
	 * learn the uplink. The announce goes to no local VM. */
	uint8_t hello[ANNOUNCE_LEN];
	build_announce(hello, n->mac);
	if (vswitch_forward(&vswitch, vm->id, hello, sizeof hello, host_now_ns()) &
	    (1u << UPLINK_PORT))
		for (int i = 0; i < 3; i++) /* a broadcast is not acknowledged: say it thrice */
			uplink_send(hello, sizeof hello);
	inject(vm, n); /* what waited for a flush on the old host */
	kprintf("hv: %s: pvnet resumed, MAC %02x:%02x:%02x:%02x:%02x:%02x, batching %s\n", vm->name,
	        n->mac[0], n->mac[1], n->mac[2], n->mac[3], n->mac[4], n->mac[5], s->batch.text);
	return true;
}

/* ---- the vNIC's snapshot section (snapshot/snapshot.h) ---- */

static size_t vnic_section_size(void)
{
	return sizeof(struct vnic_state);
}

static bool vnic_section_save(struct vm *vm, struct snapshot_host *host, void *out)
{
	(void)host;
	return net_save(vm, out);
}

static bool vnic_section_check(const struct vm *vm, const struct snapshot_host *host,
                               const void *in, char *why, size_t why_len)
{
	(void)host;
	struct vnic_state s;
	memcpy(&s, in, sizeof s);
	return vnic_state_usable(vm, &s, why, why_len);
}

static bool vnic_section_restore(struct vm *vm, struct snapshot_host *host, const void *in)
{
	struct vnic_state s;
	memcpy(&s, in, sizeof s);
	if (!net_restore(vm, &s))
		return false;
	if (s.attached)
		host->vcpu_state = VCPU_RUNNABLE; /* to take the interrupt the restore raised */
	return true;
}

const struct snapshot_section snapshot_vnic_section = {
    .name = "vnic",
    .tag = SNAPSHOT_TAG('V', 'N', 'I', '2'),
    .size = vnic_section_size,
    .save = vnic_section_save,
    .check = vnic_section_check,
    .restore = vnic_section_restore,
};

/* Runs in the scheduler loop: live migration of a running VM, driven by
 * migrate/'s pre-copy engine. hv supplies what the engine leaves to its
 * caller: the dirty tracker (vmx/dirty.c), the VM's state as a snapshot
 * (snapshot/: vCPU, clocks, devices, vNIC), pausing and resuming, the
 * policy's throttle, and the link (link.c). The engine runs in passes of
 * MIGRATION_PASS_MS between vCPU slices. */
#include "migration/migration.h"
#include "lib/lib.h"
#include "migration/job.h"
#include "mm/mm.h"
#include "net/net.h"
#include "power/power.h"
#include "snapshot/snapshot.h"
#include "x86/x86.h"

struct migration_job job;

/* The migrating VM's CPU time so far: in the guest and in hv for it. */
static uint64_t vm_cpu_time_ns(void *ctx)
{
	const struct vm *vm = ctx;
	return host_ticks_to_ns(vm->guest_tsc + vm->hv_tsc);
}

/* One pass of the migration engine in the scheduler loop lasts this long,
 * like a vCPU's slice: on one CPU a busy VM and its migration then share
 * the CPU half and half, and throttling the vCPU (a policy's auto-converge)
 * hands the migration more. A fixed number of steps instead let a local
 * migration, which checksums and copies every page on both sides, take
 * ~99% of it. */
#define MIGRATION_PASS_MS 2

/* What the snapshot's sections need of this host, now. */
static struct snapshot_host this_host(const struct vm *vm, enum vcpu_state state)
{
	return (struct snapshot_host){
	    .now_tsc = rdtsc(),
	    .tsc_khz = host_tsc_khz,
	    .phys_addr_reserved = phys_addr_reserved_bits(),
	    .timer_period_min_us = vm_limit(vm, LIMIT_TIMER_PERIOD_US),
	    .vcpu_state = state,
	};
}

/* Asked by the engine before it lets the source go (COMMIT_ACK): would
 * the snapshot restore here? Every section's check, not the restore. */
static bool state_will_restore(void *ctx, const uint8_t *blob, size_t len)
{
	struct vm *vm = ctx;
	struct snapshot_host host = this_host(vm, VCPU_RUNNABLE);
	char why[SNAPSHOT_WHY_MAX], quoted[2 * SNAPSHOT_WHY_MAX];
	if (snapshot_check(&hv_snapshot_table, vm, &host, blob, len, why, sizeof why))
		return true;
	fmt_json_escape(quoted, sizeof quoted, why); /* a peer's bytes: never raw */
	kprintf("hv: incoming migration: the state blob would not restore here: %s: refused, "
	        "the VM stays on its source\n",
	        quoted);
	return false;
}

/* send_back=MS[:N]: each VM that arrives goes back MS ms after it resumed. */
static struct {
	uint64_t ms;      /* 0: off */
	unsigned limit;   /* at most this many times from here; 0: no limit */
	unsigned done;    /* sent back so far */
	struct vm *vm;    /* the next to go, or NULL */
	uint64_t due_tsc; /* when */
} send_back;

bool migration_set_send_back(const char *spec, char *err, size_t err_size)
{
	uint64_t ms = 0, limit = 0;
	size_t n = 0;
	while (spec[n] && spec[n] != ':')
		n++;
	size_t rest = strlen(spec) - n;
	if (!n || parse_decimal(spec, n, &ms) != n || !ms || ms > 3600000 ||
	    (rest && (rest == 1 || parse_decimal(spec + n + 1, rest - 1, &limit) != rest - 1 ||
	              limit > 1000000))) {
		fmt_snprintf(err, err_size, "'%s' is not MS[:N] (MS 1..3600000, N 0..1000000)",
		             spec);
		return false;
	}
	send_back.ms = ms;
	send_back.limit = (unsigned)limit;
	return true;
}

static uint64_t *alloc_words(uint64_t words, uint64_t *pages)
{
	*pages = (words * 8 + PAGE_SIZE - 1) / PAGE_SIZE;
	uint64_t pa = frames_alloc_contig(&host_frames, *pages, 1);
	if (pa)
		memset((void *)(uintptr_t)pa, 0, *pages * PAGE_SIZE);
	return (uint64_t *)(uintptr_t)pa;
}

/* Between hosts: two bochs hosts' emulated clocks drift apart (one idles,
 * one runs a VM: PLATFORM.md Part B), so both sides are patient before
 * calling a peer gone. */
static void be_patient(struct migrate_link_config *link)
{
	link->idle_timeout_ns = 30ull * 1000000000ull;
	link->max_retries = 100;
}

/* The destination's side, into an empty VM made for it; replies go back
 * through the local queue or over the e1000. */
static void listen_into(struct vm *dst, uint64_t pages, bool remote, uint64_t now)
{
	struct migrate_dest_config dc = {
	    .memory = (uint8_t *)(uintptr_t)dst->mem_hpa,
	    .nr_pages = pages,
	    .seen_bitmap = job.seen, /* then, as large, the data bitmap */
	    .data_bitmap = job.seen + (pages + 63) / 64,
	    .memory_is_zero = true, /* vm_create_empty clears it */
	    .state_check = state_will_restore,
	    .state_check_ctx = dst,
	    .state_buf = job.state_in,
	    .state_cap = sizeof job.state_in,
	};
	migrate_link_defaults(&dc.link);
	if (remote) {
		dc.link.send_frame = remote_send;
		be_patient(&dc.link);
	} else {
		dc.link.send_frame = pipe_send;
		dc.link.send_ctx = &job.to_src;
	}
	migrate_dest_listen(&job.dst, &dc, now);
}

bool migration_active(void)
{
	return job.active;
}

bool migration_start(struct vm *vm, const char *dest, const char *tracker, const char *knobs,
                     uint64_t cut_after, unsigned payload_size)
{
	if (payload_size &&
	    (payload_size < MIGRATE_PAYLOAD_MIN || payload_size > MIGRATE_PAYLOAD_MAX)) {
		kprintf("hv: migrate: payload=%u out of range (%u..%u bytes after our header)\n",
		        payload_size, MIGRATE_PAYLOAD_MIN, MIGRATE_PAYLOAD_MAX);
		return false;
	}
	if (job.active) {
		kprintf("hv: migrate: one migration at a time\n");
		return false;
	}
	bool remote = !strcmp(dest, "peer");
	if (!remote && strcmp(dest, "local")) {
		kprintf(
		    "hv: migrate: destination '%s' unknown: 'local' (a new VM here) or 'peer' (the "
		    "host at the other end of the e1000)\n",
		    dest);
		return false;
	}
	if (remote && !e1000_present()) {
		kprintf("hv: migrate: no e1000 here: no peer to migrate to\n");
		return false;
	}
	if (vm->stopped) {
		kprintf("hv: migrate: %s has stopped\n", vm->name);
		return false;
	}
	memset(&job, 0, sizeof job);
	job.tracker = arch_dirty_tracker(tracker && *tracker ? tracker : NULL);
	if (!job.tracker) {
		kprintf("hv: migrate: unknown tracker '%s' (wp, ad or pml)\n",
		        tracker ? tracker : "");
		return false;
	}
	/* The policy and its knobs, and the engine's: refused whole, like
	 * every other option. */
	struct migrate_params params = {.state_bytes = snapshot_size(&hv_snapshot_table)};
	char err[200];
	if (migrate_params_parse(knobs ? knobs : "", &job.policy, &params, err, sizeof err)) {
		kprintf("hv: migrate: %s: not started\n", err);
		return false;
	}
	migrate_params_format(job.policy, &params, job.knobs, sizeof job.knobs);
	job.role = remote ? ROLE_SOURCE : ROLE_LOCAL;
	job.src_vm = vm;
	job.to_dst.cut_after = job.to_src.cut_after = cut_after;
	uint64_t pages = vm->mem_size / PAGE_SIZE;
	job.pfn_buf = alloc_words(pages, &job.pfn_pages);
	if (!job.pfn_buf)
		return false;
	uint64_t now = host_now_ns();
	if (!remote) {
		char name[VM_NAME_MAX];
		fmt_snprintf(name, sizeof name, "%.10s-mig", vm->name);
		job.dst_vm = vm_create_empty(&vm->config, name);
		job.seen = alloc_words(2 * ((pages + 63) / 64), &job.seen_pages);
		if (!job.dst_vm || !job.seen) {
			if (job.dst_vm)
				vm_stop(job.dst_vm, 0,
				        "incoming migration could not start: out of memory");
			return false;
		}
		listen_into(job.dst_vm, pages, false, now);
	}
	struct migrate_source_config sc = {
	    .memory = (const uint8_t *)(uintptr_t)vm->mem_hpa,
	    .nr_pages = pages,
	    .tracker = job.tracker,
	    .tracker_ctx = vm,
	    .pfn_buf = job.pfn_buf,
	    .pfn_buf_len = pages,
	    .policy = job.policy,
	    .params = params,
	    .state_max = STATE_CAP,
	};
	migrate_link_defaults(&sc.link);
	sc.link.session = (uint32_t)(rdtsc() | 1);
	sc.link.send_frame = remote ? remote_send : pipe_send;
	if (payload_size)
		sc.link.payload_size = payload_size;
	sc.model = link_model(remote, sc.link.payload_size);
	sc.vm_time_ns = vm_cpu_time_ns;
	sc.vm_time_ctx = vm;

	if (remote)
		be_patient(&sc.link);
	sc.link.send_ctx = &job.to_dst;
	if (!migrate_source_start(&job.src, &sc, now)) {
		if (job.dst_vm)
			vm_stop(job.dst_vm, 0, "incoming migration could not start");
		return false;
	}
	job.active = true;
	job.fault_at_start = link_faults;
	job.energy_start_nj = power_account_nj(ACCOUNT_MIGRATION_ID);
	job.cycles_start = power_account_cycles(ACCOUNT_MIGRATION_ID);
	job.tsc_start = rdtsc();
	job.round_start_tsc = rdtsc();
	job.round_start_guest_tsc = vm->guest_tsc;
	job.throttled_start_ticks = vm->vcpu.throttled_ticks;
	job.src_status = MIGRATE_RUNNING;
	job.dst_status = remote ? MIGRATE_ABORTED : MIGRATE_RUNNING; /* no local destination */
	const char *to = remote ? "peer" : job.dst_vm->name;
	kprintf("hv: migrating %s to %s (%s), tracker %s, %s\n", vm->name, to,
	        remote ? "e1000" : "local", job.tracker->name, job.knobs);
	log_event("{\"ev\":\"migrate_start\",\"vm\":\"%s\",\"to\":\"%s\",\"link\":\"%s\","
	          "\"tracker\":\"%s\",\"policy\":\"%s\",\"knobs\":\"%s\",\"mem_mib\":%llu}",
	          vm->name, to, remote ? "e1000" : "local", job.tracker->name, job.policy->name,
	          job.knobs, (unsigned long long)(vm->mem_size >> 20));
	return true;
}

/* The incoming-migration listener: a HELLO from a peer when nothing is
 * migrating makes an empty VM of the size it announces and receives. */
static void start_incoming(const uint8_t *bytes, size_t len)
{
	struct migrate_frame f;
	struct migrate_msg m;
	if (migrate_frame_decode(bytes, len, &f) != MIGRATE_OK || f.type != MIGRATE_HELLO ||
	    migrate_msg_decode(&f, &m) != MIGRATE_OK)
		return; /* not the start of a migration: a stray frame, ignored */
	uint64_t bytes_mem = m.hello.nr_pages * PAGE_SIZE;
	if (m.hello.page_size != PAGE_SIZE || bytes_mem < VM_MEM_MIN || bytes_mem > VM_MEM_MAX ||
	    bytes_mem % (2u << 20)) {
		kprintf("hv: incoming migration of %llu pages refused: not a VM size we run\n",
		        (unsigned long long)m.hello.nr_pages);
		return;
	}
	memset(&job, 0, sizeof job);
	struct vm_config config = {.mem_bytes = bytes_mem};
	char name[VM_NAME_MAX];
	fmt_snprintf(name, sizeof name, "in%u", vm_count);
	fmt_snprintf(config.name, sizeof config.name, "%s", name);
	job.dst_vm = vm_create_empty(&config, name);
	job.seen = alloc_words(2 * ((m.hello.nr_pages + 63) / 64), &job.seen_pages);
	if (!job.dst_vm || !job.seen)
		return; /* the source hears nothing and gives up: its VM runs on */
	/* Named by its slot: a VM that comes back into the slot it left (or its
	 * first arrival on a host) is in<N> on every trip, so one name drives it
	 * back and forth (`migrate in0 peer`). */
	fmt_snprintf(job.dst_vm->name, sizeof job.dst_vm->name, "in%u", job.dst_vm->id);
	fmt_snprintf(job.dst_vm->config.name, sizeof job.dst_vm->config.name, "%s",
	             job.dst_vm->name);
	fmt_snprintf(name, sizeof name, "%s", job.dst_vm->name);
	listen_into(job.dst_vm, m.hello.nr_pages, true, host_now_ns());
	job.role = ROLE_DEST;
	job.active = true;
	job.fault_at_start = link_faults;
	job.energy_start_nj = power_account_nj(ACCOUNT_MIGRATION_ID);
	job.cycles_start = power_account_cycles(ACCOUNT_MIGRATION_ID);
	job.tsc_start = rdtsc();
	job.src_status = MIGRATE_ABORTED; /* no local source */
	job.dst_status = MIGRATE_RUNNING;
	kprintf("hv: incoming migration: %llu MiB into new VM %s\n",
	        (unsigned long long)(bytes_mem >> 20), name);
	log_event("{\"ev\":\"migrate_incoming\",\"vm\":\"%s\",\"mem_mib\":%llu}", name,
	          (unsigned long long)(bytes_mem >> 20));
}

void migration_receive_frame(const uint8_t *bytes, size_t len)
{
	if (!job.active) {
		start_incoming(bytes, len);
		if (!job.active)
			return;
	}
	uint64_t now = host_now_ns();
	if (job.role == ROLE_SOURCE) {
		job.src_status = migrate_source_receive(&job.src, bytes, len, now);
	} else if (job.role == ROLE_DEST) {
		job.dst_status = migrate_dest_receive(&job.dst, bytes, len, now);
	}
}

static void finish(void)
{
	if (job.src_vm)
		job.src_vm->vcpu.throttle_percent = 0;
	if (job.pfn_buf)
		frames_free_range(&host_frames, (uint64_t)(uintptr_t)job.pfn_buf,
		                  job.pfn_pages * PAGE_SIZE);
	if (job.seen)
		frames_free_range(&host_frames, (uint64_t)(uintptr_t)job.seen,
		                  job.seen_pages * PAGE_SIZE);
	job.active = false;
	link_flush_held();
}

/* One round of moving frames and stepping the engines this host runs. */
static void pump(uint64_t now)
{
	if (job.role == ROLE_LOCAL) {
		while (job.to_src.tail != job.to_src.head) {
			unsigned s = job.to_src.tail++ % PIPE_SLOTS;
			job.src_status = migrate_source_receive(&job.src, job.to_src.frame[s],
			                                        job.to_src.len[s], now);
		}
		while (job.to_dst.tail != job.to_dst.head) {
			unsigned s = job.to_dst.tail++ % PIPE_SLOTS;
			job.dst_status = migrate_dest_receive(&job.dst, job.to_dst.frame[s],
			                                      job.to_dst.len[s], now);
		}
	} else {
		net_poll_uplink();   /* hands our frames to migration_receive_frame */
		now = host_now_ns(); /* never step with a clock older than a receive */
	}
	if (job.role != ROLE_DEST &&
	    (job.src_status == MIGRATE_RUNNING || job.src_status == MIGRATE_NEED_PAUSE ||
	     job.src_status == MIGRATE_COMMITTED))
		job.src_status = migrate_source_step(&job.src, now);
	if (job.role != ROLE_SOURCE && job.dst_status == MIGRATE_RUNNING)
		job.dst_status = migrate_dest_step(&job.dst, now);
}

static void resume_destination(void)
{
	struct vm *dst = job.dst_vm;
	struct snapshot_host host = this_host(dst, VCPU_RUNNABLE);
	char why[SNAPSHOT_WHY_MAX];
	if (!snapshot_restore(&hv_snapshot_table, dst, &host, job.state_in,
	                      job.dst.report.state_len, why, sizeof why)) {
		char quoted[2 * SNAPSHOT_WHY_MAX];
		fmt_json_escape(quoted, sizeof quoted, why);
		kprintf("hv: %s: the migrated state does not restore: %s\n", dst->name, quoted);
		vm_stop(dst, 255, "migrated state does not restore");
		return;
	}
	dst->vcpu.state = host.vcpu_state;
	log_event(
	    "{\"ev\":\"migrate_resume\",\"vm\":\"%s\",\"from\":\"%s\",\"pages\":%llu,"
	    "\"state_bytes\":%u,\"rounds\":%u,\"retransmits\":%llu,\"link\":\"%s\",\"energy_uj\":%"
	    "llu,"
	    "\"energy_source\":\"%s\",\"guest_tsc_offset\":%lld,\"faults\":{%s},"
	    "\"cpu_permille\":%u,\"hv_mem_kib\":%llu,\"nonzero_pages\":%llu}",
	    dst->name, job.role == ROLE_LOCAL ? job.src_vm->name : "peer",
	    (unsigned long long)job.dst.report.pages_distinct, job.dst.report.state_len,
	    job.dst.report.rounds, (unsigned long long)job.dst.report.link.retransmits,
	    job.role == ROLE_LOCAL ? "local" : "e1000",
	    (unsigned long long)((power_account_nj(ACCOUNT_MIGRATION_ID) - job.energy_start_nj) /
	                         1000),
	    power_source_name(), (long long)dst->vcpu.tsc_offset, link_faults_text(),
	    migration_cpu_permille(), (unsigned long long)migration_mem_kib(),
	    (unsigned long long)job.dst.report.nonzero_pages);
	if (job.role == ROLE_DEST && send_back.ms &&
	    (!send_back.limit || send_back.done < send_back.limit)) {
		send_back.vm = dst;
		send_back.due_tsc = rdtsc() + send_back.ms * host_tsc_khz;
	}
}

/* send_back=: the VM that arrived goes back when its time has come (if it
 * is still running: it may have ended meanwhile). */
static void send_back_due(void)
{
	struct vm *vm = send_back.vm;
	if (!vm || rdtsc() < send_back.due_tsc)
		return;
	send_back.vm = NULL;
	if (vm->stopped)
		return;
	send_back.done++;
	kprintf("hv: send_back: %s goes back to the peer (time %u, at most %u; 0: no limit)\n",
	        vm->name, send_back.done, send_back.limit);
	if (!migration_start(vm, "peer", "pml", "", 0, 0))
		kprintf("hv: send_back: %s could not start: it stays here\n", vm->name);
}

void migration_poll(void)
{
	if (!job.active)
		send_back_due();
	if (!job.active)
		return;
	power_switch_to(ACCOUNT_MIGRATION_ID);
	struct vm *src = job.src_vm;
	/* The VM ended by itself before the commit: nothing left to move. */
	if (job.role != ROLE_DEST && src->stopped && job.src_status != MIGRATE_COMMITTED &&
	    job.src_status != MIGRATE_ABORTED)
		job.src_status = migrate_source_cancel(&job.src, host_now_ns());
	/* Until the pass is over or something changed (a pause to take, a
	 * commit to resume: not time to spend spinning). */
	uint64_t pass_end = rdtsc() + MIGRATION_PASS_MS * host_tsc_khz;
	enum migrate_status src_was = job.src_status, dst_was = job.dst_status;
	do
		pump(host_now_ns());
	while (rdtsc() < pass_end && job.src_status == src_was && job.dst_status == dst_was);
	if (job.role != ROLE_DEST)
		migration_follow_rounds(src);
	if (job.role != ROLE_DEST) {
		if (job.src_status == MIGRATE_NEED_PAUSE && src->vcpu.state != VCPU_PAUSED) {
			/* Stop-and-copy: the vCPU stops here; its state goes last. */
			enum vcpu_state was = src->vcpu.state;
			job.state_at_pause = was == VCPU_HALTED ? VCPU_HALTED : VCPU_RUNNABLE;
			src->vcpu.state = VCPU_PAUSED;
			struct snapshot_host host = this_host(src, was);
			size_t len = snapshot_save(&hv_snapshot_table, src, &host, job.state_out,
			                           sizeof job.state_out);
			power_settle(true); /* energy is split at settlements */
			job.energy_pause_nj = power_account_nj(ACCOUNT_MIGRATION_ID);
			job.src_status =
			    len ? migrate_source_paused(&job.src, job.state_out, len, host_now_ns())
			        : migrate_source_cancel(&job.src, host_now_ns());
		}
		if (job.src_status == MIGRATE_ABORTED) {
			if (src->vcpu.state == VCPU_PAUSED)
				src->vcpu.state =
				    job.state_at_pause; /* nothing lost: it runs on here */
			if (!job.reported) {
				migration_report();
				job.reported = true;
			}
			if (job.dst_vm && !job.dst_vm->stopped) {
				vm_stop(job.dst_vm, 0,
				        "incoming migration aborted, nothing resumed");
				job.dst_vm->vacated = true;
			}
			finish();
			goto out;
		}
		if (job.src_status == MIGRATE_COMMITTED && !src->stopped) {
			vm_stop(src, 0, "migrated to %s", job.dst_vm ? job.dst_vm->name : "peer");
			src->vacated = true; /* an incoming VM may take the slot again */
			sched_listen_restart();
			migration_report();
			job.reported = true;
			/* Keep answering a while: the destination resumes only once it
			 * knows its COMMIT_ACK arrived (migrate.h). */
			job.drain_until_tsc = rdtsc() + 500 * host_tsc_khz;
		}
	}
	if (job.role == ROLE_SOURCE) {
		if (job.src_status == MIGRATE_COMMITTED && rdtsc() > job.drain_until_tsc)
			finish();
		goto out;
	}
	/* Progress on the receiving side, every quarter of the VM's pages. */
	uint64_t quarter = job.dst.report.vm_pages / 4;
	if (job.role == ROLE_DEST && quarter &&
	    job.dst.report.pages_distinct >= job.progress_shown + quarter) {
		job.progress_shown = job.dst.report.pages_distinct / quarter * quarter;
		kprintf("hv: incoming migration into %s: %llu of %llu pages\n", job.dst_vm->name,
		        (unsigned long long)job.progress_shown,
		        (unsigned long long)job.dst.report.vm_pages);
	}
	if (job.dst_status == MIGRATE_COMMITTED) {
		resume_destination();
		finish();
	} else if (job.dst_status == MIGRATE_ABORTED || job.dst_status == MIGRATE_IN_DOUBT) {
		if (job.role == ROLE_LOCAL) {
			/* The destination gave up: make the source abort too. */
			job.src_status = migrate_source_cancel(&job.src, host_now_ns());
		} else {
			vm_stop(job.dst_vm, 0,
			        "incoming migration %s (%s; frames received %llu, rejected %llu, "
			        "strangers %llu, sent %llu), nothing resumed",
			        job.dst_status == MIGRATE_IN_DOUBT ? "in doubt" : "aborted",
			        migrate_error_name(job.dst.report.reason),
			        (unsigned long long)job.dst.report.link.frames_received,
			        (unsigned long long)job.dst.report.link.rejected,
			        (unsigned long long)job.dst.report.link.strangers,
			        (unsigned long long)job.dst.report.link.frames_sent);
			job.dst_vm->vacated = true; /* nothing of it runs: the slot is free */
			finish();
		}
	}
out:
	power_switch_to(ACCOUNT_HV_OTHER_ID);
	power_settle(false); /* the accounting tick goes on during a migration */
}

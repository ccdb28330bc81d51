/* Runs in the scheduler loop: what a migration reports. One migrate_round
 * event per live round as it ends (progress: a migration can take
 * minutes), the migrate_done event at the end with every figure the
 * experiments read, and with trace=migrate what the stop policy saw, for
 * make sim-migrate. */
#include "lib/lib.h"
#include "migration/job.h"
#include "mm/mm.h"
#include "power/power.h"
#include "x86/x86.h"

/* A time measured on a link of link_Bps as it would be on 1 Gb/s (125 MB/s),
 * everything else scaling with the link. */
static uint64_t at_1gbps(uint64_t t, uint64_t link_Bps)
{
	return migrate_scale(t, link_Bps, 125000000ull);
}

/* The inside of a JSON array of numbers, built one number at a time. */
struct number_list {
	char text[400];
	size_t used;
};

static void number_list_add(struct number_list *l, uint64_t value)
{
	if (l->used < sizeof l->text)
		l->used +=
		    (size_t)fmt_snprintf(l->text + l->used, sizeof l->text - l->used, "%s%llu",
		                         l->used ? "," : "", (unsigned long long)value);
}

unsigned migration_cpu_permille(void)
{
	/* Charge the interval still open (this pass) to whoever has the CPU. */
	power_switch_to(power_switch_to(ACCOUNT_MIGRATION_ID));
	uint64_t span = rdtsc() - job.tsc_start;
	uint64_t used = power_account_cycles(ACCOUNT_MIGRATION_ID) - job.cycles_start;
	return span ? (unsigned)MIN(migrate_scale(used, 1000, span), 1000u) : 0;
}

static uint64_t frames_kib(uint64_t bytes)
{
	return (bytes + PAGE_SIZE - 1) / PAGE_SIZE * (PAGE_SIZE / 1024);
}

uint64_t migration_mem_kib(void)
{
	uint64_t kib = (sizeof job + 1023) / 1024 + (job.pfn_pages + job.seen_pages) * 4;
	const struct vm *tracked = job.role == ROLE_DEST ? NULL : job.src_vm;
	if (tracked && tracked->dirty.bitmap)
		kib += frames_kib((tracked->mem_size / PAGE_SIZE + 63) / 64 * 8);
	if (tracked && tracked->dirty.pml_pa)
		kib += 4;
	return kib;
}

static void trace_rounds(void);

void migration_report(void)
{
	power_settle(true);
	uint64_t energy_now = power_account_nj(ACCOUNT_MIGRATION_ID);
	const struct migrate_report *r = &job.src.report;
	struct number_list pages = {0}, skipped = {0}, rates = {0}, throttle = {0}, share = {0};
	for (unsigned i = 0; i < r->rounds && i < MIGRATE_ROUNDS_RECORDED; i++) {
		number_list_add(&pages, r->round[i].pages_sent);
		number_list_add(&skipped, r->round[i].pages_skipped);
		number_list_add(&rates, r->round[i].dirty_rate_pps);
		number_list_add(&throttle, r->round[i].throttle_percent);
		number_list_add(&share, job.vcpu_percent[i]);
	}
	const char *status = r->status == MIGRATE_COMMITTED ? "committed"
	                     : r->status == MIGRATE_ABORTED ? "aborted"
	                                                    : "other";
	bool local = job.role == ROLE_LOCAL;
	uint64_t khz = host_tsc_khz ? host_tsc_khz : 1;
	/* The link's measured rate over the whole migration, retransmissions
	 * excluded: times scaled by it to a 1 Gb/s link compare with the
	 * seeds' figures (the bochs link is far slower than its CPU). */
	uint64_t link_Bps =
	    r->total_ns ? migrate_scale(r->bytes_sent, 1000000000ull, r->total_ns) : 0;
	if (r->stopped_by_round_limit)
		kprintf(
		    "hv: migrate: %s: the engine's round limit (%u rounds) stopped the pre-copy: "
		    "policy %s had not said stop\n",
		    job.src_vm->name, r->rounds, job.policy->name);
	log_event(
	    "{\"ev\":\"migrate_done\",\"vm\":\"%s\",\"to\":\"%s\",\"status\":\"%s\","
	    "\"reason\":\"%s\",\"total_ms\":%llu,\"downtime_us\":%llu,"
	    "\"predicted_downtime_us\":%llu,\"forecast\":\"%s\",\"commit_us\":%llu,"
	    "\"rounds\":%u,\"pages\":[%s],\"skipped\":[%s],\"dirty_rate\":[%s],"
	    "\"throttle\":[%s],\"vcpu_percent\":[%s],\"throttled_ms\":%llu,"
	    "\"link_Bps\":%llu,\"total_ms_at_1gbps\":%llu,\"downtime_us_at_1gbps\":%llu,"
	    "\"stop_copy_pages\":%llu,\"bytes\":%llu,\"zero_pages\":%llu,\"pages_skipped\":%llu,"
	    "\"state_bytes\":%llu,"
	    "\"retransmits\":%llu,\"tracker\":\"%s\",\"tracker_exits\":%llu,\"tracker_scan_us\":%"
	    "llu,\"policy\":\"%s\",\"knobs\":\"%s\",\"stopped_by\":\"%s\","
	    "\"payload\":%u,\"energy_rounds_uj\":%llu,\"energy_stop_copy_uj\":%llu,\"energy_"
	    "source\":\"%s\","
	    "\"link\":\"%s\",\"frames_received\":%llu,\"rejected\":%llu,\"strangers\":%llu,"
	    "\"last_reject\":\"%s\",\"faults\":{%s},\"cpu_permille\":%u,\"hv_mem_kib\":%llu,"
	    "\"downtime_kb_eq\":%llu,\"time\":\"emulated\"}",
	    job.src_vm->name, local ? job.dst_vm->name : "peer", status,
	    r->status == MIGRATE_ABORTED ? migrate_error_name(r->reason) : "",
	    (unsigned long long)(r->total_ns / 1000000),
	    (unsigned long long)(r->downtime_ns / 1000),
	    (unsigned long long)r->predicted_downtime_us,
	    r->forecast_learned ? "learned" : "rounds", (unsigned long long)r->commit_us, r->rounds,
	    pages.text, skipped.text, rates.text, throttle.text, share.text,
	    (unsigned long long)((job.src_vm->vcpu.throttled_ticks - job.throttled_start_ticks) /
	                         khz),
	    (unsigned long long)link_Bps,
	    (unsigned long long)at_1gbps(r->total_ns / 1000000, link_Bps),
	    (unsigned long long)at_1gbps(r->downtime_ns / 1000, link_Bps),
	    (unsigned long long)r->stop_copy_pages, (unsigned long long)r->bytes_sent,
	    (unsigned long long)r->zero_pages, (unsigned long long)r->pages_skipped,
	    (unsigned long long)r->state_bytes, (unsigned long long)r->link.retransmits,
	    job.tracker->name, (unsigned long long)job.src_vm->dirty.exits,
	    (unsigned long long)(job.src_vm->dirty.scan_cycles * 1000 / khz), job.policy->name,
	    job.knobs, r->stopped_by_round_limit ? "round_limit" : "policy",
	    job.src.cfg.link.payload_size,
	    (unsigned long long)(((job.energy_pause_nj ? job.energy_pause_nj : energy_now) -
	                          job.energy_start_nj) /
	                         1000),
	    (unsigned long long)(job.energy_pause_nj ? (energy_now - job.energy_pause_nj) / 1000
	                                             : 0),
	    power_source_name(), local ? "local" : "e1000",
	    (unsigned long long)r->link.frames_received, (unsigned long long)r->link.rejected,
	    (unsigned long long)r->link.strangers, migrate_error_name(r->link.last_reject),
	    link_faults_text(), migration_cpu_permille(),
	    (unsigned long long)MAX(job.mem_peak_kib, migration_mem_kib()),
	    /* the downtime as data: what the link would have moved meanwhile */
	    (unsigned long long)(migrate_scale(r->downtime_ns, link_Bps, 1000000000ull) / 1000));
	if (trace_migrate_on)
		trace_rounds();
}

/* trace=migrate: what the stop policy saw, one trace_migrate event per
 * live round (the struct migrate_round_stats it was given) and one that
 * ends the trace with what the engine did after it, for make sim-migrate
 * (tools/sim_migrate.c). Bounded by the rounds the report keeps. */
static void trace_rounds(void)
{
	const struct migrate_report *r = &job.src.report;
	const char *vm = job.src_vm->name;
	for (unsigned i = 0; i < r->rounds && i < MIGRATE_ROUNDS_RECORDED; i++) {
		const struct migrate_round_stats *s = &r->round[i];
		log_event("{\"ev\":\"trace_migrate\",\"vm\":\"%s\",\"round\":%u,\"vm_pages\":%llu,"
		          "\"pages\":%llu,\"zero\":%llu,\"bytes\":%llu,\"us\":%llu,\"dirty\":%llu,"
		          "\"prev\":%llu,\"rtt_us\":%llu,\"scan_us\":%llu,\"vm_us\":%llu,"
		          "\"commit_us\":%llu,\"learned_Bps\":%llu,\"learned_commit_us\":%llu,"
		          "\"throttle\":%u,\"predicted_us\":%llu}",
		          vm, s->round, (unsigned long long)s->vm_pages,
		          (unsigned long long)s->pages_sent, (unsigned long long)s->zero_pages,
		          (unsigned long long)s->bytes_sent, (unsigned long long)s->duration_us,
		          (unsigned long long)s->dirty_pages,
		          (unsigned long long)s->prev_dirty_pages, (unsigned long long)s->rtt_us,
		          (unsigned long long)s->scan_us, (unsigned long long)s->vm_us,
		          (unsigned long long)s->commit_us, (unsigned long long)s->learned_Bps,
		          (unsigned long long)s->learned_commit_us, s->throttle_percent,
		          (unsigned long long)s->predicted_downtime_us);
	}
	log_event(
	    "{\"ev\":\"trace_migrate\",\"vm\":\"%s\",\"end\":1,\"knobs\":\"%s\","
	    "\"state_bytes\":%llu,\"rounds\":%u,\"stopped_by\":\"%s\",\"stop_copy_pages\":%llu,"
	    "\"stop_copy_bytes\":%llu,\"bytes\":%llu,\"predicted_downtime_us\":%llu,"
	    "\"downtime_us\":%llu,\"total_us\":%llu}",
	    vm, job.knobs, (unsigned long long)job.src.cfg.params.state_bytes, r->rounds,
	    r->stopped_by_round_limit ? "round_limit" : "policy",
	    (unsigned long long)r->stop_copy_pages, (unsigned long long)r->stop_copy_bytes,
	    (unsigned long long)r->bytes_sent, (unsigned long long)r->predicted_downtime_us,
	    (unsigned long long)(r->downtime_ns / 1000), (unsigned long long)(r->total_ns / 1000));
}

/* Applies the policy's throttle to the source vCPU (sched.c holds it out)
 * and measures each finished round's vCPU share. */
void migration_follow_rounds(struct vm *src)
{
	const struct migrate_report *r = &job.src.report;
	uint64_t now = rdtsc();
	while (job.rounds_seen < r->rounds) {
		uint64_t span = now - job.round_start_tsc;
		unsigned share =
		    (unsigned)(span ? MIN((src->guest_tsc - job.round_start_guest_tsc) * 100 / span,
		                          100u)
		                    : 0);
		if (job.rounds_seen < MIGRATE_ROUNDS_RECORDED) {
			const struct migrate_round_stats *s = &r->round[job.rounds_seen];
			job.vcpu_percent[job.rounds_seen] = (uint8_t)share;
			/* Progress, one line a round: a migration can take minutes. */
			log_event(
			    "{\"ev\":\"migrate_round\",\"vm\":\"%s\",\"round\":%u,\"pages\":%llu,"
			    "\"ms\":%llu,\"dirty_pages\":%llu,\"throttle\":%u,"
			    "\"vcpu_percent\":%u,\"time\":\"emulated\"}",
			    src->name, job.rounds_seen + 1, (unsigned long long)s->pages_sent,
			    (unsigned long long)(s->duration_us / 1000),
			    (unsigned long long)s->dirty_pages, s->throttle_percent, share);
		}
		job.rounds_seen++;
		job.round_start_tsc = now;
		job.round_start_guest_tsc = src->guest_tsc;
	}
	job.mem_peak_kib =
	    MAX(job.mem_peak_kib, migration_mem_kib()); /* the dirty log goes at the end */
	bool live = job.src_status == MIGRATE_RUNNING || job.src_status == MIGRATE_NEED_PAUSE;
	src->vcpu.throttle_percent = live ? job.src.throttle_percent : 0;
}

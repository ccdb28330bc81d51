/* Runs on the host: make sim-migrate. Replays a trace of a pre-copy
 * migration (trace=migrate: the round figures each stop policy was given)
 * through the same policies and the engine's own decision code
 * (migrate_round_measure, migrate_round_decide: engine.c) and prints what
 * each policy would have done: rounds, bytes, predicted downtime.
 *
 * The replay: while a policy takes the recorded path (the same round, the
 * same dirty set to send, the same throttle), a round's figures are the
 * recorded ones. Once it leaves it (it goes on where the run stopped, or
 * throttles otherwise), a round sends what the previous one left at the
 * trace's bytes per page and bandwidth, and the VM dirties pages at the
 * trace's rate (per unthrottled second, scaled by the throttle, at most the
 * VM). --model leaves the path after round 1, to measure that model. */
#include "lib/lib.h"
#include "migrate/migrate.h"
#include "sim_trace.h"

#define ROUNDS_MAX MIGRATE_ROUNDS_RECORDED

struct trace {
	const char *path;
	char vm[32];
	unsigned rounds;
	struct migrate_round_stats round[ROUNDS_MAX];
	bool ended;
	char knobs[MIGRATE_TEXT_MAX];
	uint64_t state_bytes, stop_copy_pages, stop_copy_bytes, bytes, predicted_us, downtime_us,
	    total_us;
	unsigned rec_rounds;
	char stopped_by[16];
};

static bool take(void *ctx, const char *ev, const char *line, char *why, size_t why_len)
{
	struct trace *t = ctx;
	if (strcmp(ev, "trace_migrate"))
		return true; /* other events of the log: not ours */
	if (t->ended)
		return true; /* one migration per trace: the first */
	char vm[32];
	if (!json_str(line, "vm", vm, sizeof vm)) {
		snprintf(why, why_len, "no \"vm\"");
		return false;
	}
	snprintf(t->vm, sizeof t->vm, "%s", vm);
	uint64_t end = 0;
	if (json_u64(line, "end", &end) && end) {
		uint64_t rounds;
		if (!json_str(line, "knobs", t->knobs, sizeof t->knobs) ||
		    !json_str(line, "stopped_by", t->stopped_by, sizeof t->stopped_by) ||
		    !json_u64(line, "state_bytes", &t->state_bytes) ||
		    !json_u64(line, "rounds", &rounds) ||
		    !json_u64(line, "stop_copy_pages", &t->stop_copy_pages) ||
		    !json_u64(line, "stop_copy_bytes", &t->stop_copy_bytes) ||
		    !json_u64(line, "bytes", &t->bytes) ||
		    !json_u64(line, "predicted_downtime_us", &t->predicted_us) ||
		    !json_u64(line, "downtime_us", &t->downtime_us) ||
		    !json_u64(line, "total_us", &t->total_us)) {
			snprintf(why, why_len,
			         "an end line needs knobs, stopped_by, state_bytes, "
			         "rounds, stop_copy_pages, stop_copy_bytes, bytes, "
			         "predicted_downtime_us, downtime_us, total_us");
			return false;
		}
		t->rec_rounds = (unsigned)rounds;
		t->ended = true;
		return true;
	}
	struct migrate_round_stats s = {0};
	uint64_t round, throttle;
	if (!json_u64(line, "round", &round) || !json_u64(line, "vm_pages", &s.vm_pages) ||
	    !json_u64(line, "pages", &s.pages_sent) || !json_u64(line, "zero", &s.zero_pages) ||
	    !json_u64(line, "bytes", &s.bytes_sent) || !json_u64(line, "us", &s.duration_us) ||
	    !json_u64(line, "dirty", &s.dirty_pages) ||
	    !json_u64(line, "prev", &s.prev_dirty_pages) || !json_u64(line, "rtt_us", &s.rtt_us) ||
	    !json_u64(line, "throttle", &throttle)) {
		snprintf(why, why_len,
		         "a round line needs round, vm_pages, pages, zero, bytes, us, "
		         "dirty, prev, rtt_us, throttle");
		return false;
	}
	if (round != t->rounds + 1 || round > ROUNDS_MAX || !s.duration_us || !s.vm_pages) {
		snprintf(why, why_len, "round %llu out of order (expected %u, at most %u)",
		         (unsigned long long)round, t->rounds + 1, ROUNDS_MAX);
		return false;
	}
	/* The forecast's inputs since the commit handshake and the link model
	 * (absent from older traces: the smoothed RTT stands in). */
	json_u64(line, "scan_us", &s.scan_us);
	json_u64(line, "vm_us", &s.vm_us);
	json_u64(line, "commit_us", &s.commit_us);
	json_u64(line, "learned_Bps", &s.learned_Bps);
	json_u64(line, "learned_commit_us", &s.learned_commit_us);
	s.round = (unsigned)round;
	s.throttle_percent = (unsigned)throttle;
	t->round[t->rounds++] = s;
	return true;
}

struct result {
	unsigned rounds;
	uint64_t bytes, predicted_us, time_us;
	bool limit;
	unsigned max_throttle;
	unsigned on_path; /* rounds taken from the trace */
};

static struct result replay(const struct trace *t, const struct migrate_policy *policy,
                            struct migrate_params p, bool model)
{
	_Alignas(8) uint8_t state[MIGRATE_POLICY_STATE_MAX] = {0};
	p.state = state;
	p.state_bytes = t->state_bytes;
	for (unsigned i = 0; i < MIGRATE_ENGINE_KNOBS; i++)
		if (!p.engine[i])
			p.engine[i] = migrate_engine_knobs[i].def;
	if (policy->init)
		policy->init(&p);
	/* The model's figures, from the trace. */
	uint64_t later_pages = 0, later_bytes = 0, later_us = 0, dirty = 0, live_us = 0;
	for (unsigned i = 0; i < t->rounds; i++) {
		const struct migrate_round_stats *r = &t->round[i];
		if (i) {
			later_pages += r->pages_sent;
			later_bytes += r->bytes_sent;
			later_us += r->duration_us;
		}
		dirty += r->dirty_pages;
		live_us += r->duration_us * (100 - r->throttle_percent) / 100;
	}
	const struct migrate_round_stats *r1 = &t->round[0];
	double per_page = later_pages ? (double)later_bytes / (double)later_pages
	                  : r1->pages_sent > r1->zero_pages
	                      ? (double)r1->bytes_sent / (double)(r1->pages_sent - r1->zero_pages)
	                      : MIGRATE_PAGE_SIZE;
	double bw = later_us ? (double)later_bytes / (double)later_us
	                     : (double)r1->bytes_sent / (double)r1->duration_us; /* bytes per us */
	double rate = live_us ? (double)dirty / (double)live_us : 0;             /* pages per us */
	const struct migrate_round_stats *last = &t->round[t->rounds - 1];
	uint64_t rtt = last->rtt_us;

	struct result res = {0};
	bool on_path = true;
	unsigned throttle = 0;
	uint64_t prev = r1->vm_pages, total_pages = 0, total_bytes = 0;
	struct migrate_round_stats s;
	for (unsigned k = 1;; k++) {
		memset(&s, 0, sizeof s);
		s.round = k;
		s.vm_pages = r1->vm_pages;
		s.throttle_percent = throttle;
		s.prev_dirty_pages = prev;
		const struct migrate_round_stats *r = k <= t->rounds ? &t->round[k - 1] : NULL;
		if (on_path && r && r->prev_dirty_pages == prev &&
		    r->throttle_percent == throttle && !(model && k > 1)) {
			s.pages_sent = r->pages_sent;
			s.zero_pages = r->zero_pages;
			s.bytes_sent = r->bytes_sent;
			s.duration_us = r->duration_us;
			s.dirty_pages = r->dirty_pages;
			s.rtt_us = r->rtt_us;
			s.scan_us = r->scan_us;
			s.vm_us = r->vm_us;
			s.commit_us = r->commit_us;
			s.learned_Bps = r->learned_Bps;
			s.learned_commit_us = r->learned_commit_us;
			res.on_path++;
		} else {
			on_path = false;
			s.pages_sent = prev;
			s.bytes_sent = (uint64_t)(per_page * (double)prev + 0.5);
			s.duration_us = MAX((uint64_t)((double)s.bytes_sent / bw + 0.5), 1);
			double d = rate * (double)s.duration_us * (100 - throttle) / 100.0;
			s.dirty_pages = MIN((uint64_t)(d + 0.5), s.vm_pages);
			s.rtt_us = rtt;
			s.commit_us = last->commit_us;
			s.learned_Bps = last->learned_Bps;
			s.learned_commit_us = last->learned_commit_us;
		}
		s.total_pages_sent = total_pages + s.pages_sent;
		s.total_bytes_sent = total_bytes + s.bytes_sent;
		total_pages = s.total_pages_sent;
		total_bytes = s.total_bytes_sent;
		res.time_us += s.duration_us;
		migrate_round_measure(&s, &p);
		res.max_throttle = MAX(res.max_throttle, throttle);
		enum migrate_decision d = migrate_round_decide(policy, &p, &s, &throttle);
		if (d != MIGRATE_GO_ON) {
			res.limit = d == MIGRATE_STOP_ROUND_LIMIT;
			res.rounds = k;
			break;
		}
		prev = s.dirty_pages;
	}
	/* Stop-and-copy: as recorded where the run stopped there, else what is
	 * left at the bytes per page plus the recorded fixed part (state, commit). */
	uint64_t fixed =
	    t->stop_copy_bytes > (uint64_t)(per_page * (double)t->stop_copy_pages)
	        ? t->stop_copy_bytes - (uint64_t)(per_page * (double)t->stop_copy_pages)
	        : 0;
	uint64_t stop_bytes = on_path && res.rounds == t->rec_rounds
	                          ? t->stop_copy_bytes
	                          : (uint64_t)(per_page * (double)s.dirty_pages) + fixed;
	res.bytes = total_bytes + stop_bytes;
	res.predicted_us = s.predicted_downtime_us;
	res.time_us += res.predicted_us;
	return res;
}

static double pct(double a, double b)
{
	return b ? 100.0 * (a - b) / b : 0;
}

static void show(const struct trace *t, const char *label, const char *text, const struct result *r,
                 bool json, bool recorded)
{
	if (json) {
		printf(
		    "{\"trace\":\"%s\",\"vm\":\"%s\",\"policy\":\"%s\",\"replayed\":{\"rounds\":%u,"
		    "\"bytes\":%llu,\"predicted_downtime_us\":%llu,\"time_us\":%llu,"
		    "\"stopped_by\":\"%s\",\"max_throttle\":%u,\"rounds_from_trace\":%u}",
		    t->path, t->vm, text, r->rounds, (unsigned long long)r->bytes,
		    (unsigned long long)r->predicted_us, (unsigned long long)r->time_us,
		    r->limit ? "round_limit" : "policy", r->max_throttle, r->on_path);
		if (recorded)
			printf(",\"recorded\":{\"rounds\":%u,\"bytes\":%llu,\"predicted_downtime_"
			       "us\":%llu,"
			       "\"downtime_us\":%llu,\"total_us\":%llu,\"stopped_by\":\"%s\"}",
			       t->rec_rounds, (unsigned long long)t->bytes,
			       (unsigned long long)t->predicted_us,
			       (unsigned long long)t->downtime_us, (unsigned long long)t->total_us,
			       t->stopped_by);
		printf("}\n");
		return;
	}
	printf("  %-10s %-46.46s %6u %12llu %12.1f %10.1f  %s\n", label, text, r->rounds,
	       (unsigned long long)r->bytes, r->predicted_us / 1000.0, r->time_us / 1000.0,
	       r->limit ? "round_limit" : "policy");
	if (recorded) {
		printf("  %-10s %-46s %6u %12llu %12.1f %10.1f  %s (downtime %.1f ms)\n",
		       "recorded", "", t->rec_rounds, (unsigned long long)t->bytes,
		       t->predicted_us / 1000.0, t->total_us / 1000.0, t->stopped_by,
		       t->downtime_us / 1000.0);
		printf("  %-10s %-46s %+6d %+11.2f%% %+11.2f%% %+9.2f%%\n", "difference", "",
		       (int)r->rounds - (int)t->rec_rounds, pct((double)r->bytes, (double)t->bytes),
		       pct((double)r->predicted_us, (double)t->predicted_us),
		       pct((double)r->time_us, (double)t->total_us));
	}
}

static void usage(void)
{
	fprintf(stderr, "usage: sim_migrate [--json] [--model] [-p POLICY[:k=v,...]]... TRACE...\n"
	                "  POLICY as make exp-migrate takes it (round_limit= is the engine's);\n"
	                "  without -p, the policy of the recorded run only\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *specs[32];
	unsigned nspecs = 0;
	bool json = false, model = false;
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else if (!strcmp(argv[i], "--model"))
			model = true;
		else if (!strcmp(argv[i], "-p") && i + 1 < argc && nspecs < 32)
			specs[nspecs++] = argv[++i];
		else
			usage();
	}
	if (i == argc)
		usage();
	/* Every policy is checked by hv's own parser before any replay. */
	const struct migrate_policy *policies[32];
	struct migrate_params params[32];
	char texts[32][MIGRATE_TEXT_MAX];
	for (unsigned k = 0; k < nspecs; k++) {
		char words[MIGRATE_TEXT_MAX], err[200];
		policy_words(specs[k], words, sizeof words);
		memset(&params[k], 0, sizeof params[k]);
		if (migrate_params_parse(words, &policies[k], &params[k], err, sizeof err)) {
			fprintf(stderr, "sim-migrate: policy '%s': %s\n", specs[k], err);
			return 2;
		}
		migrate_params_format(policies[k], &params[k], texts[k], sizeof texts[k]);
	}
	for (; i < argc; i++) {
		static struct trace t;
		memset(&t, 0, sizeof t);
		t.path = argv[i];
		trace_read(argv[i], &t, take);
		if (!t.rounds || !t.ended) {
			fprintf(
			    stderr,
			    "%s: no trace_migrate rounds and end line: record with trace=migrate\n",
			    argv[i]);
			return 2;
		}
		const struct migrate_policy *rp;
		struct migrate_params rparams = {0};
		char err[200], rtext[MIGRATE_TEXT_MAX];
		if (migrate_params_parse(t.knobs, &rp, &rparams, err, sizeof err)) {
			fprintf(stderr, "%s: the recorded policy '%s': %s\n", argv[i], t.knobs,
			        err);
			return 2;
		}
		migrate_params_format(rp, &rparams, rtext, sizeof rtext);
		if (!json)
			printf(
			    "%s: VM %s, %llu pages, %u rounds recorded%s\n  %-10s %-46s %6s %12s "
			    "%12s %10s  %s\n",
			    t.path, t.vm, (unsigned long long)t.round[0].vm_pages, t.rounds,
			    model ? " (--model: rounds after the first from the model)" : "", "",
			    "policy", "rounds", "bytes", "downtime ms", "total ms", "stopped by");
		struct result r = replay(&t, rp, rparams, model);
		show(&t, "replayed", rtext, &r, json, true);
		for (unsigned k = 0; k < nspecs; k++) {
			if (!strcmp(texts[k], rtext))
				continue; /* the recorded one, shown above */
			r = replay(&t, policies[k], params[k], model);
			show(&t, "replayed", texts[k], &r, json, false);
		}
		if (!json)
			printf("  (predicted downtime: the engine's model, "
			       "migrate_predict_downtime_us; "
			       "total: rounds plus that downtime)\n");
	}
	return 0;
}

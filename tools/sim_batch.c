/* Runs on the host: make sim-batch. Replays a trace of what a vNIC's
 * batching saw (trace=batch: every packet with the ring state, timer
 * flushes, TX-completion interrupts, changes of policy) through the
 * mechanism hv runs (batch.c: batch_packet, batch_timer, batch_set_params,
 * and net_notify_now in ring.c) with each policy given, and prints the
 * experiments' figures: interrupts per received packet and the batching
 * delay (net_stats' rx_added_latency_ns per packet).
 *
 * What the trace fixes and a policy cannot change: packet times and ring
 * occupancy, the guest's event index (the latest one recorded before the
 * decision), TX-completion interrupts, and when hv's polled timer runs: a
 * deadline fires late by the recorded lateness of the next timer flush in
 * trace order (a flush a late packet made instead counts as "no poll
 * before the next packet"); past the recorded ones, by their median. */
#include "lib/lib.h"
#include "net/net.h"
#include "sim_trace.h"

enum kind { K_SET, K_RX, K_TX, K_TIMER, K_TXI };
#define LATE_PACKET UINT64_MAX

struct event {
	enum kind k;
	uint64_t t, late;
	uint32_t u, pr, pe;
	unsigned f;
	char text[BATCH_TEXT_MAX];
};

#define VMS_MAX 8
struct vm_trace {
	char name[16];
	struct event *ev;
	size_t n, cap;
	bool cut;
	bool have_stats;
	uint64_t interrupts, rx_packets, latency_ns;
	char batching[BATCH_TEXT_MAX];
};
struct trace {
	struct vm_trace vm[VMS_MAX];
	unsigned vms;
};

static struct vm_trace *vm_of(struct trace *t, const char *name)
{
	for (unsigned i = 0; i < t->vms; i++)
		if (!strcmp(t->vm[i].name, name))
			return &t->vm[i];
	if (t->vms == VMS_MAX)
		return NULL;
	struct vm_trace *v = &t->vm[t->vms++];
	memset(v, 0, sizeof *v);
	snprintf(v->name, sizeof v->name, "%s", name);
	return v;
}

#define NEED(cond, ...)                                                                            \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			snprintf(why, why_len, __VA_ARGS__);                                       \
			return false;                                                              \
		}                                                                                  \
	} while (0)

static bool take(void *ctx, const char *ev, const char *line, char *why, size_t why_len)
{
	struct trace *t = ctx;
	bool stats = !strcmp(ev, "net_stats"), cut = !strcmp(ev, "trace_batch_cut");
	if (strcmp(ev, "trace_batch") && !stats && !cut)
		return true; /* other events of the log */
	char name[16];
	NEED(json_str(line, "vm", name, sizeof name), "no \"vm\"");
	struct vm_trace *v = vm_of(t, name);
	NEED(v, "more than %d VMs", VMS_MAX);
	if (cut) {
		v->cut = true;
		return true;
	}
	if (stats) {
		NEED(json_u64(line, "interrupts", &v->interrupts) &&
		         json_u64(line, "rx_packets", &v->rx_packets) &&
		         json_u64(line, "rx_added_latency_ns", &v->latency_ns) &&
		         json_str(line, "batching", v->batching, sizeof v->batching),
		     "net_stats without interrupts, rx_packets, rx_added_latency_ns, batching");
		v->have_stats = true;
		return true;
	}
	struct event e = {0};
	char k[8];
	uint64_t u = 0, pr = 0, pe = 0, f = 0;
	NEED(json_str(line, "k", k, sizeof k) && json_u64(line, "t", &e.t),
	     "a trace_batch event needs \"k\" and \"t\"");
	if (!strcmp(k, "set")) {
		e.k = K_SET;
		NEED(json_str(line, "p", e.text, sizeof e.text), "a set event needs \"p\"");
	} else if (!strcmp(k, "rx")) {
		e.k = K_RX;
		NEED(json_u64(line, "u", &u) && json_u64(line, "pr", &pr) &&
		         json_u64(line, "pe", &pe) && json_u64(line, "f", &f),
		     "an rx event needs u, pr, pe, f");
	} else if (!strcmp(k, "tx")) {
		e.k = K_TX;
		NEED(json_u64(line, "u", &u) && json_u64(line, "f", &f), "a tx event needs u, f");
	} else if (!strcmp(k, "tm")) {
		e.k = K_TIMER;
		NEED(json_u64(line, "late", &e.late) && json_u64(line, "pr", &pr) &&
		         json_u64(line, "pe", &pe),
		     "a tm event needs late, pr, pe");
	} else if (!strcmp(k, "txi")) {
		e.k = K_TXI;
	} else {
		NEED(false, "unknown kind \"%s\" (set rx tx tm txi)", k);
	}
	NEED(u <= PVNET_RING_SIZE && f <= 3 && pr <= UINT32_MAX && pe <= UINT32_MAX,
	     "a value out of range");
	NEED(!v->n || e.t >= v->ev[v->n - 1].t, "time goes back");
	e.u = (uint32_t)u;
	e.pr = (uint32_t)pr;
	e.pe = (uint32_t)pe;
	e.f = (unsigned)f;
	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 1024;
		v->ev = realloc(v->ev, v->cap * sizeof *v->ev);
		if (!v->ev)
			exit(3);
	}
	v->ev[v->n++] = e;
	return true;
}

struct result {
	uint64_t interrupts, rx_packets, latency_ns, timer_flushes;
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* policy NULL: the recorded policies, as set in the trace. */
static struct result replay(const struct vm_trace *v, const struct batch_params *policy)
{
	/* The timer's lateness, in trace order. */
	uint64_t *late = malloc((v->n + 1) * sizeof *late), *finite = malloc((v->n + 1) * 8);
	size_t nlate = 0, nfinite = 0;
	for (size_t i = 0; i < v->n; i++) {
		const struct event *e = &v->ev[i];
		if (e->k == K_TIMER)
			late[nlate++] = finite[nfinite++] = e->late;
		else if ((e->k == K_RX || e->k == K_TX) && e->f == 3)
			late[nlate++] = LATE_PACKET;
	}
	qsort(finite, nfinite, sizeof *finite, cmp_u64);
	uint64_t median = nfinite ? finite[nfinite / 2] : 0;
	size_t next_late = 0;

	static struct batch_state b;
	struct result r = {0};
	bool started = false;
	uint32_t pr = 0, pe = 0, at_flush = 0;
	for (size_t i = 0; i < v->n; i++) {
		const struct event *e = &v->ev[i];
		/* hv's polled timer, before this event if it runs before it. */
		while (started) {
			uint64_t d = batch_next_deadline(&b);
			if (!d)
				break;
			uint64_t l = next_late < nlate ? late[next_late] : median;
			if (l == LATE_PACKET)
				break; /* no poll before the next packet */
			uint64_t at = d + l;
			if (at > e->t)
				break;
			next_late++;
			uint32_t tpr = pr, tpe = pe;
			if (e->k == K_TIMER && e->t == at) {
				tpr = e->pr;
				tpe = e->pe;
			}
			batch_timer(&b, NET_TX, at);
			if (batch_timer(&b, NET_RX, at)) {
				r.timer_flushes++;
				r.interrupts += net_notify_now(&b, true, tpe, tpr, at_flush);
				at_flush = tpr;
			}
		}
		switch (e->k) {
		case K_SET: {
			struct batch_params p;
			char err[200];
			if (policy) {
				p = *policy;
			} else if (batch_params_parse(e->text, &p, err, sizeof err)) {
				fprintf(stderr, "sim-batch: VM %s: recorded policy '%s': %s\n",
				        v->name, e->text, err);
				exit(2);
			}
			if (!started)
				batch_init(&b, &p);
			else if (batch_set_params(&b, &p, e->t))
				r.interrupts++;
			started = true;
			at_flush = pr;
			break;
		}
		case K_RX:
		case K_TX: {
			if (!started)
				break;
			enum net_dir dir = e->k == K_RX ? NET_RX : NET_TX;
			uint64_t timer_before = b.dir[dir].flushes_timer;
			bool flush = batch_packet(&b, dir, e->t, e->u);
			if (b.dir[dir].flushes_timer != timer_before && next_late < nlate)
				next_late++; /* the packet ran the late timer */
			if (dir == NET_RX) {
				pr = e->pr;
				pe = e->pe;
				if (net_notify_now(&b, flush, pe, pr, at_flush))
					r.interrupts++;
				if (flush)
					at_flush = pr;
			}
			break;
		}
		case K_TIMER:
			pr = e->pr;
			pe = e->pe;
			break;
		case K_TXI: r.interrupts++; break;
		}
	}
	r.rx_packets = b.dir[NET_RX].packets;
	r.latency_ns = r.rx_packets ? b.dir[NET_RX].added_latency_ns / r.rx_packets : 0;
	free(late);
	free(finite);
	return r;
}

static void show(const char *path, const struct vm_trace *v, const char *text,
                 const struct result *r, bool json, bool recorded)
{
	double ipp = r->rx_packets ? (double)r->interrupts / (double)r->rx_packets : 0;
	if (json) {
		printf("{\"trace\":\"%s\",\"vm\":\"%s\",\"policy\":\"%s\",\"replayed\":{"
		       "\"interrupts\":%llu,"
		       "\"rx_packets\":%llu,\"irq_per_packet\":%.4f,\"delay_us\":%.1f}",
		       path, v->name, text, (unsigned long long)r->interrupts,
		       (unsigned long long)r->rx_packets, ipp, r->latency_ns / 1000.0);
		if (recorded && v->have_stats)
			printf(",\"recorded\":{\"interrupts\":%llu,\"rx_packets\":%llu,\"irq_per_"
			       "packet\":%.4f,"
			       "\"delay_us\":%.1f}",
			       (unsigned long long)v->interrupts, (unsigned long long)v->rx_packets,
			       v->rx_packets ? (double)v->interrupts / (double)v->rx_packets : 0,
			       v->latency_ns / 1000.0);
		printf("}\n");
		return;
	}
	printf("  %-10s %-40.40s %8llu %8llu %9.4f %10.1f\n", "replayed", text,
	       (unsigned long long)r->rx_packets, (unsigned long long)r->interrupts, ipp,
	       r->latency_ns / 1000.0);
	if (recorded && v->have_stats) {
		double ripp = v->rx_packets ? (double)v->interrupts / (double)v->rx_packets : 0;
		printf("  %-10s %-40s %8llu %8llu %9.4f %10.1f\n", "recorded", "",
		       (unsigned long long)v->rx_packets, (unsigned long long)v->interrupts, ripp,
		       v->latency_ns / 1000.0);
		printf("  %-10s %-40s %+8lld %+8lld %+9.4f %+10.1f\n", "difference", "",
		       (long long)r->rx_packets - (long long)v->rx_packets,
		       (long long)r->interrupts - (long long)v->interrupts, ipp - ripp,
		       ((double)r->latency_ns - (double)v->latency_ns) / 1000.0);
	}
}

static void usage(void)
{
	fprintf(stderr,
	        "usage: sim_batch [--json] [-p POLICY[:k=v,...]]... TRACE...\n"
	        "  POLICY as make exp-net takes it; without -p, the recorded policies only\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct batch_params params[32];
	char texts[32][BATCH_TEXT_MAX];
	unsigned n = 0;
	bool json = false;
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (!strcmp(argv[i], "-p") && i + 1 < argc && n < 32) {
			char words[BATCH_TEXT_MAX], err[200];
			policy_words(argv[++i], words, sizeof words);
			if (batch_params_parse(words, &params[n], err, sizeof err)) {
				fprintf(stderr, "sim-batch: policy '%s': %s\n", argv[i], err);
				return 2;
			}
			batch_params_format(&params[n], texts[n], sizeof texts[n]);
			n++;
		} else {
			usage();
		}
	}
	if (i == argc)
		usage();
	for (; i < argc; i++) {
		static struct trace t;
		for (unsigned k = 0; k < t.vms; k++)
			free(t.vm[k].ev);
		memset(&t, 0, sizeof t);
		trace_read(argv[i], &t, take);
		unsigned shown = 0;
		for (unsigned k = 0; k < t.vms; k++) {
			const struct vm_trace *v = &t.vm[k];
			if (!v->n)
				continue;
			shown++;
			if (!json)
				printf("%s: VM %s, %zu events%s\n  %-10s %-40s %8s %8s %9s %10s\n",
				       argv[i], v->name, v->n,
				       v->cut ? " (cut: the trace hit its bound)" : "", "",
				       "policy", "rx pkts", "irqs", "irq/pkt", "delay us");
			struct result r = replay(v, NULL);
			show(argv[i], v, v->have_stats ? v->batching : "recorded", &r, json, true);
			for (unsigned p = 0; p < n; p++) {
				if (v->have_stats && !strcmp(texts[p], v->batching))
					continue;
				r = replay(v, &params[p]);
				show(argv[i], v, texts[p], &r, json, false);
			}
		}
		if (!shown) {
			fprintf(stderr, "%s: no trace_batch events: record with trace=batch\n",
			        argv[i]);
			return 2;
		}
	}
	return 0;
}

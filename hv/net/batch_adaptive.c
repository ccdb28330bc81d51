/* Runs in VM-exit context (and on the host in unit tests): adaptive packet
 * buffering after Shea, Wang and Liu (2014), section V-B. Every period the
 * share of sent packets p_s = n_s / (n_s + n_r) is sampled (0 when nothing
 * moved, their eq. 1) and smoothed; TX then waits p_s* x T_buf and RX
 * (1 - p_s*) x T_buf, so the busier direction batches more and the sum of
 * the two delays stays T_buf. Integers only: shares in per mille.
 *
 * Smoothing, alpha weighting the history as in the study (alpha 0.75
 * "slightly favours the historical samples"):
 *   true EWMA (default):  p_s*(t_i) = alpha p_s*(t_{i-1}) + (1 - alpha) p_s(t_i)
 *   variant=paper (eq. 2): p_s*(t_i) = alpha p_s(t_{i-1})  + (1 - alpha) p_s(t_i)
 * The printed formula mixes only the last two raw samples; we keep it as a
 * switch so the two can be compared. */
#include "net/net.h"

#define PERMILLE 1000u

enum { TBUF, ALPHA, PERIOD, VARIANT };
static const char *const variants[] = {"ewma", "paper", NULL};
enum { VARIANT_EWMA, VARIANT_PAPER };
static const struct knob adaptive_knobs[] = {
    [TBUF] = {.name = "tbuf",
              .kind = KNOB_DURATION,
              .def = 500 * NS_PER_US,
              .min = 0,
              .max = NS_PER_S,
              .help = "the two directions' buffer times add up to this"},
    [ALPHA] = {.name = "alpha",
               .kind = KNOB_NUMBER,
               .unit = "per mille",
               .def = 750, /* the study's 0.75 */
               .min = 0,
               .max = PERMILLE,
               .help = "weight of the history in the smoothing (750 is 0.75)"},
    /* The study's 5 s is longer than most of our emulated runs. */
    [PERIOD] = {.name = "period",
                .kind = KNOB_DURATION,
                .def = 10 * NS_PER_MS,
                .min = 100 * NS_PER_US,
                .max = 60 * NS_PER_S,
                .help = "how often the send ratio is sampled"},
    [VARIANT] = {.name = "variant",
                 .kind = KNOB_CHOICE,
                 .def = VARIANT_EWMA,
                 .choices = variants,
                 .help = "ewma: smooth the estimate; paper: the previous raw sample (eq. 2)"},
};

struct adaptive_state {
	uint32_t period_packets[NET_DIRS]; /* n_s, n_r this period */
	uint32_t last_sample;              /* p_s(t_{i-1}), per mille */
	uint32_t send_share;               /* the estimate p_s*, per mille */
};

static void adaptive_init(struct batch_state *s)
{
	struct adaptive_state *a = batch_private(s);
	/* No history yet: split T_buf evenly. */
	a->send_share = PERMILLE / 2;
	a->last_sample = PERMILLE / 2;
	s->period_ns = batch_knob(s, PERIOD);
}

/* This direction's buffer time in ns. */
static uint64_t buffer_ns(const struct batch_state *s, enum net_dir dir)
{
	const struct adaptive_state *a = batch_private_const(s);
	uint32_t share = dir == NET_TX ? a->send_share : PERMILLE - a->send_share;
	return batch_knob(s, TBUF) * share / PERMILLE;
}

static bool adaptive_on_packet(struct batch_state *s, enum net_dir dir, uint64_t now_ns)
{
	(void)now_ns;
	struct adaptive_state *a = batch_private(s);
	if (a->period_packets[dir] != UINT32_MAX)
		a->period_packets[dir]++;
	return buffer_ns(s, dir) == 0;
}

static uint64_t adaptive_deadline(const struct batch_state *s, enum net_dir dir)
{
	return s->dir[dir].oldest_ns + buffer_ns(s, dir);
}

static void adaptive_on_period(struct batch_state *s)
{
	struct adaptive_state *a = batch_private(s);
	uint64_t sent = a->period_packets[NET_TX];
	uint64_t received = a->period_packets[NET_RX];
	uint32_t sample = sent + received ? (uint32_t)(sent * PERMILLE / (sent + received)) : 0;
	uint32_t history = batch_knob(s, VARIANT) == VARIANT_PAPER ? a->last_sample : a->send_share;
	uint32_t alpha = (uint32_t)MIN(batch_knob(s, ALPHA), PERMILLE);
	/* Rounded to the nearest per mille; the weights sum to 1000, so the
	 * result stays within 0..1000. */
	a->send_share = (alpha * history + (PERMILLE - alpha) * sample + PERMILLE / 2) / PERMILLE;
	a->last_sample = sample;
	a->period_packets[NET_TX] = 0;
	a->period_packets[NET_RX] = 0;
}

const struct batch_policy batch_adaptive = {
    .name = "adaptive",
    .summary = "TX waits p_s x tbuf and RX (1 - p_s) x tbuf, p_s the smoothed send ratio",
    .uses_event_index = true,
    .knobs = adaptive_knobs,
    .knob_count = ARRAY_SIZE(adaptive_knobs),
    .state_size = sizeof(struct adaptive_state),
    .init = adaptive_init,
    .on_packet = adaptive_on_packet,
    .deadline = adaptive_deadline,
    .on_period = adaptive_on_period,
};

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

static void adaptive_init(struct batch_state *s)
{
	/* No history yet: split T_buf evenly. */
	s->adaptive.send_share = PERMILLE / 2;
	s->adaptive.last_sample = PERMILLE / 2;
}

/* This direction's buffer time in ns. */
static uint64_t buffer_ns(const struct batch_state *s, enum net_dir dir)
{
	uint32_t share = dir == NET_TX ? s->adaptive.send_share : PERMILLE - s->adaptive.send_share;
	return s->params.tbuf_ns * share / PERMILLE;
}

static bool adaptive_on_packet(struct batch_state *s, enum net_dir dir, uint64_t now_ns)
{
	(void)now_ns;
	if (s->adaptive.period_packets[dir] != UINT32_MAX)
		s->adaptive.period_packets[dir]++;
	return buffer_ns(s, dir) == 0;
}

static uint64_t adaptive_deadline(const struct batch_state *s, enum net_dir dir)
{
	return s->dir[dir].oldest_ns + buffer_ns(s, dir);
}

static void adaptive_on_period(struct batch_state *s)
{
	uint64_t sent = s->adaptive.period_packets[NET_TX];
	uint64_t received = s->adaptive.period_packets[NET_RX];
	uint32_t sample = sent + received ? (uint32_t)(sent * PERMILLE / (sent + received)) : 0;
	uint32_t history =
	    s->params.paper_variant ? s->adaptive.last_sample : s->adaptive.send_share;
	uint32_t alpha = s->params.alpha_permille > PERMILLE ? PERMILLE : s->params.alpha_permille;
	/* Rounded to the nearest per mille; the weights sum to 1000, so the
	 * result stays within 0..1000. */
	s->adaptive.send_share =
	    (alpha * history + (PERMILLE - alpha) * sample + PERMILLE / 2) / PERMILLE;
	s->adaptive.last_sample = sample;
	s->adaptive.period_packets[NET_TX] = 0;
	s->adaptive.period_packets[NET_RX] = 0;
}

const struct batch_policy batch_adaptive = {
    .name = "adaptive",
    .summary = "TX waits p_s x tbuf and RX (1 - p_s) x tbuf, p_s the smoothed send ratio",
    .uses_event_index = true,
    .init = adaptive_init,
    .on_packet = adaptive_on_packet,
    .deadline = adaptive_deadline,
    .on_period = adaptive_on_period,
};

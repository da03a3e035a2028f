/* paper.c - broker_ops for the paper exchange. */
#include "broker/paper.h"

static int submit(void *ctx, const order *o) { return matcher_submit(ctx, o); }
static int cancel(void *ctx, order_id id) { return matcher_cancel(ctx, id); }
static int replace(void *ctx, order_id old_id, const order *nw) {
  return matcher_replace(ctx, old_id, nw);
}
static void on_bar(void *ctx, const bar *b) { matcher_on_bar(ctx, b); }
static void on_trade(void *ctx, const trade *t) { matcher_on_trade(ctx, t); }
static void on_quote(void *ctx, const quote *q) { matcher_on_quote(ctx, q); }
static void on_time(void *ctx, dto_time t) { matcher_on_time(ctx, t); }
static size_t poll(void *ctx, broker_report *out, size_t max) {
  return matcher_poll(ctx, out, max);
}

static int open_orders(void *ctx, broker_open_order *out, size_t max,
                       size_t *n) {
  return matcher_open_orders(ctx, out, max, n);
}
static int positions(void *ctx, broker_position *out, size_t max, size_t *n) {
  return matcher_positions(ctx, out, max, n);
}

static bool needs_idle_bars(void *ctx) {
  return matcher_model(ctx) == FILL_BAR_CLOSE;
}

const broker_ops paper_broker_ops = {
    .name = "paper",
    .submit = submit,
    .cancel = cancel,
    .replace = replace,
    .on_bar = on_bar,
    .on_trade = on_trade,
    .on_quote = on_quote,
    .on_time = on_time,
    .poll = poll,
    .sync_reports = true,
    .needs_idle_bars = needs_idle_bars,
    .open_orders = open_orders,
    .positions = positions,
};

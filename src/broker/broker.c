/* broker.c - names for broker report kinds and reasons. */
#include "broker/broker.h"

static const char *const kind_names[REP_KIND_COUNT] = {
    "accepted", "rejected", "fill", "canceled",
    "expired",  "replaced", "cancel_reject"};
static const char *const reason_names[BRR_COUNT] = {
    "none",          "invalid",      "market_closed",
    "unknown_order", "ioc_remainder", "fok_unfilled",
    "day_end",       "requested",    "oco",
    "storage_fault", "unreconciled"};

const char *report_kind_name(enum report_kind k) {
  return (unsigned)k < REP_KIND_COUNT ? kind_names[k] : "?";
}
const char *broker_reason_name(int r) {
  return (unsigned)r < BRR_COUNT ? reason_names[r] : "?";
}

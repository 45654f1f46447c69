#pragma once
#include "metrics/registry.hpp"

namespace zuperior::metrics {

/// Registers the standard process_* metrics (CPU seconds, resident and virtual memory, open and
/// maximum file descriptors, start time), read from /proc at scrape time.
void register_process_metrics(registry& r);

}  // namespace zuperior::metrics

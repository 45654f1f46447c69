#pragma once
#include "cache/sync_client.hpp"
#include "ratelimit/store.hpp"

namespace zuperior::ratelimit {

/// A cache::reply as the limiter sees it (an array of integers, optionally ending with the string or
/// nil the script read; a string; or an error reply).
store_reply to_store_reply(cache::reply r);

}  // namespace zuperior::ratelimit

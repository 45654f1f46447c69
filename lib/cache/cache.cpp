#include "cache/cache.hpp"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "metrics/counter.hpp"
#include "metrics/registry.hpp"

namespace zuperior::cache {

namespace asio = boost::asio;

namespace {

struct cache_metrics {
  metrics::counter* hit;
  metrics::counter* miss;
  metrics::counter* error;
};

cache_metrics* shared_metrics() {
  // One set for the process: every worker's cache counts into the same children.
  static cache_metrics m = [] {
    auto& f = metrics::default_registry().add_counter("zuperior_cache_requests_total",
                                                      "Cache operations by result (hit, miss, error).", {"result"});
    return cache_metrics{&f.labels({"hit"}), &f.labels({"miss"}), &f.labels({"error"})};
  }();
  return &m;
}

}  // namespace

std::string escape_glob(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

cache::cache(std::shared_ptr<async_client> client) : client_(std::move(client)), metrics_(shared_metrics()) {}

void cache::count_error() {
  errors_.fetch_add(1, std::memory_order_relaxed);
  static_cast<cache_metrics*>(metrics_)->error->inc();
}

void cache::count_lookup(bool hit) noexcept {
  auto* m = static_cast<cache_metrics*>(metrics_);
  if (hit) {
    hits_.fetch_add(1, std::memory_order_relaxed);
    m->hit->inc();
  } else {
    misses_.fetch_add(1, std::memory_order_relaxed);
    m->miss->inc();
  }
}

asio::awaitable<std::optional<std::string>> cache::get(std::string_view key) {
  std::vector<std::string> args{"GET", client_->key(key)};
  auto r = co_await client_->command(std::move(args));
  if (!r) {
    count_error();
    co_return std::nullopt;
  }
  const bool hit = r.value.kind == reply::type::string;
  count_lookup(hit);
  if (!hit) co_return std::nullopt;
  co_return std::move(r.value.text);
}

asio::awaitable<bool> cache::set(std::string_view key, std::string value, std::chrono::seconds ttl) {
  std::vector<std::string> args{"SET", client_->key(key), std::move(value)};
  if (ttl.count() > 0) {
    args.emplace_back("EX");
    args.push_back(std::to_string(ttl.count()));
  }
  auto r = co_await client_->command(std::move(args));
  if (!r) count_error();
  co_return static_cast<bool>(r);
}

asio::awaitable<std::optional<nlohmann::json>> cache::get_json(std::string_view key) {
  auto text = co_await get(key);
  if (!text) co_return std::nullopt;
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded()) {
    spdlog::debug("cache: value of a key is not JSON; treated as a miss");
    co_return std::nullopt;
  }
  co_return j;
}

asio::awaitable<bool> cache::set_json(std::string_view key, const nlohmann::json& value, std::chrono::seconds ttl) {
  co_return co_await set(key, value.dump(), ttl);
}

asio::awaitable<bool> cache::del(std::string_view key) {
  std::vector<std::string> args{"DEL", client_->key(key)};
  auto r = co_await client_->command(std::move(args));
  if (!r) count_error();
  co_return static_cast<bool>(r);
}

asio::awaitable<std::int64_t> cache::del_by_pattern(std::string_view pattern, unsigned batch) {
  std::string match = escape_glob(client_->key_prefix());
  match += pattern;
  std::string cursor = "0";
  std::int64_t deleted = 0;
  bool unlink = true;  // UNLINK frees memory off the main thread; DEL for servers before 4.0
  do {
    std::vector<std::string> scan{"SCAN", cursor, "MATCH", match, "COUNT", std::to_string(batch ? batch : 500)};
    auto r = co_await client_->command(std::move(scan));
    if (!r || r.value.kind != reply::type::array || r.value.elements.size() != 2) {
      count_error();
      co_return deleted;
    }
    cursor = r.value.elements[0].text;
    auto& keys = r.value.elements[1].elements;
    if (!keys.empty()) {
      std::vector<std::string> del{unlink ? "UNLINK" : "DEL"};
      for (auto& k : keys) del.push_back(std::move(k.text));
      auto d = co_await client_->command(del);
      if (!d && unlink && d.ec == errc::error_reply) {
        unlink = false;
        del[0] = "DEL";
        d = co_await client_->command(std::move(del));
      }
      if (!d) {
        count_error();
        co_return deleted;
      }
      deleted += d.value.integer;
    }
  } while (cursor != "0");
  co_return deleted;
}

asio::awaitable<bool> cache::exists(std::string_view key) {
  std::vector<std::string> args{"EXISTS", client_->key(key)};
  auto r = co_await client_->command(std::move(args));
  if (!r) {
    count_error();
    co_return false;
  }
  co_return r.value.integer == 1;
}

asio::awaitable<std::int64_t> cache::ttl(std::string_view key) {
  std::vector<std::string> args{"TTL", client_->key(key)};
  auto r = co_await client_->command(std::move(args));
  if (!r) {
    count_error();
    co_return -1;
  }
  co_return r.value.integer;
}

}  // namespace zuperior::cache

#include "api/accounts_cache.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <nlohmann/json.hpp>

#include "cache/async_client.hpp"
#include "cache/cache.hpp"
#include "cache/subscriber.hpp"

namespace zuperior::api {

namespace net = boost::asio;

namespace {

// KEYS[1] the answer, KEYS[2] the user's fence, then for each of the n accounts its owner index
// entry and, after all of those, its account fence; ARGV: body, ttl seconds, user id, n. Nothing
// is stored while a fence stands: the rows may have been read before the change that set it.
constexpr const char* store_script =
    "local n = tonumber(ARGV[4]) "
    "if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end "
    "for i = 3 + n, 2 + 2 * n do if redis.call('EXISTS', KEYS[i]) == 1 then return 0 end end "
    "redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) "
    "for i = 3, 2 + n do redis.call('SET', KEYS[i], ARGV[3], 'EX', ARGV[2]) end "
    "return 1";

// KEYS[1] the owner index entry, KEYS[2] the account's fence; ARGV: the (prefixed) answer key and
// fence key without the user id, the fence's lifetime in seconds, the user id the update names
// ("" when none). The account's fence is set whether or not an answer lists the account: with
// the answer expired (and its owner index with it), a read of the old rows still under way would
// otherwise store them after the update. The owner comes from the index, else from the update.
constexpr const char* invalidate_script =
    "redis.call('SET', KEYS[2], '1', 'EX', ARGV[3]) "
    "local u = redis.call('GET', KEYS[1]) "
    "if not u and ARGV[4] ~= '' then u = ARGV[4] end "
    "if not u then return 0 end "
    "redis.call('SET', ARGV[2] .. u, '1', 'EX', ARGV[3]) "
    "return redis.call('DEL', ARGV[1] .. u)";

// KEYS[1] the answer, KEYS[2] the fence; ARGV[1] the fence's lifetime in seconds.
constexpr const char* drop_script =
    "redis.call('SET', KEYS[2], '1', 'EX', ARGV[1]) "
    "return redis.call('DEL', KEYS[1])";

std::string fence_key(std::string_view user_id) { return "accounts-fence:" + std::string(user_id); }

std::string account_fence_key(std::string_view account_id) { return "account-fence:" + std::string(account_id); }

std::string seconds(std::chrono::milliseconds d) {
  return std::to_string(std::max<std::int64_t>(1, (d.count() + 999) / 1000));
}

}  // namespace

std::string accounts_cache_key(std::string_view user_id) { return "accounts:" + std::string(user_id); }

std::string account_owner_key(std::string_view account_id) { return "account-owner:" + std::string(account_id); }

net::awaitable<bool> store_accounts(std::shared_ptr<cache::async_client> client, std::string user_id, std::string body,
                                    std::vector<std::string> account_ids, std::chrono::seconds ttl) {
  std::vector<std::string> cmd{"EVAL", store_script, std::to_string(2 + 2 * account_ids.size()),
                               client->key(accounts_cache_key(user_id)), client->key(fence_key(user_id))};
  for (const auto& a : account_ids) cmd.push_back(client->key(account_owner_key(a)));
  for (const auto& a : account_ids) cmd.push_back(client->key(account_fence_key(a)));
  cmd.push_back(std::move(body));
  cmd.push_back(std::to_string(std::max<std::int64_t>(1, ttl.count())));
  cmd.push_back(std::move(user_id));
  cmd.push_back(std::to_string(account_ids.size()));
  auto r = co_await client->command(std::move(cmd));
  co_return r&& r.value.kind == cache::reply::type::integer&& r.value.integer == 1;
}

net::awaitable<bool> invalidate_user_accounts(std::shared_ptr<cache::async_client> client, std::string user_id,
                                              std::chrono::milliseconds fence) {
  std::vector<std::string> cmd{
      "EVAL",        drop_script, "2", client->key(accounts_cache_key(user_id)), client->key(fence_key(user_id)),
      seconds(fence)};
  auto r = co_await client->command(std::move(cmd));
  co_return static_cast<bool>(r);
}

net::awaitable<bool> invalidate_account(std::shared_ptr<cache::async_client> client, std::string account_id,
                                        std::chrono::milliseconds fence, std::string user_id) {
  std::vector<std::string> cmd{"EVAL",
                               invalidate_script,
                               "2",
                               client->key(account_owner_key(account_id)),
                               client->key(account_fence_key(account_id)),
                               client->key(accounts_cache_key("")),
                               client->key(fence_key("")),
                               seconds(fence),
                               std::move(user_id)};
  auto r = co_await client->command(std::move(cmd));
  if (!r) {
    spdlog::debug("accounts cache: invalidation for account {} failed: {}", account_id, r.ec.message());
    co_return false;
  }
  co_return r.value.kind == cache::reply::type::integer&& r.value.integer > 0;
}

account_update_ref account_update_of(std::string_view payload) {
  account_update_ref out;
  auto j = nlohmann::json::parse(payload.begin(), payload.end(), nullptr, false);
  if (!j.is_object()) return out;
  auto id = [&j](const char* name) -> std::string {
    auto it = j.find(name);
    if (it == j.end()) return {};
    if (it->is_string()) return it->get<std::string>();
    if (it->is_number_integer()) return std::to_string(it->get<std::int64_t>());
    return {};
  };
  out.account_id = id("accountId");
  if (!out.account_id.empty()) out.user_id = id("userId");
  return out;
}

net::awaitable<void> drop_all_accounts(std::shared_ptr<cache::async_client> client) {
  cache::cache c(client);
  const auto dropped = co_await c.del_by_pattern(accounts_cache_key("*"));
  spdlog::debug("accounts cache: {} cached answer(s) dropped after the update channel (re)subscribed", dropped);
}

account_update_listener::account_update_listener(net::any_io_executor ex, const cache::client_options& opts,
                                                 std::string channel, std::shared_ptr<cache::async_client> client,
                                                 std::chrono::milliseconds fence)
    : ex_(ex), channel_(std::move(channel)), client_(std::move(client)), fence_(fence) {
  auto o = opts;
  o.name = "accounts-invalidation";
  sub_ = cache::subscriber::create(ex_, o);
}

account_update_listener::~account_update_listener() { stop(); }

void account_update_listener::start() {
  auto client = client_;
  auto ex = ex_;
  auto fence = fence_;
  sub_->subscribe({channel_}, [client, ex, fence](std::string_view, std::string_view payload) {
    auto ref = account_update_of(payload);
    if (ref.account_id.empty()) return;
    net::co_spawn(ex, invalidate_account(client, std::move(ref.account_id), fence, std::move(ref.user_id)),
                  net::detached);
  });
  // Updates published while the link was down are lost, and nothing says which answers they made
  // stale: every cached answer goes when the link is back (each instance's link, so a cluster
  // whose Redis restarted empties an already empty cache). The first subscription too: this
  // instance cannot know what was announced before it started.
  sub_->on_subscribed([client, ex] { net::co_spawn(ex, drop_all_accounts(client), net::detached); });
  sub_->start();
}

void account_update_listener::stop() {
  if (sub_) sub_->stop();
}

}  // namespace zuperior::api

#include "cache/subscriber.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstring>
#include <unordered_map>

#include "cache/link.hpp"
#include "core/error.hpp"
#include "metrics/counter.hpp"

namespace zuperior::cache {

namespace asio = boost::asio;

namespace detail {

struct sub_state {
  std::unordered_map<std::string, std::shared_ptr<subscriber::handler>> channels;
  std::unordered_map<std::string, std::shared_ptr<subscriber::handler>> patterns;
  // SUBSCRIBE/PSUBSCRIBE confirmations still expected on this connection. Changed on the executor
  // only; atomic because connected() is read by health checks and metrics on other threads.
  std::atomic<int> unconfirmed{0};
  // Set by on_ready until this connection's subscriptions are all confirmed (then on_subscribed runs).
  bool resubscribing = false;
  std::function<void()> on_subscribed;
  client_stats* stats = nullptr;
  metrics::counter* messages = nullptr;
};

}  // namespace detail

namespace {

using detail::sub_state;

std::string_view text(const redisReply* r) {
  return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) ? std::string_view(r->str, r->len)
                                                                               : std::string_view();
}

// The persistent callback of every SUBSCRIBE/PSUBSCRIBE: hiredis calls it for each confirmation
// and each message. `priv` is the sub_state, kept alive by the link's on_ready closure.
void push_cb(redisAsyncContext*, void* r, void* priv) {
  auto* rep = static_cast<redisReply*>(r);
  auto* st = static_cast<sub_state*>(priv);
  if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements < 3) return;
  auto kind = text(rep->element[0]);
  std::shared_ptr<subscriber::handler> fn;
  std::string_view channel, payload;
  if (kind == "message") {
    channel = text(rep->element[1]);
    payload = text(rep->element[2]);
    if (auto it = st->channels.find(std::string(channel)); it != st->channels.end()) fn = it->second;
  } else if (kind == "pmessage" && rep->elements >= 4) {
    channel = text(rep->element[2]);
    payload = text(rep->element[3]);
    if (auto it = st->patterns.find(std::string(text(rep->element[1]))); it != st->patterns.end()) fn = it->second;
  } else if (kind == "subscribe" || kind == "psubscribe") {
    if (st->unconfirmed.load(std::memory_order_relaxed) > 0) st->unconfirmed.fetch_sub(1, std::memory_order_relaxed);
    if (st->resubscribing && st->unconfirmed.load(std::memory_order_relaxed) == 0) {
      st->resubscribing = false;
      if (st->on_subscribed) st->on_subscribed();
    }
    return;
  } else {
    return;
  }
  st->stats->messages.fetch_add(1, std::memory_order_relaxed);
  if (st->messages) st->messages->inc();
  if (!fn || !*fn) return;
  try {
    (*fn)(channel, payload);
  } catch (const std::exception& e) {
    spdlog::error("redis pub/sub handler for {} failed: {}", channel, core::error_text(e));
  }
}

void send(redisAsyncContext* ac, sub_state* st, const char* verb, const std::vector<std::string>& names,
          bool expect_confirm) {
  if (!ac || names.empty()) return;
  std::vector<const char*> argv{verb};
  std::vector<size_t> lens{std::strlen(verb)};
  for (const auto& n : names) {
    argv.push_back(n.data());
    lens.push_back(n.size());
  }
  if (redisAsyncCommandArgv(ac, push_cb, st, static_cast<int>(argv.size()), argv.data(), lens.data()) == REDIS_OK &&
      expect_confirm)
    st->unconfirmed.fetch_add(static_cast<int>(names.size()), std::memory_order_relaxed);
}

std::vector<std::string> keys_of(const std::unordered_map<std::string, std::shared_ptr<subscriber::handler>>& m) {
  std::vector<std::string> out;
  out.reserve(m.size());
  for (const auto& [k, v] : m) out.push_back(k);
  return out;
}

}  // namespace

subscriber::subscriber(asio::any_io_executor ex, client_options opts)
    : ex_(std::move(ex)), opts_(std::move(opts)), stats_(std::make_shared<client_stats>()) {}

std::shared_ptr<subscriber> subscriber::create(asio::any_io_executor ex, client_options opts) {
  if (opts.name == "main") opts.name = "pubsub";
  auto ep = detail::parse_endpoint(opts.url);
  std::shared_ptr<subscriber> s(new subscriber(ex, std::move(opts)));
  s->state_ = std::make_shared<sub_state>();
  s->state_->stats = s->stats_.get();
  s->link_ = std::make_shared<detail::link>(ex, s->opts_, std::move(ep), s->stats_);
  s->state_->messages = s->link_->metrics().messages;
  // Every (re)connection subscribes to everything registered so far.
  s->link_->on_ready = [st = s->state_](redisAsyncContext* ac) {
    st->unconfirmed.store(0, std::memory_order_relaxed);
    send(ac, st.get(), "SUBSCRIBE", keys_of(st->channels), true);
    send(ac, st.get(), "PSUBSCRIBE", keys_of(st->patterns), true);
    st->resubscribing = st->unconfirmed.load(std::memory_order_relaxed) > 0;
    if (!st->resubscribing && st->on_subscribed) st->on_subscribed();
  };
  s->link_->on_down = [st = s->state_] {
    st->unconfirmed.store(0, std::memory_order_relaxed);
    st->resubscribing = false;
  };
  return s;
}

subscriber::~subscriber() {
  if (link_) asio::dispatch(ex_, [l = link_] { l->stop(); });
}

void subscriber::start() {
  asio::dispatch(ex_, [l = link_] { l->start(); });
}

void subscriber::stop() {
  asio::dispatch(ex_, [l = link_] { l->stop(); });
}

void subscriber::on_subscribed(std::function<void()> fn) {
  asio::dispatch(ex_, [st = state_, fn = std::move(fn)]() mutable { st->on_subscribed = std::move(fn); });
}

void subscriber::subscribe(const std::vector<std::string>& channels, handler fn) {
  auto h = std::make_shared<handler>(std::move(fn));
  asio::dispatch(ex_, [l = link_, st = state_, channels, h] {
    for (const auto& c : channels) st->channels[c] = h;
    send(l->context(), st.get(), "SUBSCRIBE", channels, true);
  });
}

void subscriber::psubscribe(const std::vector<std::string>& patterns, handler fn) {
  auto h = std::make_shared<handler>(std::move(fn));
  asio::dispatch(ex_, [l = link_, st = state_, patterns, h] {
    for (const auto& p : patterns) st->patterns[p] = h;
    send(l->context(), st.get(), "PSUBSCRIBE", patterns, true);
  });
}

void subscriber::unsubscribe(const std::vector<std::string>& channels) {
  asio::dispatch(ex_, [l = link_, st = state_, channels] {
    std::vector<std::string> known;
    for (const auto& c : channels)
      if (st->channels.erase(c)) known.push_back(c);
    send(l->context(), st.get(), "UNSUBSCRIBE", known, false);
  });
}

void subscriber::punsubscribe(const std::vector<std::string>& patterns) {
  asio::dispatch(ex_, [l = link_, st = state_, patterns] {
    std::vector<std::string> known;
    for (const auto& p : patterns)
      if (st->patterns.erase(p)) known.push_back(p);
    send(l->context(), st.get(), "PUNSUBSCRIBE", known, false);
  });
}

asio::awaitable<bool> subscriber::wait_connected(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  asio::steady_timer t(ex_);
  while (!connected() && !link_->stopped() && std::chrono::steady_clock::now() < deadline) {
    t.expires_after(std::chrono::milliseconds(10));
    boost::system::error_code ec;
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  co_return connected();
}

bool subscriber::connected() const noexcept {
  return link_->ready() && state_->unconfirmed.load(std::memory_order_relaxed) == 0;
}

}  // namespace zuperior::cache

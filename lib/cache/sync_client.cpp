#include "cache/sync_client.hpp"

#include <fmt/format.h>
#include <hiredis/hiredis.h>

#include <cerrno>

#include "cache/link.hpp"
#include "core/url.hpp"
#include "net/resolve_within.hpp"
#include "net/run_step.hpp"

namespace zuperior::cache {
namespace {

timeval to_timeval(std::chrono::milliseconds d) {
  return timeval{static_cast<time_t>(d.count() / 1000), static_cast<suseconds_t>((d.count() % 1000) * 1000)};
}

}  // namespace

std::unique_ptr<sync_client> sync_client::connect(const std::string& url, std::chrono::milliseconds timeout) {
  auto u = core::parse_url(url);
  if (!u || (u->scheme != "redis" && u->scheme != "rediss")) throw error("invalid Redis URL");
  if (u->scheme == "rediss") throw error("rediss:// (TLS) is not supported by this build; use a TLS-terminating proxy");
  const auto port = u->port.value_or(6379);
  // The name is looked up here, under the timeout: hiredis's own getaddrinfo is not bounded by it,
  // and a thread stuck in a lookup holds up whoever joins it (the daemon's health checker at stop).
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  boost::system::error_code ec;
  auto addrs = net::resolve_within(u->host, std::to_string(port), timeout, ec);
  if (ec || addrs.empty())
    throw error(fmt::format("cannot connect to Redis at {}:{}: cannot resolve {}: {}", u->host, port, u->host,
                            ec ? net::failure_text(ec, timeout) : "no address"));
  redisContext* c = nullptr;
  std::string last_error;
  for (const auto& a : addrs) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      last_error = net::failure_text(boost::asio::error::timed_out, timeout);
      break;
    }
    const auto ip = a.endpoint().address().to_string();
    c = redisConnectWithTimeout(ip.c_str(), static_cast<int>(port), to_timeval(left));
    if (!c) throw error("cannot allocate a Redis context");
    if (!c->err) break;
    last_error = c->errstr;
    redisFree(c);
    c = nullptr;
  }
  if (!c) throw error(fmt::format("cannot connect to Redis at {}:{}: {}", u->host, port, last_error));
  redisSetTimeout(c, to_timeval(timeout));
  std::unique_ptr<sync_client> client(new sync_client(c, timeout));
  if (u->has_password && !u->password.empty()) {
    std::vector<std::string> args{"AUTH"};
    if (!u->user.empty()) args.push_back(u->user);
    args.push_back(u->password);
    auto r = client->command(args);
    if (r.kind == reply::type::error) throw error("Redis AUTH failed: " + r.text);
  }
  if (u->path.size() > 1) {
    auto r = client->command({"SELECT", u->path.substr(1)});
    if (r.kind == reply::type::error) throw error("Redis SELECT failed: " + r.text);
  }
  return client;
}

sync_client::~sync_client() { redisFree(static_cast<redisContext*>(ctx_)); }

reply sync_client::command(const std::vector<std::string>& args) {
  auto* c = static_cast<redisContext*>(ctx_);
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* r = static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()));
  if (!r) {
    // A read past the socket timeout fails with EAGAIN (hiredis leaves errno as the read set it).
    const int err = errno;
    if (c->err == REDIS_ERR_IO && (err == EAGAIN || err == EWOULDBLOCK))
      throw error(fmt::format("Redis command failed: no answer within {} ms", timeout_.count()));
    throw error(fmt::format("Redis command failed: {}", c->errstr[0] ? c->errstr : "connection lost"));
  }
  reply out = detail::convert(r);  // shared with the asynchronous client
  freeReplyObject(r);
  return out;
}

void sync_client::write_probe(const std::string& key) {
  auto r = command({"SET", key, "1", "PX", "10000"});
  if (r.kind == reply::type::error) throw error("refuses writes: " + r.text);
}

void sync_client::ping() {
  auto r = command({"PING"});
  if (r.kind != reply::type::status || r.text != "PONG") throw error("unexpected PING reply: " + r.text);
}

}  // namespace zuperior::cache

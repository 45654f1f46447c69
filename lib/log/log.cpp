#include "log/log.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <mutex>

#include "core/redact.hpp"
#include "core/strings.hpp"

namespace zuperior::log {
namespace {

constexpr std::string_view access_logger_name = "access";

// The access log: a logger of its own on the same sink, so that in JSON format its records can be
// written as fields instead of one message string. Set by install() before any thread logs.
std::shared_ptr<spdlog::logger> access_logger;
bool json_format = false;

// Writes one line per record, text or JSON, after masking secrets; the redaction runs only when a
// line could hold one, so ordinary access-log lines stay cheap.
class redacting_sink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  redacting_sink(FILE* out, bool json, std::vector<std::string> secrets)
      : out_(out), json_(json), secrets_(std::move(secrets)) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    std::string text(msg.payload.data(), msg.payload.size());
    if (needs_redaction(text)) text = core::redact_text(text, secrets_);
    auto ts = std::chrono::duration_cast<std::chrono::microseconds>(msg.time.time_since_epoch()).count();
    std::time_t secs = static_cast<std::time_t>(ts / 1000000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    auto level = spdlog::level::to_string_view(msg.level);
    std::string line;
    if (json_ && msg.logger_name == access_logger_name) {
      // The access logger's payload is already the record's JSON fields (see access()).
      line = fmt::format("{{\"ts\":\"{}.{:06}Z\",\"level\":\"{}\",\"msg\":\"access\",{}}}\n", stamp, ts % 1000000,
                         std::string_view(level.data(), level.size()), text);
    } else if (json_) {
      line = fmt::format("{{\"ts\":\"{}.{:06}Z\",\"level\":\"{}\",\"msg\":{}}}\n", stamp, ts % 1000000,
                         std::string_view(level.data(), level.size()), core::quote(text));
    } else {
      line = fmt::format("{}.{:03}Z {:<5} {}\n", stamp, (ts / 1000) % 1000,
                         std::string_view(level.data(), level.size()), text);
    }
    std::fwrite(line.data(), 1, line.size(), out_);
  }
  void flush_() override { std::fflush(out_); }

 private:
  bool needs_redaction(std::string_view t) const {
    if (t.find("://") != std::string_view::npos || t.find("earer") != std::string_view::npos ||
        t.find("eyJ") != std::string_view::npos || t.find("assword") != std::string_view::npos)
      return true;
    for (const auto& s : secrets_)
      if (s.size() >= 4 && t.find(s) != std::string_view::npos) return true;
    return false;
  }

  FILE* out_;
  bool json_;
  std::vector<std::string> secrets_;
};

void install(FILE* out, std::string_view level, bool json, std::vector<std::string> secrets, bool daemon) {
  auto sink = std::make_shared<redacting_sink>(out, json, std::move(secrets));
  auto logger = std::make_shared<spdlog::logger>("zuperior", sink);
  spdlog::set_default_logger(logger);
  access_logger = std::make_shared<spdlog::logger>(std::string(access_logger_name), sink);
  json_format = json;
  set_level(level);
  if (daemon) {
    spdlog::flush_on(spdlog::level::warn);
    spdlog::flush_every(std::chrono::seconds(1));
  } else {
    // A command-line tool: every line at once, and no flusher thread. A thread started here would
    // not have the signal mask a tool sets later (migrate up waits for SIGINT with sigtimedwait):
    // a SIGINT the shell had set to be ignored was then discarded in that thread instead.
    spdlog::flush_on(spdlog::level::trace);
  }
}

}  // namespace

void init(std::string_view level, std::string_view format, std::vector<std::string> secrets) {
  install(stdout, level, format == "json", std::move(secrets), true);
}

void init_stderr(std::string_view level) { install(stderr, level, false, {}, false); }

bool set_level(std::string_view level) {
  auto l = spdlog::level::from_str(std::string(level));
  if (l == spdlog::level::off && level != "off") return false;
  spdlog::set_level(l);
  if (access_logger) access_logger->set_level(l);
  return true;
}

void access(const access_entry& e) {
  auto* l = access_logger ? access_logger.get() : spdlog::default_logger_raw();
  if (!l->should_log(spdlog::level::info)) return;
  const double ms = static_cast<double>(e.duration_us) / 1000.0;
  if (json_format && access_logger) {
    l->info(R"("request_id":{},"method":{},"route":{},"status":{},"bytes":{},"duration_ms":{:.3f},"identity":{})",
            core::quote(e.request_id), core::quote(e.method), core::quote(e.route), e.status, e.bytes, ms,
            core::quote(e.identity));
  } else {
    l->info("[{}] {} {} {} {}B {:.3f}ms {}", e.request_id, e.method, e.route, e.status, e.bytes, ms, e.identity);
  }
}

}  // namespace zuperior::log

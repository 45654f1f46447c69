#include "config/loader.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <system_error>

#include "config/dotenv.hpp"
#include "config/schema.hpp"
#include "core/error.hpp"
#include "core/file.hpp"
#include "core/strings.hpp"
#include "core/url.hpp"

extern char** environ;

namespace zuperior::config {
namespace {

// Levenshtein distance, for "did you mean" hints on unknown keys.
std::size_t distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t prev = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t cur = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] == b[j - 1] ? 0 : 1)});
      prev = cur;
    }
  }
  return row[b.size()];
}

std::string suggest(std::string_view wrong, bool env_style) {
  std::string best;
  std::size_t best_d = 4;
  for (const auto& k : schema()) {
    std::string candidate = env_style ? k.env_name() : k.path;
    std::size_t d = distance(wrong, candidate);
    if (d < best_d) best_d = d, best = candidate;
  }
  return best.empty() ? "" : fmt::format("did you mean {}?", best);
}

class builder {
 public:
  loaded_config out;

  // Parses `text` for `spec` and stores it with its source; a bad value becomes an error.
  void apply(const key_spec& spec, const std::string& text, const source& from,
             const std::vector<std::string>* items = nullptr) {
    auto r = parse_value(spec, text, items);
    if (!r.parsed) {
      add_error(spec, from, r.error, r.hint, display_value(spec, text));
      return;
    }
    spec.assign(out.values, *r.parsed);
    out.sources[spec.path] = from;
    out.texts[spec.path] = items ? fmt::format("{}", fmt::join(*items, ",")) : text;
    if (spec.path == "database.url") apply_database_url_params(text, from);
  }

  void add_error(const key_spec& spec, const source& from, std::string message, std::string hint, std::string value) {
    diagnostic d;
    d.key = spec.path;
    d.variable = variable_for(spec, from);
    d.message = std::move(message);
    d.hint = std::move(hint);
    d.value = std::move(value);
    d.from = from;
    out.problems.push_back(std::move(d));
  }

  void add_file_problem(diagnostic::level level, const source& from, std::string message, std::string hint,
                        std::string variable = {}) {
    diagnostic d;
    d.severity = level;
    d.variable = std::move(variable);
    d.message = std::move(message);
    d.hint = std::move(hint);
    d.from = from;
    out.problems.push_back(std::move(d));
  }

 private:
  static std::string variable_for(const key_spec& spec, const source& from) {
    if (from.where == source::kind::environment || from.where == source::kind::env_file ||
        from.where == source::kind::file)
      return from.name;
    return spec.aliases.empty() ? spec.env_name() : spec.aliases.front();
  }

  // What a URL parameter replaced, per key: the text and source it had (nullopt: the default).
  std::map<std::string, std::optional<std::pair<std::string, source>>> before_url_;

  // Prisma-style pool settings carried in DATABASE_URL's query string. They belong to that URL: a
  // later (higher-precedence) DATABASE_URL first gives back what the earlier one's parameters
  // replaced. Kept, .env's "?connection_limit=3" set the pool of the environment's URL.
  void apply_database_url_params(const std::string& text, const source& from) {
    for (auto& [key, prior] : before_url_) {
      auto cur = out.sources.find(key);
      if (cur == out.sources.end() || cur->second.name.find('?') == std::string::npos) continue;  // set since
      const key_spec& spec = *find_key(key);
      if (prior) {
        apply(spec, prior->first, prior->second);
      } else {
        if (auto d = parse_value(spec, spec.render(settings{}), nullptr); d.parsed) spec.assign(out.values, *d.parsed);
        out.sources.erase(key);
        out.texts.erase(key);
      }
    }
    before_url_.clear();
    auto u = core::parse_url(text);
    if (!u) return;
    struct param {
      const char* name;
      const char* key;
      bool seconds;
    };
    for (auto p :
         {param{"connection_limit", "database.pool_size", false}, param{"pool_timeout", "database.pool_timeout", true},
          param{"connect_timeout", "database.connect_timeout", true}}) {
      auto it = u->query.find(p.name);
      if (it == u->query.end()) continue;
      source s = from;
      s.name = fmt::format("{}?{}", from.name.empty() ? "DATABASE_URL" : from.name, p.name);
      std::string v = it->second;
      if (auto cur = out.sources.find(p.key); cur != out.sources.end())
        before_url_[p.key] = std::make_pair(out.texts[p.key], cur->second);
      else
        before_url_[p.key] = std::nullopt;
      // Prisma gives these timeouts in seconds; a bare number here means seconds too.
      apply(*find_key(p.key), v, s);
    }
  }
};

void load_yaml(builder& b, const std::string& file, bool required) {
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) {
    if (required)
      b.add_file_problem(diagnostic::level::error, {source::kind::yaml, file, 0, ""},
                         fmt::format("configuration file {} does not exist", core::quote(file)),
                         "check the --config path");
    return;
  }
  std::string text;
  try {
    text = core::read_file(file, core::max_config_file_bytes);
  } catch (const std::exception& e) {
    b.add_file_problem(diagnostic::level::error, {source::kind::yaml, file, 0, ""}, e.what(),
                       "check the file's permissions; a named pipe needs a writer");
    return;
  }
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    b.add_file_problem(diagnostic::level::error, {source::kind::yaml, file, e.mark.is_null() ? 0 : e.mark.line + 1, ""},
                       "YAML syntax error: " + e.msg, "fix the YAML syntax at that line");
    return;
  }
  if (root.IsNull()) return;
  if (!root.IsMap()) {
    b.add_file_problem(diagnostic::level::error, {source::kind::yaml, file, root.Mark().line + 1, ""},
                       "the top level must be a mapping of sections (server:, database:, …)",
                       "see configs/zuperior.yaml");
    return;
  }
  std::set<std::string> sections;
  for (const auto& k : schema()) sections.insert(k.path.substr(0, k.path.find('.')));
  for (auto it = root.begin(); it != root.end(); ++it) {
    std::string section = it->first.Scalar();
    int line = it->first.Mark().line + 1;
    if (!sections.count(section)) {
      b.add_file_problem(diagnostic::level::error, {source::kind::yaml, file, line, section},
                         fmt::format("unknown section {}", core::quote(section)),
                         fmt::format("known sections: {}", fmt::join(sections, ", ")));
      continue;
    }
    if (it->second.IsNull()) continue;
    if (!it->second.IsMap()) {
      b.add_file_problem(diagnostic::level::error, {source::kind::yaml, file, line, section},
                         fmt::format("section {} must be a mapping", core::quote(section)), "indent its keys under it");
      continue;
    }
    for (auto kv = it->second.begin(); kv != it->second.end(); ++kv) {
      std::string path = section + "." + kv->first.Scalar();
      source from{source::kind::yaml, file, kv->first.Mark().line + 1, path};
      const key_spec* spec = find_key(path);
      if (!spec) {
        b.add_file_problem(diagnostic::level::error, from, fmt::format("unknown key {}", core::quote(path)),
                           suggest(path, false));
        continue;
      }
      const YAML::Node v = kv->second;  // a handle: the iterator's -> yields a temporary
      if (v.IsNull()) continue;         // "key:" with nothing keeps the default
      if (v.IsSequence()) {
        if (spec->type != kind::list) {
          b.add_error(*spec, from, "expected a single value, found a list", "give one value", "");
          continue;
        }
        std::vector<std::string> items;
        bool ok = true;
        for (const auto& item : v) {
          if (!item.IsScalar())
            ok = false;
          else
            items.push_back(item.Scalar());
        }
        if (!ok) {
          b.add_error(*spec, from, "list items must be plain values", "write one value per item", "");
          continue;
        }
        b.apply(*spec, "", from, &items);
      } else if (v.IsMap()) {
        b.add_error(*spec, from, "expected a value, found a mapping", "give one value", "");
      } else {
        b.apply(*spec, v.Scalar(), from);
      }
    }
  }
}

// Names that start with ZUPERIOR_ but are not configuration (set by our own scripts and tests).
bool reserved_env(std::string_view name) {
  return name == "ZUPERIOR_BIN" || name == "ZUPERIOR_SOURCE_DIR" || name == "ZUPERIOR_BUILD_DIR" ||
         name.substr(0, 14) == "ZUPERIOR_TEST_" || name == "ZUPERIOR_CONFIG" || name == "ZUPERIOR_ENV_FILE";
}

void load_env_file(builder& b, const std::string& file, bool required) {
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) {
    if (required)
      b.add_file_problem(diagnostic::level::error, {source::kind::env_file, file, 0, ""},
                         fmt::format(".env file {} does not exist", core::quote(file)), "check the --env-file path");
    return;
  }
  std::string text;
  try {
    text = core::read_file(file, core::max_config_file_bytes);
  } catch (const std::exception& e) {
    b.add_file_problem(diagnostic::level::error, {source::kind::env_file, file, 0, ""}, e.what(),
                       "check the file's permissions; a named pipe needs a writer");
    return;
  }
  auto parsed = parse_dotenv(text);
  for (const auto& e : parsed.errors)
    b.add_file_problem(diagnostic::level::error, {source::kind::env_file, file, e.line, ""},
                       "malformed line: " + e.message, "write KEY=VALUE; quote values containing spaces or '#'");
  // Aliases first, then ZUPERIOR_ names, so the more specific spelling wins within one file.
  for (int pass = 0; pass < 2; ++pass) {
    for (const auto& e : parsed.entries) {
      bool ours = e.key.rfind("ZUPERIOR_", 0) == 0;
      if (ours != (pass == 1)) continue;
      source from{source::kind::env_file, file, e.line, e.key};
      if (const key_spec* spec = find_env(e.key)) {
        b.apply(*spec, e.value, from);
      } else if (ours && !reserved_env(e.key)) {
        b.add_file_problem(diagnostic::level::error, from, fmt::format("unknown variable {}", e.key),
                           suggest(e.key, true), e.key);
      }
    }
  }
}

void load_environment(builder& b, const std::vector<std::pair<std::string, std::string>>& env) {
  for (int pass = 0; pass < 2; ++pass) {
    for (const auto& [name, value] : env) {
      bool ours = name.rfind("ZUPERIOR_", 0) == 0;
      if (ours != (pass == 1)) continue;
      source from{source::kind::environment, "", 0, name};
      if (const key_spec* spec = find_env(name)) {
        b.apply(*spec, value, from);
      } else if (ours && !reserved_env(name)) {
        b.add_file_problem(diagnostic::level::warning, from, fmt::format("unknown variable {} is ignored", name),
                           suggest(name, true), name);
      }
    }
  }
}

}  // namespace

std::string source::describe() const {
  switch (where) {
    case kind::default_value:
      return "default";
    case kind::yaml:
      return line ? fmt::format("{}:{}", file, line) : file;
    case kind::env_file:
      if (!line) return file;
      return name.empty() ? fmt::format("{}:{}", file, line) : fmt::format("{}:{} ({})", file, line, name);
    case kind::environment:
      return fmt::format("environment {}", name);
    case kind::flag:
      return fmt::format("flag {}", name);
    case kind::file:
      return line ? fmt::format("{}:{}", file, line) : file;
  }
  return "";
}

std::string source::kind_name() const {
  switch (where) {
    case kind::default_value:
      return "default";
    case kind::yaml:
      return "yaml";
    case kind::env_file:
      return "env_file";
    case kind::environment:
      return "environment";
    case kind::flag:
      return "flag";
    case kind::file:
      return "file";
  }
  return "";
}

std::size_t error_count(const diagnostics& d) {
  return static_cast<std::size_t>(
      std::count_if(d.begin(), d.end(), [](const diagnostic& x) { return x.severity == diagnostic::level::error; }));
}

source loaded_config::source_of(const std::string& path) const {
  auto it = sources.find(path);
  return it == sources.end() ? source{} : it->second;
}

std::vector<std::pair<std::string, std::string>> process_environment() {
  std::vector<std::pair<std::string, std::string>> out;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    auto eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    out.emplace_back(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  return out;
}

// market.symbols_path (the seed's MARKET_DATA_SYMBOLS_PATH): one symbol a line, blank lines and
// '#' comments ignored. The list replaces market.symbols; every bad line is reported with its number.
void load_symbols_file(builder& b) {
  const std::string path = b.out.values.market.symbols_path;
  if (path.empty()) return;
  const key_spec& spec = *find_key("market.symbols");
  const key_spec& path_spec = *find_key("market.symbols_path");
  const auto path_from = b.out.source_of("market.symbols_path");
  // A FIFO or a device would never end, and a huge file is not a symbol list: refuse both unread.
  constexpr std::uintmax_t max_size = 1 << 20;
  std::error_code ec;
  const bool regular = std::filesystem::is_regular_file(path, ec);
  const std::uintmax_t size = regular ? std::filesystem::file_size(path, ec) : 0;
  std::ifstream in;
  if (regular && !ec && size <= max_size) in.open(path);
  if (!in.is_open()) {
    std::string why = !regular && !ec   ? "is not a regular file"
                      : ec              ? fmt::format("cannot be read: {}", ec.message())
                      : size > max_size ? "is larger than 1 MiB"
                                        : fmt::format("cannot be read: {}", std::generic_category().message(errno));
    b.add_error(path_spec, path_from, fmt::format("{} {}", path, why),
                "point MARKET_DATA_SYMBOLS_PATH at a readable file of symbols, one a line", path);
    return;
  }
  constexpr int max_reported = 20;
  std::vector<std::string> symbols;
  int bad = 0;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    const std::string item(core::trim(line));
    if (item.empty() || item.front() == '#') continue;
    const std::vector<std::string> one{item};
    auto r = parse_value(spec, item, &one);
    if (!r.parsed) {
      // The line number and the reason, never the line: the path may name a .env by mistake.
      if (++bad <= max_reported)
        b.add_error(spec, {source::kind::file, path, n, "MARKET_DATA_SYMBOLS_PATH"}, r.error, "fix or remove that line",
                    "");
      continue;
    }
    symbols.push_back(item);
  }
  if (bad > max_reported)
    b.add_error(path_spec, path_from, fmt::format("{} more bad lines in {}", bad - max_reported, path),
                "is it a symbol list? one symbol a line", path);
  if (bad) return;
  if (symbols.empty()) {
    b.add_error(path_spec, path_from, fmt::format("{} lists no symbols", path), "one symbol a line, e.g. EURUSD", path);
    return;
  }
  b.apply(spec, fmt::format("{}", fmt::join(symbols, ",")), {source::kind::file, path, 0, "MARKET_DATA_SYMBOLS_PATH"},
          &symbols);
}

loaded_config load(const load_options& options) {
  builder b;
  if (!options.config_file.empty()) load_yaml(b, options.config_file, options.config_required);
  if (!options.env_file.empty()) load_env_file(b, options.env_file, options.env_file_required);
  load_environment(b, options.environment);
  for (const auto& f : options.flags) {
    source from{source::kind::flag, "", 0, f.flag};
    if (const key_spec* spec = find_key(f.path))
      b.apply(*spec, f.text, from);
    else
      b.add_file_problem(diagnostic::level::error, from, fmt::format("unknown key {}", core::quote(f.path)),
                         suggest(f.path, false));
  }
  if (!options.profile.empty())
    b.apply(*find_key("app.env"), options.profile, {source::kind::flag, "", 0, "--profile"});
  load_symbols_file(b);
  return std::move(b.out);
}

}  // namespace zuperior::config

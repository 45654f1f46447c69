#include "migrate/migration.hpp"

#include <fmt/format.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "core/strings.hpp"
#include "core/units.hpp"
#include "migrate/error.hpp"

namespace zuperior::migrate {

std::string sha256_hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
  std::string hex;
  hex.reserve(len * 2);
  for (unsigned i = 0; i < len; ++i) hex += fmt::format("{:02x}", digest[i]);
  return hex;
}

std::string prefix_checksum(const migration& m, std::size_t n) {
  std::string all;
  for (std::size_t i = 0; i < n && i < m.statements.size(); ++i) all.append(m.statements[i].text).push_back('\0');
  return sha256_hex(all);
}

std::optional<std::pair<int, std::string>> parse_file_name(std::string_view name) {
  if (name.size() < 5 || name.substr(name.size() - 4) != ".sql") return std::nullopt;
  std::size_t digits = 0;
  while (digits < name.size() && std::isdigit(static_cast<unsigned char>(name[digits]))) ++digits;
  if (digits == 0 || digits > 9) return std::nullopt;
  std::string_view rest = name.substr(digits, name.size() - 4 - digits);
  if (!rest.empty() && rest[0] != '_') return std::nullopt;
  std::string description(rest.empty() ? rest : rest.substr(1));
  std::replace(description.begin(), description.end(), '_', ' ');
  return std::make_pair(std::stoi(std::string(name.substr(0, digits))), description);
}

migration parse_migration(std::string_view file_name, std::string_view content, std::string path) {
  migration m;
  m.file_name = std::string(file_name);
  m.path = path.empty() ? m.file_name : std::move(path);
  auto parsed = parse_file_name(file_name);
  if (!parsed) throw error(fmt::format("{}: the file name has no version: expected NNNN_description.sql", m.path));
  m.version = parsed->first;
  m.version_text = std::string(file_name.substr(0, file_name.find_first_not_of("0123456789")));
  m.description = parsed->second;
  m.checksum = sha256_hex(content);
  // A NUL byte (a zero-filled block after a crash): libpq sends a statement up to its first NUL,
  // so "DELETE FROM t<NUL> WHERE …" would run as "DELETE FROM t". A migration is text.
  if (auto z = content.find('\0'); z != std::string_view::npos)
    throw error(
        fmt::format("{}:{}: a NUL byte in the file (a migration is text: PostgreSQL would get the "
                    "statement cut short there)",
                    m.path, 1 + std::count(content.begin(), content.begin() + static_cast<long>(z), '\n')));
  // A UTF-8 byte-order mark (some Windows editors write one) is not SQL: with it the header's
  // directives were not seen and the first statement began with it. The checksum keeps the bytes.
  if (content.substr(0, 3) == "\xEF\xBB\xBF") content.remove_prefix(3);
  // Header directives: "-- zuperior:<name> [value]" on the comment lines before the first statement.
  std::istringstream in{std::string(content)};
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    auto l = core::trim(line);
    if (l.empty()) continue;
    if (l.substr(0, 2) != "--") break;
    auto body = core::trim(l.substr(2));
    if (body.substr(0, 9) != "zuperior:") continue;
    auto directive = core::trim(body.substr(9));
    auto space = directive.find_first_of(" \t");
    std::string key(directive.substr(0, space));
    std::string value(space == std::string_view::npos ? "" : core::trim(directive.substr(space)));
    auto duration = [&]() {
      auto d = core::parse_duration(value);
      if (!d)
        throw error(fmt::format("{}:{}: zuperior:{} needs a duration like 5s or 10m, got {}", m.path, n, key,
                                core::quote(value)));
      return std::chrono::duration_cast<std::chrono::milliseconds>(*d);
    };
    if (key == "no-transaction")
      m.transactional = false;
    else if (key == "lock-timeout")
      m.lock_timeout = duration();
    else if (key == "statement-timeout")
      m.statement_timeout = duration();
    else if (key == "lint-ignore")
      continue;
    else
      throw error(
          fmt::format("{}:{}: unknown directive zuperior:{} (known: no-transaction, lock-timeout, "
                      "statement-timeout, lint-ignore)",
                      m.path, n, key));
  }
  try {
    m.statements = split_statements(content);
  } catch (const error& e) {
    throw error(fmt::format("{}: {}", m.path, e.what()));
  }
  if (m.statements.empty()) throw error(fmt::format("{}: the file has no SQL statements", m.path));
  return m;
}

std::vector<migration> load_migrations(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw error(
        fmt::format("migrations directory {} does not exist (database.migrations_dir / --dir)", core::quote(dir)), "",
        core::exit_usage);
  std::vector<migration> out;
  std::map<int, std::string> seen;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().extension() == ".sql") files.push_back(e.path());
  if (ec) throw error(fmt::format("cannot list {}: {}", core::quote(dir), ec.message()), "", core::exit_usage);
  std::sort(files.begin(), files.end());
  for (const auto& p : files) {
    // Only regular files (or links to them): reading a FIFO would wait for a writer forever, a
    // directory or a device is no migration.
    std::error_code st_ec;
    const auto type = fs::status(p, st_ec).type();
    if (type == fs::file_type::not_found)
      throw error(fmt::format("{}: the file does not exist (a broken symbolic link?)", p.string()));
    if (!st_ec && type != fs::file_type::regular)  // a status it cannot get: the read below says why
      throw error(fmt::format("{}: not a regular file ({}); a migration must be a file of SQL", p.string(),
                              type == fs::file_type::directory ? "a directory"
                              : type == fs::file_type::fifo    ? "a named pipe"
                              : type == fs::file_type::socket  ? "a socket"
                                                               : "a device or special file"));
    std::ifstream f(p, std::ios::binary);
    std::stringstream buf;
    if (f) buf << f.rdbuf();
    if (!f || f.bad()) throw error(fmt::format("{}: cannot read the file", p.string()));
    auto m = parse_migration(p.filename().string(), buf.str(), p.string());
    if (auto it = seen.find(m.version); it != seen.end())
      throw error(fmt::format("{}: version {} is also used by {}", p.string(), m.version, it->second));
    seen[m.version] = m.file_name;
    out.push_back(std::move(m));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.version < b.version; });
  return out;
}

}  // namespace zuperior::migrate

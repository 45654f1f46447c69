#include "migrate/migration.hpp"

#include <fmt/format.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

#include "core/strings.hpp"
#include "core/units.hpp"
#include "migrate/error.hpp"

namespace zuperior::migrate {

namespace {

std::string to_hex(const unsigned char* digest, unsigned int len) {
  std::string hex;
  hex.reserve(std::size_t{len} * 2);
  for (unsigned i = 0; i < len; ++i) hex += fmt::format("{:02x}", digest[i]);
  return hex;
}

using digest_ptr = std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)>;

}  // namespace

std::string sha256_hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
  return to_hex(digest, len);
}

struct prefix_hasher::state {
  digest_ptr ctx{EVP_MD_CTX_new(), EVP_MD_CTX_free};
};

prefix_hasher::prefix_hasher() : state_(std::make_unique<state>()) {
  if (!state_->ctx || EVP_DigestInit_ex(state_->ctx.get(), EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("sha256: cannot initialise a digest");
}
prefix_hasher::~prefix_hasher() = default;

void prefix_hasher::add(const statement& s) {
  // Each text followed by a NUL, as the histories already recorded were hashed.
  EVP_DigestUpdate(state_->ctx.get(), s.text.data(), s.text.size());
  EVP_DigestUpdate(state_->ctx.get(), "", 1);
}

std::string prefix_hasher::hex() const {
  // Finishing a copy leaves the running digest open for the next statement.
  digest_ptr copy(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!copy || EVP_MD_CTX_copy_ex(copy.get(), state_->ctx.get()) != 1 ||
      EVP_DigestFinal_ex(copy.get(), digest, &len) != 1)
    throw std::runtime_error("sha256: cannot finish a digest");
  return to_hex(digest, len);
}

std::string prefix_checksum(const migration& m, std::size_t n) {
  prefix_hasher h;
  for (std::size_t i = 0; i < n && i < m.statements.size(); ++i) h.add(m.statements[i]);
  return h.hex();
}

namespace {

// The length of the well-formed UTF-8 sequence at text[i] (RFC 3629: no overlongs, no surrogates,
// nothing above U+10FFFF), or 0.
std::size_t utf8_sequence(std::string_view text, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char c = b(i);
  if (c < 0x80) return 1;
  std::size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > text.size() || b(i + 1) < lo || b(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k)
    if ((b(i + k) & 0xC0) != 0x80) return 0;
  return n;
}

}  // namespace

std::optional<std::size_t> invalid_utf8_at(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    const auto n = utf8_sequence(text, i);
    if (n == 0) return i;
    i += n;
  }
  return std::nullopt;
}

std::string to_valid_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const auto n = utf8_sequence(text, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(text.substr(i, n));
      i += n;
    }
  }
  return out;
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
  // A file in another encoding (Latin-1 from an old editor): PostgreSQL refused its statement
  // ("invalid byte sequence for encoding UTF8"), and the history could not record the failure either.
  // Found before anything runs, with where.
  if (auto bad = invalid_utf8_at(content))
    m.encoding_error = fmt::format(
        "{}:{}: not UTF-8 (byte 0x{:02X} at offset {}); a migration is UTF-8 text: convert the "
        "file (e.g. iconv -f latin1 -t utf-8)",
        m.path, 1 + std::count(content.begin(), content.begin() + static_cast<long>(*bad), '\n'),
        static_cast<unsigned char>(content[*bad]), *bad);
  // A UTF-8 byte-order mark (some Windows editors write one) is not SQL: with it the header's
  // directives were not seen and the first statement began with it. The checksum keeps the bytes.
  if (content.substr(0, 3) == "\xEF\xBB\xBF") content.remove_prefix(3);
  // Header directives: "-- zuperior:<name> [value]" on the comment lines before the first statement,
  // block comments among them (a leading /* licence */ hid every directive after it, a misspelt one
  // too, and the file ran in a transaction it had opted out of).
  std::size_t pos = 0;
  int n = 1;
  auto skip_to = [&](std::size_t end) {
    n += static_cast<int>(
        std::count(content.begin() + static_cast<long>(pos), content.begin() + static_cast<long>(end), '\n'));
    pos = end;
  };
  while (pos < content.size()) {
    if (std::isspace(static_cast<unsigned char>(content[pos]))) {
      skip_to(pos + 1);
      continue;
    }
    if (content.substr(pos, 2) == "/*") {
      int depth = 0;
      std::size_t e = pos;
      do {  // nested, as PostgreSQL's are; an unterminated one is split_statements' error below
        if (content.substr(e, 2) == "/*") {
          ++depth;
          e += 2;
        } else if (content.substr(e, 2) == "*/") {
          --depth;
          e += 2;
        } else {
          ++e;
        }
      } while (depth > 0 && e < content.size());
      skip_to(e);
      continue;
    }
    if (content.substr(pos, 2) != "--") break;
    auto eol = content.find('\n', pos);
    if (eol == std::string_view::npos) eol = content.size();
    auto l = core::trim(content.substr(pos, eol - pos));
    const int line_no = n;
    skip_to(eol);
    auto body = core::trim(l.substr(2));
    if (body.substr(0, 9) != "zuperior:") continue;
    auto directive = core::trim(body.substr(9));
    auto space = directive.find_first_of(" \t");
    std::string key(directive.substr(0, space));
    std::string value(space == std::string_view::npos ? "" : core::trim(directive.substr(space)));
    // A bad directive is recorded, not thrown: a file applied by an older version (which read no
    // directive after a leading block comment) must not stop every later command.
    auto refuse = [&](std::string why) {
      if (m.header_error.empty()) m.header_error = std::move(why);
    };
    auto duration = [&]() -> std::optional<std::chrono::milliseconds> {
      auto d = core::parse_duration(value);
      if (!d) {
        refuse(fmt::format("{}:{}: zuperior:{} needs a duration like 5s or 10m, got {}", m.path, line_no, key,
                           core::quote(value)));
        return std::nullopt;
      }
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
      refuse(
          fmt::format("{}:{}: unknown directive zuperior:{} (known: no-transaction, lock-timeout, "
                      "statement-timeout, lint-ignore)",
                      m.path, line_no, key));
  }
  try {
    m.statements = split_statements(content);
  } catch (const error& e) {
    throw error(fmt::format("{}: {}", m.path, e.what()));
  }
  if (m.statements.empty()) throw error(fmt::format("{}: the file has no SQL statements", m.path));
  return m;
}

std::vector<migration> load_migrations(const std::string& dir, std::vector<std::string>* warnings) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw error(
        fmt::format("migrations directory {} does not exist (database.migrations_dir / --dir)", core::quote(dir)), "",
        core::exit_usage);
  std::vector<migration> out;
  std::map<int, std::string> seen;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.path().extension() == ".sql") {
      files.push_back(e.path());
      continue;
    }
    // "0001_a.SQL" (an editor's or a Windows copy's spelling) or "0002_b.sql.txt" was skipped in
    // silence: the migration it holds never ran, and nothing said so.
    const auto name = e.path().filename().string();
    if (warnings && !name.empty() && std::isdigit(static_cast<unsigned char>(name[0])) &&
        core::to_lower(name).find(".sql") != std::string::npos)
      warnings->push_back(
          fmt::format("{}: looks like a migration but is not one (only names ending in \".sql\", "
                      "lower-case, are): skipped",
                      e.path().string()));
  }
  if (warnings) std::sort(warnings->begin(), warnings->end());
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

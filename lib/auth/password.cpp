#include "auth/password.hpp"

#include <crypt.h>
#include <openssl/crypto.h>

#include <algorithm>
#include <array>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>

namespace zuperior::auth {

namespace {

bool bcrypt_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '/';
}

// crypt_data is ~32 KiB: keep it off the (possibly small) coroutine stack and wipe it after use.
struct crypt_buffer {
  std::unique_ptr<crypt_data> data = std::make_unique<crypt_data>();
  ~crypt_buffer() { OPENSSL_cleanse(data.get(), sizeof(crypt_data)); }
};

}  // namespace

bool is_bcrypt_hash(std::string_view s) {
  // $2b$10$ + 22 salt chars + 31 hash chars = 60
  if (s.size() != 60) return false;
  if (s.substr(0, 2) != "$2" || (s[2] != 'a' && s[2] != 'b' && s[2] != 'y') || s[3] != '$') return false;
  if (s[4] < '0' || s[4] > '9' || s[5] < '0' || s[5] > '9' || s[6] != '$') return false;
  const unsigned cost = unsigned(s[4] - '0') * 10 + unsigned(s[5] - '0');
  if (cost < min_bcrypt_cost || cost > max_bcrypt_cost) return false;
  for (char c : s.substr(7))
    if (!bcrypt_char(c)) return false;
  return true;
}

std::optional<unsigned> bcrypt_cost(std::string_view s) {
  if (!is_bcrypt_hash(s)) return std::nullopt;
  return unsigned(s[4] - '0') * 10 + unsigned(s[5] - '0');
}

std::string hash_password(std::string_view password, unsigned cost) {
  if (cost < min_bcrypt_cost || cost > max_bcrypt_cost)
    throw std::invalid_argument("bcrypt cost must be between 4 and 31");
  if (password.size() > max_password_size) throw std::invalid_argument("password too long");
  if (password.find('\0') != std::string_view::npos) throw std::invalid_argument("password contains a NUL byte");
  char setting[CRYPT_GENSALT_OUTPUT_SIZE];
  // nullptr random bytes: libxcrypt reads them from the kernel (getrandom).
  if (!crypt_gensalt_rn("$2b$", cost, nullptr, 0, setting, sizeof setting))
    throw std::runtime_error("crypt_gensalt_rn failed for bcrypt");
  const std::string phrase(password);
  crypt_buffer buf;
  const char* out = crypt_rn(phrase.c_str(), setting, buf.data.get(), sizeof(crypt_data));
  if (!out || out[0] == '*') throw std::runtime_error("crypt_rn failed for bcrypt");
  std::string hash(out);
  if (!is_bcrypt_hash(hash)) throw std::runtime_error("crypt_rn returned an unexpected bcrypt hash");
  return hash;
}

const std::string& stand_in_hash(unsigned cost) {
  if (cost < min_bcrypt_cost || cost > max_bcrypt_cost) throw std::invalid_argument("bcrypt cost out of range");
  static std::array<std::once_flag, max_bcrypt_cost + 1> made;
  static std::array<std::string, max_bcrypt_cost + 1> hashes;
  std::call_once(made[cost], [cost] { hashes[cost] = hash_password("not-a-real-password-0", cost); });
  return hashes[cost];
}

namespace {

bool crypt_matches(const std::string& phrase, const std::string& setting) {
  crypt_buffer buf;
  const char* out = crypt_rn(phrase.c_str(), setting.c_str(), buf.data.get(), sizeof(crypt_data));
  if (!out || out[0] == '*') return false;
  const std::string_view computed(out);
  if (computed.size() != setting.size()) return false;
  return CRYPTO_memcmp(computed.data(), setting.data(), setting.size()) == 0;
}

}  // namespace

bool verify_password(std::string_view password, std::string_view stored) {
  if (!is_bcrypt_hash(stored)) return false;
  if (password.size() > max_password_size || password.find('\0') != std::string_view::npos) return false;
  const std::string phrase(password);
  std::string setting(stored);
  if (crypt_matches(phrase, setting)) return true;
  // bcryptjs writes "$2a$" but computes the correct (= "$2b$") algorithm; libxcrypt's "$2a$" adds
  // crypt_blowfish's countermeasure for passwords with 8-bit bytes, so such hashes only verify as "$2b$".
  const bool eight_bit = std::any_of(phrase.begin(), phrase.end(), [](char c) { return (c & 0x80) != 0; });
  if (setting[2] == 'a' && eight_bit) {
    setting[2] = 'b';
    return crypt_matches(phrase, setting);
  }
  return false;
}

}  // namespace zuperior::auth

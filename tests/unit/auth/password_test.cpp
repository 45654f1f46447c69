#include <catch2/catch.hpp>

#include "auth/password.hpp"

using namespace zuperior::auth;

TEST_CASE("hash_password makes $2b$ hashes with the given cost that verify") {
  const std::string h = hash_password("Passw0rd!", 4);
  CHECK(h.rfind("$2b$04$", 0) == 0);
  CHECK(h.size() == 60);
  CHECK(is_bcrypt_hash(h));
  CHECK(bcrypt_cost(h) == 4u);
  CHECK(verify_password("Passw0rd!", h));
  CHECK_FALSE(verify_password("Passw0rd?", h));
  CHECK_FALSE(verify_password("", h));
  CHECK(hash_password("Passw0rd!", 4) != h);  // fresh salt every time
  CHECK(hash_password("", 4).size() == 60);
}

TEST_CASE("hashes written by bcryptjs (the existing application) verify") {
  CHECK(verify_password("Passw0rd!", "$2a$04$JJPZedBKyAl8usQh1Vus.OS8IM5g9fXQFX41KwLtXjnH/Hk.l5t/e"));
  CHECK_FALSE(verify_password("passw0rd!", "$2a$04$JJPZedBKyAl8usQh1Vus.OS8IM5g9fXQFX41KwLtXjnH/Hk.l5t/e"));
  // Non-ASCII password: bcryptjs's "$2a$" is the correct algorithm.
  CHECK(
      verify_password("p\xc3\xa4ssw\xc3\xb6rd\xe2\x82\xac"
                      "1A!",
                      "$2a$04$XI7/nCQtka6NM3ABo64IneyKldJb0B63i36R8pQEUNBwFqsR/A9dK"));
  CHECK_FALSE(
      verify_password("p\xc3\xa4ssw\xc3\xb6rd\xe2\x82\xac"
                      "1A?",
                      "$2a$04$XI7/nCQtka6NM3ABo64IneyKldJb0B63i36R8pQEUNBwFqsR/A9dK"));
  // Longer than 72 bytes: only the first 72 count, as in bcryptjs.
  const std::string h = "$2a$04$BfsdJ.b8VNraUI7wBcyspOulpaFOkUYETTb9/csHZTchr9/0oJ8uS";
  CHECK(verify_password(std::string(80, 'x'), h));
  CHECK(verify_password(std::string(72, 'x'), h));
  CHECK_FALSE(verify_password(std::string(71, 'x'), h));
}

TEST_CASE("$2y$ and $2b$ spellings of one hash verify alike") {
  const std::string h = hash_password("S3cret!x", 4);
  std::string y = h, a = h;
  y[2] = 'y';
  a[2] = 'a';
  CHECK(verify_password("S3cret!x", y));
  CHECK(verify_password("S3cret!x", a));
}

TEST_CASE("malformed stored hashes and hostile passwords are false, never an exception") {
  const std::string h = hash_password("abc", 4);
  for (const std::string& stored :
       {std::string(), std::string("plaintext"), std::string("$1$abc$def"), std::string("$2x$04$") + h.substr(7),
        std::string("$2b$03$") + h.substr(7), std::string("$2b$32$") + h.substr(7), h.substr(0, 59), h + "x",
        std::string("$6$rounds=5000$saltsalt$") + std::string(86, 'a'), std::string("$2b$04$") + std::string(53, '!'),
        std::string("*0"), std::string("$2b$4$") + h.substr(6)}) {
    INFO(stored);
    bool ok = true;
    REQUIRE_NOTHROW(ok = verify_password("abc", stored));
    CHECK_FALSE(ok);
  }
  CHECK_FALSE(verify_password(std::string("abc\0def", 7), h));
  CHECK_FALSE(verify_password(std::string(max_password_size + 1, 'a'), h));
  CHECK_FALSE(bcrypt_cost("nope"));
}

TEST_CASE("hash_password refuses bad arguments") {
  CHECK_THROWS_AS(hash_password("x", 3), std::invalid_argument);
  CHECK_THROWS_AS(hash_password("x", 32), std::invalid_argument);
  CHECK_THROWS_AS(hash_password(std::string("a\0b", 3), 4), std::invalid_argument);
  CHECK_THROWS_AS(hash_password(std::string(max_password_size + 1, 'a'), 4), std::invalid_argument);
}

TEST_CASE("stand_in_hash: one fixed hash per cost, of that cost, that no password matches") {
  const std::string& a = zuperior::auth::stand_in_hash(5);
  CHECK(zuperior::auth::bcrypt_cost(a) == 5u);
  CHECK(&zuperior::auth::stand_in_hash(5) == &a);  // made once
  CHECK(zuperior::auth::bcrypt_cost(zuperior::auth::stand_in_hash(4)) == 4u);
  CHECK_FALSE(zuperior::auth::verify_password("", a));
  CHECK_FALSE(zuperior::auth::verify_password("password123", a));
  CHECK_THROWS_AS(zuperior::auth::stand_in_hash(3), std::invalid_argument);
  CHECK_THROWS_AS(zuperior::auth::stand_in_hash(32), std::invalid_argument);
}

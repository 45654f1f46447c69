#include <atomic>
#include <catch2/catch.hpp>
#include <string>
#include <thread>
#include <vector>

#include "auth/revocation_list.hpp"

using zuperior::auth::revocation_list;

TEST_CASE("revoked ids are found until they expire, then pruned") {
  revocation_list l;
  CHECK_FALSE(l.contains("a"));
  CHECK(l.add("a", 100, 0));
  CHECK(l.add("b", 200, 0));
  CHECK(l.contains("a"));
  CHECK(l.contains("b"));
  CHECK_FALSE(l.contains("c"));
  CHECK_FALSE(l.contains(""));
  CHECK_FALSE(l.add("", 100, 0));  // a token without jti cannot be revoked alone
  CHECK(l.size() == 2);
  CHECK(l.prune(99) == 0);
  CHECK(l.prune(100) == 1);
  CHECK_FALSE(l.contains("a"));
  CHECK(l.contains("b"));
  // The later expiry wins when one id is revoked twice (two instances, a reload from Redis).
  CHECK(l.add("b", 300, 0));
  CHECK(l.add("b", 150, 0));
  CHECK(l.prune(250) == 0);
  CHECK(l.contains("b"));
  CHECK(l.prune(300) == 1);
  CHECK(l.size() == 0);
}

TEST_CASE("adding drops expired ids at most once a minute") {
  revocation_list l;
  CHECK(l.add("a", 100, 1000));  // the first add passes over the (empty) list at 1000
  CHECK(l.add("b", 1010, 1000));
  CHECK(l.add("c", 2000, 1059));  // within the minute: nothing dropped, though "a" expired
  CHECK(l.size() == 3);
  CHECK(l.add("d", 2000, 1060));  // a minute on: "a" (100) and "b" (1010) are past, both dropped
  CHECK_FALSE(l.contains("a"));
  CHECK_FALSE(l.contains("b"));
  CHECK(l.contains("c"));
  CHECK(l.size() == 2);
}

TEST_CASE("the list is bounded: full of live ids it refuses, expired ones make room") {
  revocation_list l(3);
  CHECK(l.add("a", 10, 0));
  CHECK(l.add("b", 20, 0));
  CHECK(l.add("c", 30, 0));
  CHECK_FALSE(l.add("d", 40, 5));  // all three still live at 5
  CHECK_FALSE(l.contains("d"));
  CHECK(l.add("c", 35, 5));   // an id already held is updated, not refused
  CHECK(l.add("d", 40, 15));  // "a" expired at 10: dropped to make room
  CHECK_FALSE(l.contains("a"));
  CHECK(l.contains("d"));
  CHECK(l.size() == 3);
}

TEST_CASE("concurrent revocations and lookups") {
  revocation_list l;
  std::atomic<int> missing{0};  // Catch2's CHECK is not for other threads
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&l, &missing, t] {
      for (int i = 0; i < 2000; ++i) {
        const auto id = std::to_string(t) + ":" + std::to_string(i);
        l.add(id, 10'000 + i, 0);
        if (!l.contains(id) || l.contains("absent")) ++missing;
        if (i % 500 == 0) l.prune(5'000 + i);  // below every until: nothing of ours goes
      }
    });
  for (auto& t : ts) t.join();
  CHECK(missing == 0);
  CHECK(l.size() == 8000);
  l.prune(20'000);
  CHECK(l.size() == 0);
}

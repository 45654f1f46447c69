#include <boost/system/system_error.hpp>
#include <catch2/catch.hpp>
#include <cerrno>
#include <stdexcept>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "core/error.hpp"
#include "core/file.hpp"

using zuperior::core::error_text;

TEST_CASE("error_text drops the source location Boost puts in a system_error's text") {
  static constexpr boost::source_location here = BOOST_CURRENT_LOCATION;
  const boost::system::error_code ec(ECONNREFUSED, boost::system::system_category(), &here);
  const boost::system::system_error with_prefix(ec, "connect");
  REQUIRE(std::string(with_prefix.what()).find("error_test.cpp") != std::string::npos);  // what Boost does
  CHECK(error_text(with_prefix) == "connect: " + ec.message());
  const boost::system::system_error bare(ec);
  CHECK(error_text(bare) == ec.message());
  const boost::system::error_code plain(ETIMEDOUT, boost::system::system_category());
  const boost::system::system_error no_location(plain, "read");
  CHECK(error_text(no_location) == "read: " + plain.message());
}

TEST_CASE("error_text leaves other exceptions' text alone") {
  CHECK(error_text(std::runtime_error("pool timeout [after 5 s]")) == "pool timeout [after 5 s]");
  CHECK(error_text(zuperior::core::command_error("bad flag")) == "bad flag");
}

TEST_CASE("read_file: whole files and pipes up to the cap; an endless source is an error, not all the memory") {
  char path[] = "/tmp/zuperior-read-file-XXXXXX";
  int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  REQUIRE(::write(fd, "KEY=value\n", 10) == 10);
  ::close(fd);
  CHECK(zuperior::core::read_file(path, 100) == "KEY=value\n");
  CHECK_THROWS_WITH(zuperior::core::read_file(path, 5), Catch::Contains("larger than"));
  ::unlink(path);
  CHECK_THROWS_WITH(zuperior::core::read_file("/dev/zero", std::size_t{1} << 20),
                    Catch::Contains("cannot read /dev/zero: larger than 1 MiB"));
  CHECK_THROWS_WITH(zuperior::core::read_file("/nonexistent/x", 100), Catch::Contains("No such file"));
}

TEST_CASE("read_file: a FIFO no one writes to is an error after the wait, not a hang; a directory is refused") {
  using namespace std::chrono_literals;
  char dir[] = "/tmp/zuperior-read-fifo-XXXXXX";
  REQUIRE(::mkdtemp(dir));
  const std::string fifo = std::string(dir) + "/f";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  const auto start = std::chrono::steady_clock::now();
  CHECK_THROWS_WITH(zuperior::core::read_file(fifo, 100, 200ms),
                    Catch::Contains("nothing came through the pipe for 0.2 s"));
  CHECK(std::chrono::steady_clock::now() - start < 5s);
  // A writer that comes after the reader opened (as `mkfifo f; writer >f & zuperior --env-file f`).
  std::thread writer([&fifo] {
    std::this_thread::sleep_for(50ms);
    const int fd = ::open(fifo.c_str(), O_WRONLY);
    if (fd < 0) return;
    (void)!::write(fd, "A=1\n", 4);
    std::this_thread::sleep_for(50ms);
    (void)!::write(fd, "B=2\n", 4);
    ::close(fd);
  });
  CHECK(zuperior::core::read_file(fifo, 100, 2s) == "A=1\nB=2\n");
  writer.join();
  CHECK_THROWS_WITH(zuperior::core::read_file(dir, 100), Catch::Contains("it is a directory"));
  CHECK(zuperior::core::read_file("/dev/null", 100).empty());
  ::unlink(fifo.c_str());
  ::rmdir(dir);
}

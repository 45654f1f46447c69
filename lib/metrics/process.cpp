#include "metrics/process.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

namespace zuperior::metrics {

namespace {

// Fields of /proc/self/stat after the parenthesised command name (which may contain spaces).
std::vector<std::string> stat_fields() {
  std::ifstream in("/proc/self/stat");
  std::string line;
  std::getline(in, line);
  std::vector<std::string> fields;
  const auto close = line.rfind(')');
  if (close == std::string::npos) return fields;
  std::istringstream rest(line.substr(close + 2));
  for (std::string f; rest >> f;) fields.push_back(f);
  return fields;  // fields[0] is field 3 (state)
}

double stat_field(std::size_t field_number) {
  const auto f = stat_fields();
  const std::size_t i = field_number - 3;
  if (i >= f.size()) return 0;
  try {
    return std::stod(f[i]);
  } catch (...) {
    return 0;
  }
}

double open_fds() {
  DIR* d = opendir("/proc/self/fd");
  if (!d) return 0;
  double n = 0;
  while (dirent* e = readdir(d)) {  // NOLINT(concurrency-mt-unsafe): this DIR is ours alone
    if (e->d_name[0] != '.') ++n;
  }
  closedir(d);
  return n - 1;  // the directory handle itself
}

double boot_time() {
  std::ifstream in("/proc/stat");
  for (std::string key; in >> key;) {
    if (key == "btime") {
      double v = 0;
      in >> v;
      return v;
    }
    in.ignore(1 << 16, '\n');
  }
  return 0;
}

}  // namespace

void register_process_metrics(registry& r) {
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  r.add_counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.")
      .set_callback({}, [ticks] {
        const auto f = stat_fields();
        if (f.size() < 13) return 0.0;
        try {
          return (std::stod(f[11]) + std::stod(f[12])) / ticks;  // utime, stime (fields 14, 15)
        } catch (...) {
          return 0.0;
        }
      });
  r.add_callback_gauge("process_resident_memory_bytes", "Resident memory size in bytes.",
                       [page] { return stat_field(24) * page; });
  r.add_callback_gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", [] { return stat_field(23); });
  r.add_callback_gauge("process_open_fds", "Number of open file descriptors.", open_fds);
  r.add_callback_gauge("process_max_fds", "Maximum number of open file descriptors.", [] {
    rlimit rl{};
    getrlimit(RLIMIT_NOFILE, &rl);
    return static_cast<double>(rl.rlim_cur);
  });
  const double start = boot_time() + stat_field(22) / ticks;
  r.add_callback_gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
                       [start] { return start; });
}

}  // namespace zuperior::metrics

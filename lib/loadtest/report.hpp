#pragma once
// What a run means: threshold verdicts, the summary table, report.json (schema
// "zuperior.loadtest/1", documented in man/zuperior-loadtest.1) and a self-contained HTML page.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "loadtest/runner.hpp"
#include "loadtest/scenario.hpp"

namespace zuperior::loadtest {

/// One threshold's verdict.
struct threshold_result {
  threshold t;
  std::optional<double> actual;  // nullopt when the run did not measure it (counts as failed)
  bool pass = false;
};

/// A metric's value from a run, in base units (see threshold.hpp); nullopt when not measured.
std::optional<double> metric_value(const run_result& r, const std::string& metric, const std::string& step);
/// Evaluates every threshold.
std::vector<threshold_result> evaluate(const std::vector<threshold>& ts, const run_result& r);
/// The human summary table.
std::string summary_text(const scenario& s, const run_result& r, const std::vector<threshold_result>& th,
                         bool allow_lag);
/// The JSON report.
std::string report_json(const scenario& s, const run_result& r, const std::vector<threshold_result>& th,
                        bool allow_lag);
/// The HTML report: one file, inline SVG, no external assets.
std::string report_html(const scenario& s, const run_result& r, const std::vector<threshold_result>& th,
                        bool allow_lag);
/// True when HTTP requests were sent and not one got an HTTP answer (each failed to connect, timed
/// out or got bytes that are not HTTP), no virtual user got through the setup steps, or Socket.IO
/// clients tried and not one got its CONNECT answered (accepted or refused): the target went away,
/// is wedged or is something else, and the run says nothing about its thresholds.
bool nothing_answered(const run_result& r);
/// What nothing_answered found, for the error line ("answered none of 10 requests (…)").
std::string nothing_answered_why(const run_result& r);
/// The exit code: 0 every threshold met (and no unexcused lag), 1 otherwise, 2 when nothing answered.
int verdict(const run_result& r, const std::vector<threshold_result>& th, bool allow_lag);
/// The verdict's word: PASS, FAIL or NO ANSWER.
std::string_view verdict_word(int verdict);

}  // namespace zuperior::loadtest

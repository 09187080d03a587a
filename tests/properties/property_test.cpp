#include "property_test.hpp"

#include <cstdlib>
#include <filesystem>
#include <sstream>

namespace gradoracle::properties::testing {

RunOptions options() {
  setenv("GRADORACLE_COUNTEREXAMPLE_DIR", GRADORACLE_COUNTEREXAMPLES, 0);  // for properties::counterexample_dir()
  RunOptions o;
  if (const char* seed = std::getenv("GRADORACLE_PROPERTY_SEED"); seed && *seed) o.seed = std::stoull(seed);
  o.counterexample_dir = GRADORACLE_COUNTEREXAMPLES;
  const char* params = std::getenv("RC_PARAMS");
  return options_from_rc_params(params ? params : "", o);
}

std::string current_property_id() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return std::string(info->test_suite_name()) + "/" + info->name();
}

namespace {

// The running test program's path, shell-quoted, for a replay line that runs wherever it is pasted.
std::string this_program() {
  std::error_code ec;
  const std::string self = std::filesystem::read_symlink("/proc/self/exe", ec).string();
  if (ec) return "properties_tests";
  if (self.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/._+-") == std::string::npos)
    return self;
  std::string quoted = "'";
  for (char c : self) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

}  // namespace

void expect_passes(const PropertyResult& r) {
  if (r.passed) return;
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::ostringstream os;
  os << r.id << " failed after " << r.cases << " cases (seed " << r.seed << "):\n" << r.message;
  if (!r.counterexample.empty()) os << "\nshrunk case:\n" << r.counterexample;
  if (!r.fixture.empty()) os << "\nfixture: " << r.fixture.string();
  if (!r.reproduce.empty())
    os << "\nreplay: RC_PARAMS=\"" << r.reproduce << "\" " << this_program() << " --gtest_filter=" << info->test_suite_name()
       << '.' << info->name();
  ADD_FAILURE() << os.str();
}

}  // namespace gradoracle::properties::testing

#include "property_test.hpp"

#include <cstdlib>

namespace gradoracle::properties::testing {

namespace {
// Before RapidCheck reads its configuration (on first use): counterexample fixtures go to the
// build tree unless GRADORACLE_COUNTEREXAMPLE_DIR says otherwise, and under ctest the fixed
// seed GRADORACLE_PROPERTY_SEED applies unless RC_PARAMS names one.
const bool kDirSet = [] {
  const char* seed = std::getenv("GRADORACLE_PROPERTY_SEED");
  const char* params = std::getenv("RC_PARAMS");
  const std::string given = params ? params : "";
  if (seed && *seed && given.find("seed=") == std::string::npos) {
    setenv("RC_PARAMS", ("seed=" + std::string(seed) + " " + given).c_str(), 1);
  }
  return setenv("GRADORACLE_COUNTEREXAMPLE_DIR", GRADORACLE_COUNTEREXAMPLES, 0) == 0;
}();
}  // namespace

bool rc_params_sets(const std::string& key) {
  const char* params = std::getenv("RC_PARAMS");
  return params && std::string(params).find(key + "=") != std::string::npos;
}

std::string current_property_id() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return std::string(info->test_suite_name()) + "/" + info->name();
}

void report(const rc::detail::TestResult& result, const rc::detail::TestParams& params, const std::string& id) {
  (void)kDirSet;
  rc::detail::SuccessResult success;
  if (result.match(success)) return;
  std::ostringstream os;
  rc::detail::printResultMessage(result, os);
  os << "\nseed: " << params.seed;
  rc::detail::FailureResult failure;
  if (result.match(failure)) {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    os << "\nreplay: RC_PARAMS=\"" << reproduce_string(id, params.seed, failure.reproduce)
       << "\" properties_tests --gtest_filter=" << info->test_suite_name() << '.' << info->name();
  }
  ADD_FAILURE() << os.str();
}

}  // namespace gradoracle::properties::testing

#pragma once
// RC_GTEST_PROP with a per-property case budget: GRADORACLE_PROP(Suite, Name, cases, (args))
// runs the body as a RapidCheck property inside a GoogleTest test, `cases` times unless
// RC_PARAMS sets max_success. On failure it prints RapidCheck's report (the shrunk case),
// the seed and the exact command that replays the failure.
#include <gtest/gtest.h>
#include <rapidcheck.h>

#include <sstream>
#include <string>

#include "gradoracle/properties/runner.hpp"

namespace gradoracle::properties::testing {

// Whether the caller's RC_PARAMS sets `key` (then it wins over the property's default).
bool rc_params_sets(const std::string& key);
// The id RapidCheck keys reproduce strings by: "Suite/Name" of the running test.
std::string current_property_id();
// Fails the running test with the failure's report, seed and replay command.
void report(const rc::detail::TestResult& result, const rc::detail::TestParams& params, const std::string& id);

template <class Testable>
void check_property(Testable&& testable, int default_cases) {
  const std::string id = current_property_id();
  rc::detail::TestMetadata metadata{id, id};
  rc::detail::TestParams params = rc::detail::configuration().testParams;
  if (!rc_params_sets("max_success")) params.maxSuccess = default_cases;
  report(rc::detail::checkProperty(rc::detail::toProperty(std::forward<Testable>(testable)), metadata, params), params,
         id);
}

}  // namespace gradoracle::properties::testing

#define GRADORACLE_PROP(Suite, Name, Cases, ArgList)                                          \
  void gradoracle_prop_##Suite##_##Name ArgList;                                              \
  TEST(Suite, Name) {                                                                         \
    ::gradoracle::properties::testing::check_property(&gradoracle_prop_##Suite##_##Name, Cases); \
  }                                                                                           \
  void gradoracle_prop_##Suite##_##Name ArgList

#pragma once
// GoogleTest over the property runner (runner.hpp), the suite's one way into RapidCheck:
// GRADORACLE_PROP(Suite, Name, cases) { body } runs the body as a property (it draws with
// `*gen`, asserts with RC_ASSERT), `cases` times
// unless RC_PARAMS sets max_success; tasks_test.cpp registers the gate's tasks. Under ctest
// the seed is GRADORACLE_PROPERTY_SEED unless RC_PARAMS names one. On failure the report
// gives the diagnosis, the shrunk case, the seed and the command that replays it.
#include <gtest/gtest.h>
#include <rapidcheck.h>

#include <string>

#include "gradoracle/properties/runner.hpp"

namespace gradoracle::properties::testing {

// The runner's options under test: RC_PARAMS over GRADORACLE_PROPERTY_SEED, counterexample
// fixtures in the build tree.
RunOptions options();
// Fails the running test with the result's report unless it passed.
void expect_passes(const PropertyResult& r);
// The id of the running test, "Suite/Name" (RapidCheck's reproduce strings are keyed by it).
std::string current_property_id();

template <class Body>
void check_property(Body&& body, int default_cases) {
  expect_passes(run_property(current_property_id(), std::function<void()>(std::forward<Body>(body)), default_cases,
                             options()));
}

}  // namespace gradoracle::properties::testing

#define GRADORACLE_PROP(Suite, Name, Cases)                                                         \
  void gradoracle_prop_##Suite##_##Name();                                                          \
  TEST(Suite, Name) { ::gradoracle::properties::testing::check_property(&gradoracle_prop_##Suite##_##Name, Cases); } \
  void gradoracle_prop_##Suite##_##Name()

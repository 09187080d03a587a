// The checker checks itself: each planted bug must be caught, and reported where it is.
#include <gtest/gtest.h>

#include "gradoracle/engine/random.hpp"
#include "gradoracle/oracle/closed_forms.hpp"
#include "gradoracle/oracle/compare.hpp"
#include "planted_bugs.hpp"

namespace gradoracle::oracle {
namespace {

using testing::Bug;

std::vector<Tensor> draw(Generator& gen, DType dtype = DType::Float64) {
  const int64_t n = gen.integer(2, 5), d = gen.integer(2, 4);
  return {Tensor::randn({n, d}, gen, dtype), Tensor::randn({d, d}, gen, dtype), Tensor::randn({d}, gen, dtype)};
}

TEST(PlantedBugs, CorrectBackwardPasses) {
  for (uint64_t seed = 0; seed < 10; ++seed) {
    Generator gen(seed);
    const auto xs = draw(gen);
    EXPECT_TRUE(gradcheck(testing::planted_function(Bug::None), xs).passed);
    GradCheckOptions fast;
    fast.fast_mode = true;
    fast.seed = seed;
    EXPECT_TRUE(gradcheck(testing::planted_function(Bug::None), xs, fast).passed);
  }
}

TEST(PlantedBugs, EachIsCaughtInFullAndFastMode) {
  for (Bug bug : testing::all_bugs()) {
    for (uint64_t seed = 0; seed < 10; ++seed) {
      Generator gen(seed);
      const auto xs = draw(gen);
      const GradCheckResult full = gradcheck(testing::planted_function(bug), xs);
      EXPECT_FALSE(full.passed) << testing::bug_name(bug) << " seed " << seed << "\n" << full;
      EXPECT_GT(full.failure_count, 0) << testing::bug_name(bug);
      GradCheckOptions o;
      o.fast_mode = true;
      o.seed = seed;
      const GradCheckResult fast = gradcheck(testing::planted_function(bug), xs, o);
      EXPECT_FALSE(fast.passed) << testing::bug_name(bug) << " seed " << seed << "\n" << fast;
      // fast mode falls back to the full Jacobian of the failing pair: same worst element
      ASSERT_FALSE(fast.worst.empty());
      ASSERT_FALSE(full.worst.empty()) << testing::bug_name(bug);
      EXPECT_EQ(fast.worst.front().input_index, full.worst.front().input_index) << testing::bug_name(bug);
    }
  }
}

TEST(PlantedBugs, ReportNamesTheElement) {
  Generator gen(42);
  const auto xs = draw(gen);
  const int64_t n = xs[0].size(0), d = xs[0].size(1);
  const GradCheckResult r = gradcheck(testing::planted_function(Bug::CorruptedEntry), xs);
  ASSERT_EQ(r.failure_count, 1) << r;
  ASSERT_FALSE(r.worst.empty()) << r;
  const EntryReport& e = r.worst.front();
  EXPECT_EQ(e.input, 1);
  EXPECT_EQ(e.output, 0);
  EXPECT_EQ(e.input_index, (std::vector<int64_t>{d - 1, d - 1}));
  EXPECT_EQ(e.output_index, (std::vector<int64_t>{n - 1, d - 1}));
  EXPECT_NEAR(e.analytic - e.numeric, testing::kCorruption, 1e-6);
  EXPECT_NEAR(e.numeric, xs[0].at({n - 1, d - 1}), 1e-7);  // d y[r, o] / d W[o, i] = x[r, i]
  EXPECT_FALSE(e.kink);
  const std::string text = r.to_string();
  EXPECT_NE(text.find("FAILED"), std::string::npos);
  EXPECT_NE(text.find("d out0[" + std::to_string(n - 1) + ", " + std::to_string(d - 1) + "] / d in1[" +
                      std::to_string(d - 1) + ", " + std::to_string(d - 1) + "]"),
            std::string::npos)
      << text;
  EXPECT_NE(r.advice.find("single wrong entry"), std::string::npos) << r.advice;
  const nlohmann::json j = r.to_json();
  EXPECT_EQ(j.at("passed"), false);  // at(): a missing key or index throws, a failure not a crash
  EXPECT_EQ(j.at("failure_count"), 1);
  EXPECT_EQ(j.at("worst").at(0).at("input"), 1);
  EXPECT_EQ(j.at("worst").at(0).at("input_index"), (std::vector<int64_t>{d - 1, d - 1}));
  EXPECT_EQ(j.at("input_shapes").at(1), (std::vector<int64_t>{d, d}));
  EXPECT_EQ(j.at("mode"), "full");
  EXPECT_TRUE(j.contains("advice"));

  const GradCheckResult flip = gradcheck(testing::planted_function(Bug::SignFlip), xs);
  EXPECT_NE(flip.advice.find("sign flip"), std::string::npos) << flip;
  const GradCheckResult rel = gradcheck(testing::planted_function(Bug::SmallRelative), xs);
  ASSERT_FALSE(rel.worst.empty()) << rel;
  EXPECT_NEAR(rel.worst.front().rel_error, testing::kSmallRelative, 2e-4) << rel;
  EXPECT_NE(rel.advice.find("1.001 x numeric"), std::string::npos) << rel.advice;
  const GradCheckResult mean = gradcheck(testing::planted_function(Bug::WrongBroadcastReduction), xs);
  ASSERT_FALSE(mean.worst.empty()) << mean;
  EXPECT_EQ(mean.worst.front().input, 2) << mean;

  GradCheckOptions o;
  o.fast_mode = true;
  o.seed = 7;
  const GradCheckResult fast = gradcheck(testing::planted_function(Bug::CorruptedEntry), xs, o);
  EXPECT_EQ(fast.seed, 7u);
  EXPECT_NE(fast.to_string().find("seed 7"), std::string::npos);
  EXPECT_EQ(fast.to_json()["mode"], "fast");
}

// The closed form catches the planted linear bugs that touch dW, db or dx.
TEST(PlantedBugs, ClosedFormCatchesEach) {
  for (Bug bug : testing::all_bugs()) {
    Generator gen(3);
    auto xs = draw(gen);
    for (Tensor& x : xs) x.requires_grad_();
    const Tensor g = Tensor::randn({xs[0].size(0), xs[0].size(1)}, gen, DType::Float64);
    testing::planted_linear(xs[0], xs[1], xs[2], bug).backward(g);
    const auto want = closed_forms::linear(xs[0], xs[1], g);
    const Tolerance tol = default_tolerance(DType::Float64);
    const bool ok = compare(xs[1].grad(), want.weight, tol).passed && compare(xs[2].grad(), want.bias, tol).passed &&
                    compare(xs[0].grad(), want.input, tol).passed;
    EXPECT_FALSE(ok) << testing::bug_name(bug);
  }
}

}  // namespace
}  // namespace gradoracle::oracle

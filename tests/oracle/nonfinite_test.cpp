// Non-finite Jacobian entries are reported as such (status NonFinite, a flag per entry, their
// own list and count, in the text and the JSON), not as a huge error in `worst`.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "gradoracle/engine/autograd.hpp"
#include "gradoracle/engine/ops.hpp"
#include "gradoracle/oracle/gradcheck.hpp"

using namespace gradoracle;
using namespace gradoracle::oracle;

namespace {

const double kNaN = std::numeric_limits<double>::quiet_NaN();

// y = 2x, whose backward is right except for a planted derivative at element `at`:
// d y[at] / d x[at] = planted_value (2 is the right one).
Function planted(int64_t at, double planted_value) {
  return [at, planted_value](const std::vector<Tensor>& in) {
    Tensor y = mul(in[0].detach(), 2.0);
    record(y, "PlantedNonFiniteBackward", {in[0]}, [at, planted_value](const Tensor& g, NeedsGrad) {
      std::vector<double> d = (g * 2.0).to_vector();
      const double ga = g.to_vector()[static_cast<size_t>(at)];
      if (ga != 0.0) d[static_cast<size_t>(at)] = planted_value * ga;
      return std::vector<Tensor>{Tensor::from_data(g.shape(), d, g.dtype())};
    });
    return std::vector<Tensor>{y};
  };
}

Tensor x4() { return Tensor::from_data({4}, {0.5, -1.0, 2.0, 3.0}, DType::Float64); }

}  // namespace

TEST(GradCheckNonFinite, ControlWithoutThePlantPasses) {
  const GradCheckResult r = gradcheck(planted(1, 2.0), {x4()});  // the right value, "planted"
  EXPECT_TRUE(r.passed) << r;
  EXPECT_EQ(r.status(), GradCheckStatus::Passed);
  EXPECT_EQ(r.nonfinite_count, 0);
}

TEST(GradCheckNonFinite, AnalyticNanIsReportedAsNonFiniteNotAsALargeError) {
  const GradCheckResult r = gradcheck(planted(1, kNaN), {x4()});
  EXPECT_FALSE(r.passed);
  EXPECT_EQ(r.status(), GradCheckStatus::NonFinite);
  EXPECT_EQ(r.failure_count, 0) << "a non-finite entry is not a finite mismatch";
  EXPECT_EQ(r.nonfinite_count, 1);
  EXPECT_EQ(r.nonfinite_failures, 1);
  ASSERT_EQ(r.nonfinite.size(), 1u);
  const EntryReport& e = r.nonfinite[0];
  EXPECT_TRUE(e.nonfinite);
  EXPECT_FALSE(e.nonfinite_agree());
  EXPECT_STREQ(e.status(), "nonfinite");
  EXPECT_EQ(e.input_index, (std::vector<int64_t>{1}));
  EXPECT_EQ(e.output_index, (std::vector<int64_t>{1}));
  EXPECT_TRUE(std::isnan(e.analytic));
  EXPECT_NEAR(e.numeric, 2.0, 1e-6);
  for (const EntryReport& w : r.worst) EXPECT_FALSE(w.nonfinite) << "non-finite entries stay out of `worst`";
  EXPECT_EQ(r.pairs.at(0).nonfinite, 1);
  const std::string text = r.to_string();
  EXPECT_NE(text.find("FAILED: non-finite"), std::string::npos) << text;
  EXPECT_NE(text.find("1 non-finite"), std::string::npos) << text;
  EXPECT_NE(text.find("d out0[1] / d in0[1]: analytic nan, numeric 2  NON-FINITE"), std::string::npos) << text;
  EXPECT_NE(text.find("backward produced a non-finite gradient"), std::string::npos) << text;
  const nlohmann::json j = r.to_json();
  EXPECT_EQ(j.at("status"), "nonfinite");  // at(): a missing key or index throws, a failure not a crash
  EXPECT_EQ(j.at("nonfinite_count"), 1);
  EXPECT_EQ(j.at("nonfinite").at(0).at("analytic"), "nan");
  EXPECT_EQ(j.at("nonfinite").at(0).at("status"), "nonfinite");
  EXPECT_EQ(j.at("pairs").at(0).at("nonfinite"), 1);
}

TEST(GradCheckNonFinite, AnalyticInfIsNonFinite) {
  const GradCheckResult r = gradcheck(planted(3, std::numeric_limits<double>::infinity()), {x4()});
  EXPECT_EQ(r.status(), GradCheckStatus::NonFinite);
  ASSERT_EQ(r.nonfinite.size(), 1u);
  EXPECT_EQ(r.nonfinite[0].input_index, (std::vector<int64_t>{3}));
}

TEST(GradCheckNonFinite, NumericNonFiniteAtAPoleIsNonFinite) {
  // log at 0: the value is -inf, backward gives inf, the central difference NaN (log(-h)).
  const Function f = [](const std::vector<Tensor>& in) { return std::vector<Tensor>{log(in[0])}; };
  const GradCheckResult r = gradcheck(f, {Tensor::from_data({1}, {0.0}, DType::Float64)});
  EXPECT_EQ(r.status(), GradCheckStatus::NonFinite) << r;
  EXPECT_EQ(r.nonfinite_count, 1);
  EXPECT_EQ(r.failure_count, 0);
  ASSERT_FALSE(r.nonfinite.empty());
  EXPECT_TRUE(std::isinf(r.nonfinite[0].analytic));
  EXPECT_TRUE(std::isnan(r.nonfinite[0].numeric));
  EXPECT_NE(r.advice.find("both sides are non-finite"), std::string::npos) << r.advice;
}

TEST(GradCheckNonFinite, ANonFiniteOutputSpoilsItsWholeRowAndColumn) {
  // log at [0, 1, 2]: out0 = -inf makes every difference of out0 NaN (-inf - -inf), and a
  // zero upstream times 1/0 makes d out1, out2 / d in0 NaN on the analytic side, as in torch.
  const Function f = [](const std::vector<Tensor>& in) { return std::vector<Tensor>{log(in[0])}; };
  const GradCheckResult r = gradcheck(f, {Tensor::from_data({3}, {0.0, 1.0, 2.0}, DType::Float64)});
  EXPECT_EQ(r.status(), GradCheckStatus::NonFinite) << r;
  EXPECT_EQ(r.nonfinite_count, 5);  // (out0, in0..2), (out1, in0), (out2, in0)
  EXPECT_EQ(r.failure_count, 0);    // the four finite entries pass
}

TEST(GradCheckNonFinite, BothSidesNanFailsUnlessAllowed) {
  // x * NaN: analytic NaN, numeric NaN: nothing is verified (torch's allclose: equal_nan=False).
  const Function f = [](const std::vector<Tensor>& in) {
    return std::vector<Tensor>{in[0] * Tensor::from_data({1}, {kNaN}, in[0].dtype())};
  };
  const Tensor x = Tensor::from_data({1}, {1.0}, DType::Float64);
  const GradCheckResult strict = gradcheck(f, {x});
  EXPECT_EQ(strict.status(), GradCheckStatus::NonFinite);
  ASSERT_EQ(strict.nonfinite.size(), 1u);
  EXPECT_TRUE(strict.nonfinite[0].nonfinite_agree());
  EXPECT_NE(strict.to_string().find("NON-FINITE (both sides)"), std::string::npos) << strict;
  GradCheckOptions o;
  o.allow_nonfinite = true;
  const GradCheckResult lenient = gradcheck(f, {x}, o);
  EXPECT_TRUE(lenient.passed) << lenient;
  EXPECT_EQ(lenient.nonfinite_count, 1) << "still counted and listed";
  EXPECT_EQ(lenient.nonfinite_failures, 0);
  // allow_nonfinite never excuses a NaN against a finite number.
  EXPECT_FALSE(gradcheck(planted(1, kNaN), {x4()}, o).passed);
}

TEST(GradCheckNonFinite, AFiniteMismatchBesideANonFiniteEntryIsFailed) {
  const Function f = [](const std::vector<Tensor>& in) {
    Tensor y = mul(in[0].detach(), 2.0);
    record(y, "TwoPlants", {in[0]}, [](const Tensor& g, NeedsGrad) {
      std::vector<double> d = (g * 2.0).to_vector();
      const std::vector<double> gv = g.to_vector();
      if (gv[0] != 0.0) d[0] = kNaN;
      if (gv[2] != 0.0) d[2] = 7.0 * gv[2];
      return std::vector<Tensor>{Tensor::from_data(g.shape(), d, g.dtype())};
    });
    return std::vector<Tensor>{y};
  };
  const GradCheckResult r = gradcheck(f, {x4()});
  EXPECT_EQ(r.status(), GradCheckStatus::Failed);
  EXPECT_EQ(r.failure_count, 1);
  EXPECT_EQ(r.nonfinite_count, 1);
  ASSERT_FALSE(r.worst.empty());
  EXPECT_EQ(r.worst[0].input_index, (std::vector<int64_t>{2}));
  EXPECT_EQ(r.to_json()["status"], "failed");
}

TEST(GradCheckNonFinite, FastModeProbesSeeTheNanAndExplainIt) {
  GradCheckOptions o;
  o.fast_mode = true;
  const GradCheckResult r = gradcheck(planted(2, kNaN), {x4()}, o);
  EXPECT_FALSE(r.passed);
  EXPECT_EQ(r.status(), GradCheckStatus::NonFinite) << r;
  bool flagged = false;
  for (const ProbeReport& p : r.probes) flagged = flagged || p.nonfinite;
  EXPECT_TRUE(flagged);
  ASSERT_EQ(r.nonfinite.size(), 1u);
  EXPECT_EQ(r.nonfinite[0].input_index, (std::vector<int64_t>{2}));
}

// The checker's text report (gradcheck_report.cpp): its headline, its lists and its advice.
#include <gtest/gtest.h>

#include <string>

#include "gradoracle/engine/autograd.hpp"
#include "gradoracle/engine/ops.hpp"
#include "gradoracle/oracle/gradcheck.hpp"

namespace gradoracle::oracle {
namespace {

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }
bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

const Tensor kX = Tensor::from_data({3}, {0.5, -1.0, 2.0}, DType::Float64);

// A custom op y = 2x whose backward returns a gradient of the wrong shape ([2] for a [3] input):
// the engine refuses it, every analytic entry is NaN, and the report says why.
TEST(GradCheckReport, AWrongShapedCustomGradientIsHeadlinedAsSuch) {
  const Function f = [](const std::vector<Tensor>& v) {
    Tensor out = v[0].detach() * 2.0;
    record(out, "WrongShapeBackward", {v[0]}, [](const Tensor& g, NeedsGrad) {
      return std::vector<Tensor>{Tensor::ones({2}, g.dtype())};
    });
    return std::vector<Tensor>{out};
  };
  const GradCheckResult r = gradcheck(f, {kX});
  const std::string text = r.to_string();
  EXPECT_EQ(r.status(), GradCheckStatus::Failed) << text;
  EXPECT_TRUE(has(first_line(text), "gradcheck FAILED: backward of output 0 raised: Function WrongShapeBackward "
                                    "returned an invalid gradient at index 0 - got [2] but expected shape compatible "
                                    "with [3]"))
      << text;
  EXPECT_FALSE(has(text, "backward produced a non-finite gradient")) << text;
  EXPECT_TRUE(has(r.advice, "backward raised (see the problem)")) << r.advice;
}

// `worst` holds the failing entries, then the passing ones closest to their allowance: the
// text labels each part, and a passing check lists no failing entry.
TEST(GradCheckReport, TheWorstListLabelsFailingAndPassingEntries) {
  const Function plain = [](const std::vector<Tensor>& v) { return std::vector<Tensor>{v[0] * v[0].detach()}; };
  const GradCheckResult failed = gradcheck(plain, {kX});  // 3 diagonal entries fail, 6 zeros pass
  ASSERT_EQ(failed.worst.size(), 5u);
  const std::string text = failed.to_string();
  const auto failing = text.find("  failing, worst first (3 of 3):\n"), passing = text.find("  passing, closest to their allowance (2):\n");
  ASSERT_NE(failing, std::string::npos) << text;
  ASSERT_NE(passing, std::string::npos) << text;
  EXPECT_LT(failing, passing);
  // Every line under "failing" is a failing entry; none under "passing" is.
  const std::string failing_part = text.substr(failing, passing - failing), passing_part = text.substr(passing);
  size_t fails = 0;
  for (size_t at = 0; (at = failing_part.find("  FAIL\n", at)) != std::string::npos; ++at) ++fails;
  EXPECT_EQ(fails, 3u) << text;
  EXPECT_FALSE(has(passing_part, "FAIL\n")) << text;

  const Function square = [](const std::vector<Tensor>& v) { return std::vector<Tensor>{v[0] * v[0]}; };
  const std::string ok = gradcheck(square, {kX}).to_string();
  EXPECT_FALSE(has(ok, "failing, worst first")) << ok;
  EXPECT_TRUE(has(ok, "  passing, closest to their allowance (5):\n")) << ok;
}

// An unintended detach: the advice names oracle::hold(), the way to keep a value constant on
// both sides, whether the detach zeroes the analytic side or scales it.
TEST(GradCheckReport, AdviceAboutADetachNamesHold) {
  const Function zeroed = [](const std::vector<Tensor>& v) { return std::vector<Tensor>{v[0].detach() * 2.0 + v[1]}; };
  const GradCheckResult z = gradcheck(zeroed, {kX, kX});
  EXPECT_TRUE(has(z.advice, "an unintended detach") && has(z.advice, "oracle::hold()")) << z.advice;
  const Function halved = [](const std::vector<Tensor>& v) { return std::vector<Tensor>{v[0] * v[0].detach()}; };
  const GradCheckResult h = gradcheck(halved, {kX});
  EXPECT_TRUE(has(h.advice, "analytic = 0.5 x numeric") && has(h.advice, "oracle::hold()")) << h.advice;
}

}  // namespace
}  // namespace gradoracle::oracle

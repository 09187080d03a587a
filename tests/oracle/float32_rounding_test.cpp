// The float32 analytic side's rounding allowance ρ (gradcheck.hpp): saturation is rounding, not a
// bug; a wrong backward stays caught, whether it is wrong in every dtype or only in float32.
#include <gtest/gtest.h>

#include <cmath>

#include "gradoracle/engine/autograd.hpp"
#include "gradoracle/engine/ops.hpp"
#include "gradoracle/oracle/gradcheck.hpp"

namespace gradoracle::oracle {
namespace {

// The gate's shrunk counterexample (issue 19, seed 8): tanh(−2.937 / x) at x ≈ 0.368, where
// u = −2.937/x ≈ −7.98 and float32 tanh rounds to −1, so the float32 backward 1 − tanh²u is
// exactly 0, while d/dx = (1 − tanh²u)·2.937/x² ≈ 1.01e-5, just above float32's atol 1e-5.
constexpr double kC = -2.937;
constexpr double kX = 0.368005;
Tensor at_saturation(DType dtype) { return Tensor::from_data({1}, {kX}, dtype); }
const Function kTanhRatio = [](const std::vector<Tensor>& v) { return std::vector<Tensor>{tanh(div(kC, v[0]))}; };

// tanh(kC / x) with a hand-written backward g·(1 − y²)·(−kC/x²) from the saved result y, as the
// engine's tanh, plus `float32_error`·g in float32 only; `drop` returns 0 in every dtype.
Function planted_tanh_ratio(double float32_error, bool drop) {
  return [float32_error, drop](const std::vector<Tensor>& v) {
    const Tensor x = v[0].detach();
    Tensor y = tanh(div(kC, x));
    const Tensor ys = y.detach();  // not y itself: its node would own its own output (a cycle)
    record(y, "PlantedTanhRatioBackward", {v[0]}, [x, ys, float32_error, drop](const Tensor& g, NeedsGrad) {
      Tensor dx = g * (1.0 - ys * ys) * (-kC / (x * x));
      if (g.dtype() == DType::Float32) dx = dx + g * float32_error;
      if (drop) dx = dx * 0.0;
      return std::vector<Tensor>{dx};
    });
    return std::vector<Tensor>{y};
  };
}

TEST(GradCheckFloat32Rounding, TanhSaturationIsRoundingNotABug) {
  // The premise: the float32 analytic side is exactly 0, the float64 numeric one above atol.
  GradCheckOptions strict;
  strict.float32_rounding = false;
  const GradCheckResult without = gradcheck(kTanhRatio, {at_saturation(DType::Float32)}, strict);
  ASSERT_FALSE(without.worst.empty()) << without;
  ASSERT_EQ(without.worst.front().analytic, 0.0) << without;
  ASSERT_GT(std::abs(without.worst.front().numeric), without.tolerance.atol) << without;
  EXPECT_FALSE(without.passed) << without;

  const GradCheckResult r = gradcheck(kTanhRatio, {at_saturation(DType::Float32)});
  EXPECT_TRUE(r.passed) << r;
  ASSERT_FALSE(r.worst.empty()) << r;
  EXPECT_GT(r.worst.front().rounding, 0.0) << r;
  EXPECT_LE(r.worst.front().abs_error, r.worst.front().allowed) << r;

  GradCheckOptions fast;
  fast.fast_mode = true;
  EXPECT_TRUE(gradcheck(kTanhRatio, {at_saturation(DType::Float32)}, fast).passed);

  // float64 computes the gradient and gets no allowance.
  const GradCheckResult r64 = gradcheck(kTanhRatio, {at_saturation(DType::Float64)});
  EXPECT_TRUE(r64.passed) << r64;
  ASSERT_FALSE(r64.worst.empty());
  EXPECT_EQ(r64.worst.front().rounding, 0.0) << r64;
}

// A backward that returns 0 here in every dtype looks like saturation in float32; the float64
// backward gives 0 too, so no allowance is granted and the drop is caught in both dtypes.
TEST(GradCheckFloat32Rounding, DroppedGradientAtSaturationIsCaught) {
  EXPECT_TRUE(gradcheck(planted_tanh_ratio(0.0, false), {at_saturation(DType::Float32)}).passed);
  for (DType dtype : {DType::Float64, DType::Float32}) {
    const GradCheckResult r = gradcheck(planted_tanh_ratio(0.0, true), {at_saturation(dtype)});
    EXPECT_FALSE(r.passed) << name(dtype) << "\n" << r;
    ASSERT_FALSE(r.worst.empty());
    EXPECT_EQ(r.worst.front().rounding, 0.0) << r;
  }
}

// A backward wrong in float32 only, by more than rounding explains (ρ ≈ 2·|f'| here), is caught:
// the float64 backward is right, so ρ is granted, and the error exceeds it.
TEST(GradCheckFloat32Rounding, Float32OnlyErrorBeyondRoundingIsCaught) {
  const GradCheckResult r = gradcheck(planted_tanh_ratio(1e-4, false), {at_saturation(DType::Float32)});
  EXPECT_FALSE(r.passed) << r;
  ASSERT_FALSE(r.worst.empty());
  EXPECT_GT(r.worst.front().rounding, 0.0) << r;
  EXPECT_LT(r.worst.front().rounding, 1e-4) << r;
}

}  // namespace
}  // namespace gradoracle::oracle

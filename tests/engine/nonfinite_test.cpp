// NaN and ±Inf through values and grads as PyTorch 1.13 propagates them. Every expected value
// here was printed by torch 1.13 (/usr/bin/python3); corpus/nonfinite/ holds the full sweep
// over the registry (tools/nonfinite_fixtures.py, replayed by fixtures_tests).
#include <limits>

#include "test_util.hpp"

namespace gradoracle::test {
namespace {

const double kInf = std::numeric_limits<double>::infinity();

Tensor grads(const Tensor& x, const Tensor& y) {
  y.backward(Tensor::ones(y.shape(), y.dtype()));
  return x.grad();
}

TEST(NonFinite, ReluKeepsNanAndItsGradUsesTheResult) {
  // threshold_backward on the result: nan <= 0 is false, so the upstream passes at NaN.
  Tensor x = leaf({6}, {kNaN, kInf, -kInf, 0, -1, 2});
  Tensor y = relu(x);
  EXPECT_TENSOR_NEAR(y, (std::vector<double>{kNaN, kInf, 0, 0, 0, 2}), Shape{6}, 0);
  EXPECT_TENSOR_NEAR(grads(x, y), (std::vector<double>{1, 1, 0, 0, 0, 1}), Shape{6}, 0);
}

TEST(NonFinite, AbsGradIsSignWithZeroAtNan) {
  Tensor x = leaf({6}, {kNaN, kInf, -kInf, 0, -0.0, -1});
  Tensor y = abs(x);
  EXPECT_TENSOR_NEAR(y, (std::vector<double>{kNaN, kInf, kInf, 0, 0, 1}), Shape{6}, 0);
  EXPECT_TENSOR_NEAR(grads(x, y), (std::vector<double>{0, 1, -1, 0, 0, -1}), Shape{6}, 0);
}

TEST(NonFinite, InfNormWithNanOrTiesOrInf) {
  Tensor a = leaf({3}, {1, kNaN, -3});
  Tensor na = norm(a, kInf);
  EXPECT_TRUE(std::isnan(na.item()));
  EXPECT_TENSOR_NEAR(grads(a, na), (std::vector<double>{0, 0, 0}), Shape{3}, 0);
  Tensor b = leaf({3}, {1, -3, 3});  // ties share the gradient
  Tensor nb = norm(b, kInf);
  EXPECT_EQ(nb.item(), 3.0);
  EXPECT_TENSOR_NEAR(grads(b, nb), (std::vector<double>{0, -0.5, 0.5}), Shape{3}, 0);
  Tensor c = leaf({3}, {1, -kInf, 2});
  Tensor nc = norm(c, kInf);
  EXPECT_EQ(nc.item(), kInf);
  EXPECT_TENSOR_NEAR(grads(c, nc), (std::vector<double>{0, -1, 0}), Shape{3}, 0);
}

TEST(NonFinite, TwoNormAtZeroAndAtInf) {
  Tensor z = leaf({2}, {0, 0});
  Tensor nz = norm(z, 2.0);
  EXPECT_EQ(nz.item(), 0.0);
  EXPECT_TENSOR_NEAR(grads(z, nz), (std::vector<double>{0, 0}), Shape{2}, 0);  // masked, not 0/0
  Tensor i = leaf({2}, {1, kInf});
  Tensor ni = norm(i, 2.0);
  EXPECT_EQ(ni.item(), kInf);
  EXPECT_TENSOR_NEAR(grads(i, ni), (std::vector<double>{0, kNaN}), Shape{2}, 0);
}

TEST(NonFinite, SoftmaxWithInfinities) {
  Tensor x = leaf({3}, {kInf, 1, 2});
  Tensor y = softmax(x, 0);  // inf - inf in the max subtraction: NaN throughout
  EXPECT_TENSOR_NEAR(y, (std::vector<double>{kNaN, kNaN, kNaN}), Shape{3}, 0);
  EXPECT_TENSOR_NEAR(grads(x, y), (std::vector<double>{kNaN, kNaN, kNaN}), Shape{3}, 0);
  Tensor m = leaf({2}, {-kInf, -kInf});
  Tensor ym = softmax(m, 0);
  EXPECT_TENSOR_NEAR(ym, (std::vector<double>{kNaN, kNaN}), Shape{2}, 0);
  Tensor l = leaf({3}, {-kInf, 1, 2});
  Tensor yl = log_softmax(l, 0);
  EXPECT_TENSOR_NEAR(yl, (std::vector<double>{-kInf, -1.3132616875182228, -0.31326168751822286}), Shape{3}, 1e-15);
  EXPECT_TENSOR_NEAR(grads(l, yl), (std::vector<double>{1, 0.1931757358900147, -1.1931757358900148}), Shape{3}, 1e-15);
}

TEST(NonFinite, PowAtZero) {
  // 0^0 = 1 with d/da = 0 and d/db = 0·log 0 -> 0 (torch masks the base-zero case);
  // 0^-1 = inf with d/da = -inf, d/db = -inf; 0^0.5 = 0 with d/da = inf, d/db = 0.
  Tensor a = leaf({3}, {0, 0, 0});
  Tensor b = leaf({3}, {0, -1, 0.5});
  Tensor y = pow(a, b);
  EXPECT_TENSOR_NEAR(y, (std::vector<double>{1, kInf, 0}), Shape{3}, 0);
  y.backward(Tensor::ones({3}));
  EXPECT_TENSOR_NEAR(a.grad(), (std::vector<double>{0, -kInf, kInf}), Shape{3}, 0);
  EXPECT_TENSOR_NEAR(b.grad(), (std::vector<double>{0, -kInf, 0}), Shape{3}, 0);
  Tensor c = leaf({3}, {0, kNaN, kInf});
  Tensor yc = pow(c, 0.0);  // x^0 = 1 everywhere, grad 0 (NaN included)
  EXPECT_TENSOR_NEAR(yc, (std::vector<double>{1, 1, 1}), Shape{3}, 0);
  EXPECT_TENSOR_NEAR(grads(c, yc), (std::vector<double>{0, 0, 0}), Shape{3}, 0);
  Tensor e = leaf({3}, {0, 1, -1});
  Tensor ye = pow(0.0, e);
  EXPECT_TENSOR_NEAR(ye, (std::vector<double>{1, 0, kInf}), Shape{3}, 0);
  EXPECT_TENSOR_NEAR(grads(e, ye), (std::vector<double>{0, 0, -kInf}), Shape{3}, 0);
}

TEST(NonFinite, InfTimesZeroInMulBackward) {
  Tensor a = leaf({2}, {kInf, 0});
  Tensor b = leaf({2}, {0, kInf});
  Tensor y = a * b;
  EXPECT_TENSOR_NEAR(y, (std::vector<double>{kNaN, kNaN}), Shape{2}, 0);
  y.backward(Tensor::ones({2}));
  EXPECT_TENSOR_NEAR(a.grad(), (std::vector<double>{0, kInf}), Shape{2}, 0);
  EXPECT_TENSOR_NEAR(b.grad(), (std::vector<double>{kInf, 0}), Shape{2}, 0);
}

TEST(NonFinite, SqrtAndLogOutsideTheirDomain) {
  Tensor s = leaf({3}, {0, -1, kInf});
  Tensor ys = sqrt(s);
  EXPECT_TENSOR_NEAR(ys, (std::vector<double>{0, kNaN, kInf}), Shape{3}, 0);
  EXPECT_TENSOR_NEAR(grads(s, ys), (std::vector<double>{kInf, kNaN, 0}), Shape{3}, 0);
  Tensor l = leaf({3}, {0, -1, kInf});
  Tensor yl = log(l);
  EXPECT_TENSOR_NEAR(yl, (std::vector<double>{-kInf, kNaN, kInf}), Shape{3}, 0);
  EXPECT_TENSOR_NEAR(grads(l, yl), (std::vector<double>{kInf, -1, 0}), Shape{3}, 0);
}

TEST(NonFinite, ANanUpstreamReachesTheLeaf) {
  Tensor x = leaf({2}, {1, 1});
  Tensor y = x * lit({2}, {kNaN, 1});
  y.backward(Tensor::ones({2}));
  EXPECT_TENSOR_NEAR(x.grad(), (std::vector<double>{kNaN, 1}), Shape{2}, 0);
}

TEST(NonFinite, ClipGradNormScalesByTheNonFiniteCoefficient) {
  // A NaN grad: total NaN, every grad becomes NaN (torch multiplies by clamp(NaN) = NaN).
  Tensor w = leaf({2}, {1, 1}, kF32), v = leaf({2}, {1, 1}, kF32);
  w.set_grad(lit({2}, {3, kNaN}, kF32));
  v.set_grad(lit({2}, {3, 4}, kF32));
  Tensor n = nn::clip_grad_norm_({w, v}, 1.0, 2.0);
  EXPECT_TRUE(std::isnan(n.item()));
  EXPECT_TENSOR_NEAR(w.grad(), (std::vector<double>{kNaN, kNaN}), Shape{2}, 0);
  EXPECT_TENSOR_NEAR(v.grad(), (std::vector<double>{kNaN, kNaN}), Shape{2}, 0);
  // An Inf grad: total inf, coefficient 0: finite grads become 0, the inf one NaN (inf·0).
  w.set_grad(lit({2}, {kInf, 1}, kF32));
  v.set_grad(lit({2}, {3, 4}, kF32));
  Tensor m = nn::clip_grad_norm_({w, v}, 1.0, 2.0);
  EXPECT_EQ(m.item(), kInf);
  EXPECT_TENSOR_NEAR(w.grad(), (std::vector<double>{kNaN, 0}), Shape{2}, 0);
  EXPECT_TENSOR_NEAR(v.grad(), (std::vector<double>{0, 0}), Shape{2}, 0);
  // The inf-norm with a NaN: NaN as well (max propagates NaN).
  w.set_grad(lit({2}, {1, kNaN}, kF32));
  v.set_grad(lit({2}, {3, 4}, kF32));
  EXPECT_TRUE(std::isnan(nn::clip_grad_norm_({w, v}, 1.0, kInf).item()));
  EXPECT_TENSOR_NEAR(v.grad(), (std::vector<double>{kNaN, kNaN}), Shape{2}, 0);
}

TEST(NonFinite, ClipGradNormErrorIfNonfiniteRaisesTorchsErrorAndLeavesGrads) {
  Tensor w = leaf({2}, {1, 1});
  w.set_grad(lit({2}, {kInf, 1}));
  EXPECT_ERROR(nn::clip_grad_norm_({w}, 1.0, 2.0, true), Value,
               "The total norm of order 2.0 for gradients from `parameters` is non-finite, so it cannot be "
               "clipped. To disable this error and scale the gradients by the non-finite norm anyway, set "
               "`error_if_nonfinite=False`");
  EXPECT_TENSOR_NEAR(w.grad(), (std::vector<double>{kInf, 1}), Shape{2}, 0);
  w.set_grad(lit({2}, {kNaN, 1}));
  EXPECT_ERROR(nn::clip_grad_norm_({w}, 1.0, kInf, true), Value, "The total norm of order inf for gradients");
  w.set_grad(lit({2}, {3, 4}));  // finite: no error
  EXPECT_EQ(nn::clip_grad_norm_({w}, 1.0, 2.0, true).item(), 5.0);
}

}  // namespace
}  // namespace gradoracle::test

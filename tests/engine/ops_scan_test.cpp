// Scans and reductions with backwards of their own (ops_scan.cpp): values and gradients from
// their closed forms, PyTorch 1.13's grad_fn names at first and second order (checked in torch:
// the facts below were printed by /usr/bin/python3 with torch 1.13.1), its gradients at zeros
// (prod), infinities (logsumexp) and zero variance (std), and its errors word for word.
#include <cmath>
#include <limits>
#include <string>

#include "test_util.hpp"

namespace gradoracle {
namespace {
using namespace test;
using Ins = std::vector<Tensor>;
using Dims = std::vector<int64_t>;
using V = std::vector<double>;
constexpr double kInfD = std::numeric_limits<double>::infinity();

TEST(Scan, CumsumValuesGradsAndPassThrough) {
  for (DType dt : kDTypes) {
    const Tensor x = leaf({2, 3}, {1, 2, 3, 4, 5, 6}, dt);
    const Tensor y = cumsum(x, -1);
    EXPECT_EQ(y.grad_fn_name(), "CumsumBackward0");
    EXPECT_TENSOR_NEAR(y, (V{1, 3, 6, 4, 9, 15}), Shape({2, 3}), tol_of(dt));
    // dx_k = Σ_{j >= k} dY_j
    y.backward(lit({2, 3}, {1, 2, 3, 0.5, 0, -1}, dt));
    EXPECT_TENSOR_NEAR(x.grad(), (V{6, 5, 3, -0.5, -1, -1}), Shape({2, 3}), tol_of(dt));
  }
  // NOTE: a dim of size 1 (or one element) hands dY back itself, graph and all (PyTorch 1.13).
  const auto f = [](const Ins& in) { return cumsum(in[0], 0); };
  EXPECT_EQ(grad_fn_names(f, {leaf({1, 3}, {1, 2, 3})}, false), std::vector<std::string>{"nograd"});
  EXPECT_EQ(grad_fn_names(f, {leaf({2, 3}, {1, 2, 3, 4, 5, 6})}, true), std::vector<std::string>{"FlipBackward0"});
  EXPECT_ERROR(cumsum(leaf({2, 3}, {1, 2, 3, 4, 5, 6}), 2), Dim,
               "Dimension out of range (expected to be in range of [-2, 1], but got 2)");
}

TEST(Scan, LogsumexpValuesInfinitiesAndNames) {
  for (DType dt : kDTypes) {
    const Tensor x = leaf({2, 3}, {1, 2, 3, 1000, 1001, 999}, dt);
    const Tensor y = logsumexp(x, {1});
    EXPECT_EQ(y.grad_fn_name(), "LogsumexpBackward0");
    const double l = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));  // logsumexp(1, 2, 3)
    EXPECT_TENSOR_NEAR(y, (V{l, l + 998}), Shape({2}), tol_of(dt) * 1000);
    y.backward(lit({2}, {1, 2}, dt));  // dY·softmax(x)
    const double e = std::exp(1.0 - l), f = std::exp(2.0 - l), g = std::exp(3.0 - l);
    EXPECT_TENSOR_NEAR(x.grad(), (V{e, f, g, 2 * f, 2 * g, 2 * e}), Shape({2, 3}), 10 * tol_of(dt));
  }
  // -inf entries take no share; a +inf gives +inf and a NaN gradient there (exp(inf - inf));
  // all -inf gives -inf and NaN gradients (PyTorch 1.13's max, masked to 0 where infinite).
  const Tensor x = leaf({3, 3}, {1, -kInfD, 2, 1, kInfD, 2, -kInfD, -kInfD, -kInfD});
  const Tensor y = logsumexp(x, {-1});
  EXPECT_TENSOR_NEAR(y, (V{std::log(std::exp(1.0) + std::exp(2.0)), kInfD, -kInfD}), Shape({3}), 1e-12);
  y.backward(Tensor::ones({3}, kF64));
  const double s = 1 / (1 + std::exp(1.0));
  EXPECT_TENSOR_NEAR(x.grad(), (V{s, 0, 1 - s, 0, kNaN, 0, kNaN, kNaN, kNaN}), Shape({3, 3}), 1e-12);
  const auto f = [](const Ins& in) { return logsumexp(in[0], {1}); };
  EXPECT_EQ(grad_fn_names(f, {leaf({2, 2}, {1, 2, 3, 4})}, true), std::vector<std::string>{"MulBackward0"});
  EXPECT_TRUE(second_order_matches_fd([](const Ins& in) { return logsumexp(in[0], {0, 2}, true); },
                                      {leaf({2, 2, 2}, {0.1, -1, 2, 0.5, 1.5, -0.3, 0.7, 1})}));
  // NOTE: PyTorch 1.13 refuses an empty dim list without keepdim (rank >= 1, not empty).
  EXPECT_ERROR(logsumexp(leaf({2, 3}, {1, 2, 3, 4, 5, 6}), {}), Shape,
               "output with shape [] doesn't match the broadcast shape [1, 1]");
  EXPECT_ERROR(logsumexp(leaf({2, 3}, {1, 2, 3, 4, 5, 6}), {0, -2}), Dim, "dim 0 appears multiple times in the list of dims");
}

TEST(Scan, VarAndStdValuesAndGrads) {
  const std::vector<double> xs = {1, 2, 3, 4, 5, 7};
  for (DType dt : kDTypes) {
    for (bool unbiased : {true, false}) {
      // Row 2: mean 16/3, Σ(x - mean)² = 14/3; d var/dx = 2(x - mean)/(n - c).
      const double c = unbiased ? 1 : 0, v2 = (14.0 / 3) / (3 - c);
      const Tensor x = leaf({2, 3}, xs, dt);
      const Tensor v = var(x, Dims{1}, unbiased);
      EXPECT_EQ(v.grad_fn_name(), "VarBackward0");
      EXPECT_TENSOR_NEAR(v, (V{2 / (3 - c), v2}), Shape({2}), tol_of(dt));
      v.backward(Tensor::ones({2}, dt));
      const double k = 2 / (3 - c);
      EXPECT_TENSOR_NEAR(x.grad(), (V{-k, 0, k, -4 / 3.0 * k, -1 / 3.0 * k, 5 / 3.0 * k}), Shape({2, 3}), 10 * tol_of(dt));
      const Tensor z = leaf({2, 3}, xs, dt);
      const Tensor s = std_dev(z, Dims{1}, unbiased, true);
      EXPECT_EQ(s.grad_fn_name(), "StdBackward0");
      EXPECT_TENSOR_NEAR(s, (V{std::sqrt(2 / (3 - c)), std::sqrt(v2)}), Shape({2, 1}), tol_of(dt));
    }
  }
  // NOTE: std's gradient where the variance is 0 is 0 (PyTorch masks dY/(2·std)).
  const Tensor z = leaf({2, 3}, {3, 3, 3, 1, 2, 3});
  std_dev(z, Dims{1}).backward(Tensor::ones({2}, kF64));
  EXPECT_TENSOR_NEAR(z.grad(), (V{0, 0, 0, -0.5, 0, 0.5}), Shape({2, 3}), 1e-12);
  for (auto* op : {&var, &std_dev}) {
    EXPECT_TRUE(second_order_matches_fd([op](const Ins& in) { return (*op)(in[0], Dims{0, 2}, true, false); },
                                        {leaf({2, 2, 3}, {0.1, -1, 2, 0.5, 1.5, -0.3, 0.7, 1, 2.5, -2, 0.2, 0.9})}));
    EXPECT_TRUE(second_order_matches_fd([op](const Ins& in) { return (*op)(in[0], std::nullopt, false, true); },
                                        {leaf({2, 3}, {0.1, -1, 2, 0.5, 1.5, -0.3})}));
  }
}

TEST(Scan, VarAndStdAtOneElementAndEmptyDimList) {
  // One element, unbiased: NaN (no warning in PyTorch 1.13). Reduced whole, PyTorch's
  // var_backward returns inf·dY of dY's 0-d shape: a 0-d x gets inf (var) or NaN (std) ...
  const Tensor x0 = leaf({}, {3});
  var(x0).backward();
  EXPECT_TENSOR_NEAR(x0.grad(), (V{kInfD}), Shape{}, 0);
  // ... and a one-element x of rank >= 1 is refused by the engine's gradient shape check.
  EXPECT_ERROR(var(leaf({1}, {3})).backward(), Autograd,
               "Function VarBackward0 returned an invalid gradient at index 0 - got [] but expected shape compatible with [1]");
  EXPECT_ERROR(std_dev(leaf({1, 1}, {3})).backward(), Autograd,
               "Function StdBackward0 returned an invalid gradient at index 0 - got [] but expected shape compatible with [1, 1]");
  // Along a dim of size 1: NaN values and grads (2/0 · 0).
  const Tensor x1 = leaf({1, 2}, {3, 4});
  var(x1, Dims{0}).backward(Tensor::ones({2}, kF64));
  EXPECT_TENSOR_NEAR(x1.grad(), (V{kNaN, kNaN}), Shape({1, 2}), 0);
  // NOTE: an empty dim list reduces every dim, but PyTorch's backward counts 1 element:
  // dof = 1 - correction, so unbiased grads are ±inf (NaN at the mean), biased ones 2(x - mean).
  const Tensor x2 = leaf({2, 2}, {1, 2, 4, 6});
  const Tensor v = var(x2, Dims{});
  EXPECT_TENSOR_NEAR(v, (V{14.75 / 3}), Shape{}, 1e-12);
  v.backward();
  EXPECT_TENSOR_NEAR(x2.grad(), (V{-kInfD, -kInfD, kInfD, kInfD}), Shape({2, 2}), 0);
  const Tensor x3 = leaf({2, 2}, {1, 2, 4, 6});
  var(x3, Dims{}, false).backward();
  EXPECT_TENSOR_NEAR(x3.grad(), (V{-4.5, -2.5, 1.5, 5.5}), Shape({2, 2}), 1e-12);
}

TEST(Scan, VarAndStdSecondOrderNames) {
  // create_graph with an upstream that requires grad: var_backward's (2/dof)·dY·(x - mean) ends
  // in MulBackward0 in every branch but n = correction over all dims (inf·dY: MulBackward1).
  const Tensor x = leaf({2, 3}, {1, 2, 3, 4, 5, 7});
  for (auto* op : {&var, &std_dev}) {
    EXPECT_EQ(grad_fn_names([op](const Ins& in) { return (*op)(in[0], std::nullopt, true, false); }, {x}, true),
              std::vector<std::string>{"MulBackward0"});
    EXPECT_EQ(grad_fn_names([op](const Ins& in) { return (*op)(in[0], Dims{1}, true, false); }, {x}, true),
              std::vector<std::string>{"MulBackward0"});
  }
  EXPECT_EQ(grad_fn_names([](const Ins& in) { return var(in[0]); }, {leaf({}, {2})}, true),
            std::vector<std::string>{"MulBackward1"});
  EXPECT_ERROR(var(x, Dims{0, 0}), Dim, "dim 0 appears multiple times in the list of dims");
  EXPECT_ERROR(std_dev(x, Dims{-3}), Dim, "Dimension out of range (expected to be in range of [-2, 1], but got -3)");
}

TEST(Scan, ProdGradsAtZeros) {
  for (DType dt : kDTypes) {
    // No zero: dY·(y/x). One zero: only the zero's place gets Π of the others. Two: all 0.
    for (const auto& [xs, grads] : std::vector<std::pair<std::vector<double>, std::vector<double>>>{
             {{2, 4, 3}, {12, 6, 8}}, {{2, 0, 3}, {0, 6, 0}}, {{2, 0, 0}, {0, 0, 0}}}) {
      const Tensor x = leaf({3}, xs, dt);
      const Tensor y = prod(x);
      EXPECT_EQ(y.grad_fn_name(), "ProdBackward0");
      y.backward();
      EXPECT_TENSOR_NEAR(x.grad(), grads, Shape({3}), tol_of(dt));
    }
    // Along a dim, per slice: one zero, two zeros, none.
    const Tensor x = leaf({3, 3}, {2, 0, 3, 0, 0, 1.5, 1, 2, 4}, dt);
    const Tensor y = prod(x, 1);
    EXPECT_EQ(y.grad_fn_name(), "ProdBackward1");
    EXPECT_TENSOR_NEAR(y, (V{0, 0, 8}), Shape({3}), tol_of(dt));
    y.backward(lit({3}, {1, 1, 0.5}, dt));
    EXPECT_TENSOR_NEAR(x.grad(), (V{0, 6, 0, 0, 0, 0, 4, 2, 1}), Shape({3, 3}), tol_of(dt));
  }
  // Second order: the one-zero formula differentiates (PyTorch's gg for [2, 0, 3] is [3, 5, 2]);
  // over two zeros PyTorch's grads carry no graph even under create_graph.
  EXPECT_TRUE(second_order_matches_fd([](const Ins& in) { return prod(in[0]); }, {leaf({2, 2}, {2, 0, 3, -1.5})}));
  EXPECT_TRUE(second_order_matches_fd([](const Ins& in) { return prod(in[0], 1, true); },
                                      {leaf({2, 3}, {2, 0, 3, 0, 0, 1.5})}));
  const auto all = [](const Ins& in) { return prod(in[0]); };
  EXPECT_EQ(grad_fn_names(all, {leaf({3}, {2, 0, 3})}, true), std::vector<std::string>{"ViewBackward0"});
  EXPECT_EQ(grad_fn_names(all, {leaf({3}, {2, 4, 3})}, true), std::vector<std::string>{"MulBackward0"});
  EXPECT_EQ(grad_fn_names(all, {leaf({3}, {2, 0, 0})}, true), std::vector<std::string>{"nograd"});
  EXPECT_EQ(grad_fn_names([](const Ins& in) { return prod(in[0], 0); }, {leaf({2}, {0, 0})}, true),
            std::vector<std::string>{"MulBackward0"});
  EXPECT_EQ(grad_fn_names(all, {leaf({}, {2})}, false), std::vector<std::string>{"nograd"});  // 0-d: dY itself
  EXPECT_ERROR(prod(leaf({2, 3}, {1, 2, 3, 4, 5, 6}), 2), Dim,
               "Dimension out of range (expected to be in range of [-2, 1], but got 2)");
}

}  // namespace
}  // namespace gradoracle

// Kinks and ties (ops_kinks.cpp): clamp, maximum, minimum, max, min, amax, amin. Every expected
// value below is what PyTorch 1.13.1 gives (run under /usr/bin/python3): its subgradients at the
// bounds and ties, NaN propagation, grad_fn names at first and second order, and its errors.
#include <cmath>
#include <string>

#include "gradoracle/engine/registry.hpp"
#include "test_util.hpp"

namespace gradoracle {
namespace {
using namespace test;
using Ins = std::vector<Tensor>;
using V = std::vector<double>;

// Each leaf's gradient of sum(f(leaves)) (a ones upstream).
Ins grads_of(const std::function<Tensor(const Ins&)>& f, const Ins& leaves) {
  for (const Tensor& x : leaves) Tensor(x).set_grad(Tensor());
  f(leaves).backward(Tensor::ones(f(leaves).shape(), leaves[0].dtype()));
  Ins out;
  for (const Tensor& x : leaves) out.push_back(x.grad());
  return out;
}

// clamp: the gradient passes at both bounds (x >= min & x <= max), 0 at NaN and ±inf beyond a
// bound; min > max gives max everywhere with no gradient; a NaN bound gives NaN and no gradient.
TEST(Kinks, ClampAtItsBoundsAsPyTorch) {
  for (DType dt : kDTypes) {
    SCOPED_TRACE(name(dt));
    const V xs = {-1, 1, 0.5, 2, -3, kNaN, kInf, -kInf};
    const Tensor x = leaf({8}, xs, dt);
    const auto at = [&](std::optional<double> lo, std::optional<double> hi, const V& value, const V& grad) {
      const Tensor y = clamp(x, lo, hi);
      EXPECT_EQ(y.grad_fn_name(), "ClampBackward1");
      EXPECT_TENSOR_NEAR(y, value, Shape{8}, 0.0);
      EXPECT_TENSOR_NEAR(grads_of([&](const Ins& in) { return clamp(in[0], lo, hi); }, {x})[0], grad, Shape{8}, 0.0);
    };
    at(-1.0, 1.0, {-1, 1, 0.5, 1, -1, kNaN, 1, -1}, {1, 1, 1, 0, 0, 0, 0, 0});
    at(-1.0, std::nullopt, {-1, 1, 0.5, 2, -1, kNaN, kInf, -1}, {1, 1, 1, 1, 0, 0, 1, 0});
    at(std::nullopt, 1.0, {-1, 1, 0.5, 1, -3, kNaN, 1, -kInf}, {1, 1, 1, 0, 1, 0, 0, 1});
    at(1.0, -1.0, {-1, -1, -1, -1, -1, kNaN, -1, -1}, V(8, 0.0));
    at(kNaN, 1.0, V(8, kNaN), V(8, 0.0));
  }
  // A float32 tensor compares with the bound cast to float32, as PyTorch's scalar.
  const Tensor f = leaf({1}, {0.1}, kF32);
  EXPECT_TENSOR_NEAR(grads_of([](const Ins& in) { return clamp(in[0], 0.1, std::nullopt); }, {f})[0], V{1}, Shape{1}, 0.0);
  EXPECT_ERROR(clamp(f, std::nullopt, std::nullopt), Value, "torch.clamp: At least one of 'min' or 'max' must not be None");
}

// maximum/minimum: a tie gives each side g/2, the loser 0; NaN on either side gives NaN and the
// whole gradient to both; broadcast operands get their gradients summed back.
TEST(Kinks, MaximumMinimumTiesAsPyTorch) {
  for (DType dt : kDTypes) {
    SCOPED_TRACE(name(dt));
    const Tensor a = leaf({5}, {1, 2, 3, kNaN, 1}, dt), b = leaf({5}, {1, 3, 2, 0, kNaN}, dt);
    const Tensor hi = maximum(a, b), lo = minimum(a, b);
    EXPECT_EQ(hi.grad_fn_name(), "MaximumBackward0");
    EXPECT_EQ(lo.grad_fn_name(), "MinimumBackward0");
    EXPECT_TENSOR_NEAR(hi, (V{1, 3, 3, kNaN, kNaN}), Shape{5}, 0.0);
    EXPECT_TENSOR_NEAR(lo, (V{1, 2, 2, kNaN, kNaN}), Shape{5}, 0.0);
    Ins g = grads_of([](const Ins& in) { return maximum(in[0], in[1]); }, {a, b});
    EXPECT_TENSOR_NEAR(g[0], (V{0.5, 0, 1, 1, 1}), Shape{5}, 0.0);
    EXPECT_TENSOR_NEAR(g[1], (V{0.5, 1, 0, 1, 1}), Shape{5}, 0.0);
    g = grads_of([](const Ins& in) { return minimum(in[0], in[1]); }, {a, b});
    EXPECT_TENSOR_NEAR(g[0], (V{0.5, 1, 0, 1, 1}), Shape{5}, 0.0);
    EXPECT_TENSOR_NEAR(g[1], (V{0.5, 0, 1, 1, 1}), Shape{5}, 0.0);
    const Tensor m = leaf({2, 2}, {1, 2, 3, 0}, dt), r = leaf({2}, {1, 2}, dt);
    g = grads_of([](const Ins& in) { return maximum(in[0], in[1]); }, {m, r});
    EXPECT_TENSOR_NEAR(g[0], (V{0.5, 0.5, 1, 0}), (Shape{2, 2}), 0.0);
    EXPECT_TENSOR_NEAR(g[1], (V{0.5, 1.5}), Shape{2}, 0.0);
  }
  // Promotion as PyTorch's: float64 with float32 is float64; a 0-d float64 does not widen.
  EXPECT_EQ(maximum(lit({2}, {1, 2}, kF32), lit({2}, {0, 3})).dtype(), kF64);
  EXPECT_EQ(maximum(lit({2}, {1, 2}, kF32), lit({}, {3})).dtype(), kF32);
  EXPECT_ERROR(maximum(lit({2, 3}, V(6, 0)), lit({2}, {0, 0})), Shape,
               "The size of tensor a (3) must match the size of tensor b (2) at non-singleton dimension 1");
}

// max()/min(): tied extrema share g evenly (NaN: every NaN shares it); max/min(dim): g goes to the
// index torch returns, the first extremum (the first NaN), keepdim or not, 0-d with dim 0 or -1.
TEST(Kinks, MaxMinTiesAsPyTorch) {
  for (DType dt : kDTypes) {
    SCOPED_TRACE(name(dt));
    const Tensor v = leaf({4}, {1, 3, 3, 0}, dt);
    EXPECT_EQ(max(v).grad_fn_name(), "MaxBackward1");
    EXPECT_EQ(min(v).grad_fn_name(), "MinBackward1");
    EXPECT_TENSOR_NEAR(max(v), V{3}, Shape{}, 0.0);
    EXPECT_TENSOR_NEAR(grads_of([](const Ins& in) { return max(in[0]); }, {v})[0], (V{0, 0.5, 0.5, 0}), Shape{4}, 0.0);
    const Tensor z = leaf({4}, {1, 0, 3, 0}, dt);
    EXPECT_TENSOR_NEAR(grads_of([](const Ins& in) { return min(in[0]); }, {z})[0], (V{0, 0.5, 0, 0.5}), Shape{4}, 0.0);
    const Tensor n = leaf({4}, {1, kNaN, 3, kNaN}, dt);
    EXPECT_TENSOR_NEAR(max(n), V{kNaN}, Shape{}, 0.0);
    EXPECT_TENSOR_NEAR(grads_of([](const Ins& in) { return max(in[0]); }, {n})[0], (V{0, 0.5, 0, 0.5}), Shape{4}, 0.0);
    const Tensor i = leaf({4}, {kInf, 1, kInf, -kInf}, dt);
    EXPECT_TENSOR_NEAR(grads_of([](const Ins& in) { return max(in[0]); }, {i})[0], (V{0.5, 0, 0.5, 0}), Shape{4}, 0.0);

    const Tensor m = leaf({2, 3}, {1, 3, 3, 2, 2, 0}, dt);
    for (bool keepdim : {false, true}) {
      const Tensor y = max(m, 1, keepdim);
      EXPECT_EQ(y.grad_fn_name(), "MaxBackward0");
      EXPECT_TENSOR_NEAR(y, (V{3, 2}), (keepdim ? Shape{2, 1} : Shape{2}), 0.0);
      EXPECT_TENSOR_NEAR(grads_of([&](const Ins& in) { return max(in[0], -1, keepdim); }, {m})[0], (V{0, 1, 0, 1, 0, 0}),
                         (Shape{2, 3}), 0.0);
    }
    EXPECT_EQ(min(m, 0).grad_fn_name(), "MinBackward0");
    EXPECT_TENSOR_NEAR(grads_of([](const Ins& in) { return min(in[0], 0); }, {leaf({2, 3}, {1, 3, 3, 1, 2, 0}, dt)})[0],
                       (V{1, 0, 0, 0, 1, 1}), (Shape{2, 3}), 0.0);
    const Tensor mn = leaf({2, 3}, {1, kNaN, kNaN, 2, 2, 0}, dt);
    EXPECT_TENSOR_NEAR(max(mn, 1), (V{kNaN, 2}), Shape{2}, 0.0);
    EXPECT_TENSOR_NEAR(grads_of([](const Ins& in) { return max(in[0], 1); }, {mn})[0], (V{0, 1, 0, 1, 0, 0}), (Shape{2, 3}), 0.0);
    const Tensor s = leaf({}, {2}, dt);
    EXPECT_TENSOR_NEAR(max(s, -1, true), V{2}, Shape{}, 0.0);
    EXPECT_TENSOR_NEAR(grads_of([](const Ins& in) { return max(in[0], 0); }, {s})[0], V{1}, Shape{}, 0.0);
  }
  EXPECT_EQ(max(lit({0, 3}, {}), 1).shape(), Shape{0});
}

// amax/amin: the elements equal to their slice's extremum share g evenly, over any dims; a slice
// whose result is NaN gets NaN gradients throughout (count 0: (g / 0)·0).
TEST(Kinks, AmaxAminTiesAsPyTorch) {
  const double third = 1.0 / 3;
  for (DType dt : kDTypes) {
    SCOPED_TRACE(name(dt));
    const Tensor m = leaf({2, 3}, {1, 3, 3, 2, 3, 0}, dt);
    const auto g = [&](const std::vector<int64_t>& dims, bool keepdim) {
      return grads_of([&](const Ins& in) { return amax(in[0], dims, keepdim); }, {m})[0];
    };
    EXPECT_EQ(amax(m).grad_fn_name(), "AmaxBackward0");
    EXPECT_EQ(amin(m, {0}).grad_fn_name(), "AminBackward0");
    EXPECT_TENSOR_NEAR(g({}, false), (V{0, third, third, 0, third, 0}), (Shape{2, 3}), tol_of(dt));
    EXPECT_TENSOR_NEAR(g({0, -1}, true), (V{0, third, third, 0, third, 0}), (Shape{2, 3}), tol_of(dt));
    EXPECT_TENSOR_NEAR(g({1}, false), (V{0, 0.5, 0.5, 0, 1, 0}), (Shape{2, 3}), 0.0);
    EXPECT_TENSOR_NEAR(amax(m, {0}, true), (V{2, 3, 3}), (Shape{1, 3}), 0.0);
    EXPECT_TENSOR_NEAR(amin(m, {1}), (V{1, 0}), Shape{2}, 0.0);
    EXPECT_TENSOR_NEAR(grads_of([](const Ins& in) { return amin(in[0], {0}); }, {leaf({2, 3}, {1, 3, 3, 1, 3, 0}, dt)})[0],
                       (V{0.5, 0.5, 0, 0.5, 0.5, 1}), (Shape{2, 3}), 0.0);
    const Tensor n = leaf({2, 3}, {1, kNaN, 3, 2, 3, 0}, dt);
    EXPECT_TENSOR_NEAR(amax(n, {1}), (V{kNaN, 3}), Shape{2}, 0.0);
    EXPECT_TENSOR_NEAR(grads_of([](const Ins& in) { return amax(in[0], {1}); }, {n})[0], (V{kNaN, kNaN, kNaN, 0, 1, 0}),
                       (Shape{2, 3}), 0.0);
    const Tensor w = leaf({20}, V(20, -kInf), dt);
    EXPECT_TENSOR_NEAR(grads_of([](const Ins& in) { return amax(in[0]); }, {w})[0], V(20, 1.0 / 20), Shape{20}, tol_of(dt));
  }
  EXPECT_EQ(amax(lit({0, 3}, {}), {1}).shape(), Shape{0});
  EXPECT_EQ(amax(lit({}, {1}), {}, true).shape(), Shape{});
}

TEST(Kinks, ErrorsWordForWord) {
  const Tensor x = lit({2, 3}, V(6, 0)), e = lit({0, 3, 2}, {});
  EXPECT_ERROR(max(lit({0, 3}, {})), Value,
               "max(): Expected reduction dim to be specified for input.numel() == 0. Specify the reduction dim with "
               "the 'dim' argument.");
  EXPECT_ERROR(min(lit({0}, {})), Value, "min(): Expected reduction dim to be specified for input.numel() == 0.");
  EXPECT_ERROR(max(e, -3), Dim, "max(): Expected reduction dim 0 to have non-zero size.");
  EXPECT_ERROR(max(x, 2), Dim, "Dimension out of range (expected to be in range of [-2, 1], but got 2)");
  EXPECT_ERROR(min(lit({}, {1}), 1), Dim, "Dimension out of range (expected to be in range of [-1, 0], but got 1)");
  EXPECT_ERROR(amax(e, {}, true), Value, "amax(): Expected reduction dim to be specified for input.numel() == 0.");
  // Sizes first, each dim in order and named as given: PyTorch reports dim 0 before 5's range.
  EXPECT_ERROR(amax(e, {-3}), Dim, "amax(): Expected reduction dim -3 to have non-zero size.");
  EXPECT_ERROR(amin(e, {0, 5}), Dim, "amin(): Expected reduction dim 0 to have non-zero size.");
  EXPECT_ERROR(amax(lit({3, 0}, {}), {0, 1}), Dim, "amax(): Expected reduction dim 1 to have non-zero size.");
  EXPECT_ERROR(amax(x, {2}), Dim, "Dimension out of range (expected to be in range of [-2, 1], but got 2)");
  EXPECT_ERROR(amax(x, {0, -2}), Dim, "dim 0 appears multiple times in the list of dims");
  EXPECT_ERROR(amin(lit({}, {1}), {0, -1}), Dim, "dim 0 appears multiple times in the list of dims");

  const registry::OpTable& ops = registry::builtin_ops();
  EXPECT_ERROR(ops.find("clamp")->call({x}, {}), Value, "torch.clamp: At least one of 'min' or 'max' must not be None");
  EXPECT_ERROR(ops.find("maximum")->call({x, 1.0}, {}), Value,
               "maximum(): argument 'other' (position 2) must be Tensor, not float");
  EXPECT_ERROR(ops.find("max")->call({x}, {{"keepdim", true}}), Value,
               "max() received an invalid combination of arguments - got (Tensor, keepdim=bool), but expected one of:");
  EXPECT_TENSOR_NEAR(ops.find("amin")->call({lit({2, 2}, {1, 2, 3, 0})}, {{"keepdim", true}}), V{0}, (Shape{1, 1}), 0.0);
}

// ---------------------------------------------------------------- second order

// torch.autograd.grad(f(x), x, u, create_graph=True)'s grad_fn names in PyTorch 1.13: the last op
// of each backward formula when u requires grad; none when it does not (the masks are constants).
TEST(KinksSecondOrder, CreateGraphResultsHavePyTorchsGradFnNames) {
  const Tensor x = leaf({2, 3}, {1, 3, 3, 2, 2, 0}), b = leaf({2, 3}, {1, 2, 3, 3, 2, 1});
  const std::vector<std::pair<std::function<Tensor(const Ins&)>, std::vector<std::string>>> cases = {
      {[](const Ins& in) { return clamp(in[0], 0.5, 2.5); }, {"WhereBackward0"}},
      {[](const Ins& in) { return maximum(in[0], in[1]); }, {"MaskedFillBackward0", "MaskedFillBackward0"}},
      {[](const Ins& in) { return minimum(in[0], in[1]); }, {"MaskedFillBackward0", "MaskedFillBackward0"}},
      {[](const Ins& in) { return max(in[0]); }, {"MaskedFillBackward1"}},
      {[](const Ins& in) { return min(in[0]); }, {"MaskedFillBackward1"}},
      {[](const Ins& in) { return max(in[0], 1); }, {"ScatterBackward0"}},
      {[](const Ins& in) { return min(in[0], 0, true); }, {"ScatterBackward0"}},
      {[](const Ins& in) { return amax(in[0], {1}); }, {"MulBackward0"}},
      {[](const Ins& in) { return amin(in[0], {}, true); }, {"MulBackward0"}},
  };
  for (const auto& [f, names] : cases) {
    const Ins in = names.size() == 2 ? Ins{x, b} : Ins{x};
    EXPECT_EQ(grad_fn_names(f, in, true), names);
    EXPECT_EQ(grad_fn_names(f, in, false), std::vector<std::string>(names.size(), "nograd"));
    EXPECT_EQ(grad_fn_names(f, in, true, false), std::vector<std::string>(names.size(), "nograd"));
  }
  // Broadcast operands' gradients are summed back as ATen's sum_to: a view, or a full sum for 0-d.
  EXPECT_EQ(grad_fn_names([](const Ins& in) { return maximum(in[0], in[1]); }, {x, leaf({3}, {1, 2, 3})}, true),
            (std::vector<std::string>{"MaskedFillBackward0", "ViewBackward0"}));
  EXPECT_EQ(grad_fn_names([](const Ins& in) { return maximum(in[0], in[1]); }, {x, leaf({}, {1.5})}, true),
            (std::vector<std::string>{"MaskedFillBackward0", "SumBackward0"}));
}

// Away from kinks and ties: the create_graph backward differentiates into finite differences of
// the first (0 in x, the spread's weights in the upstream).
TEST(KinksSecondOrder, EveryOpMatchesFiniteDifferencesOfItsFirstBackward) {
  const Tensor x = leaf({2, 3}, {-1.3, 0.4, 2.2, -0.6, 1.1, -2.1}), b = leaf({3}, {0.25, -0.75, 1.5});
  const std::vector<std::function<Tensor(const Ins&)>> fs = {
      [](const Ins& in) { return clamp(in[0], -1.0, 1.0); },
      [](const Ins& in) { return maximum(in[0], in[1]); },
      [](const Ins& in) { return minimum(in[1], in[0]); },
      [](const Ins& in) { return max(in[0]); },
      [](const Ins& in) { return min(in[0], 1); },
      [](const Ins& in) { return max(in[0], 0, true); },
      [](const Ins& in) { return amax(in[0], {0}); },
      [](const Ins& in) { return amin(in[0], {-1, 0}, true); },
  };
  for (size_t i = 0; i < fs.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_TRUE(second_order_matches_fd(fs[i], {x, b}));
  }
}

}  // namespace
}  // namespace gradoracle

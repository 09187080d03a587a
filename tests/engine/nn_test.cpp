// nn: Module, Linear's initialisation, zero_grad, clip_grad_norm_ and clip_grad_value_.
#include <algorithm>

#include "test_util.hpp"

namespace gradoracle {
namespace {
using namespace test;

TEST(Linear, InitialisationBoundsShapesAndSeeds) {
  Generator gen(7);
  nn::Linear layer(16, 3, gen, kF64);
  const double bound = 1 / std::sqrt(16.0);  // kaiming_uniform_(a=√5) on the weight and the bias rule
  EXPECT_EQ(layer.weight.shape(), (Shape{3, 16}));
  EXPECT_EQ(layer.bias.shape(), Shape{3});
  for (const Tensor& p : layer.parameters()) {
    EXPECT_TRUE(p.requires_grad());
    EXPECT_TRUE(p.is_leaf());
    for (double v : p.to_vector()) {
      EXPECT_GE(v, -bound);
      EXPECT_LT(v, bound);
    }
  }
  Generator again(7);
  nn::Linear same(16, 3, again, kF64);
  EXPECT_TENSOR_NEAR(same.weight, layer.weight.to_vector(), (Shape{3, 16}), 0.0);
  nn::Linear no_bias(4, 2, false, gen);
  EXPECT_FALSE(no_bias.bias.defined());
  EXPECT_EQ(no_bias.parameters().size(), 1u);
  EXPECT_EQ(no_bias(Tensor::ones({5, 4})).grad_fn_name(), "MmBackward0");
  EXPECT_ERROR(nn::Linear(-1, 2, gen), Value, "negative dimension -1");
}

TEST(ZeroGrad, InPlaceOrToNone) {
  const Tensor a = leaf({2}, {1, 2}), b = leaf({1}, {3}), c = leaf({1}, {4});
  sum(a * b).backward();
  nn::zero_grad({a, b, c});
  EXPECT_TENSOR_NEAR(a.grad(), (std::vector<double>{0, 0}), Shape{2}, 0.0);
  EXPECT_TENSOR_NEAR(b.grad(), {0}, Shape{1}, 0.0);
  EXPECT_FALSE(c.grad().defined());  // had none: keeps none
  nn::zero_grad({a, b}, true);
  EXPECT_FALSE(a.grad().defined());
  EXPECT_FALSE(b.grad().defined());
}

// PyTorch 1.13 (Module.zero_grad / Optimizer.zero_grad, set_to_none=False), for a Linear whose
// weight.grad is a*3 with a graph and bias.grad a leaf requiring grad: both stay the same
// tensors, now zeros, without grad_fn and not requiring grad.
TEST(ZeroGrad, AGradWithAGraphIsDetachedAndOneRequiringGradStopsThenBothAreZeroed) {
  const Tensor a = leaf({1, 2}, {1, 2});
  Generator gen(1);
  nn::Linear layer(2, 1, gen, kF64);
  const Tensor w_grad = a * 3, b_grad = leaf({1}, {4});
  layer.weight.set_grad(w_grad);
  layer.bias.set_grad(b_grad);
  layer.zero_grad();
  EXPECT_TRUE(layer.weight.grad().is_same(w_grad));
  EXPECT_TRUE(layer.bias.grad().is_same(b_grad));
  for (const Tensor& g : {w_grad, b_grad}) {
    EXPECT_EQ(g.grad_fn_name(), "");
    EXPECT_FALSE(g.requires_grad());
  }
  EXPECT_TENSOR_NEAR(w_grad, (std::vector<double>{0, 0}), (Shape{1, 2}), 0.0);
  EXPECT_TENSOR_NEAR(b_grad, {0}, Shape{1}, 0.0);
  // The same through the free function.
  Tensor p = leaf({2}, {5, 6});
  const Tensor g = reshape(a, {2}) * 2;
  p.set_grad(g);
  nn::zero_grad({p});
  EXPECT_EQ(p.grad().grad_fn_name(), "");
  EXPECT_FALSE(p.grad().requires_grad());
}

// A grad that is a view with a graph cannot be detached in place: PyTorch 1.13 raises there too.
TEST(ZeroGrad, AViewGradWithAGraphRaisesAsPyTorch) {
  const Tensor a = leaf({1, 2}, {1, 2});
  Tensor p = leaf({2}, {5, 6});
  p.set_grad(reshape(a * 3, {2}));
  EXPECT_ERROR(nn::zero_grad({p}), Autograd, "Can't detach views in-place");
}

double total_norm_of(const std::vector<Tensor>& ps, double p) {
  double acc = 0;
  for (const Tensor& t : ps) {
    for (double v : t.grad().to_vector()) acc = std::isinf(p) ? std::max(acc, std::abs(v)) : acc + std::pow(std::abs(v), p);
  }
  return std::isinf(p) ? acc : std::pow(acc, 1 / p);
}

TEST(ClipGradNorm, ScalesByMaxNormOverTotalAndReturnsTotal) {
  for (DType dt : kDTypes) {
    for (double p : {2.0, 1.0, 3.0, kInf}) {
      SCOPED_TRACE(p);
      Tensor a = leaf({2}, {0, 0}, dt), b = leaf({3}, {0, 0, 0}, dt);
      a.set_grad(lit({2}, {3, -4}, dt));
      b.set_grad(lit({3}, {1, 2, -2}, dt));
      const std::vector<double> ga = a.grad().to_vector(), gb = b.grad().to_vector();
      const double total = total_norm_of({a, b}, p);
      const Tensor returned = nn::clip_grad_norm_({a, b}, 1.0, p);
      EXPECT_EQ(returned.dtype(), dt);
      EXPECT_TENSOR_NEAR(returned, {total}, Shape{}, 4 * tol_of(dt));
      const double coef = 1.0 / (total + 1e-6);
      EXPECT_TENSOR_NEAR(a.grad(), apply(ga, [&](double v) { return v * coef; }), Shape{2}, 4 * tol_of(dt));
      EXPECT_TENSOR_NEAR(b.grad(), apply(gb, [&](double v) { return v * coef; }), Shape{3}, 4 * tol_of(dt));
      EXPECT_NEAR(total_norm_of({a, b}, p), total / (total + 1e-6), 1e-5);
    }
  }
}

TEST(ClipGradNorm, BelowMaxNormKeepsGradsAndSkipsParamsWithoutGrad) {
  Tensor a = leaf({2}, {0, 0});
  const Tensor none = leaf({2}, {0, 0});
  a.set_grad(lit({2}, {0.3, 0.4}));
  const Tensor total = nn::clip_grad_norm_({a, none}, 10.0);
  EXPECT_TENSOR_NEAR(total, {0.5}, Shape{}, 1e-15);
  EXPECT_TENSOR_NEAR(a.grad(), (std::vector<double>{0.3, 0.4}), Shape{2}, 1e-15);  // coefficient clamped at 1
  EXPECT_FALSE(none.grad().defined());
  const Tensor empty = nn::clip_grad_norm_({none}, 1.0);  // no grads at all: torch.tensor(0.)
  EXPECT_EQ(empty.dtype(), kF32);
  EXPECT_TENSOR_NEAR(empty, {0}, Shape{}, 0.0);
}

TEST(ClipGradNorm, NonFiniteTotal) {
  Tensor a = leaf({2}, {0, 0});
  a.set_grad(lit({2}, {kInf, 1}));
  EXPECT_ERROR(nn::clip_grad_norm_({a}, 1.0, 2.0, true), Value,
               "The total norm of order 2.0 for gradients from `parameters` is non-finite, so it cannot be clipped");
  EXPECT_ERROR(nn::clip_grad_norm_({a}, 1.0, kInf, true), Value, "order inf");
  const Tensor total = nn::clip_grad_norm_({a}, 1.0);  // without the flag: scaled by 1/inf
  EXPECT_TENSOR_NEAR(total, {kInf}, Shape{}, 0.0);
  EXPECT_TENSOR_NEAR(a.grad(), (std::vector<double>{kNaN, 0}), Shape{2}, 0.0);
}

TEST(ClipGradValue, ClampsInPlaceAsTorchClamp) {
  Tensor a = leaf({5}, {0, 0, 0, 0, 0});
  a.set_grad(lit({5}, {-3, -0.5, 0.5, 3, kNaN}));
  nn::clip_grad_value_({a, leaf({1}, {0})}, 1.0);
  EXPECT_TENSOR_NEAR(a.grad(), (std::vector<double>{-1, -0.5, 0.5, 1, kNaN}), Shape{5}, 0.0);
  // clamp(min=-c, max=c) with c < 0: max wins, every value becomes c.
  a.set_grad(lit({5}, {-3, -0.5, 0.5, 3, 0}));
  nn::clip_grad_value_({a}, -1.0);
  EXPECT_TENSOR_NEAR(a.grad(), std::vector<double>(5, -1.0), Shape{5}, 0.0);
}

}  // namespace
}  // namespace gradoracle

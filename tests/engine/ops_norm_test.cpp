// layer_norm (ops_norm.cpp): values and gradients against the definition worked out here per row
// in double, in float32 and float64, with and without weight and bias, over one and two
// normalized dims, constant rows included; PyTorch 1.13's grad_fn names at first and second
// order; second order against finite differences; its errors word for word.
#include <cmath>
#include <string>

#include "gradoracle/engine/registry.hpp"
#include "test_util.hpp"

namespace gradoracle {
namespace {
using namespace test;
using Ins = std::vector<Tensor>;
using V = std::vector<double>;

// The definition, row by row: y = x̂·w + b, and under upstream g
// dx = r·(u - mean(u) - x̂·mean(u·x̂)) with u = g·w, dw = Σ g·x̂, db = Σ g.
struct Expected {
  V y, dx, dw, db;
};
Expected reference(const V& x, int64_t m, const V& w, const V& b, const V& g, double eps) {
  const size_t M = static_cast<size_t>(m), n = x.size() / M;
  Expected e{V(x.size()), V(x.size()), V(M, 0.0), V(M, 0.0)};
  for (size_t i = 0; i < n; ++i) {
    double mu = 0, var = 0;
    for (size_t j = 0; j < M; ++j) mu += x[i * M + j] / static_cast<double>(m);
    for (size_t j = 0; j < M; ++j) var += (x[i * M + j] - mu) * (x[i * M + j] - mu) / static_cast<double>(m);
    const double r = 1 / std::sqrt(var + eps);
    V xhat(M), u(M);
    double mean_u = 0, mean_ux = 0;
    for (size_t j = 0; j < M; ++j) {
      xhat[j] = (x[i * M + j] - mu) * r;
      u[j] = g[i * M + j] * (w.empty() ? 1.0 : w[j]);
      mean_u += u[j] / static_cast<double>(m);
      mean_ux += u[j] * xhat[j] / static_cast<double>(m);
    }
    for (size_t j = 0; j < M; ++j) {
      e.y[i * M + j] = xhat[j] * (w.empty() ? 1.0 : w[j]) + (b.empty() ? 0.0 : b[j]);
      e.dx[i * M + j] = r * (u[j] - mean_u - xhat[j] * mean_ux);
      e.dw[j] += g[i * M + j] * xhat[j];
      e.db[j] += g[i * M + j];
    }
  }
  return e;
}

// x (2, 2, 3): the second block constant (σ² = 0), the first spread.
const Shape kX{2, 2, 3};
const V kXs = {1, 2, -1, 0.5, 3, -2, 4, 4, 4, 4, 4, 4};
const V kG = {0.5, -1, 2, 1.5, -0.25, 0.75, 1, -2, 0.5, 3, 0.25, -1};

TEST(LayerNorm, ValuesAndGradsAsTheDefinitionInBothDTypes) {
  struct Case {
    const char* label;
    std::vector<int64_t> ns;
    int args;  // 1: x; 2: x, weight; 3: x, weight, bias
    double eps;
  };
  for (const Case& c : {Case{"last dim, x only", {3}, 1, 1e-5}, Case{"last dim, weight", {3}, 2, 1e-5},
                        Case{"last dim, weight and bias, eps 0.5", {3}, 3, 0.5},
                        Case{"two dims, weight and bias", {2, 3}, 3, 1e-5}, Case{"two dims, x only", {2, 3}, 1, 1e-3}}) {
    SCOPED_TRACE(c.label);
    const Shape ns(c.ns.begin(), c.ns.end());
    const int64_t m = numel(ns);
    const V ws = V{1.5, -0.5, 2, 0.25, -1, 3}, bs = V{0.1, -0.2, 0.3, 1, -1, 0.5};
    const V w(ws.begin(), ws.begin() + m), b(bs.begin(), bs.begin() + m);
    const Expected e = reference(kXs, m, c.args > 1 ? w : V{}, c.args > 2 ? b : V{}, kG, c.eps);
    for (DType dt : kDTypes) {
      const Tensor x = leaf(kX, kXs, dt);
      const Tensor wt = c.args > 1 ? leaf(ns, w, dt) : Tensor();
      const Tensor bt = c.args > 2 ? leaf(ns, b, dt) : Tensor();
      const Tensor y = layer_norm(x, c.ns, wt, bt, c.eps);
      EXPECT_EQ(y.grad_fn_name(), "NativeLayerNormBackward0");
      EXPECT_EQ(y.dtype(), dt);
      // float32: r ~ 316 on the constant block (eps 1e-5) scales the rounding of the dx terms.
      const double tol = dt == kF32 ? 2e-5 : 1e-12;
      EXPECT_TENSOR_NEAR(y, e.y, kX, tol);
      y.backward(lit(kX, kG, dt));
      EXPECT_TENSOR_NEAR(x.grad(), e.dx, kX, dt == kF32 ? 1e-3 : 1e-10);
      if (c.args > 1) { EXPECT_TENSOR_NEAR(wt.grad(), e.dw, ns, tol); }
      if (c.args > 2) { EXPECT_TENSOR_NEAR(bt.grad(), e.db, ns, tol); }
    }
  }
}

TEST(LayerNorm, ConstantRowsGiveBiasAndAreSmooth) {
  // x̂ = 0 on a constant row: y = bias, dx = r·(u - mean(u)) with r = 1/√eps, dw = 0.
  const Tensor x = leaf({1, 3}, {2, 2, 2});
  const Tensor w = leaf({3}, {1, 2, 3});
  const Tensor b = leaf({3}, {0.5, -1, 0});
  const Tensor y = layer_norm(x, {3}, w, b, 0.25);
  EXPECT_TENSOR_NEAR(y, (V{0.5, -1, 0}), Shape({1, 3}), 0);
  y.backward(Tensor::ones({1, 3}, kF64));
  EXPECT_TENSOR_NEAR(x.grad(), (V{-2, 0, 2}), Shape({1, 3}), 1e-15);  // 2·(w - 2)
  EXPECT_TENSOR_NEAR(w.grad(), (V{0, 0, 0}), Shape{3}, 0);
}

TEST(LayerNorm, ZeroSizeAndOneElementRows) {
  const Tensor x = leaf({0, 3}, {});
  const Tensor w = leaf({3}, {1, 2, 3});
  const Tensor y = layer_norm(x, {3}, w);
  EXPECT_EQ(y.shape(), (Shape{0, 3}));
  y.backward(Tensor::ones({0, 3}, kF64));
  EXPECT_TENSOR_NEAR(w.grad(), (V{0, 0, 0}), Shape{3}, 0);
  const Tensor z = leaf({2, 0}, {});
  EXPECT_EQ(layer_norm(z, {0}).shape(), (Shape{2, 0}));
  // One element per row: x̂ = 0, so y = bias and dx = 0.
  const Tensor o = leaf({3, 1}, {2, -1, 7});
  const Tensor yo = layer_norm(o, {1});
  EXPECT_TENSOR_NEAR(yo, (V{0, 0, 0}), Shape({3, 1}), 0);
  yo.backward(lit({3, 1}, {1, 2, 3}));
  EXPECT_TENSOR_NEAR(o.grad(), (V{0, 0, 0}), Shape({3, 1}), 0);
}

// PyTorch 1.13 (torch.autograd.grad(F.layer_norm(...), inputs, u, create_graph=True)): every
// gradient is NativeLayerNormBackwardBackward0, whichever inputs require grad and whether u
// does (db included: the node takes the forward's saved mean and rstd, which require grad).
TEST(LayerNorm, GradFnNamesAtFirstAndSecondOrder) {
  const Tensor x = leaf({2, 3}, {1, -2, 0.5, 3, 3, 3});
  const Tensor w = leaf({3}, {1.5, -1, 2});
  const Tensor b = leaf({3}, {0.1, 0.2, 0.3});
  const auto f = [](const Ins& in) { return layer_norm(in[0], {3}, in.size() > 1 ? in[1] : Tensor(), in.size() > 2 ? in[2] : Tensor()); };
  const std::string name = "NativeLayerNormBackwardBackward0";
  const Tensor xc = lit({2, 3}, {1, -2, 0.5, 3, 3, 3}), wc = lit({3}, {1.5, -1, 2});
  for (bool up : {false, true}) {
    EXPECT_EQ(grad_fn_names(f, {x}, up), (std::vector<std::string>{name}));
    EXPECT_EQ(grad_fn_names(f, {x, w, b}, up), (std::vector<std::string>{name, name, name}));
    EXPECT_EQ(grad_fn_names(f, {xc, w, b}, up), (std::vector<std::string>{name, name}));
    EXPECT_EQ(grad_fn_names(f, {xc, wc, b}, up), (std::vector<std::string>{name}));
    EXPECT_EQ(grad_fn_names(f, {x, w}, up), (std::vector<std::string>{name, name}));
  }
  EXPECT_EQ(grad_fn_names(f, {x, w, b}, true, false), (std::vector<std::string>{"nograd", "nograd", "nograd"}));
}

TEST(LayerNorm, SecondOrderMatchesFiniteDifferences) {
  const Tensor x = leaf({2, 2, 3}, {1, 2, -1, 0.5, 3, -2, 4, 4, 4, 4, 4, 4});
  const Tensor w = leaf({2, 3}, {1.5, -0.5, 2, 0.25, -1, 3});
  const Tensor b = leaf({2, 3}, {0.1, -0.2, 0.3, 1, -1, 0.5});
  EXPECT_TRUE(second_order_matches_fd([](const Ins& in) { return layer_norm(in[0], {2, 3}, in[1], in[2], 0.5); }, {x, w, b}));
  EXPECT_TRUE(second_order_matches_fd([](const Ins& in) { return layer_norm(in[0], {3}, Tensor(), Tensor(), 0.1); },
                                      {leaf({3, 3}, {1, 2, -1, 0.5, 3, -2, 4, 4, 4})}));
  // Third order: the create_graph gradients are built from recorded ops, which differentiate again.
  EXPECT_TRUE(second_order_matches_fd(
      [](const Ins& in) {
        autograd::GradOptions cg;
        cg.create_graph = true;
        const Tensor y = layer_norm(in[0], {3}, in[1], Tensor(), 0.5);
        return autograd::grad({y}, {in[0]}, {y * y}, cg)[0];
      },
      {leaf({2, 3}, {1, 2, -1, 0.5, 3, -2}), leaf({3}, {1.5, -0.5, 2})}));
}

// PyTorch 1.13's messages and order (_check_layer_norm_inputs): normalized_shape non-empty,
// weight's shape, bias's shape, x's trailing dims; then the dtypes.
TEST(LayerNorm, ErrorsAsPyTorch) {
  const Tensor x = lit({2, 3, 4}, std::vector<double>(24, 1.0), kF32);
  const auto vec = [](int64_t n, DType dt = kF32) { return lit({n}, std::vector<double>(static_cast<size_t>(n), 1.0), dt); };
  EXPECT_ERROR(layer_norm(x, {3}), Shape,
               "Given normalized_shape=[3], expected input with shape [*, 3], but got input of size[2, 3, 4]");
  EXPECT_ERROR(layer_norm(x, {2, 3, 4, 5}), Shape,
               "Given normalized_shape=[2, 3, 4, 5], expected input with shape [*, 2, 3, 4, 5], but got input of size[2, 3, 4]");
  EXPECT_ERROR(layer_norm(x, {}), Value,
               "Expected normalized_shape to be at least 1-dimensional, i.e., containing at least one element, but got "
               "normalized_shape = []");
  EXPECT_ERROR(layer_norm(x, {4}, vec(3)), Shape,
               "Expected weight to be of same shape as normalized_shape, but got weight of shape [3] and normalized_shape = [4]");
  EXPECT_ERROR(layer_norm(x, {4}, vec(4), vec(5)), Shape,
               "Expected bias to be of same shape as normalized_shape, but got bias of shape [5] and normalized_shape = [4]");
  EXPECT_ERROR(layer_norm(x, {3, 4}, vec(12)), Shape,
               "Expected weight to be of same shape as normalized_shape, but got weight of shape [12] and normalized_shape = [3, 4]");
  // The weight's shape is checked before x's dims.
  EXPECT_ERROR(layer_norm(x, {3}, vec(5)), Shape,
               "Expected weight to be of same shape as normalized_shape, but got weight of shape [5] and normalized_shape = [3]");
  EXPECT_ERROR(layer_norm(x, {0}), Shape,
               "Given normalized_shape=[0], expected input with shape [*, 0], but got input of size[2, 3, 4]");
  EXPECT_ERROR(layer_norm(x, {-1}), Shape,
               "Given normalized_shape=[-1], expected input with shape [*, -1], but got input of size[2, 3, 4]");
  EXPECT_ERROR(layer_norm(Tensor::scalar(2.0), {1}), Shape,
               "Given normalized_shape=[1], expected input with shape [*, 1], but got input of size[]");
  EXPECT_ERROR(layer_norm(x, {4}, vec(4, kF64)), DType, "expected scalar type Float but found Double");
  EXPECT_ERROR(layer_norm(x.to(kF64), {4}, vec(4)), DType, "expected scalar type Double but found Float");
  const registry::OpSpec& op = *registry::builtin_ops().find("layer_norm");
  EXPECT_TENSOR_NEAR(op.call({lit({2}, {1, 3})}, {{"normalized_shape", std::vector<int64_t>{2}}, {"eps", 0.0}}),
                     (V{-1, 1}), Shape{2}, 1e-15);
}

}  // namespace
}  // namespace gradoracle

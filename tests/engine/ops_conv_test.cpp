// conv2d (ops_conv.cpp): values and the three gradients against the definition written here as
// plain loops (one term w·x per output element and kernel tap; its adjoint spreads g·w to x and
// g·x to w), over stride, padding, dilation and groups (depthwise included), batched and
// unbatched, in float32 and float64; PyTorch 1.13's grad_fn names at first and second order;
// second and third order against finite differences; its errors word for word in its order.
#include <string>

#include "gradoracle/engine/registry.hpp"
#include "test_util.hpp"

namespace gradoracle {
namespace {
using namespace test;
using Ins = std::vector<Tensor>;
using V = std::vector<double>;
using Ints = std::vector<int64_t>;

struct Geo {
  int64_t N, C, H, W, O, kH, kW, sH, sW, pH, pW, dH, dW, groups;
  int64_t OH() const { return (H + 2 * pH - dH * (kH - 1) - 1) / sH + 1; }
  int64_t OW() const { return (W + 2 * pW - dW * (kW - 1) - 1) / sW + 1; }
};
struct Expected {
  V y, dx, dw, db;
};
// y[n,o,a,b] = bias[o] + Σ w[o,c,i,j]·x[n, group(o)·C/groups + c, a·sH - pH + i·dH, b·sW - pW + j·dW].
Expected reference(const Geo& q, const V& x, const V& w, const V& bias, const V& g) {
  const int64_t Cg = q.C / q.groups, Og = q.O / q.groups, OH = q.OH(), OW = q.OW();
  Expected e{V(static_cast<size_t>(q.N * q.O * OH * OW)), V(x.size(), 0.0), V(w.size(), 0.0), V(static_cast<size_t>(q.O), 0.0)};
  for (int64_t n = 0; n < q.N; ++n)
    for (int64_t o = 0; o < q.O; ++o)
      for (int64_t a = 0; a < OH; ++a)
        for (int64_t b = 0; b < OW; ++b) {
          const size_t yi = static_cast<size_t>(((n * q.O + o) * OH + a) * OW + b);
          double acc = bias.empty() ? 0.0 : bias[static_cast<size_t>(o)];
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t i = 0; i < q.kH; ++i)
              for (int64_t j = 0; j < q.kW; ++j) {
                const int64_t h = a * q.sH - q.pH + i * q.dH, v = b * q.sW - q.pW + j * q.dW;
                if (h < 0 || h >= q.H || v < 0 || v >= q.W) continue;
                const size_t xi = static_cast<size_t>(((n * q.C + (o / Og) * Cg + c) * q.H + h) * q.W + v);
                const size_t wi = static_cast<size_t>(((o * Cg + c) * q.kH + i) * q.kW + j);
                acc += w[wi] * x[xi];
                e.dx[xi] += g[yi] * w[wi];
                e.dw[wi] += g[yi] * x[xi];
              }
          e.y[yi] = acc;
          e.db[static_cast<size_t>(o)] += g[yi];
        }
  return e;
}
// Values k·0.37 mod 2 - 1 over `n` elements, shifted by `seed`: no symmetry to hide an index slip.
V values(int64_t n, int seed) {
  V v;
  for (int64_t i = 0; i < n; ++i) v.push_back(std::fmod(static_cast<double>(i + seed) * 0.37, 2.0) - 1.0);
  return v;
}

TEST(Conv2d, ValuesAndGradsAsTheDefinitionInBothDTypes) {
  struct Case {
    const char* label;
    Geo q;
    bool bias, batched;
  };
  for (const Case& c : {Case{"plain 3x3", {2, 2, 5, 4, 3, 3, 3, 1, 1, 0, 0, 1, 1, 1}, true, true},
                        Case{"stride (2, 3), padding (1, 2)", {1, 3, 6, 7, 2, 2, 3, 2, 3, 1, 2, 1, 1, 1}, true, true},
                        Case{"dilation (2, 1), stride 2 past the edge", {2, 1, 7, 5, 2, 3, 2, 2, 2, 1, 0, 2, 1, 1}, false, true},
                        Case{"groups 2", {1, 4, 4, 4, 6, 2, 2, 1, 1, 1, 1, 1, 2, 2}, true, true},
                        Case{"depthwise groups = C = O", {2, 3, 5, 5, 3, 3, 3, 2, 1, 1, 1, 1, 1, 3}, true, true},
                        Case{"depthwise multiplier 2", {1, 2, 4, 5, 4, 2, 2, 1, 2, 0, 1, 2, 1, 2}, false, true},
                        Case{"unbatched, kernel = padded input", {1, 2, 3, 2, 2, 5, 4, 1, 1, 1, 1, 1, 1, 1}, true, false}}) {
    SCOPED_TRACE(c.label);
    const Geo& q = c.q;
    const Shape xs = c.batched ? Shape{q.N, q.C, q.H, q.W} : Shape{q.C, q.H, q.W};
    const Shape wsh{q.O, q.C / q.groups, q.kH, q.kW};
    const Shape ys = c.batched ? Shape{q.N, q.O, q.OH(), q.OW()} : Shape{q.O, q.OH(), q.OW()};
    const V x = values(numel(xs), 1), w = values(numel(wsh), 5), b = c.bias ? values(q.O, 11) : V{};
    const V g = values(numel(ys), 3);
    const Expected e = reference(q, x, w, b, g);
    for (DType dt : kDTypes) {
      const Tensor xt = leaf(xs, x, dt), wt = leaf(wsh, w, dt), bt = c.bias ? leaf({q.O}, b, dt) : Tensor();
      const Tensor y = conv2d(xt, wt, bt, {q.sH, q.sW}, {q.pH, q.pW}, {q.dH, q.dW}, q.groups);
      EXPECT_EQ(y.grad_fn_name(), c.batched ? "ConvolutionBackward0" : "SqueezeBackward1");
      EXPECT_EQ(y.dtype(), dt);
      const double tol = dt == kF32 ? 1e-5 : 1e-12;
      EXPECT_TENSOR_NEAR(y, e.y, ys, tol);
      y.backward(lit(ys, g, dt));
      EXPECT_TENSOR_NEAR(xt.grad(), e.dx, xs, tol);
      EXPECT_TENSOR_NEAR(wt.grad(), e.dw, wsh, tol);
      if (c.bias) { EXPECT_TENSOR_NEAR(bt.grad(), e.db, Shape{q.O}, tol); }
    }
  }
}

TEST(Conv2d, IntAttrsAreSquarePairsAndZeroBatchIsEmpty) {
  const Tensor x = lit({1, 1, 5, 5}, values(25, 2)), w = lit({2, 1, 2, 2}, values(8, 4));
  EXPECT_EQ(value_bits(conv2d(x, w, Tensor(), {2}, {1}, {2})), value_bits(conv2d(x, w, Tensor(), {2, 2}, {1, 1}, {2, 2})));
  const Tensor x0 = leaf({0, 1, 3, 3}, {}), w0 = leaf({2, 1, 2, 2}, values(8, 1));
  const Tensor y0 = conv2d(x0, w0);
  EXPECT_EQ(y0.shape(), (Shape{0, 2, 2, 2}));
  y0.backward(Tensor::zeros({0, 2, 2, 2}, kF64));
  EXPECT_TENSOR_NEAR(w0.grad(), V(8, 0.0), (Shape{2, 1, 2, 2}), 0);
}

// PyTorch 1.13 (torch.autograd.grad(F.conv2d(...), inputs, u, create_graph=True)): every
// gradient (input, weight, bias) is ConvolutionBackwardBackward0 as soon as u, x or w requires
// grad (the node takes all three, so dx is named even when only x requires grad); the bias alone
// under a u without grad has none; without create_graph none carries a graph; unbatched input
// ends in SqueezeBackward1.
TEST(Conv2d, GradFnNamesAtFirstAndSecondOrder) {
  const Tensor x = leaf({1, 2, 4, 4}, values(32, 1)), w = leaf({2, 1, 2, 2}, values(8, 2)), b = leaf({2}, {0.5, -1});
  const Tensor xc = x.detach(), wc = w.detach();
  const auto f = [](const Ins& in) { return conv2d(in[0], in[1], in.size() > 2 ? in[2] : Tensor(), {1}, {0}, {1}, 2); };
  const std::string n = "ConvolutionBackwardBackward0";
  for (bool up : {false, true}) {
    EXPECT_EQ(grad_fn_names(f, {x, w, b}, up), (std::vector<std::string>{n, n, n}));
    EXPECT_EQ(grad_fn_names(f, {x, wc, b}, up), (std::vector<std::string>{n, n}));
    EXPECT_EQ(grad_fn_names(f, {xc, w, b}, up), (std::vector<std::string>{n, n}));
    // only the bias: its gradient depends on u alone, and x, w do not join the node's inputs
    EXPECT_EQ(grad_fn_names(f, {xc, wc, b}, up), (std::vector<std::string>{up ? n : "nograd"}));
    EXPECT_EQ(grad_fn_names(f, {x, wc}, up), (std::vector<std::string>{n}));
    EXPECT_EQ(grad_fn_names(f, {xc, w}, up), (std::vector<std::string>{n}));
  }
  EXPECT_EQ(grad_fn_names(f, {x, w, b}, true, false), (std::vector<std::string>{"nograd", "nograd", "nograd"}));
  EXPECT_EQ(conv2d(leaf({2, 4, 4}, values(32, 1)), w, Tensor(), {1}, {0}, {1}, 2).grad_fn_name(), "SqueezeBackward1");
}

TEST(Conv2d, SecondAndThirdOrderMatchFiniteDifferences) {
  const Tensor x = leaf({2, 2, 4, 5}, values(80, 1)), w = leaf({4, 1, 2, 3}, values(24, 7)), b = leaf({4}, values(4, 9));
  EXPECT_TRUE(second_order_matches_fd(
      [](const Ins& in) { return conv2d(in[0], in[1], in[2], {2, 1}, {1, 2}, {1, 2}, 2); }, {x, w, b}));
  EXPECT_TRUE(second_order_matches_fd([](const Ins& in) { return conv2d(in[0], in[1], Tensor(), {1}, {1}); },
                                      {leaf({3, 3, 3}, values(27, 2)), leaf({2, 3, 2, 2}, values(24, 3))}));
  // Third order: the create_graph gradients are recorded conv2d adjoints, which differentiate again.
  EXPECT_TRUE(second_order_matches_fd(
      [](const Ins& in) {
        autograd::GradOptions cg;
        cg.create_graph = true;
        const Tensor y = conv2d(in[0], in[1], Tensor(), {1}, {1}, {2});
        return autograd::grad({y}, {in[0], in[1]}, {y * y}, cg)[1];
      },
      {leaf({1, 1, 4, 4}, values(16, 4)), leaf({2, 1, 2, 2}, values(8, 6))}));
}

// PyTorch 1.13's messages, and which one wins when two apply (each pair run with torch): bias
// dtype, rank, weight dims, attr lengths, groups, padding, stride, weight rows, channels, bias
// shape, kernel extent, empty input, kernel size, dilation, weight dtype.
TEST(Conv2d, ErrorsAsPyTorchInItsOrder) {
  const auto t = [](Shape s, DType dt = kF32) { return lit(s, V(static_cast<size_t>(numel(s)), 1.0), dt); };
  const Tensor x = t({1, 1, 3, 3}), w = t({1, 1, 2, 2});
  const Tensor none;
  EXPECT_ERROR(conv2d(t({3, 3}), w), Dim, "Expected 3D (unbatched) or 4D (batched) input to conv2d, but got input of size: [3, 3]");
  EXPECT_ERROR(conv2d(t({1, 1, 3, 3, 3}), w), Dim,
               "Expected 3D (unbatched) or 4D (batched) input to conv2d, but got input of size: [1, 1, 3, 3, 3]");
  EXPECT_ERROR(conv2d(x, w, t({1}, kF64)), DType, "Input type (float) and bias type (double) should be the same");
  EXPECT_ERROR(conv2d(t({1, 1, 3, 3}, kF64), t({1, 1, 2, 2}, kF64), t({1})), DType,
               "Input type (double) and bias type (float) should be the same");
  EXPECT_ERROR(conv2d(t({3, 3}), w, t({1}, kF64)), DType, "Input type (float) and bias type (double) should be the same");
  EXPECT_ERROR(conv2d(t({3, 3}), t({1, 1})), Dim, "Expected 3D (unbatched) or 4D (batched) input to conv2d");
  EXPECT_ERROR(conv2d(x, t({1, 1})), Shape, "weight should have at least three dimensions");
  EXPECT_ERROR(conv2d(x, t({1, 1}, kF64)), Shape, "weight should have at least three dimensions");
  EXPECT_ERROR(conv2d(x, t({1, 1, 2})), Shape,
               "expected stride to be a single integer value or a list of 1 values to match the convolution dimensions, "
               "but got stride=[1, 1]");
  EXPECT_ERROR(conv2d(x, t({1, 1, 2, 2, 2}), none, {1, 1}), Shape,
               "expected stride to be a single integer value or a list of 3 values to match the convolution dimensions, "
               "but got stride=[1, 1]");
  for (const char* name : {"stride", "padding", "dilation"}) {
    const std::string n = name;
    const Ints three{1, 1, 1}, one{1}, zero{0};
    EXPECT_ERROR(conv2d(x, w, none, n == "stride" ? three : one, n == "padding" ? three : zero, n == "dilation" ? three : one),
                 Value, "expected " + n + " to be a single integer value or a list of 2 values to match the convolution "
                        "dimensions, but got " + n + "=[1, 1, 1]");
  }
  EXPECT_ERROR(conv2d(x, w, none, {1, 1, 1}, {1, 1, 1}), Value, "expected stride to be");
  EXPECT_ERROR(conv2d(x, w, none, {1}, {1, 1, 1}, {1}, 0), Value, "expected padding to be");
  EXPECT_ERROR(conv2d(x, w, none, {1}, {-1}, {1}, 0), Value, "non-positive groups is not supported");
  EXPECT_ERROR(conv2d(x, w, none, {0}, {-1}), Value, "negative padding is not supported");
  EXPECT_ERROR(conv2d(x, w, none, {0}, {0}, {0}), Value, "non-positive stride is not supported");
  EXPECT_ERROR(conv2d(t({1, 2, 3, 3}), t({1, 1, 2, 2}), none, {1}, {0}, {1}, 2), Shape,
               "Given groups=2, expected weight to be at least 2 at dimension 0, but got weight of size [1, 1, 2, 2] instead");
  EXPECT_ERROR(conv2d(t({1, 3, 3, 3}), t({0, 1, 2, 2})), Shape,
               "Given groups=1, expected weight to be at least 1 at dimension 0, but got weight of size [0, 1, 2, 2] instead");
  EXPECT_ERROR(conv2d(t({1, 2, 3, 3}), t({3, 1, 2, 2}), none, {1}, {0}, {0}, 2), Shape,
               "Given groups=2, expected weight to be divisible by 2 at dimension 0, but got weight of size [[3, 1, 2, 2]] instead");
  EXPECT_ERROR(conv2d(t({1, 3, 3, 3}), t({3, 1, 2, 2}), none, {1}, {0}, {1}, 2), Shape, "expected weight to be divisible by 2");
  EXPECT_ERROR(conv2d(t({1, 3, 3, 3}), t({2, 2, 2, 2}, kF64), t({3}, kF32)), Shape,
               "Given groups=1, weight of size [2, 2, 2, 2], expected input[1, 3, 3, 3] to have 2 channels, but got 3 channels instead");
  EXPECT_ERROR(conv2d(t({3, 3, 3}), t({2, 2, 2, 2})), Shape,
               "Given groups=1, weight of size [2, 2, 2, 2], expected input[1, 3, 3, 3] to have 2 channels, but got 3 channels instead");
  EXPECT_ERROR(conv2d(t({1, 2, 3, 3}), t({2, 2, 4, 4}), t({3})), Shape,
               "Given weight of size [2, 2, 4, 4], expected bias to be 1-dimensional with 2 elements, but got bias of size [3] instead");
  EXPECT_ERROR(conv2d(t({1, 2, 3, 3}), t({2, 2, 2, 2}), t({1, 2})), Shape,
               "expected bias to be 1-dimensional with 2 elements, but got bias of size [1, 2] instead");
  EXPECT_ERROR(conv2d(x, t({1, 1, 4, 4}, kF64)), Shape,
               "Calculated padded input size per channel: (3 x 3). Kernel size: (4 x 4). Kernel size can't be greater than "
               "actual input size");
  EXPECT_ERROR(conv2d(x, w, none, {1}, {0, 1}, {3}), Shape,
               "Calculated padded input size per channel: (3 x 5). Kernel size: (4 x 4). Kernel size can't be greater than "
               "actual input size");
  EXPECT_ERROR(conv2d(t({1, 1, 0, 3}), t({1, 1, 1, 1}, kF64), none, {1}, {1}), Shape,
               "Only zero batch or zero channel inputs are supported, but got input shape: [1, 1, 0, 3]");
  EXPECT_ERROR(conv2d(t({1, 1, 0, 3}), t({1, 1, 0, 2})), Shape, "Only zero batch or zero channel inputs are supported");
  EXPECT_ERROR(conv2d(x, t({1, 1, 0, 2}, kF64)), Value,
               "kernel size should be greater than zero, but got kernel_height: 0 kernel_width: 2");
  EXPECT_ERROR(conv2d(t({1, 3, 3}), t({1, 1, 2, 0})), Value,
               "kernel size should be greater than zero, but got kernel_height: 2 kernel_width: 0");
  EXPECT_ERROR(conv2d(x, t({1, 1, 0, 2}), none, {1}, {0}, {2}), Value, "kernel size should be greater than zero, but got [0, 2]");
  EXPECT_ERROR(conv2d(x, t({1, 1, 0, 2}), none, {1}, {0}, {1, 0}), Value,
               "kernel size should be greater than zero, but got [0, 2]");
  EXPECT_ERROR(conv2d(x, t({1, 1, 2, 2}, kF64), none, {1}, {0}, {0}), Value, "dilation should be greater than zero, but got [0, 0]");
  EXPECT_ERROR(conv2d(x, w, none, {1}, {0}, {-1, 1}), Value, "dilation should be greater than zero, but got [-1, 1]");
  EXPECT_ERROR(conv2d(x, t({1, 1, 2, 2}, kF64), none, {1}, {0}, {2}), DType, "expected scalar type Float but found Double");
  EXPECT_ERROR(conv2d(t({1, 1, 3, 3}, kF64), w, none, {2}), DType, "expected scalar type Double but found Float");
  // A padding that makes the result larger than kMaxElements: refused before allocating.
  EXPECT_ERROR(conv2d(x, w, none, {1}, {1 << 20}), Value, "conv2d: shape [1, 1, 2097154, 2097154] has more than 2147483648 elements");
  // Through the registry: the attrs' defaults and int-or-pair forms.
  const registry::OpSpec& op = *registry::builtin_ops().find("conv2d");
  EXPECT_TENSOR_NEAR(op.call({lit({1, 1, 2, 2}, {1, 2, 3, 4}), lit({1, 1, 1, 1}, {2})}, {}), (V{2, 4, 6, 8}),
                     (Shape{1, 1, 2, 2}), 0);
  EXPECT_TENSOR_NEAR(op.call({lit({1, 1, 2, 2}, {1, 2, 3, 4}), lit({1, 1, 1, 1}, {2})}, {{"stride", int64_t{2}}}), (V{2}),
                     (Shape{1, 1, 1, 1}), 0);
}

}  // namespace
}  // namespace gradoracle

// PyTorch's layout, modelled (engine/src/layout.hpp): strides, contiguity, and the grad_fn names
// and view-ness they decide. Every expected value below was printed by PyTorch 1.13 for the same
// expression (x: (3, 4), a: (2, 3, 4), both requiring grad), e.g. `x.t().reshape(12)` has
// strides (1,) and grad_fn UnsafeViewBackward0.
#include "test_util.hpp"

namespace gradoracle {
namespace {
using namespace test;
using Strides = std::vector<int64_t>;

Tensor ones_leaf(const Shape& shape) { return Tensor::ones(shape, kF64).requires_grad_(); }

struct Case {
  const char* expr;
  Tensor y;
  Strides strides;
  const char* grad_fn;
};

TEST(Layout, StridesAndGradFnNamesAsPyTorch) {
  const Tensor x = ones_leaf({3, 4}), a = ones_leaf({2, 3, 4});
  const Tensor w = ones_leaf({5, 4}), b = ones_leaf({5});
  const Tensor xt = t(x), at = transpose(a, 0, 1);
  const Tensor y43 = Tensor::ones({4, 3}, kF64);
  const Case cases[] = {
      {"x.t()", xt, {1, 4}, "TBackward0"},
      {"x.t().reshape(12)", reshape(xt, {12}), {1}, "UnsafeViewBackward0"},
      {"x.t().reshape(4,3,1)", reshape(xt, {4, 3, 1}), {1, 4, 4}, "ReshapeAliasBackward0"},
      {"x.t().reshape(4,3)", reshape(xt, {4, 3}), {1, 4}, "ReshapeAliasBackward0"},
      {"x.reshape(12)", reshape(x, {12}), {1}, "ReshapeAliasBackward0"},
      {"x.t()+1", xt + 1, {1, 4}, "AddBackward0"},
      {"x.t().exp()", exp(xt), {1, 4}, "ExpBackward0"},
      {"(x.t()+1).reshape(12)", reshape(xt + 1, {12}), {1}, "UnsafeViewBackward0"},
      {"x.t()+y", xt + y43, {1, 4}, "AddBackward0"},  // the first input decides the order
      {"y+x.t()", y43 + xt, {3, 1}, "AddBackward0"},
      {"x.t()+row", xt + Tensor::ones({3}, kF64), {1, 4}, "AddBackward0"},
      {"1-x.t()", 1 - xt, {1, 4}, "RsubBackward1"},
      {"x.t()**2", pow(xt, 2.0), {1, 4}, "PowBackward0"},
      {"relu(x.t())", relu(xt), {1, 4}, "ReluBackward0"},
      {"mse_loss(x.t(), y, 'none')", mse_loss(xt, y43, Reduction::None), {1, 4}, "MseLossBackward0"},
      {"x.t().double()", xt.to(kF64), {1, 4}, "TBackward0"},  // same dtype: the tensor itself
      {"x.t().sum(0)", sum(xt, {0}), {1}, "SumBackward1"},
      {"softmax(x.t(), 0)", softmax(xt, 0), {3, 1}, "SoftmaxBackward0"},
      {"cat([x.t(), x.t()])", cat({xt, xt}), {3, 1}, "CatBackward0"},
      {"x.t() @ m", matmul(xt, Tensor::ones({3, 2}, kF64)), {2, 1}, "MmBackward0"},
      {"a.transpose(0,1)", at, {4, 12, 1}, "TransposeBackward0"},
      {"linear(a, w, b)", linear(a, w, b), {15, 5, 1}, "ViewBackward0"},
      {"linear(a.transpose(0,1), w, b)", linear(at, w, b), {10, 5, 1}, "AddBackward0"},
      {"linear(a.transpose(0,1), w)", linear(at, w), {10, 5, 1}, "UnsafeViewBackward0"},
      {"a.transpose(0,1) @ m", matmul(at, Tensor::ones({4, 2}, kF64)), {4, 2, 1}, "UnsafeViewBackward0"},
      {"x[:1].t()", t(ones_leaf({1, 4})), {1, 1}, "TBackward0"},  // (4, 1): contiguous after all
  };
  for (const Case& c : cases) {
    EXPECT_EQ(c.y.stride(), c.strides) << c.expr;
    EXPECT_EQ(c.y.grad_fn_name(), c.grad_fn) << c.expr;
  }
  EXPECT_FALSE(xt.is_contiguous());
  EXPECT_TRUE(reshape(xt, {12}).is_contiguous());
  EXPECT_FALSE(xt.detach().is_contiguous());  // detach keeps the layout
}

// A copying reshape is not a view, so PyTorch lets detach_() run on it; a viewing one refuses.
TEST(Layout, OnlyViewingReshapesAndTheFused3DLinearAreViews) {
  const Tensor x = ones_leaf({3, 4});
  Tensor copied = reshape(t(x), {12});
  EXPECT_NO_THROW(copied.detach_());
  Tensor viewed = reshape(x, {12});
  EXPECT_ERROR(viewed.detach_(), Autograd, "Can't detach views in-place");
  const Tensor a = ones_leaf({2, 3, 4}), w = ones_leaf({5, 4}), b = ones_leaf({5});
  Tensor fused = linear(a, w, b);
  EXPECT_ERROR(fused.detach_(), Autograd, "Can't detach views in-place");
  Tensor unfused = linear(transpose(a, 0, 1), w, b);
  EXPECT_NO_THROW(unfused.detach_());
}

// The layout changes names only, never values or gradients.
TEST(Layout, ValuesAndGradsDoNotDependOnIt) {
  const Tensor x = leaf({2, 3}, {1, 2, 3, 4, 5, 6});
  const Tensor y = reshape(t(x), {6});  // the copy path
  EXPECT_TENSOR_NEAR(y, (std::vector<double>{1, 4, 2, 5, 3, 6}), Shape{6}, 0.0);
  y.backward(lit({6}, {1, 2, 3, 4, 5, 6}));
  EXPECT_TENSOR_NEAR(x.grad(), (std::vector<double>{1, 3, 5, 2, 4, 6}), (Shape{2, 3}), 0.0);
}

}  // namespace
}  // namespace gradoracle

// PyTorch's layout, modelled (engine/src/layout.hpp): strides, contiguity, and the grad_fn names
// and view-ness they decide. Every expected value below was printed by PyTorch 1.13 for the same
// expression (x: (3, 4), a: (2, 3, 4), both requiring grad), e.g. `x.t().reshape(12)` has
// strides (1,) and grad_fn UnsafeViewBackward0; matmul's grid was printed by
// tools/matmul_layout_grid.py (ctest engine.matmul_layout_grid_is_torchs reprints it).
#include <algorithm>
#include <string>

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
  // Contiguous with strides other than a fresh tensor's: on a size-1 dim, or empty.
  const Tensor c = transpose(ones_leaf({2, 1, 3}), 1, 2), e = t(ones_leaf({0, 3}));
  const Tensor f = transpose(ones_leaf({2, 0, 3}), 0, 2), u = transpose(ones_leaf({0, 1, 2}), 0, 2);
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
      {"x[:1].t()", t(ones_leaf({1, 4})), {1, 4}, "TBackward0"},  // (4, 1) with strides (1, 4): contiguous
      {"c = ones(2,1,3).transpose(1,2)", c, {3, 1, 3}, "TransposeBackward0"},
      {"c.exp()", exp(c), {3, 1, 1}, "ExpBackward0"},  // contiguous inputs: a fresh output
      {"c+c", c + c, {3, 1, 1}, "AddBackward0"},
      {"c+ones(2,3,1)", c + Tensor::ones({2, 3, 1}, kF64), {3, 1, 1}, "AddBackward0"},
      {"c.reshape(6)", reshape(c, {6}), {1}, "ReshapeAliasBackward0"},
      {"c.reshape(2,3,1)", reshape(c, {2, 3, 1}), {3, 1, 3}, "ReshapeAliasBackward0"},
      {"c.reshape(2,3)", reshape(c, {2, 3}), {3, 1}, "ReshapeAliasBackward0"},
      {"e = ones(0,3).t()", e, {1, 3}, "TBackward0"},
      {"e+1", e + 1, {1, 3}, "AddBackward0"},  // shapes differ: ordered by e's strides
      {"e+ones(3,1)", e + Tensor::ones({3, 1}, kF64), {1, 3}, "AddBackward0"},
      {"f = ones(2,0,3).transpose(0,2)", f, {1, 3, 3}, "TransposeBackward0"},
      {"f*2", f * 2, {1, 3, 0}, "MulBackward0"},  // the sizes' products in f's order
      {"f+ones(3,1,1)", f + Tensor::ones({3, 1, 1}, kF64), {1, 3, 0}, "AddBackward0"},
      {"u = ones(0,1,2).transpose(0,2)", u, {1, 2, 2}, "TransposeBackward0"},
      {"u+ones(2,2,0)", u + Tensor::ones({2, 2, 0}, kF64), {2, 1, 1}, "AddBackward0"},  // row-major order: fresh
  };
  for (const Case& c : cases) {
    EXPECT_EQ(c.y.stride(), c.strides) << c.expr;
    EXPECT_EQ(c.y.grad_fn_name(), c.grad_fn) << c.expr;
  }
  EXPECT_FALSE(xt.is_contiguous());
  EXPECT_TRUE(reshape(xt, {12}).is_contiguous());
  EXPECT_FALSE(xt.detach().is_contiguous());  // detach keeps the layout
  EXPECT_TRUE(t(ones_leaf({1, 4})).is_contiguous());  // strides (1, 4), size-1 dims ignored
  EXPECT_EQ(Tensor::ones({2, 0, 3}).stride(), (Strides{3, 3, 1}));  // a fresh tensor's: sizes taken as >= 1
}

// torch.matmul over tools/matmul_layout_grid.py's grid: every row's grad_fn, strides and
// view-ness were printed by PyTorch 1.13 (ATen's _matmul_impl: 2-D @ 3-D folds b's batch into
// mm and returns the result transposed, copied by .contiguous() unless that is already
// contiguous; a permuted 3-D b takes bmm instead).
struct MatmulRow {
  const char* a;  // "2x3", or "2x3x1:01,12": transposes applied in order to a contiguous leaf
  const char* b;
  const char* grad_fn;
  const char* strides;  // comma-separated
  bool view;
};
const MatmulRow kMatmulGrid[] = {
#include "matmul_layout_grid.inc"
};

std::vector<int64_t> parse_ints(const std::string& s, char sep) {
  std::vector<int64_t> out;
  for (size_t i = 0; i < s.size();) {
    const size_t j = std::min(s.find(sep, i), s.size());
    out.push_back(std::stoll(s.substr(i, j - i)));
    i = j + 1;
  }
  return out;
}

Tensor grid_operand(const std::string& spec) {
  const size_t colon = std::min(spec.find(':'), spec.size());
  const std::vector<int64_t> dims = parse_ints(spec.substr(0, colon), 'x');
  Tensor t = ones_leaf(Shape(dims.begin(), dims.end()));
  if (colon < spec.size()) {
    for (int64_t pair : parse_ints(spec.substr(colon + 1), ',')) t = transpose(t, pair / 10, pair % 10);
  }
  return t;
}

TEST(Layout, MseLossNoneIsOnePassOverItsOperands) {
  // torch: F.mse_loss(ones(4, 1).t(), tensor(1.), reduction="none").stride() == (1, 1), as x - t.
  const Tensor y = mse_loss(t(Tensor::ones({4, 1}, kF64)), Tensor::scalar(1, kF64), Reduction::None);
  EXPECT_EQ(y.stride(), (std::vector<int64_t>{1, 1}));
}

TEST(Layout, MatmulGradFnStridesAndViewsAsPyTorchOverAGrid) {
  ASSERT_GT(std::size(kMatmulGrid), 3000u);
  int failures = 0;
  for (const MatmulRow& r : kMatmulGrid) {
    const Tensor y = matmul(grid_operand(r.a), grid_operand(r.b));
    const bool ok = y.grad_fn_name() == r.grad_fn && y.stride() == parse_ints(r.strides, ',') &&
                    y.is_view() == r.view;
    if (!ok && ++failures <= 20) {
      ADD_FAILURE() << r.a << " @ " << r.b << ": " << y.grad_fn_name() << " strides "
                    << ::testing::PrintToString(y.stride()) << (y.is_view() ? " view" : "")
                    << ", PyTorch: " << r.grad_fn << " strides (" << r.strides << ")" << (r.view ? " view" : "");
    }
  }
  EXPECT_EQ(failures, 0) << "of " << std::size(kMatmulGrid) << " rows";
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

// Shape ops: t, transpose, reshape, expand, sum_to and cat; their gradients route each upstream
// element back to where it came from, so expected values are index maps.
#include "test_util.hpp"

namespace gradoracle {
namespace {
using namespace test;

std::vector<double> iota(int64_t n) {
  std::vector<double> v;
  for (int64_t i = 0; i < n; ++i) v.push_back(static_cast<double>(i + 1));
  return v;
}

// The transpose of a rows × cols row-major matrix.
std::vector<double> transposed(const std::vector<double>& v, int64_t rows, int64_t cols) {
  std::vector<double> out;
  for (int64_t c = 0; c < cols; ++c) {
    for (int64_t r = 0; r < rows; ++r) out.push_back(v[static_cast<size_t>(r * cols + c)]);
  }
  return out;
}

TEST(Shape, TransposeOf2DAndGradient) {
  for (DType dt : kDTypes) {
    const Tensor x = leaf({2, 3}, iota(6), dt);
    const Tensor y = t(x);
    EXPECT_EQ(y.grad_fn_name(), "TBackward0");
    EXPECT_TENSOR_NEAR(y, transposed(iota(6), 2, 3), (Shape{3, 2}), 0.0);
    y.backward(lit({3, 2}, iota(6), dt));  // upstream g: dx = gᵀ
    EXPECT_TENSOR_NEAR(x.grad(), transposed(iota(6), 3, 2), (Shape{2, 3}), 0.0);
  }
  const Tensor v = leaf({3}, iota(3));
  EXPECT_TENSOR_NEAR(t(v), iota(3), Shape{3}, 0.0);  // t of 1-D and 0-d is the identity
  EXPECT_TENSOR_NEAR(t(Tensor::scalar(2, kF64)), {2}, Shape{}, 0.0);
  EXPECT_ERROR(t(Tensor::ones({2, 3, 4})), Dim, "t() expects a tensor with <= 2 dimensions, but self is 3D");
}

TEST(Shape, TransposeAnyDims) {
  // (2, 3, 4) with dims 0 and 2 swapped: y[k][j][i] = x[i][j][k].
  const Tensor x = leaf({2, 3, 4}, iota(24));
  const Tensor y = transpose(x, 0, -1);
  EXPECT_EQ(y.grad_fn_name(), "TransposeBackward0");
  EXPECT_EQ(y.shape(), (Shape{4, 3, 2}));
  for (int64_t i = 0; i < 2; ++i) {
    for (int64_t j = 0; j < 3; ++j) {
      for (int64_t k = 0; k < 4; ++k) EXPECT_EQ(y.at({k, j, i}), x.at({i, j, k}));
    }
  }
  y.backward(reshape(Tensor::ones({24}, kF64), {4, 3, 2}));
  EXPECT_TENSOR_NEAR(x.grad(), std::vector<double>(24, 1.0), (Shape{2, 3, 4}), 0.0);
  EXPECT_TENSOR_NEAR(transpose(x, 1, 1), iota(24), (Shape{2, 3, 4}), 0.0);
  EXPECT_TENSOR_NEAR(transpose(Tensor::scalar(3, kF64), 0, -1), {3}, Shape{}, 0.0);
  EXPECT_ERROR(transpose(x, 0, 3), Dim, "Dimension out of range (expected to be in range of [-3, 2], but got 3)");
}

TEST(Shape, ReshapeSharesStorageAndInfers) {
  const Tensor x = leaf({2, 3}, iota(6));
  const Tensor y = reshape(x, {3, -1});
  EXPECT_EQ(y.grad_fn_name(), "ReshapeAliasBackward0");
  EXPECT_EQ(y.shape(), (Shape{3, 2}));
  EXPECT_TRUE(y.shares_storage(x));
  EXPECT_TENSOR_NEAR(y, iota(6), (Shape{3, 2}), 0.0);
  y.backward(lit({3, 2}, iota(6)));
  EXPECT_TENSOR_NEAR(x.grad(), iota(6), (Shape{2, 3}), 0.0);
  EXPECT_EQ(reshape(x, {-1}).shape(), Shape{6});
  EXPECT_EQ(reshape(Tensor::scalar(1), {1, 1}).shape(), (Shape{1, 1}));
  EXPECT_EQ(reshape(Tensor::ones({1, 1}), {}).shape(), Shape{});
  EXPECT_EQ(reshape(Tensor::ones({0, 3}), {3, -1}).shape(), (Shape{3, 0}));
  EXPECT_EQ(reshape(Tensor::ones({0, 3}), {5, 0}).shape(), (Shape{5, 0}));
}

TEST(Shape, ReshapeErrors) {
  const Tensor x = Tensor::ones({2, 3});
  EXPECT_ERROR(reshape(x, {4, -1}), Shape, "shape '[4, -1]' is invalid for input of size 6");
  EXPECT_ERROR(reshape(x, {4, 2}), Shape, "shape '[4, 2]' is invalid for input of size 6");
  EXPECT_ERROR(reshape(x, {-1, -1}), Value, "only one dimension can be inferred");
  EXPECT_ERROR(reshape(x, {-2, 3}), Value, "invalid shape dimension -2");
  EXPECT_ERROR(reshape(x, {-1, 0}), Shape, "shape '[-1, 0]' is invalid for input of size 6");
  EXPECT_ERROR(reshape(Tensor::ones({0, 3}), {-1, 0}), Shape,
               "cannot reshape tensor of 0 elements into shape [-1, 0] because the unspecified dimension size -1 can "
               "be any value and is ambiguous");
  EXPECT_ERROR(reshape(x, {int64_t{1} << 40, int64_t{1} << 40}), Value, "reshape");
}

TEST(Shape, ViewsRefuseDetachInPlace) {
  const Tensor x = leaf({2, 3}, iota(6));
  for (Tensor v : {reshape(x, {6}), t(x), transpose(x, 0, 0), reshape(Tensor::ones({6}), {2, 3}),
                   linear(Tensor::ones({4, 2, 3}, kF64), x, Tensor::ones({2}, kF64))}) {
    EXPECT_ERROR(v.detach_(), Autograd, "Can't detach views in-place");
  }
  for (Tensor v : {matmul(x, Tensor::ones({3}, kF64)), matmul(Tensor::ones({2}, kF64), x), sum(x, {0}), x * 1}) {
    EXPECT_NO_THROW(v.detach_());
  }
}

TEST(Shape, ExpandAndSumToAreAdjoint) {
  const Tensor x = leaf({3, 1}, {1, 2, 3});
  const Tensor y = expand(x, {2, 3, 2});
  EXPECT_EQ(y.grad_fn_name(), "ExpandBackward0");
  EXPECT_TENSOR_NEAR(y, (std::vector<double>{1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3}), (Shape{2, 3, 2}), 0.0);
  y.backward(Tensor::ones({2, 3, 2}, kF64));
  EXPECT_TENSOR_NEAR(x.grad(), (std::vector<double>{4, 4, 4}), (Shape{3, 1}), 0.0);  // 2·2 copies each
  const Tensor z = leaf({2, 3}, iota(6));
  const Tensor s = sum_to(z, {1, 3});
  EXPECT_TENSOR_NEAR(s, (std::vector<double>{5, 7, 9}), (Shape{1, 3}), 0.0);
  EXPECT_TRUE(sum_to(z, {2, 3}).is_same(z));
  EXPECT_TENSOR_NEAR(sum_to(z, {}), {21}, Shape{}, 0.0);
  EXPECT_ERROR(expand(x, {2, 2}), Shape,
               "The expanded size of the tensor (2) must match the existing size (3) at non-singleton dimension 0.  "
               "Target sizes: [2, 2].  Tensor sizes: [3, 1]");
  EXPECT_ERROR(expand(x, {3}), Shape, "the number of sizes provided (1) must be greater or equal");
  EXPECT_ERROR(expand(x, {-1, 3, 1}), Shape, "isn't allowed in a leading, non-existing dimension 0");
  EXPECT_ERROR(sum_to(z, {4}), Shape, "sum_to");
}

TEST(Shape, SumToOverLeadingDimsAddsRowsInOrderInDouble) {
  // sum_to (4, 2) -> (2), (1, 2) and (2, 2) -> ... as a bias's gradient: out[j] = Σᵢ x[i][j],
  // accumulated in double row by row and rounded to float32 once. 1e8 + 1 - 1e8 + 1 is 2 in
  // double and would be 1 (or 0) if rounded to float32 along the way.
  const std::vector<double> v = {1e8, 3, 1, 0.25, -1e8, -3, 1, 1e-3};
  const Tensor x = Tensor::from_data({4, 2}, v, kF32);
  std::vector<double> expected(2, 0.0);
  for (size_t j = 0; j < 2; ++j) {
    double acc = 0;
    for (size_t i = 0; i < 4; ++i) acc += static_cast<float>(v[i * 2 + j]);
    expected[j] = static_cast<float>(acc);
  }
  EXPECT_TENSOR_NEAR(sum_to(x, {2}), expected, Shape{2}, 0.0);
  EXPECT_TENSOR_NEAR(sum_to(x, {1, 2}), expected, (Shape{1, 2}), 0.0);
  EXPECT_EQ(expected[0], 2.0);
  const Tensor x3 = Tensor::from_data({2, 2, 2}, v, kF32);  // (2, 2, 2) -> (2, 2): rows of 4
  EXPECT_TENSOR_NEAR(sum_to(x3, {2, 2}),
                     (std::vector<double>{static_cast<float>(1e8f - 1e8f), static_cast<float>(3.0 - 3.0),
                                          static_cast<float>(1.0 + 1.0), static_cast<float>(0.25 + 1e-3f)}),
                     (Shape{2, 2}), 0.0);
}

TEST(Shape, CatAlongEachDimWithGradientSlices) {
  for (DType dt : kDTypes) {
    const Tensor a = leaf({2, 2}, {1, 2, 3, 4}, dt), b = leaf({2, 1}, {5, 6}, dt);
    const Tensor y = cat({a, b}, -1);
    EXPECT_EQ(y.grad_fn_name(), "CatBackward0");
    EXPECT_TENSOR_NEAR(y, (std::vector<double>{1, 2, 5, 3, 4, 6}), (Shape{2, 3}), 0.0);
    y.backward(lit({2, 3}, iota(6), dt));  // each input gets its own columns of g
    EXPECT_TENSOR_NEAR(a.grad(), (std::vector<double>{1, 2, 4, 5}), (Shape{2, 2}), 0.0);
    EXPECT_TENSOR_NEAR(b.grad(), (std::vector<double>{3, 6}), (Shape{2, 1}), 0.0);
  }
  const Tensor a = leaf({1, 2}, {1, 2});
  const Tensor c = lit({2, 2}, {3, 4, 5, 6});
  const Tensor y = cat({a, c, a});
  EXPECT_TENSOR_NEAR(y, (std::vector<double>{1, 2, 3, 4, 5, 6, 1, 2}), (Shape{4, 2}), 0.0);
  y.backward(lit({4, 2}, iota(8)));
  EXPECT_TENSOR_NEAR(a.grad(), (std::vector<double>{1 + 7, 2 + 8}), (Shape{1, 2}), 0.0);
  EXPECT_FALSE(c.grad().defined());
}

TEST(Shape, CatSkipsLegacyEmptyTensorsAndPromotes) {
  const Tensor e = Tensor::zeros({0}, kF64).requires_grad_();
  const Tensor x = leaf({2, 3}, iota(6));
  const Tensor y = cat({e, x, e}, 1);
  EXPECT_EQ(y.shape(), (Shape{2, 3}));
  y.backward(Tensor::ones({2, 3}, kF64));
  EXPECT_EQ(e.grad().shape(), Shape{0});
  EXPECT_EQ(cat({Tensor::zeros({0}), Tensor::zeros({0})}, 1).shape(), Shape{0});  // no dim is checked
  EXPECT_EQ(cat({Tensor::zeros({0, 3}), Tensor::ones({2, 3})}, 0).shape(), (Shape{2, 3}));
  EXPECT_EQ(cat({Tensor::ones({2}), Tensor::ones({2}, kF64)}).dtype(), kF64);
}

TEST(Shape, CatErrors) {
  EXPECT_ERROR(cat({}), Value, "torch.cat(): expected a non-empty list of Tensors");
  EXPECT_ERROR(cat({Tensor::scalar(1)}), Shape, "zero-dimensional tensor (at position 0) cannot be concatenated");
  EXPECT_ERROR(cat({Tensor::ones({2, 3}), Tensor::ones({3, 4})}), Shape,
               "Sizes of tensors must match except in dimension 0. Expected size 3 but got size 4 for tensor number 1 "
               "in the list.");
  EXPECT_ERROR(cat({Tensor::ones({2, 3}), Tensor::ones({2})}), Shape,
               "Tensors must have same number of dimensions: got 2 and 1");
  EXPECT_ERROR(cat({Tensor::ones({2, 3}), Tensor::ones({2, 3})}, 2), Dim,
               "Dimension out of range (expected to be in range of [-2, 1], but got 2)");
}

}  // namespace
}  // namespace gradoracle

// Second order: each shape op's backward under create_graph records (f = op(x)·op(x), so the
// second derivative flows through the op's backward), against finite differences of the first
// backward; the gradients of a leaf through the op carry PyTorch 1.13's grad_fn names (printed
// by torch: "nograd" under a constant upstream), and no graph without create_graph.
namespace gradoracle {
namespace {
using namespace test;

using Fn = std::function<Tensor(const Tensor&)>;
struct ShapeCase {
  const char* what;
  Shape shape;
  Fn op;
  std::string grad_up;  // torch 1.13's name of the leaf's gradient when the upstream requires grad
};

const std::vector<ShapeCase>& shape_cases() {
  static const std::vector<ShapeCase> cases = {
      {"t", {2, 3}, [](const Tensor& x) { return t(x); }, "TBackward0"},
      {"transpose", {2, 3, 4}, [](const Tensor& x) { return transpose(x, 0, 2); }, "TransposeBackward0"},
      {"reshape", {2, 3}, [](const Tensor& x) { return reshape(x, {3, -1}); }, "ReshapeAliasBackward0"},
      {"expand leading", {3}, [](const Tensor& x) { return expand(x, {2, 3}); }, "ViewBackward0"},
      {"expand size-1 dim", {2, 1}, [](const Tensor& x) { return expand(x, {2, 3}); }, "SumBackward1"},
      {"expand both", {1, 3}, [](const Tensor& x) { return expand(x, {4, 2, 3}); }, "ViewBackward0"},
      {"sum_to", {2, 3}, [](const Tensor& x) { return sum_to(x, {1, 3}); }, "ExpandBackward0"},
      {"cat dim 1", {2, 3}, [](const Tensor& x) { return cat({x, x * 2.0, x}, 1); }, "AddBackward0"},
  };
  return cases;
}

Tensor ramp_leaf(const Shape& shape) {
  std::vector<double> v;
  for (int64_t i = 0; i < numel(shape); ++i) v.push_back(0.2 * static_cast<double>(i + 1) * (i % 2 ? -1 : 1));
  return Tensor::from_data(shape, v, kF64, true);
}

TEST(ShapeSecondOrder, MatchesFiniteDifferencesOfTheFirstBackward) {
  for (const ShapeCase& c : shape_cases()) {
    SCOPED_TRACE(c.what);
    EXPECT_TRUE(second_order_matches_fd([&c](const std::vector<Tensor>& in) { return c.op(in[0]) * c.op(in[0]); },
                                        {ramp_leaf(c.shape)}));
  }
  // cat of two inputs along each dim, ranks 1 to 3
  struct CatCase {
    Shape a, b;
    int64_t dim;
  };
  for (const CatCase& c : std::vector<CatCase>{{{2}, {3}, 0}, {{2, 3}, {1, 3}, 0}, {{2, 3, 2}, {2, 1, 2}, -2}}) {
    SCOPED_TRACE(to_string(c.a) + " " + to_string(c.b));
    const auto f = [&c](const std::vector<Tensor>& in) {
      const Tensor y = cat({in[0], in[1]}, c.dim);
      return y * y;
    };
    EXPECT_TRUE(second_order_matches_fd(f, {ramp_leaf(c.a), ramp_leaf(c.b)}));
  }
}

TEST(ShapeSecondOrder, GradFnNamesArePyTorchsAndNoGraphWithoutCreateGraph) {
  for (const ShapeCase& c : shape_cases()) {
    SCOPED_TRACE(c.what);
    const auto f = [&c](const std::vector<Tensor>& in) { return c.op(in[0]); };
    EXPECT_EQ(grad_fn_names(f, {ramp_leaf(c.shape)}, false), std::vector<std::string>{"nograd"});
    if (std::string(c.what) != "cat dim 1") {
      EXPECT_EQ(grad_fn_names(f, {ramp_leaf(c.shape)}, true), std::vector<std::string>{c.grad_up});
    }
    EXPECT_EQ(grad_fn_names(f, {ramp_leaf(c.shape)}, true, false), std::vector<std::string>{"nograd"});
  }
  // cat: each input's gradient is its slice of the upstream (torch: SliceBackward0 for both)
  const auto cat_f = [](const std::vector<Tensor>& in) { return cat({in[0], in[1]}, 1); };
  const std::vector<Tensor> in = {ramp_leaf({2, 3}), ramp_leaf({2, 2})};
  EXPECT_EQ(grad_fn_names(cat_f, in, false), (std::vector<std::string>{"nograd", "nograd"}));
  EXPECT_EQ(grad_fn_names(cat_f, in, true), (std::vector<std::string>{"SliceBackward0", "SliceBackward0"}));
  // an expand to its own shape passes the upstream through (a leaf: no grad_fn)
  EXPECT_EQ(grad_fn_names([](const std::vector<Tensor>& x) { return expand(x[0], {2, 3}); }, {ramp_leaf({2, 3})}, true),
            std::vector<std::string>{"nograd"});
}

}  // namespace
}  // namespace gradoracle

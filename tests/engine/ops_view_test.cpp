// View ops: unsqueeze, squeeze, permute and expand. Values and gradients are index maps (a view
// routes each upstream element back to the element it shows; expand sums the copies); strides,
// view-ness, grad_fn names and error messages are what PyTorch 1.13 prints for the same calls.
#include "test_util.hpp"

namespace gradoracle {
namespace {
using namespace test;

std::vector<double> iota(int64_t n) {
  std::vector<double> v;
  for (int64_t i = 0; i < n; ++i) v.push_back(static_cast<double>(i + 1));
  return v;
}

TEST(View, UnsqueezeInsertsASizeOneDim) {
  for (DType dt : kDTypes) {
    Tensor x = leaf({2, 3}, iota(6), dt);
    for (int64_t dim : {0, 1, 2, -1, -3}) {
      SCOPED_TRACE(dim);
      const Tensor y = unsqueeze(x, dim);
      Shape want = {2, 3};
      want.insert(want.begin() + (dim < 0 ? dim + 3 : dim), 1);
      EXPECT_EQ(y.grad_fn_name(), "UnsqueezeBackward0");
      EXPECT_TENSOR_NEAR(y, iota(6), want, 0.0);  // row-major order unchanged
      EXPECT_TRUE(y.is_view());
      y.backward(lit(want, iota(6), dt));
      EXPECT_TENSOR_NEAR(x.grad(), iota(6), (Shape{2, 3}), 0.0);
      x.set_grad(Tensor());
    }
  }
  EXPECT_EQ(unsqueeze(Tensor::scalar(2, kF64), -1).shape(), Shape{1});
  EXPECT_EQ(unsqueeze(Tensor::ones({0, 3}), 2).shape(), (Shape{0, 3, 1}));
}

TEST(View, UnsqueezeStridesArePyTorchs) {
  // torch: x (2, 3, 4): unsqueeze(0) (24, 12, 4, 1), unsqueeze(3) (12, 4, 1, 1);
  // x.transpose(0, 2).unsqueeze(1) (1, 12, 4, 12); (2, 3, 1): unsqueeze(1) (3, 3, 1, 1), unsqueeze(3) (3, 1, 1, 1).
  const Tensor x = Tensor::ones({2, 3, 4});
  EXPECT_EQ(unsqueeze(x, 0).stride(), (std::vector<int64_t>{24, 12, 4, 1}));
  EXPECT_EQ(unsqueeze(x, -1).stride(), (std::vector<int64_t>{12, 4, 1, 1}));
  const Tensor xt1 = unsqueeze(transpose(x, 0, 2), 1);
  EXPECT_EQ(xt1.stride(), (std::vector<int64_t>{1, 12, 4, 12}));
  EXPECT_FALSE(xt1.is_contiguous());
  const Tensor z = Tensor::ones({2, 3, 1});
  EXPECT_EQ(unsqueeze(z, 1).stride(), (std::vector<int64_t>{3, 3, 1, 1}));
  EXPECT_EQ(unsqueeze(z, 3).stride(), (std::vector<int64_t>{3, 1, 1, 1}));
}

TEST(View, SqueezeRemovesSizeOneDims) {
  for (DType dt : kDTypes) {
    Tensor x = leaf({2, 1, 3}, iota(6), dt);
    const Tensor all = squeeze(x);
    EXPECT_EQ(all.grad_fn_name(), "SqueezeBackward0");
    EXPECT_TENSOR_NEAR(all, iota(6), (Shape{2, 3}), 0.0);
    EXPECT_EQ(all.stride(), (std::vector<int64_t>{3, 1}));
    EXPECT_TRUE(all.is_view());
    all.backward(lit({2, 3}, iota(6), dt));
    EXPECT_TENSOR_NEAR(x.grad(), iota(6), (Shape{2, 1, 3}), 0.0);
    x.set_grad(Tensor());
    const Tensor one = squeeze(x, -2);
    EXPECT_EQ(one.grad_fn_name(), "SqueezeBackward1");
    EXPECT_EQ(one.shape(), (Shape{2, 3}));
    // a dim whose size is not 1: the same shape and strides, still a view (PyTorch 1.13)
    const Tensor kept = squeeze(x, 0);
    EXPECT_EQ(kept.grad_fn_name(), "SqueezeBackward1");
    EXPECT_EQ(kept.shape(), (Shape{2, 1, 3}));
    EXPECT_EQ(kept.stride(), (std::vector<int64_t>{3, 3, 1}));
    EXPECT_TRUE(kept.is_view());
    kept.backward(lit({2, 1, 3}, iota(6), dt));
    EXPECT_TENSOR_NEAR(x.grad(), iota(6), (Shape{2, 1, 3}), 0.0);
  }
  EXPECT_EQ(squeeze(Tensor::scalar(2, kF64)).shape(), Shape{});
  EXPECT_EQ(squeeze(Tensor::scalar(2, kF64), -1).shape(), Shape{});
  EXPECT_EQ(squeeze(Tensor::ones({2, 3, 1})).stride(), (std::vector<int64_t>{3, 1}));
  EXPECT_EQ(squeeze(Tensor::ones({0, 1}), -1).shape(), Shape{0});
}

TEST(View, PermuteReordersDims) {
  for (DType dt : kDTypes) {
    const Tensor x = leaf({2, 3, 4}, iota(24), dt);
    const Tensor y = permute(x, {2, 0, -2});  // y[k][i][j] = x[i][j][k]
    EXPECT_EQ(y.grad_fn_name(), "PermuteBackward0");
    EXPECT_EQ(y.shape(), (Shape{4, 2, 3}));
    for (int64_t i = 0; i < 2; ++i) {
      for (int64_t j = 0; j < 3; ++j) {
        for (int64_t k = 0; k < 4; ++k) EXPECT_EQ(y.at({k, i, j}), x.at({i, j, k}));
      }
    }
    EXPECT_EQ(y.stride(), (std::vector<int64_t>{1, 12, 4}));  // torch
    EXPECT_TRUE(y.is_view());
    EXPECT_FALSE(y.is_contiguous());
    // upstream g: dx[i][j][k] = g[k][i][j]
    const Tensor g = lit({4, 2, 3}, iota(24), dt);
    y.backward(g);
    for (int64_t i = 0; i < 2; ++i) {
      for (int64_t j = 0; j < 3; ++j) {
        for (int64_t k = 0; k < 4; ++k) EXPECT_EQ(x.grad().at({i, j, k}), g.at({k, i, j}));
      }
    }
  }
  EXPECT_EQ(permute(Tensor::ones({2, 3, 1}), {2, 0, 1}).stride(), (std::vector<int64_t>{1, 3, 1}));  // torch
  EXPECT_EQ(permute(Tensor::scalar(3, kF64), {}).shape(), Shape{});
  const Tensor id = permute(Tensor::ones({2, 3}, kF64).requires_grad_(), {0, 1});
  EXPECT_EQ(id.grad_fn_name(), "PermuteBackward0");
  EXPECT_TRUE(id.is_view());
}

TEST(View, ExpandIsAViewWithZeroStrides) {
  for (DType dt : kDTypes) {
    const Tensor x = leaf({2, 1}, {1, 2}, dt);
    const Tensor y = expand(x, {2, -1, 3});
    EXPECT_EQ(y.grad_fn_name(), "ExpandBackward0");
    EXPECT_TENSOR_NEAR(y, (std::vector<double>{1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2}), (Shape{2, 2, 3}), 0.0);
    EXPECT_TRUE(y.is_view());
    y.backward(lit({2, 2, 3}, iota(12), dt));  // dx[r] = Σ over the copies of row r
    EXPECT_TENSOR_NEAR(x.grad(), (std::vector<double>{1 + 2 + 3 + 7 + 8 + 9, 4 + 5 + 6 + 10 + 11 + 12}), (Shape{2, 1}),
                       0.0);
  }
  // torch's strides: s (2, 1, 3)
  const Tensor s = Tensor::ones({2, 1, 3});
  using St = std::vector<int64_t>;
  EXPECT_EQ(expand(s, {4, 2, 3, 3}).stride(), (St{0, 3, 0, 1}));
  EXPECT_EQ(expand(s, {-1, 5, -1}).stride(), (St{3, 0, 1}));
  EXPECT_EQ(expand(s, {2, 1, 3}).stride(), (St{3, 3, 1}));
  EXPECT_TRUE(expand(s, {2, 1, 3}).is_contiguous());
  EXPECT_EQ(expand(s, {1, 2, 1, 3}).stride(), (St{6, 3, 3, 1}));
  EXPECT_EQ(expand(s, {3, 1, 2, 1, 3}).stride(), (St{0, 6, 3, 3, 1}));
  EXPECT_EQ(expand(s, {2, 0, 3}).stride(), (St{3, 0, 1}));
  EXPECT_EQ(expand(transpose(s, 0, 2), {2, 3, 4, 2}).stride(), (St{0, 1, 0, 3}));
  EXPECT_EQ(expand(Tensor::scalar(2), {3, 2}).stride(), (St{0, 0}));
  EXPECT_EQ(expand(Tensor::scalar(2), {1, 1}).stride(), (St{0, 0}));
  EXPECT_EQ(expand(Tensor::scalar(2), {}).shape(), Shape{});
}

TEST(View, ElementwiseResultsOfExpandedTensorsTakeTorchsLayout) {
  // torch: an expanded (overlapping) input is not kept as the output's layout: -e and e·e of
  // ones(2, 1, 3).expand(2, 4, 3) are (12, 3, 1); -t of ones(3, 1, 2).transpose(0, 2).expand(2, 4, 3)
  // (strides (1, 0, 2)) is (1, 2, 8): the dims ordered by the strides that are not 0.
  const Tensor e = expand(Tensor::ones({2, 1, 3}, kF64), {2, 4, 3});
  EXPECT_EQ((-e).stride(), (std::vector<int64_t>{12, 3, 1}));
  EXPECT_EQ((e * e).stride(), (std::vector<int64_t>{12, 3, 1}));
  const Tensor t = expand(transpose(Tensor::ones({3, 1, 2}, kF64), 0, 2), {2, 4, 3});
  EXPECT_EQ(t.stride(), (std::vector<int64_t>{1, 0, 2}));
  EXPECT_EQ((-t).stride(), (std::vector<int64_t>{1, 2, 8}));
}

TEST(View, ErrorsArePyTorchsWordForWord) {
  const Tensor x = Tensor::ones({2, 3, 4});
  EXPECT_ERROR(unsqueeze(x, 4), Dim, "Dimension out of range (expected to be in range of [-4, 3], but got 4)");
  EXPECT_ERROR(unsqueeze(x, -5), Dim, "Dimension out of range (expected to be in range of [-4, 3], but got -5)");
  EXPECT_ERROR(unsqueeze(Tensor::scalar(1), 1), Dim, "Dimension out of range (expected to be in range of [-1, 0], but got 1)");
  EXPECT_ERROR(squeeze(Tensor::ones({2, 1, 3}), 3), Dim,
               "Dimension out of range (expected to be in range of [-3, 2], but got 3)");
  EXPECT_ERROR(squeeze(Tensor::scalar(1), 1), Dim, "Dimension out of range (expected to be in range of [-1, 0], but got 1)");
  EXPECT_ERROR(permute(x, {0, 0, 1}), Dim, "permute(): duplicate dims are not allowed.");
  EXPECT_ERROR(permute(x, {0, -3, 1}), Dim, "permute(): duplicate dims are not allowed.");
  EXPECT_ERROR(permute(x, {0, 0, 7}), Dim, "permute(): duplicate dims are not allowed.");  // in order: the repeat first
  EXPECT_ERROR(permute(x, {0, 7, 0}), Dim, "Dimension out of range (expected to be in range of [-3, 2], but got 7)");
  EXPECT_ERROR(permute(x, {0, 1, -4}), Dim, "Dimension out of range (expected to be in range of [-3, 2], but got -4)");
  const std::string length =
      "permute(sparse_coo): number of dimensions in the tensor input does not match the length of the desired ordering "
      "of dimensions i.e. input.dim() = ";
  EXPECT_ERROR(permute(x, {0, 1}), Dim, length + "3 is not equal to len(dims) = 2");
  EXPECT_ERROR(permute(x, {0, 1, 2, 7}), Dim, length + "3 is not equal to len(dims) = 4");
  EXPECT_ERROR(permute(Tensor::scalar(1), {0}), Dim, length + "0 is not equal to len(dims) = 1");
  const Tensor s = Tensor::ones({2, 1, 3}, kF64);
  EXPECT_ERROR(expand(s, {2, 2, 2}), Shape,
               "The expanded size of the tensor (2) must match the existing size (3) at non-singleton dimension 2.  "
               "Target sizes: [2, 2, 2].  Tensor sizes: [2, 1, 3]");
  EXPECT_ERROR(expand(s, {3}), Shape,
               "expand(torch.DoubleTensor{[2, 1, 3]}, size=[3]): the number of sizes provided (1) must be greater or "
               "equal to the number of dimensions in the tensor (3)");
  EXPECT_ERROR(expand(Tensor::ones({2}, kF32), {}), Shape, "expand(torch.FloatTensor{[2]}, size=[])");
  EXPECT_ERROR(expand(s, {-1, 2, 1, 3}), Shape,
               "The expanded size of the tensor (-1) isn't allowed in a leading, non-existing dimension 0");
  EXPECT_ERROR(expand(s, {-1, -1, 2, 1, 3}), Shape,
               "The expanded size of the tensor (-1) isn't allowed in a leading, non-existing dimension 1");
  EXPECT_ERROR(expand(s, {-1, 2, 2, 2}), Shape,  // from the right: the mismatch first
               "The expanded size of the tensor (2) must match the existing size (3) at non-singleton dimension 3.  "
               "Target sizes: [-1, 2, 2, 2].  Tensor sizes: [2, 1, 3]");
  EXPECT_ERROR(expand(s, {-2, 1, 3}), Shape,
               "The expanded size of the tensor (-2) must match the existing size (2) at non-singleton dimension 0.  "
               "Target sizes: [-2, 1, 3].  Tensor sizes: [2, 1, 3]");
  EXPECT_ERROR(expand(s, {2, -2, 3}), Value, "numel: integer multiplication overflow");
  EXPECT_ERROR(expand(Tensor::scalar(1), {-1}), Value, "numel: integer multiplication overflow");
}

// Second order: f = op(x)·op(x) against finite differences of the first backward; the leaf's
// gradient under an upstream that requires grad carries torch 1.13's name ("nograd": the
// upstream itself, a leaf), and nothing is recorded without create_graph.
struct ViewCase {
  const char* what;
  Shape shape;
  std::function<Tensor(const Tensor&)> op;
  std::string grad_up;
};

TEST(ViewSecondOrder, MatchesFiniteDifferencesWithPyTorchsNames) {
  const std::vector<ViewCase> cases = {
      {"unsqueeze", {2, 3}, [](const Tensor& x) { return unsqueeze(x, 1); }, "SqueezeBackward1"},
      {"unsqueeze 0-d", {}, [](const Tensor& x) { return unsqueeze(x, 0); }, "SqueezeBackward1"},
      {"squeeze all", {2, 1, 3}, [](const Tensor& x) { return squeeze(x); }, "UnsqueezeBackward0"},
      {"squeeze nothing", {2, 3}, [](const Tensor& x) { return squeeze(x); }, "nograd"},
      {"squeeze dim", {2, 1, 3}, [](const Tensor& x) { return squeeze(x, 1); }, "UnsqueezeBackward0"},
      {"squeeze dim of size 2", {2, 1, 3}, [](const Tensor& x) { return squeeze(x, 0); }, "nograd"},
      {"squeeze 0-d", {}, [](const Tensor& x) { return squeeze(x, 0); }, "nograd"},
      {"permute", {2, 3, 4}, [](const Tensor& x) { return permute(x, {2, 0, 1}); }, "PermuteBackward0"},
      {"permute identity", {2, 3}, [](const Tensor& x) { return permute(x, {0, 1}); }, "PermuteBackward0"},
      {"expand new dims", {2, 1, 3}, [](const Tensor& x) { return expand(x, {4, 2, 3, 3}); }, "ViewBackward0"},
      {"expand a size-1 dim", {2, 1, 3}, [](const Tensor& x) { return expand(x, {2, 5, -1}); }, "SumBackward1"},
      {"expand 0-d", {}, [](const Tensor& x) { return expand(x, {3}); }, "SumBackward0"},
  };
  for (const ViewCase& c : cases) {
    SCOPED_TRACE(c.what);
    std::vector<double> v;
    for (int64_t i = 0; i < numel(c.shape); ++i) v.push_back(0.2 * static_cast<double>(i + 1) * (i % 2 ? -1 : 1));
    const Tensor x = Tensor::from_data(c.shape, v, kF64, true);
    EXPECT_TRUE(second_order_matches_fd([&c](const std::vector<Tensor>& in) { return c.op(in[0]) * c.op(in[0]); }, {x}));
    const auto f = [&c](const std::vector<Tensor>& in) { return c.op(in[0]); };
    EXPECT_EQ(grad_fn_names(f, {x}, true), std::vector<std::string>{c.grad_up});
    EXPECT_EQ(grad_fn_names(f, {x}, false), std::vector<std::string>{"nograd"});
    // without create_graph, an upstream passed through unchanged is handed back itself, as torch does
    const bool passed_through = c.grad_up == "nograd";
    EXPECT_EQ(grad_fn_names(f, {x}, true, false), std::vector<std::string>{passed_through ? "graph" : "nograd"});
  }
}

}  // namespace
}  // namespace gradoracle

// Windows (ops_window.cpp): max_pool2d's values and gradients against PyTorch 1.13
// (F.max_pool2d then .backward, /usr/bin/python3): ties go to the first maximum in row-major
// window order, overlapping windows accumulate, padding is never chosen, the last NaN in a window
// wins; its grad_fn names at first and second order, the grad-of-grad (a gather of the upstream
// at each window's argmax) and its error messages word for word.
#include <cmath>
#include <limits>
#include <string>

#include "test_util.hpp"

namespace gradoracle {
namespace {
using namespace test;
using Ins = std::vector<Tensor>;
using V = std::vector<double>;

// torch: x = [[1,1,2],[2,0,1],[0,2,2]], kernel 2, stride 1: every window's max is 2; the windows
// pick (1,0), (0,2), (1,0), (2,1) (the first 2 in row-major order), so a ones upstream gives
// [[0,0,1],[2,0,0],[0,1,0]].
TEST(MaxPool2d, TiesGoToTheFirstMaximumInRowMajorOrder) {
  for (DType dt : kDTypes) {
    const Tensor x = leaf({1, 3, 3}, {1, 1, 2, 2, 0, 1, 0, 2, 2}, dt);
    const Tensor y = max_pool2d(x, {2}, {1});
    EXPECT_EQ(y.grad_fn_name(), "MaxPool2DWithIndicesBackward0");
    EXPECT_EQ(y.dtype(), dt);
    EXPECT_TENSOR_NEAR(y, (V{2, 2, 2, 2}), Shape({1, 2, 2}), 0);
    y.backward(Tensor::ones(y.shape(), dt));
    EXPECT_TENSOR_NEAR(x.grad(), (V{0, 0, 1, 2, 0, 0, 0, 1, 0}), Shape({1, 3, 3}), 0);
  }
}

// torch: [[5,1,0],[1,0,1],[0,1,3]], kernel 2, stride 1, upstream [[1,2],[3,4]]: 5 is the max of
// window (0,0), the 1s of the others tie and go to their first; y [[5,1],[1,3]],
// grad [[1,2,0],[3,0,0],[0,0,4]]. With x = 5 everywhere one element collects all four.
TEST(MaxPool2d, OverlappingWindowsAccumulate) {
  const Tensor x = leaf({1, 3, 3}, {5, 1, 0, 1, 0, 1, 0, 1, 3});
  const Tensor y = max_pool2d(x, {2}, {1});
  EXPECT_TENSOR_NEAR(y, (V{5, 1, 1, 3}), Shape({1, 2, 2}), 0);
  y.backward(lit({1, 2, 2}, {1, 2, 3, 4}));
  EXPECT_TENSOR_NEAR(x.grad(), (V{1, 2, 0, 3, 0, 0, 0, 0, 4}), Shape({1, 3, 3}), 0);
  const Tensor c = leaf({1, 3, 3}, {0, 0, 0, 0, 5, 0, 0, 0, 0});
  EXPECT_TENSOR_NEAR(grad_of(c, [](const Tensor& a) { return max_pool2d(a, {2}, {1}); }, lit({1, 2, 2}, {1, 2, 3, 4})),
                     (V{0, 0, 0, 0, 10, 0, 0, 0, 0}), Shape({1, 3, 3}), 0);
}

// torch: [[-1,-2,-3],[-4,-5,-6]], kernel 2, stride 2, padding 1: padding (-inf) is never the max
// even when every value is negative; y [[-1,-2],[-4,-5]], grad [[1,1,0],[1,1,0]].
TEST(MaxPool2d, PaddingIsNeverChosen) {
  const Tensor x = leaf({1, 2, 3}, {-1, -2, -3, -4, -5, -6});
  const Tensor y = max_pool2d(x, {2}, {2}, {1});
  EXPECT_TENSOR_NEAR(y, (V{-1, -2, -4, -5}), Shape({1, 2, 2}), 0);
  y.backward(Tensor::ones(y.shape(), y.dtype()));
  EXPECT_TENSOR_NEAR(x.grad(), (V{1, 1, 0, 1, 1, 0}), Shape({1, 2, 3}), 0);
}

// torch: arange(32).reshape(2,1,4,4).flip(-1), kernel (2,3), stride (2,1): rank 4, each row
// descending, so every window's max is its second row's first column.
TEST(MaxPool2d, RankFourWithPairs) {
  V xs(32);
  for (int i = 0; i < 32; ++i) xs[static_cast<size_t>(i)] = (i / 4) * 4 + 3 - i % 4;
  const Tensor x = leaf({2, 1, 4, 4}, xs);
  const Tensor y = max_pool2d(x, {2, 3}, {2, 1});
  EXPECT_TENSOR_NEAR(y, (V{7, 6, 15, 14, 23, 22, 31, 30}), Shape({2, 1, 2, 2}), 0);
  y.backward(Tensor::ones(y.shape(), y.dtype()));
  V g(32, 0);
  for (int r : {1, 3, 5, 7}) g[static_cast<size_t>(r * 4)] = g[static_cast<size_t>(r * 4 + 1)] = 1;
  EXPECT_TENSOR_NEAR(x.grad(), g, Shape({2, 1, 4, 4}), 0);
}

// torch: [nan,3,nan,1] in one window: y nan, the gradient to the last NaN; [[1,nan],[nan,5]]
// likewise to (1,0); all -inf: y -inf, the gradient to the window's first element.
TEST(MaxPool2d, LastNanWinsAndAllMinusInfPicksTheFirst) {
  const double inf = std::numeric_limits<double>::infinity();
  for (DType dt : kDTypes) {
    const Tensor a = leaf({1, 1, 4}, {kNaN, 3, kNaN, 1}, dt);
    const Tensor ya = max_pool2d(a, {1, 4});
    EXPECT_TRUE(std::isnan(ya.item()));
    ya.backward(Tensor::ones(ya.shape(), dt));
    EXPECT_TENSOR_NEAR(a.grad(), (V{0, 0, 1, 0}), Shape({1, 1, 4}), 0);
    const Tensor b = leaf({1, 2, 2}, {1, kNaN, kNaN, 5}, dt);
    EXPECT_TENSOR_NEAR(grad_of(b, [](const Tensor& t) { return max_pool2d(t, {2}); }), (V{0, 0, 1, 0}), Shape({1, 2, 2}), 0);
    const Tensor c = leaf({1, 1, 2}, {-inf, -inf}, dt);
    EXPECT_EQ(max_pool2d(c, {1, 2}).item(), -inf);
    EXPECT_TENSOR_NEAR(grad_of(c, [](const Tensor& t) { return max_pool2d(t, {1, 2}); }), (V{1, 0}), Shape({1, 1, 2}), 0);
  }
}

// torch: grad(y, x, u, create_graph=True) is MaxPool2DWithIndicesBackwardBackward0; for the tie
// input above, d<g, gg>/du = gg at each window's argmax: gg = [[10,20,30],[40,50,60],[70,80,90]]
// gives [[40,30],[40,80]]. The name is the same whether u requires grad or not (the node also
// takes x, whose gradient through it is zeros).
TEST(MaxPool2d, GradFnNamesAndTheGradOfGradIsAGather) {
  const Tensor x = leaf({1, 3, 3}, {1, 1, 2, 2, 0, 1, 0, 2, 2});
  const auto f = [](const Ins& in) { return max_pool2d(in[0], {2}, {1}); };
  for (bool up : {false, true}) {
    EXPECT_EQ(grad_fn_names(f, {x}, up), (std::vector<std::string>{"MaxPool2DWithIndicesBackwardBackward0"}));
  }
  EXPECT_EQ(grad_fn_names(f, {x}, true, false), (std::vector<std::string>{"nograd"}));
  for (DType dt : kDTypes) {
    const Tensor xd = leaf({1, 3, 3}, {1, 1, 2, 2, 0, 1, 0, 2, 2}, dt);
    const Tensor y = max_pool2d(xd, {2}, {1});
    const Tensor u = Tensor::ones(y.shape(), dt).requires_grad_(true);
    autograd::GradOptions cg;
    cg.create_graph = true;
    const Tensor g = autograd::grad({y}, {xd}, {u}, cg)[0];
    const Tensor gu = autograd::grad({g}, {u}, {lit({1, 3, 3}, {10, 20, 30, 40, 50, 60, 70, 80, 90}, dt)})[0];
    EXPECT_TENSOR_NEAR(gu, (V{40, 30, 40, 80}), Shape({1, 2, 2}), 0);
    const Tensor g2 = autograd::grad({y}, {xd}, {Tensor::ones(y.shape(), dt)}, cg)[0];
    EXPECT_EQ(g2.grad_fn_name(), "MaxPool2DWithIndicesBackwardBackward0");
    EXPECT_TENSOR_NEAR(autograd::grad({g2}, {xd}, {Tensor::ones(xd.shape(), dt)})[0], V(9, 0.0), Shape({1, 3, 3}), 0);
  }
  EXPECT_TRUE(second_order_matches_fd([](const Ins& in) { return max_pool2d(in[0], {2}, {1}, {1}); },
                                      {leaf({1, 3, 4}, {0.3, -1.2, 2.5, 0.7, 1.9, -0.4, 0.1, 3.3, -2.2, 1.4, 0.9, -0.8})}));
}

// PyTorch 1.13's messages (F.max_pool2d on torch.zeros(1,4,4) unless said).
TEST(MaxPool2d, ErrorsAsPyTorch) {
  const Tensor z = lit({1, 4, 4}, V(16, 0.0));
  EXPECT_ERROR(max_pool2d(z, {0}), Value, "stride should not be zero");
  EXPECT_ERROR(max_pool2d(z, {3, 0}), Value, "stride should not be zero");
  EXPECT_ERROR(max_pool2d(z, {2}, {0}), Value, "stride should not be zero");
  EXPECT_ERROR(max_pool2d(z, {2}, {-1}), Value, "stride should be greater than zero, but got dH: -1 dW: -1");
  EXPECT_ERROR(max_pool2d(z, {2}, {1}, {2}), Value, "pad should be at most half of kernel size, but got pad=2 and kernel_size=2");
  EXPECT_ERROR(max_pool2d(z, {2}, {1}, {-1}), Value, "pad must be non-negative, but got pad: -1");
  EXPECT_ERROR(max_pool2d(z, {5}), Shape, "Given input size: (1x4x4). Calculated output size: (1x0x0). Output size is too small");
  EXPECT_ERROR(max_pool2d(lit({4, 4}, V(16, 0.0)), {2}), Shape, "non-empty 3D or 4D (batch mode) tensor expected for input");
  EXPECT_ERROR(max_pool2d(lit({1, 1, 1, 4, 4}, V(16, 0.0)), {2}), Shape,
               "non-empty 3D or 4D (batch mode) tensor expected for input");
  EXPECT_ERROR(max_pool2d(lit({1, 0, 4}, V{}), {2}), Shape,
               "Expected 3D or 4D (batch mode) tensor with optional 0 dim batch size for input, but got:[1, 0, 4]");
  EXPECT_ERROR(max_pool2d(z, {1, 2, 3}), Value, "max_pool2d: kernel_size must either be a single int, or a tuple of two ints");
  EXPECT_ERROR(max_pool2d(z, {2}, {1, 2, 3}), Value,
               "max_pool2d: stride must either be omitted, a single int, or a tuple of two ints");
  EXPECT_ERROR(max_pool2d(z, {2}, {1}, {1, 1, 1}), Value,
               "max_pool2d: padding must be either be a single int, or a tuple of two ints");
}

}  // namespace
}  // namespace gradoracle

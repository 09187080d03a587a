// The tutorial's four sections (../shared/seed/backprop-tutorial.md) as facts about the engine.
// Every expected value is derived from the closed forms the tutorial states, never pasted.
#include <cmath>

#include "test_util.hpp"

namespace gradoracle {
namespace {
using namespace test;

// Σ over rows of a 2-D tensor: x.sum(0) computed by hand.
std::vector<double> column_sums(const Tensor& x) {
  std::vector<double> s(static_cast<size_t>(x.size(1)), 0.0);
  const auto v = x.to_vector();
  for (size_t i = 0; i < v.size(); ++i) s[i % s.size()] += v[i];
  return s;
}

// `rows` copies of `row`: the expected weight grad when every row equals one vector.
std::vector<double> repeat_rows(const std::vector<double>& row, int64_t rows) {
  std::vector<double> out;
  for (int64_t r = 0; r < rows; ++r) out.insert(out.end(), row.begin(), row.end());
  return out;
}

double sum_of_squares(const Tensor& t) {
  double s = 0;
  for (double v : t.to_vector()) s += v * v;
  return s;
}

// 1. With ones upstream, bias grad = batch size and each weight-grad row = x.sum(0).
TEST(Tutorial, Section1OnesUpstreamGivesBatchSizeAndColumnSums) {
  for (DType dt : kDTypes) {
    Generator gen(1);
    nn::Linear linear(5, 2, gen, dt);
    EXPECT_FALSE(linear.weight.grad().defined());
    EXPECT_FALSE(linear.bias.grad().defined());
    const int64_t batch = 8;
    const Tensor x = Tensor::randn({batch, 5}, gen, dt);
    const Tensor y = linear(x);
    EXPECT_EQ(y.grad_fn_name(), "AddmmBackward0");
    y.backward(Tensor::ones({batch, 2}, dt));
    EXPECT_TENSOR_NEAR(linear.bias.grad(), std::vector<double>(2, static_cast<double>(batch)), Shape{2}, tol_of(dt));
    EXPECT_TENSOR_NEAR(linear.weight.grad(), repeat_rows(column_sums(x), 2), (Shape{2, 5}), 4 * tol_of(dt));
    EXPECT_TENSOR_NEAR(linear.weight.grad(), repeat_rows(sum(x, {0}).to_vector(), 2), (Shape{2, 5}), 4 * tol_of(dt));
  }
}

// 2. loss = (1 - y1).sum() + 2·(1 - y2).sum() over batches of 2 and 3: dL/dy1 = -1, dL/dy2 = -2, so
// bias grad = -(2 + 2·3) = -8 and each weight-grad row = -(x1.sum(0) + 2·x2.sum(0)).
TEST(Tutorial, Section2TwoBatchesWeightedLoss) {
  for (DType dt : kDTypes) {
    Generator gen(2);
    nn::Linear linear(5, 2, gen, dt);
    const Tensor x0 = Tensor::randn({8, 5}, gen, dt);
    linear(x0).backward(Tensor::ones({8, 2}, dt));  // leave stale grads for zero_grad to clear

    const int64_t n1 = 2, n2 = 3;
    const Tensor x1 = Tensor::randn({n1, 5}, gen, dt), x2 = Tensor::randn({n2, 5}, gen, dt);
    const Tensor y1 = linear(x1), y2 = linear(x2);
    const Tensor loss = sum(1 - y1) + 2 * sum(1 - y2);
    EXPECT_EQ((1 - y1).grad_fn_name(), "RsubBackward1");
    EXPECT_EQ(loss.grad_fn_name(), "AddBackward0");
    EXPECT_EQ(loss.shape(), Shape{});

    linear.zero_grad();
    EXPECT_TENSOR_NEAR(linear.weight.grad(), std::vector<double>(10, 0.0), (Shape{2, 5}), 0.0);
    EXPECT_TENSOR_NEAR(linear.bias.grad(), std::vector<double>(2, 0.0), Shape{2}, 0.0);

    loss.backward();
    const double bias_grad = -(static_cast<double>(n1) + 2.0 * static_cast<double>(n2));
    EXPECT_EQ(bias_grad, -8.0);
    EXPECT_TENSOR_NEAR(linear.bias.grad(), std::vector<double>(2, bias_grad), Shape{2}, tol_of(dt));
    const auto s1 = column_sums(x1), s2 = column_sums(x2);
    std::vector<double> row;
    for (size_t j = 0; j < s1.size(); ++j) row.push_back(-(s1[j] + 2 * s2[j]));
    EXPECT_TENSOR_NEAR(linear.weight.grad(), repeat_rows(row, 2), (Shape{2, 5}), 4 * tol_of(dt));
  }
}

TEST(Tutorial, Section2ZeroGradLeavesZerosOrNone) {
  Generator gen(3);
  nn::Linear linear(5, 2, gen);
  linear.zero_grad();  // no grads yet: none are created
  EXPECT_FALSE(linear.weight.grad().defined());
  linear(Tensor::randn({4, 5}, gen)).backward(Tensor::ones({4, 2}));
  const Tensor before = linear.weight.grad();
  linear.zero_grad();
  EXPECT_TRUE(linear.weight.grad().is_same(before));  // zeroed in place
  EXPECT_TENSOR_NEAR(linear.weight.grad(), std::vector<double>(10, 0.0), (Shape{2, 5}), 0.0);
  EXPECT_TENSOR_NEAR(linear.bias.grad(), std::vector<double>(2, 0.0), Shape{2}, 0.0);
  linear.zero_grad(/*set_to_none=*/true);
  EXPECT_FALSE(linear.weight.grad().defined());
  EXPECT_FALSE(linear.bias.grad().defined());
}

// 3. clip_grad_norm_ returns total = sqrt(Σ‖g‖²) before clipping and scales the grads by
// max_norm/(total + 1e-6), so their total norm becomes max_norm·total/(total + 1e-6).
TEST(Tutorial, Section3ClipGradNormReturnsTotalBeforeClipping) {
  for (DType dt : kDTypes) {
    Generator gen(4);
    nn::Linear linear(5, 2, gen, dt);
    const int64_t batch = 8;
    linear(Tensor::randn({batch, 5}, gen, dt)).backward(Tensor::ones({batch, 2}, dt));
    // ‖bias grad‖ = ‖(8, 8)‖ = 8√2, as the tutorial's 11.3137.
    EXPECT_NEAR(norm(linear.bias.grad()).item(), static_cast<double>(batch) * std::sqrt(2.0), 1e-5);
    const double total = std::sqrt(sum_of_squares(linear.weight.grad()) + sum_of_squares(linear.bias.grad()));
    const double max_norm = 3.0;
    ASSERT_GT(total, max_norm);
    const Tensor returned = nn::clip_grad_norm_(linear.parameters(), max_norm);
    EXPECT_EQ(returned.shape(), Shape{});
    EXPECT_EQ(returned.dtype(), dt);
    EXPECT_NEAR(returned.item(), total, total * 1e-6);
    const double after = std::sqrt(sum_of_squares(linear.weight.grad()) + sum_of_squares(linear.bias.grad()));
    EXPECT_NEAR(after, max_norm * total / (total + 1e-6), 1e-5);
  }
}

// 4. detach() and detach_() give requires_grad false and no grad_fn; detach() shares storage.
TEST(Tutorial, Section4DetachAndDetachInPlace) {
  Generator gen(5);
  nn::Linear linear(5, 2, gen);
  Tensor y = linear(Tensor::randn({8, 5}, gen));
  EXPECT_TRUE(y.requires_grad());
  EXPECT_EQ(y.grad_fn_name(), "AddmmBackward0");
  const Tensor y_detached = y.detach();
  EXPECT_FALSE(y_detached.requires_grad());
  EXPECT_EQ(y_detached.grad_fn(), nullptr);
  EXPECT_TRUE(y_detached.shares_storage(y));
  y.detach_();
  EXPECT_FALSE(y.requires_grad());
  EXPECT_EQ(y.grad_fn(), nullptr);
  EXPECT_TRUE(y.is_leaf());
}

// 4. y2 = linear(linear(y0)) over N rows with ones upstream. With y1 detached the layer sees y1
// as a leaf: bias grad N, each weight-grad row y1.sum(0). Without, dL/dy1 = ones·W adds N·W.sum(0)
// to the bias grad and W.sum(0)[i]·y0.sum(0)[j] to weight grad [i][j].
TEST(Tutorial, Section4ChainedLinearWithAndWithoutDetach) {
  for (DType dt : kDTypes) {
    Generator gen(6);
    nn::Linear linear(4, 4, gen, dt);
    const int64_t n = 10;
    const Tensor y0 = Tensor::randn({n, 4}, gen, dt);
    const double tol = 8 * tol_of(dt);

    Tensor y1 = linear(y0);
    y1.detach_();
    const Tensor y2 = linear(y1);
    EXPECT_FALSE(linear.weight.grad().defined());
    y2.backward(Tensor::ones({n, 4}, dt));
    EXPECT_TENSOR_NEAR(linear.bias.grad(), std::vector<double>(4, static_cast<double>(n)), Shape{4}, tol);
    EXPECT_TENSOR_NEAR(linear.weight.grad(), repeat_rows(column_sums(y1), 4), (Shape{4, 4}), tol);

    const Tensor z1 = linear(y0);
    const Tensor z2 = linear(z1);
    linear.zero_grad();
    z2.backward(Tensor::ones({n, 4}, dt));
    const auto w_col = column_sums(linear.weight);  // W.sum(0)
    const auto z1_col = column_sums(z1), y0_col = column_sums(y0);
    std::vector<double> bias, weight;
    for (size_t j = 0; j < 4; ++j) bias.push_back(static_cast<double>(n) + static_cast<double>(n) * w_col[j]);
    for (size_t i = 0; i < 4; ++i) {
      for (size_t j = 0; j < 4; ++j) weight.push_back(z1_col[j] + w_col[i] * y0_col[j]);
    }
    EXPECT_TENSOR_NEAR(linear.bias.grad(), bias, Shape{4}, tol);
    EXPECT_TENSOR_NEAR(linear.weight.grad(), weight, (Shape{4, 4}), tol);
  }
}

}  // namespace
}  // namespace gradoracle

// The tutorial's four sections (../shared/seed/backprop-tutorial.md) as facts about the engine.
#include <gtest/gtest.h>

#include "gradoracle/engine/autograd.hpp"
#include "gradoracle/engine/nn.hpp"

namespace gradoracle {
namespace {

TEST(Tutorial, Section1OnesUpstreamGivesBatchSizeAndColumnSums) {
  Generator gen(1);
  nn::Linear linear(5, 2, gen);
  EXPECT_FALSE(linear.weight.grad().defined());
  const Tensor x = Tensor::randn({8, 5}, gen);
  const Tensor y = linear(x);
  EXPECT_EQ(y.grad_fn_name(), "AddmmBackward0");
  y.backward(Tensor::ones({8, 2}));
  const auto xs = sum(x, {0}).to_vector();
  for (int64_t r = 0; r < 2; ++r) {
    EXPECT_FLOAT_EQ(linear.bias.grad().at({r}), 8.0f);
    for (int64_t c = 0; c < 5; ++c) EXPECT_NEAR(linear.weight.grad().at({r, c}), xs[c], 1e-5);
  }
}

}  // namespace
}  // namespace gradoracle

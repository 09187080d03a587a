// The second-order structural properties bite: each catches an op whose first-order gradients
// are right (its op/ task passes) and whose backward breaks one second-order fact, in both dtypes.
#include "broken_ops.hpp"
#include "property_test.hpp"

namespace gradoracle::properties {
namespace {

using registry::OpSpec;
using registry::ShapeRule;

// a·b whose backward detaches b in a's gradient only: ∂/∂b (∂f/∂a) = 0 while ∂/∂a (∂f/∂b) = g,
// an asymmetric Hessian (first-order values are right).
OpSpec mul_half_detached() {
  OpSpec s = broken::op("broken_mul_half_detached", ShapeRule::Broadcast, 2);
  s.call = [](const std::vector<registry::Arg>& args, const registry::Attrs&) {
    const Tensor a = broken::tensor(args, 0), b = broken::tensor(args, 1);
    return broken::custom("BrokenMulBackward0", {a, b}, [](const auto& x) { return mul(x[0], x[1]); },
                          [a, b](const Tensor& g, NeedsGrad) -> std::vector<Tensor> {
                            return {sum_to(mul(g, b.detach()), a.shape()), sum_to(mul(g, a), b.shape())};
                          });
  };
  return s;
}

// sin whose backward is not linear in its upstream (g·|g|·cos a): right for an upstream of ones
// only, so the gradient of [y, y·y] is not the sum of their gradients.
OpSpec sin_nonlinear_upstream() {
  OpSpec s = broken::op("broken_sin_nonlinear", ShapeRule::Unary, 1);
  s.call = [](const std::vector<registry::Arg>& args, const registry::Attrs&) {
    const Tensor a = broken::tensor(args, 0);
    return broken::custom("BrokenSinBackward0", {a}, [](const auto& x) { return sin(x[0]); },
                          [a](const Tensor& g, NeedsGrad) -> std::vector<Tensor> { return {mul(mul(g, abs(g)), cos(a))}; });
  };
  return s;
}

// sin whose gradient requires grad even without create_graph (a graph left behind).
OpSpec sin_grad_requires_grad() {
  OpSpec s = broken::op("broken_sin_graph", ShapeRule::Unary, 1);
  s.call = [](const std::vector<registry::Arg>& args, const registry::Attrs&) {
    const Tensor a = broken::tensor(args, 0);
    return broken::custom("BrokenSinBackward0", {a}, [](const auto& x) { return sin(x[0]); },
                          [a](const Tensor& g, NeedsGrad) -> std::vector<Tensor> {
                            return {mul(g, cos(a.detach())).detach().requires_grad_()};
                          });
  };
  return s;
}

void expect_caught(const OpSpec& planted, const std::string& task, const std::string& what) {
  RunOptions o = testing::options();
  const registry::OpTable table({planted});
  o.table = &table;
  o.counterexample_dir = std::filesystem::path(GRADORACLE_COUNTEREXAMPLES) / "planted";
  o.tasks = {"structural/" + task + "/*"};
  const std::vector<PropertyResult> results = run_tasks(all_tasks(o), o);
  ASSERT_EQ(results.size(), 2u);
  for (const PropertyResult& r : results) {
    SCOPED_TRACE(r.id);
    EXPECT_FALSE(r.passed);
    EXPECT_NE(r.message.find(planted.name), std::string::npos) << r.message;
    EXPECT_NE(r.message.find(what), std::string::npos) << r.message;
  }
}

TEST(SecondOrderProperties, HessianSymmetryCatchesAHalfDetachedBackward) {
  expect_caught(mul_half_detached(), "hessian_symmetry", "not symmetric");
}

TEST(SecondOrderProperties, GradOfSumCatchesABackwardNotLinearInItsUpstream) {
  expect_caught(sin_nonlinear_upstream(), "grad_of_sum", "grad of [y, y*y] vs the sum of their grads");
}

TEST(SecondOrderProperties, NoGraphWithoutCreateGraphCatchesAGradientThatRequiresGrad) {
  expect_caught(sin_grad_requires_grad(), "no_graph_without_create_graph", "carries a graph");
}

// The planted ops' first-order gradients are right: only the second-order properties see them.
TEST(SecondOrderProperties, ThePlantedOpsPassTheirFirstOrderGradcheck) {
  for (const OpSpec& planted : {mul_half_detached(), sin_grad_requires_grad()}) {
    RunOptions o = testing::options();
    const registry::OpTable table({planted});
    o.table = &table;
    o.counterexample_dir = std::filesystem::path(GRADORACLE_COUNTEREXAMPLES) / "planted";
    o.ops = {planted.name};
    o.cases = 50;
    for (const PropertyResult& r : run_op_sweep(o)) EXPECT_TRUE(r.passed) << r.id << ": " << r.message;
  }
}

}  // namespace
}  // namespace gradoracle::properties

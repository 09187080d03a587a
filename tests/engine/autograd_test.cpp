// The backward engine (autograd.cpp): graph recording, backward, accumulation, freed buffers,
// retain_graph, no-grad mode, detach, and the one place where gradients are cast and summed.
#include <memory>

#include "test_util.hpp"

namespace gradoracle {
namespace {
using namespace test;

TEST(Autograd, LeavesAndRecording) {
  const Tensor x = leaf({2}, {1, 2});
  const Tensor c = lit({2}, {3, 4});
  EXPECT_TRUE(x.is_leaf());
  EXPECT_TRUE(x.requires_grad());
  EXPECT_FALSE(x.grad().defined());  // absent until a backward reaches it
  const Tensor y = x * c;
  EXPECT_FALSE(y.is_leaf());
  EXPECT_TRUE(y.requires_grad());
  EXPECT_EQ(y.grad_fn_name(), "MulBackward0");
  const Tensor z = c * c;  // no input requires grad: no graph
  EXPECT_TRUE(z.is_leaf());
  EXPECT_FALSE(z.requires_grad());
  EXPECT_EQ(z.grad_fn_name(), "");
}

TEST(Autograd, ImplicitOnesOnlyForOneElementRoots) {
  for (const Shape& s : {Shape{}, Shape{1}, Shape{1, 1}}) {
    const Tensor x = Tensor::full(s, 3.0, kF64).requires_grad_();
    (x * x).backward();  // d/dx x² = 2x = 6
    EXPECT_TENSOR_NEAR(x.grad(), {6.0}, s, 0.0);
  }
  const Tensor x = leaf({2}, {1, 2});
  EXPECT_ERROR((x * 2).backward(), Autograd, "grad can be implicitly created only for scalar outputs");
  const Tensor empty = Tensor::zeros({0}, kF64).requires_grad_();
  EXPECT_ERROR((empty * 2).backward(), Autograd, "grad can be implicitly created only for scalar outputs");
}

TEST(Autograd, BackwardErrors) {
  const Tensor c = lit({2}, {1, 2});
  EXPECT_ERROR(sum(c).backward(), Autograd, "element 0 of tensors does not require grad and does not have a grad_fn");
  const Tensor x = leaf({3}, {1, 2, 3});
  EXPECT_ERROR((x * 2).backward(Tensor::ones({2}, kF64)), Shape,
               "Mismatch in shape: grad_output[0] has a shape of torch.Size([2]) and output[0] has a shape of "
               "torch.Size([3]).");
  EXPECT_ERROR(Tensor().backward(), Value, "undefined");
}

TEST(Autograd, UpstreamOfAnotherDTypeIsCastToTheRoots) {
  const Tensor x = leaf({2}, {1, 2}, kF32);
  (x * 3).backward(Tensor::ones({2}, kF64));
  EXPECT_EQ(x.grad().dtype(), kF32);
  EXPECT_TENSOR_NEAR(x.grad(), (std::vector<double>{3, 3}), Shape{2}, 0.0);
}

TEST(Autograd, GradsAccumulateOverRepeatedBackward) {
  const Tensor x = leaf({2}, {1, 2});
  const Tensor y = sum(x * x);  // dy/dx = 2x
  y.backward(Tensor(), /*retain_graph=*/true);
  EXPECT_TENSOR_NEAR(x.grad(), (std::vector<double>{2, 4}), Shape{2}, 0.0);
  const Tensor first = x.grad();
  y.backward(Tensor(), true);
  EXPECT_TRUE(x.grad().is_same(first));  // accumulated in place
  EXPECT_TENSOR_NEAR(x.grad(), (std::vector<double>{4, 8}), Shape{2}, 0.0);
  sum(3 * x).backward();  // a second graph adds 3
  EXPECT_TENSOR_NEAR(x.grad(), (std::vector<double>{7, 11}), Shape{2}, 0.0);
}

TEST(Autograd, SecondBackwardThroughFreedBuffersRaises) {
  const Tensor x = leaf({2}, {1, 2});
  const Tensor y = sum(x * x);
  y.backward();
  EXPECT_ERROR(y.backward(), Autograd, "Trying to backward through the graph a second time",
               "Specify retain_graph=True");
  EXPECT_TENSOR_NEAR(x.grad(), (std::vector<double>{2, 4}), Shape{2}, 0.0);
}

// The refusal belongs to Node::apply, not to each formula: a node of any subclass that saved
// tensors refuses once released, before its call() runs (the engine's own LambdaNode also checks
// its freed formula; a subclass written by a user need not).
TEST(Autograd, ApplyRefusesAReleasedNodeOfAnySubclass) {
  struct CountingNode final : Node {
    CountingNode() : Node("CountingBackward0", {}, /*saves_tensors=*/true) {}
    int calls = 0;
    std::vector<Tensor> call(const Tensor&, NeedsGrad) override {
      ++calls;
      return {};
    }
    void free_saved() override {}
  };
  CountingNode node;
  const Tensor g = lit({}, {1});
  EXPECT_TRUE(node.apply(g).empty());
  node.release();
  EXPECT_ERROR(node.apply(g), Autograd, "Trying to backward through the graph a second time");
  EXPECT_EQ(node.calls, 1);
}

TEST(Autograd, NodesThatSavedNothingRunAgain) {
  // AddBackward0, SumBackward0, NegBackward0, RsubBackward1, TBackward0, ReshapeAliasBackward0,
  // CatBackward0, MeanBackward0, ToCopyBackward0 save no tensors: a second backward runs, as in PyTorch.
  const Tensor x = leaf({2}, {1, 2});
  const Tensor y = sum(reshape(t(cat({-(x + x), 1 - x})), {4})) + mean(x.to(kF32).to(kF64));
  const double dy = -2 - 1 + 0.5;  // per element of x
  y.backward();
  y.backward();
  EXPECT_TENSOR_NEAR(x.grad(), (std::vector<double>{2 * dy, 2 * dy}), Shape{2}, 1e-12);
}

TEST(Autograd, RetainGraphKeepsBuffers) {
  const Tensor x = leaf({}, {3});
  const Tensor y = exp(x);
  y.backward(Tensor(), true);
  y.backward(Tensor(), true);
  y.backward();
  EXPECT_TENSOR_NEAR(x.grad(), {3 * std::exp(3.0)}, Shape{}, 1e-12);
  EXPECT_ERROR(y.backward(), Autograd, "second time");
}

TEST(Autograd, NoGradGuard) {
  const Tensor x = leaf({2}, {1, 2});
  EXPECT_TRUE(grad_mode_enabled());
  {
    NoGradGuard outer;
    {
      NoGradGuard inner;
      EXPECT_FALSE(grad_mode_enabled());
    }
    EXPECT_FALSE(grad_mode_enabled());  // nested guards restore what they found
    const Tensor y = x * 2;
    EXPECT_FALSE(y.requires_grad());
    EXPECT_EQ(y.grad_fn(), nullptr);
    EXPECT_TENSOR_NEAR(y, (std::vector<double>{2, 4}), Shape{2}, 0.0);
  }
  EXPECT_TRUE(grad_mode_enabled());
  EXPECT_TRUE((x * 2).requires_grad());
}

TEST(Autograd, RequiresGradFlag) {
  Tensor x = lit({2}, {1, 2});
  EXPECT_FALSE(x.requires_grad());
  x.requires_grad_();
  EXPECT_TRUE(x.requires_grad());
  x.requires_grad_(false);
  EXPECT_FALSE(x.requires_grad());
  x.requires_grad_(true);
  Tensor y = x * 2;
  EXPECT_ERROR(y.requires_grad_(false), Autograd, "you can only change requires_grad flags of leaf variables");
  EXPECT_NO_THROW(y.requires_grad_(true));  // a no-op on a non-leaf, as PyTorch
  EXPECT_TRUE(y.requires_grad());
}

TEST(Autograd, DetachSharesStorageAndCutsTheGraph) {
  const Tensor x = leaf({2}, {1, 2});
  const Tensor y = x * 3;
  const Tensor d = y.detach();
  EXPECT_TRUE(d.shares_storage(y));
  EXPECT_FALSE(d.requires_grad());
  EXPECT_TRUE(d.is_leaf());
  EXPECT_EQ(d.grad_fn(), nullptr);
  const Tensor z = sum(d * x);  // d is a constant 3x: dz/dx = d
  z.backward();
  EXPECT_TENSOR_NEAR(x.grad(), (std::vector<double>{3, 6}), Shape{2}, 0.0);
  EXPECT_TRUE(detach(y).shares_storage(y));
}

TEST(Autograd, DetachInPlace) {
  const Tensor x = leaf({2}, {1, 2});
  Tensor y = x * 3;
  const Tensor z = y * 2;  // recorded before the detach: still flows to x
  y.detach_();
  EXPECT_FALSE(y.requires_grad());
  EXPECT_EQ(y.grad_fn(), nullptr);
  EXPECT_FALSE((y * 2).requires_grad());
  sum(z).backward();
  EXPECT_TENSOR_NEAR(x.grad(), (std::vector<double>{6, 6}), Shape{2}, 0.0);
  Tensor v = reshape(x, {2, 1});
  EXPECT_ERROR(v.detach_(), Autograd, "Can't detach views in-place. Use detach() instead.");
  EXPECT_NO_THROW(x.detach().detach_());
}

TEST(Autograd, DiamondSumsEveryPath) {
  // y = x·x + x: dy/dx = 2x + 1, x reached by three edges.
  const Tensor x = leaf({3}, {-1, 0.5, 2});
  sum(x * x + x).backward();
  EXPECT_TENSOR_NEAR(x.grad(), apply({-1, 0.5, 2}, [](double v) { return 2 * v + 1; }), Shape{3}, 0.0);
}

TEST(Autograd, OnlyInputsThatRequireGradGetOne) {
  const Tensor x = leaf({2}, {1, 2});
  const Tensor c = lit({2}, {5, 7});
  sum(x * c).backward();
  EXPECT_TENSOR_NEAR(x.grad(), (std::vector<double>{5, 7}), Shape{2}, 0.0);
  EXPECT_FALSE(c.grad().defined());
}

TEST(Autograd, LeafRootAccumulatesItsUpstream) {
  const Tensor x = leaf({2}, {1, 2});
  x.backward(lit({2}, {4, 5}));
  EXPECT_TENSOR_NEAR(x.grad(), (std::vector<double>{4, 5}), Shape{2}, 0.0);
}

TEST(Autograd, GradientsSummedToShapeAndCastToDTypeInOnePlace) {
  // a (2, 3) float32 + b (3) float64 + c (1, 1) float64: each grad is the upstream summed to its
  // shape and cast to its dtype.
  const Tensor a = leaf({2, 3}, {1, 2, 3, 4, 5, 6}, kF32);
  const Tensor b = leaf({3}, {1, 1, 1});
  const Tensor c = leaf({1, 1}, {2});
  const Tensor y = a * b + c;
  EXPECT_EQ(y.dtype(), kF64);
  y.backward(lit({2, 3}, {1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(a.grad().dtype(), kF32);
  EXPECT_TENSOR_NEAR(a.grad(), (std::vector<double>{1, 2, 3, 4, 5, 6}), (Shape{2, 3}), 0.0);
  EXPECT_TENSOR_NEAR(b.grad(), (std::vector<double>{1 * 1 + 4 * 4, 2 * 2 + 5 * 5, 3 * 3 + 6 * 6}), Shape{3}, 1e-6);
  EXPECT_TENSOR_NEAR(c.grad(), {21}, (Shape{1, 1}), 0.0);
}

TEST(Autograd, UndefinedGradientLeavesGradAbsent) {
  const Tensor x = leaf({2}, {1, -2});
  norm(x, 0).backward();  // ‖x‖₀ has no gradient (PyTorch leaves .grad None)
  EXPECT_FALSE(x.grad().defined());
}

TEST(Autograd, SetGradValidates) {
  Tensor x = leaf({2}, {1, 2});
  x.set_grad(lit({2}, {7, 8}));
  EXPECT_TENSOR_NEAR(x.grad(), (std::vector<double>{7, 8}), Shape{2}, 0.0);
  sum(x).backward();
  EXPECT_TENSOR_NEAR(x.grad(), (std::vector<double>{8, 9}), Shape{2}, 0.0);
  EXPECT_ERROR(x.set_grad(lit({3}, {1, 2, 3})), Shape, "assigned grad has data of a different size or type");
  EXPECT_ERROR(x.set_grad(lit({2}, {1, 2}, kF32)), Shape, "float32");
  x.set_grad(Tensor());
  EXPECT_FALSE(x.grad().defined());
}

TEST(Autograd, DeepGraphNeedsNoRecursion) {
  // 50000 chained ops: backward and graph destruction must not use the call stack per node.
  const Tensor x = leaf({}, {1});
  {
    Tensor y = x;
    for (int i = 0; i < 50000; ++i) y = y + 1.0;
    y.backward();
  }
  EXPECT_TENSOR_NEAR(x.grad(), {1}, Shape{}, 0.0);
}

TEST(Autograd, LeafKeepsOneAccumulatorAcrossGraphs) {
  // The leaf owns its AccumulateGrad: a graph built again each step reuses it.
  const Tensor x = leaf({2}, {1, 2});
  const Tensor c = lit({2}, {3, 4});
  const Tensor y1 = x * c, y2 = x * c;
  ASSERT_TRUE(y1.grad_fn() && y2.grad_fn());
  ASSERT_EQ(y1.grad_fn()->next_edges().size(), 2u);
  ASSERT_EQ(y2.grad_fn()->next_edges().size(), 2u);
  const Node* acc = y1.grad_fn()->next_edges()[0].fn.get();
  ASSERT_NE(acc, nullptr);
  EXPECT_STREQ(acc->name(), "AccumulateGrad");
  EXPECT_EQ(y2.grad_fn()->next_edges()[0].fn.get(), acc);
  EXPECT_TRUE(static_cast<const AccumulateGrad*>(acc)->accumulates_into(x));
  EXPECT_FALSE(static_cast<const AccumulateGrad*>(acc)->accumulates_into(c));
  EXPECT_EQ(y1.grad_fn()->next_edges()[1].fn, nullptr);  // c needs no gradient
}

TEST(Autograd, GradientOfALeafDestroyedBeforeBackwardIsDropped) {
  // d/dkeep Σ(gone + keep) = 1; gone's own gradient has nowhere to go and is dropped (the add
  // saves no tensors, so only gone's handle kept it).
  const Tensor keep = leaf({2}, {5, 6});
  Tensor y;
  std::shared_ptr<Node> gone_acc;
  {
    const Tensor gone = leaf({2}, {1, 2});
    y = sum(gone + keep);
    ASSERT_TRUE(y.grad_fn());
    ASSERT_GT(y.grad_fn()->next_edges().size(), 0u);
    const std::shared_ptr<Node> add = y.grad_fn()->next_edges()[0].fn;
    ASSERT_TRUE(add);
    ASSERT_GT(add->next_edges().size(), 0u);
    gone_acc = add->next_edges()[0].fn;
  }
  ASSERT_TRUE(gone_acc);
  EXPECT_FALSE(static_cast<const AccumulateGrad&>(*gone_acc).leaf_alive());
  y.backward();
  EXPECT_TENSOR_NEAR(keep.grad(), (std::vector<double>{1, 1}), Shape{2}, 0.0);
}

TEST(Autograd, ManyInputsAndHighRanksKeepTheirEdges) {
  // More inputs than a node holds inline: d/dxᵢ Σ cat(x₁..x₅) = 1 for each.
  std::vector<Tensor> xs;
  for (int i = 0; i < 5; ++i) xs.push_back(leaf({2}, {1.0 * i, 2.0 * i}));
  sum(cat(xs)).backward();
  for (const Tensor& x : xs) EXPECT_TENSOR_NEAR(x.grad(), (std::vector<double>{1, 1}), Shape{2}, 0.0);
  // Rank 6 (edges hold rank <= 4 inline): a (2,1,2,1,2,1) + b (1,3,1,2) -> (2,1,2,3,2,2); with
  // ones upstream each a element is counted over the dims it broadcasts on (3·2 = 6), each b
  // element over a's dims it lacks or broadcasts on (2·2·2 = 8).
  const Tensor a = Tensor::ones({2, 1, 2, 1, 2, 1}, kF64).requires_grad_();
  const Tensor b = Tensor::ones({1, 3, 1, 2}, kF64).requires_grad_();
  const Tensor y = a + b;
  ASSERT_EQ(y.shape(), (Shape{2, 1, 2, 3, 2, 2}));
  y.backward(Tensor::ones(y.shape(), kF64));
  EXPECT_TENSOR_NEAR(a.grad(), std::vector<double>(8, 6.0), (Shape{2, 1, 2, 1, 2, 1}), 0.0);
  EXPECT_TENSOR_NEAR(b.grad(), std::vector<double>(6, 8.0), (Shape{1, 3, 1, 2}), 0.0);
}

TEST(Autograd, SavedResultsOutliveTheirHandles) {
  // tanh and softmax save their result; the result's handle dies before the backward.
  // d/dx Σ tanh x = 1 - tanh² x;  d/dx Σ(softmax(x)·w) = s·(w - Σ s·w).
  const Tensor x = leaf({3}, {0.5, -1, 2});
  const Tensor w = lit({3}, {1, 2, 3});
  Tensor y = sum(tanh(x)) + sum(softmax(x, 0) * w);
  y.backward();
  const double e[] = {std::exp(0.5), std::exp(-1.0), std::exp(2.0)};
  const double total = e[0] + e[1] + e[2];
  const double s[] = {e[0] / total, e[1] / total, e[2] / total};
  const double sw = s[0] * 1 + s[1] * 2 + s[2] * 3;
  std::vector<double> expected;
  for (int i = 0; i < 3; ++i) {
    const double t = std::tanh(x.at({i}));
    expected.push_back(1 - t * t + s[i] * ((i + 1) - sw));
  }
  EXPECT_TENSOR_NEAR(x.grad(), expected, Shape{3}, 1e-12);
}

TEST(Autograd, BackwardUnderNoGradStillWorks) {
  const Tensor x = leaf({2}, {1, 2});
  const Tensor y = sum(x * x);
  NoGradGuard no_grad;
  y.backward();
  EXPECT_TENSOR_NEAR(x.grad(), (std::vector<double>{2, 4}), Shape{2}, 0.0);
}

// ---------------------------------------------------------------- autograd::grad
using autograd::GradOptions;
std::vector<Tensor> grad_of(const Tensor& y, const std::vector<Tensor>& inputs, GradOptions options = {}) {
  return autograd::grad({y}, inputs, {}, options);
}
GradOptions graph_created() {
  GradOptions o;
  o.create_graph = true;
  return o;
}
GradOptions unused_allowed() {
  GradOptions o;
  o.allow_unused = true;
  return o;
}
// A 1-D tensor's exact values.
::testing::AssertionResult values_are(const Tensor& t, const std::vector<double>& expected) {
  return tensor_near(t, expected, Shape{static_cast<int64_t>(expected.size())}, 0.0);
}

TEST(AutogradGrad, ReturnsGradientsWithoutAccumulating) {
  const Tensor x = leaf({2}, {1, 2});
  const auto g = grad_of(sum(x * x), {x});  // d/dx Σx² = 2x
  EXPECT_TRUE(values_are(g[0], {2, 4}));
  EXPECT_FALSE(x.grad().defined());
  EXPECT_FALSE(g[0].requires_grad());
  EXPECT_EQ(g[0].grad_fn_name(), "");
}

// Without create_graph, a grad_output that reaches the input unchanged (through AddBackward0)
// is handed back itself, graph and all, as PyTorch does; one that a formula touched is not.
TEST(AutogradGrad, AnUpstreamPassedThroughIsReturnedItself) {
  const Tensor x = leaf({2}, {1, 2});
  const Tensor v = leaf({2}, {3, 4});
  const Tensor w = v * 2.0;
  const auto passed = autograd::grad({x + 1.0}, {x}, {w});
  EXPECT_TRUE(passed[0].is_same(w));
  EXPECT_EQ(passed[0].grad_fn_name(), "MulBackward0");
  const auto touched = autograd::grad({x * 1.0}, {x}, {w});
  EXPECT_FALSE(touched[0].is_same(w));
  EXPECT_FALSE(touched[0].requires_grad());
  EXPECT_TRUE(values_are(touched[0], {6, 8}));
}

TEST(AutogradGrad, NonLeafInputsAndOnlyTheNeededPartOfTheGraphRuns) {
  const Tensor x = leaf({2}, {1, 2});
  const Tensor m = x * x;
  const auto g = grad_of(sum(m * m), {m});  // d/dm Σm² = 2m = 2x²
  EXPECT_TRUE(values_are(g[0], {2, 8}));
  sum(m).backward();  // m's own node did not run, so its saved tensors are still there
  EXPECT_TRUE(values_are(x.grad(), {2, 4}));
}

TEST(AutogradGrad, SeveralOutputsAddTheirGradients) {
  const Tensor x = leaf({2}, {1, 2});
  const auto g = autograd::grad({sum(x * x), sum(x * 3.0)}, {x});  // 2x + 3
  EXPECT_TRUE(values_are(g[0], {5, 7}));
  const auto h = autograd::grad({x * 2.0}, {x}, {lit({2}, {1, -1})});  // grad_outputs ⊙ 2
  EXPECT_TRUE(values_are(h[0], {2, -2}));
}

TEST(AutogradGrad, UnusedInputsAndPyTorchsErrors) {
  const Tensor x = leaf({2}, {1, 2});
  const Tensor z = leaf({2}, {3, 4});
  EXPECT_ERROR(grad_of(sum(x * 2.0), {x, z}), Autograd,
               "One of the differentiated Tensors appears to not have been used in the graph. Set allow_unused=True "
               "if this is the desired behavior.");
  const auto g = grad_of(sum(x * 2.0), {x, z}, unused_allowed());
  EXPECT_TRUE(values_are(g[0], {2, 2}));
  EXPECT_FALSE(g[1].defined());
  EXPECT_ERROR(grad_of(sum(x * 2.0), {x.detach()}), Autograd, "One of the differentiated Tensors does not require grad");
  EXPECT_ERROR(grad_of(sum(x), {}), Autograd, "grad requires non-empty inputs.");
  EXPECT_ERROR(grad_of(x * 2.0, {x}), Autograd, "grad can be implicitly created only for scalar outputs");
  EXPECT_ERROR(autograd::grad({sum(x), sum(x)}, {x}, {Tensor()}), Autograd, "got 2 tensors and 1 gradients");
  const Tensor y = sum(exp(x));
  grad_of(y, {x});
  EXPECT_ERROR(grad_of(y, {x}), Autograd, "Trying to backward through the graph a second time");
}

TEST(AutogradGrad, CreateGraphResultsDifferentiateAgain) {
  const Tensor x = leaf({2}, {1, 2});
  const Tensor y = sum(x * x * x);
  const auto g = grad_of(y, {x}, graph_created());  // 3x²
  EXPECT_TRUE(values_are(g[0], {3, 12}));
  EXPECT_TRUE(g[0].requires_grad());
  EXPECT_EQ(g[0].grad_fn_name(), "AddBackward0");  // as PyTorch: x·x's two paths summed
  EXPECT_TRUE(values_are(grad_of(y, {x}, graph_created())[0], {3, 12}));  // retain_graph defaulted to true
  const auto h = grad_of(sum(g[0]), {x});  // 6x
  EXPECT_TRUE(values_are(h[0], {6, 12}));
  EXPECT_ERROR(grad_of(y, {x}), Autograd, "Trying to backward through the graph a second time");  // h freed it
}

TEST(AutogradGrad, SecondOrderOfOpsBuiltFromRecordedOps) {
  const Tensor x = leaf({2, 3}, {0.5, -1.2, 2.0, 0.3, 0.7, -0.4});
  const Tensor w = leaf({3}, {0.1, -0.2, 0.3});
  EXPECT_TRUE(second_order_matches_fd([](const std::vector<Tensor>& in) { return in[0] * in[1] * in[0]; }, {x, w}));
  EXPECT_TRUE(second_order_matches_fd([](const std::vector<Tensor>& in) { return tanh(in[0] * in[1]); }, {x, w}));
}

TEST(AutogradGrad, OnceDifferentiableFormulasRaiseWhenDifferentiatedAgain) {
  // y = x² with a formula marked once-differentiable (PyTorch's @once_differentiable).
  const auto square = [](const Tensor& x) {
    Tensor y;
    {
      NoGradGuard no_grad;
      y = x * x;
    }
    record(y, "SquareBackward", {x}, [x](const Tensor& g, NeedsGrad) { return std::vector<Tensor>{g * x * 2.0}; },
           Saves::Tensors, Order::Once);
    return y;
  };
  const Tensor x = leaf({2}, {1, 2});
  EXPECT_TRUE(values_are(grad_of(sum(square(x)), {x})[0], {2, 4}));
  // create_graph with a constant upstream: plain gradients, no graph (as PyTorch).
  EXPECT_FALSE(grad_of(sum(square(x)), {x}, graph_created())[0].requires_grad());
  // an upstream that requires grad: the gradient leads to PyTorch's error, not to x.
  const Tensor u = leaf({2}, {1, 1});
  const Tensor g = autograd::grad({square(x)}, {x}, {u}, graph_created())[0];
  EXPECT_EQ(g.grad_fn_name(), "torch::autograd::Error");
  EXPECT_ERROR(sum(g).backward(), Autograd,
               "trying to differentiate twice a function that was marked with @once_differentiable");
  EXPECT_ERROR(grad_of(sum(g), {x}), Autograd, "appears to not have been used in the graph");
}

TEST(AutogradGrad, BackwardWithCreateGraphLeavesAGradWithAGraph) {
  const Tensor x = leaf({2}, {1, 2});
  sum(x * x).backward(Tensor(), std::nullopt, true);
  EXPECT_EQ(x.grad().grad_fn_name(), "CopyBackwards");  // PyTorch's clone of a first .grad
  sum(x * x).backward(Tensor(), std::nullopt, true);
  EXPECT_EQ(x.grad().grad_fn_name(), "AddBackward0");  // then .grad + gradient, out of place
  EXPECT_TRUE(values_are(x.grad(), {4, 8}));
  const auto h = grad_of(sum(x.grad()), {x});  // d/dx Σ 4x = 4
  EXPECT_TRUE(values_are(h[0], {4, 4}));
  Tensor(x).set_grad(Tensor());  // .grad's graph refers back to x (PyTorch's cycle): break it
}

}  // namespace
}  // namespace gradoracle

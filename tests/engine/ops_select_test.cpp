// Selection ops: where, index_select, gather, embedding, and the int64/bool tensors they take.
// Values and gradients are index maps (the gradient routes each upstream element back to the
// element it selected, repeats accumulating); grad_fn names and error messages are what
// PyTorch 1.13 prints for the same calls (run with torch 1.13.1).
#include "test_util.hpp"

namespace gradoracle {
namespace {
using namespace test;

Tensor ints(const Shape& shape, const std::vector<double>& v) { return Tensor::from_data(shape, v, DType::Int64); }
Tensor bools(const Shape& shape, const std::vector<double>& v) { return Tensor::from_data(shape, v, DType::Bool); }

TEST(IntAndBoolTensors, HoldValuesExactlyAndNeverRequireGrad) {
  const Tensor i = ints({3}, {-2, 0, 9007199254740992.0});
  EXPECT_EQ(i.dtype(), DType::Int64);
  EXPECT_EQ(i.to_vector(), (std::vector<double>{-2, 0, 9007199254740992.0}));
  EXPECT_EQ(bools({2}, {1, 0}).to_vector(), (std::vector<double>{1, 0}));
  EXPECT_EQ(i.clone().to_vector(), i.to_vector());
  EXPECT_EQ(i.at({0}), -2);
  // torch.tensor([1], requires_grad=True) and torch.tensor([1]).requires_grad_():
  EXPECT_ERROR(Tensor::from_data({1}, {1}, DType::Int64, true), DType,
               "Only Tensors of floating point and complex dtype can require gradients");
  EXPECT_ERROR(Tensor::from_data({1}, {1}, DType::Bool).requires_grad_(), DType,
               "only Tensors of floating point dtype can require gradients");
  // The float ops refuse them (PyTorch would promote; the engine computes in floats only).
  EXPECT_ERROR(exp(i), DType, "expected a floating point tensor (float32 or float64) but got int64");
  EXPECT_ERROR(add(bools({1}, {1}), 1.0), DType, "but got bool");
}

TEST(Where, PicksByConditionAndRoutesTheGradient) {
  for (DType dt : kDTypes) {
    Tensor x = leaf({2, 2}, {1, 2, 3, 4}, dt);
    Tensor w = leaf({2, 1}, {5, 6}, dt);
    const Tensor c = bools({2}, {1, 0});
    const Tensor y = where(c, x, w);
    EXPECT_EQ(y.grad_fn_name(), "WhereBackward0");
    EXPECT_TENSOR_NEAR(y, (std::vector<double>{1, 5, 3, 6}), (Shape{2, 2}), 0.0);
    y.backward(lit({2, 2}, {1, 2, 3, 4}, dt));
    EXPECT_TENSOR_NEAR(x.grad(), (std::vector<double>{1, 0, 3, 0}), (Shape{2, 2}), 0.0);
    EXPECT_TENSOR_NEAR(w.grad(), (std::vector<double>{2, 4}), (Shape{2, 1}), 0.0);  // torch: [[2], [4]]
  }
  // A number takes the tensor's dtype; a 0-d tensor does not widen a dimensioned one.
  const Tensor x32 = Tensor::from_data({3}, {1, 2, 3}, kF32);
  const Tensor c = bools({3}, {1, 0, 1});
  EXPECT_EQ(where(c, x32, 1.0).dtype(), kF32);
  EXPECT_TENSOR_NEAR(where(c, 2.0, x32), (std::vector<double>{2, 2, 2}), Shape{3}, 0.0);
  EXPECT_EQ(where(c, x32, Tensor::scalar(2, kF64)).dtype(), kF32);
  EXPECT_EQ(where(c, x32, Tensor::from_data({3}, {1, 2, 3}, kF64)).dtype(), kF64);
}

TEST(Where, ANaNInTheBranchNotTakenGetsGradientZero) {
  // torch: a = [0, 1]; where(a > 0, log(a), a).sum().backward() gives a.grad = [nan, 1]
  // (log's gradient 1/0 times where's 0 is nan); where itself passes 0 to the branch not taken.
  Tensor a = leaf({2}, {0, 1});
  const Tensor y = where(bools({2}, {0, 1}), log(a), a);
  sum(y).backward();
  EXPECT_TENSOR_NEAR(a.grad(), (std::vector<double>{kNaN, 1}), Shape{2}, 0.0);
}

TEST(Where, CreateGraphNames) {
  // torch: gx WhereBackward0; a 0-d b: SumBackward0 over WhereBackward0; (2, 1): SumBackward1.
  const Tensor c = bools({2}, {1, 0});
  const auto f = [&](const std::vector<Tensor>& in) { return where(c, in[0], in[1]); };
  EXPECT_EQ(grad_fn_names(f, {leaf({2, 2}, {1, 2, 3, 4}), leaf({}, {1})}, true),
            (std::vector<std::string>{"WhereBackward0", "SumBackward0"}));
  EXPECT_EQ(grad_fn_names(f, {leaf({2, 2}, {1, 2, 3, 4}), leaf({2, 1}, {1, 2})}, true),
            (std::vector<std::string>{"WhereBackward0", "SumBackward1"}));
}

TEST(Where, ErrorsArePyTorchs) {
  const Tensor x = Tensor::ones({2, 2}, kF64);
  EXPECT_ERROR(where(ints({2}, {1, 0}), x, x), DType,
               "where expected condition to be a boolean tensor, but got a tensor with dtype Long");
  EXPECT_ERROR(where(Tensor::ones({2}, kF64), x, x), DType,
               "where expected condition to be a boolean tensor, but got a tensor with dtype Double");
  EXPECT_ERROR(where(bools({2}, {1, 0}), x, Tensor::ones({3})), Shape,
               "The size of tensor a (2) must match the size of tensor b (3) at non-singleton dimension 1");
  EXPECT_ERROR(where(bools({3}, {1, 0, 1}), x, x), Shape,
               "The size of tensor a (3) must match the size of tensor b (2) at non-singleton dimension 1");
}

TEST(IndexSelect, RepeatedIndicesAccumulate) {
  for (DType dt : kDTypes) {
    Tensor x = leaf({2, 3}, {1, 2, 3, 4, 5, 6}, dt);
    const Tensor y = index_select(x, 1, ints({3}, {2, 0, 2}));
    EXPECT_EQ(y.grad_fn_name(), "IndexSelectBackward0");
    EXPECT_TENSOR_NEAR(y, (std::vector<double>{3, 1, 3, 6, 4, 6}), (Shape{2, 3}), 0.0);
    y.backward(Tensor::ones({2, 3}, dt));
    EXPECT_TENSOR_NEAR(x.grad(), (std::vector<double>{1, 0, 2, 1, 0, 2}), (Shape{2, 3}), 0.0);
  }
  const Tensor s = leaf({}, {5});
  EXPECT_TENSOR_NEAR(index_select(s, 0, ints({1}, {0})), {5}, Shape{}, 0.0);
  EXPECT_EQ(index_select(Tensor::ones({2, 3}), 1, ints({0}, {})).shape(), (Shape{2, 0}));
}

TEST(IndexSelect, CreateGraphNames) {
  // torch: IndexAddBackward0; its gradient in the upstream: ExpandBackward0 over IndexSelectBackward0.
  const auto f = [](const std::vector<Tensor>& in) { return index_select(in[0], 1, ints({3}, {2, 0, 2})); };
  EXPECT_EQ(grad_fn_names(f, {leaf({2, 3}, {1, 2, 3, 4, 5, 6})}, true), (std::vector<std::string>{"IndexAddBackward0"}));
  Tensor x = leaf({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor u = Tensor::ones({2, 3}, kF64).requires_grad_();
  autograd::GradOptions o;
  o.create_graph = true;
  const Tensor g = autograd::grad({f({x})}, {x}, {u}, o)[0];
  const Tensor gg = autograd::grad({g}, {u}, {Tensor::ones({2, 3}, kF64).requires_grad_()}, o)[0];
  EXPECT_EQ(gg.grad_fn_name(), "ExpandBackward0");
  EXPECT_TENSOR_NEAR(gg, (std::vector<double>{1, 1, 1, 1, 1, 1}), (Shape{2, 3}), 0.0);
}

TEST(IndexSelect, ErrorsArePyTorchs) {
  const Tensor x = Tensor::ones({2, 3}, kF64);
  EXPECT_ERROR(index_select(x, 1, ints({1}, {3})), Value, "INDICES element is out of DATA bounds, id=3 axis_dim=3");
  EXPECT_ERROR(index_select(x, 1, ints({1}, {-1})), Value, "INDICES element is out of DATA bounds, id=-1 axis_dim=3");
  EXPECT_ERROR(index_select(x, 0, ints({1}, {2})), Dim, "index out of range in self");
  EXPECT_ERROR(index_select(Tensor::ones({3}), 0, ints({1}, {3})), Dim, "index out of range in self");
  EXPECT_ERROR(index_select(Tensor::ones({2, 3, 4}), 2, ints({1}, {4})), Dim, "index out of range in self");
  EXPECT_ERROR(index_select(x, 1, Tensor::ones({1})), DType, "index_select(): Expected dtype int32 or int64 for index");
  EXPECT_ERROR(index_select(x, 1, bools({1}, {1})), DType, "index_select(): Expected dtype int32 or int64 for index");
  EXPECT_ERROR(index_select(x, 1, ints({1, 1}, {1})), Dim, "index_select(): Index is supposed to be a vector");
  EXPECT_ERROR(index_select(x, 2, ints({1}, {1})), Dim, "Dimension out of range (expected to be in range of [-2, 1], but got 2)");
  EXPECT_ERROR(index_select(Tensor::ones({2, 0}), 1, ints({1}, {5})), Value,
               "index_select(): self indexing axis dim should be positive");
  EXPECT_ERROR(index_select(Tensor::ones({2, 0}), 0, ints({1}, {5})), Value,
               "INDICES element is out of DATA bounds, id=5 axis_dim=2");
  EXPECT_ERROR(index_select(Tensor::ones({0}), 0, ints({1}, {0})), Dim, "index out of range in self");
}

TEST(Gather, PicksAlongDimAndScatterAddsBack) {
  for (DType dt : kDTypes) {
    Tensor x = leaf({2, 3}, {1, 2, 3, 4, 5, 6}, dt);
    const Tensor y = gather(x, 1, ints({2, 2}, {0, 0, 1, 0}));
    EXPECT_EQ(y.grad_fn_name(), "GatherBackward0");
    EXPECT_TENSOR_NEAR(y, (std::vector<double>{1, 1, 5, 4}), (Shape{2, 2}), 0.0);
    y.backward(Tensor::ones({2, 2}, dt));
    EXPECT_TENSOR_NEAR(x.grad(), (std::vector<double>{2, 0, 0, 1, 1, 0}), (Shape{2, 3}), 0.0);
  }
  // torch: gather(x, 0, [[0, 1, 1]]) of (2, 3) is [[1, 5, 6]]; 0-d self with index [0, 0, 0].
  EXPECT_TENSOR_NEAR(gather(lit({2, 3}, {1, 2, 3, 4, 5, 6}), 0, ints({1, 3}, {0, 1, 1})), (std::vector<double>{1, 5, 6}),
                     (Shape{1, 3}), 0.0);
  EXPECT_TENSOR_NEAR(gather(lit({}, {5}), 0, ints({3}, {0, 0, 0})), (std::vector<double>{5, 5, 5}), Shape{3}, 0.0);
  EXPECT_EQ(gather(Tensor::ones({2, 3}), 1, ints({0, 5}, {})).shape(), (Shape{0, 5}));
}

TEST(Gather, CreateGraphNames) {
  // torch: ScatterAddBackward0; its gradient in the upstream: GatherBackward0.
  const auto f = [](const std::vector<Tensor>& in) { return gather(in[0], 1, ints({2, 2}, {0, 0, 1, 0})); };
  EXPECT_EQ(grad_fn_names(f, {leaf({2, 3}, {1, 2, 3, 4, 5, 6})}, true), (std::vector<std::string>{"ScatterAddBackward0"}));
  Tensor x = leaf({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor u = Tensor::ones({2, 2}, kF64).requires_grad_();
  autograd::GradOptions o;
  o.create_graph = true;
  const Tensor g = autograd::grad({f({x})}, {x}, {u}, o)[0];
  const Tensor gg = autograd::grad({g}, {u}, {Tensor::ones({2, 3}, kF64).requires_grad_()}, o)[0];
  EXPECT_EQ(gg.grad_fn_name(), "GatherBackward0");
}

TEST(Gather, ErrorsArePyTorchs) {
  const Tensor x = Tensor::ones({2, 3}, kF64);
  EXPECT_ERROR(gather(x, 1, ints({1, 1}, {3})), Value, "index 3 is out of bounds for dimension 1 with size 3");
  EXPECT_ERROR(gather(x, 1, ints({1, 1}, {-1})), Value, "index -1 is out of bounds for dimension 1 with size 3");
  EXPECT_ERROR(gather(x, 1, Tensor::ones({1})), DType, "gather(): Expected dtype int64 for index");  // before the rank
  EXPECT_ERROR(gather(x, 1, ints({1}, {1})), Shape, "Index tensor must have the same number of dimensions as input tensor");
  EXPECT_ERROR(gather(x, 1, ints({3, 1}, {0, 0, 0})), Shape,
               "Size does not match at dimension 0 expected index [3, 1] to be smaller than self [2, 3] apart from dimension 1");
  EXPECT_ERROR(gather(x, 5, Tensor::ones({1})), Dim, "Dimension out of range (expected to be in range of [-2, 1], but got 5)");
  EXPECT_ERROR(gather(Tensor::ones({}), 0, ints({1}, {1})), Value, "index 1 is out of bounds for dimension 0 with size 1");
}

TEST(Embedding, RepeatedIndicesAccumulateTheirRows) {
  for (DType dt : kDTypes) {
    Tensor w = leaf({3, 2}, {1, 2, 3, 4, 5, 6}, dt);
    const Tensor y = embedding(ints({2, 2}, {0, 2, 0, 0}), w);
    EXPECT_EQ(y.grad_fn_name(), "EmbeddingBackward0");
    EXPECT_TENSOR_NEAR(y, (std::vector<double>{1, 2, 5, 6, 1, 2, 1, 2}), (Shape{2, 2, 2}), 0.0);
    y.backward(Tensor::ones({2, 2, 2}, dt));
    EXPECT_TENSOR_NEAR(w.grad(), (std::vector<double>{3, 3, 0, 0, 1, 1}), (Shape{3, 2}), 0.0);  // torch
  }
  EXPECT_EQ(embedding(ints({}, {1}), Tensor::ones({3, 2})).shape(), Shape{2});
  EXPECT_EQ(embedding(ints({2, 0}, {}), Tensor::ones({3, 2})).shape(), (Shape{2, 0, 2}));
}

TEST(Embedding, CreateGraphNames) {
  // torch: EmbeddingDenseBackwardBackward0; in the upstream: ViewBackward0 over IndexSelectBackward0.
  const auto f = [](const std::vector<Tensor>& in) { return embedding(ints({2, 2}, {0, 2, 0, 0}), in[0]); };
  EXPECT_EQ(grad_fn_names(f, {leaf({3, 2}, {1, 2, 3, 4, 5, 6})}, true),
            (std::vector<std::string>{"EmbeddingDenseBackwardBackward0"}));
  Tensor w = leaf({3, 2}, {1, 2, 3, 4, 5, 6});
  Tensor u = Tensor::ones({2, 2, 2}, kF64).requires_grad_();
  autograd::GradOptions o;
  o.create_graph = true;
  const Tensor g = autograd::grad({f({w})}, {w}, {u}, o)[0];
  const Tensor gg = autograd::grad({g}, {u}, {Tensor::ones({3, 2}, kF64).requires_grad_()}, o)[0];
  EXPECT_EQ(gg.grad_fn_name(), "ViewBackward0");
  EXPECT_EQ(gg.shape(), (Shape{2, 2, 2}));
}

TEST(Embedding, ErrorsArePyTorchs) {
  const Tensor w = Tensor::ones({3, 2}, kF64);
  EXPECT_ERROR(embedding(ints({1}, {3}), w), Dim, "index out of range in self");
  EXPECT_ERROR(embedding(ints({3}, {0, 7, -2}), w), Dim, "index out of range in self");
  EXPECT_ERROR(embedding(Tensor::ones({1}), w), DType,
               "Expected tensor for argument #1 'indices' to have one of the following scalar types: Long, Int; but got "
               "torch.FloatTensor instead (while checking arguments for embedding)");
  EXPECT_ERROR(embedding(bools({1}, {1}), w), DType, "but got CPUBoolType instead");
  EXPECT_ERROR(embedding(Tensor::ones({1}), Tensor::ones({3})), Shape, "'weight' must be 2-D");  // before the indices
  EXPECT_ERROR(embedding(ints({1}, {0}), Tensor::ones({0, 2})), Value,
               "index_select(): self indexing axis dim should be positive");
}

// Each selection node saves its index or condition (PyTorch's SavedVariable), so a second
// backward through it without retain_graph raises, at first and at second order (torch 1.13).
TEST(Selection, SavedIndicesAreFreedByABackward) {
  const Tensor i = ints({3}, {1, 0, 1}), c = bools({2, 3}, {1, 0, 1, 0, 1, 1});
  const std::vector<std::function<Tensor(const Tensor&)>> ops = {
      [&](const Tensor& a) { return index_select(a, 1, i); },
      [&](const Tensor& a) { return gather(a, 1, ints({2, 3}, {0, 1, 0, 1, 1, 0})); },
      [&](const Tensor& a) { return embedding(i, a); },
      [&](const Tensor& a) { return where(c, a, 0.5); }};
  for (const auto& op : ops) {
    Tensor a = leaf({2, 3}, {0.5, -1.2, 2.0, 0.3, 0.7, -0.4});
    Tensor s = sum(op(a));
    s.backward();
    EXPECT_ERROR(s.backward(), Autograd, "Trying to backward through the graph a second time");
    // The gradient's own node (IndexAddBackward0, ScatterAddBackward0, ...) saves them too.
    const Tensor y = op(a);
    Tensor u = Tensor::ones(y.shape(), kF64).requires_grad_();
    autograd::GradOptions o;
    o.create_graph = true;
    Tensor z = sum(autograd::grad({y}, {a}, {u}, o)[0]);
    z.backward();
    EXPECT_ERROR(z.backward(), Autograd, "Trying to backward through the graph a second time");
  }
}

}  // namespace
}  // namespace gradoracle

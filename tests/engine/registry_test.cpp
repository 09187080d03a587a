// The op registry: every op of the fixture format is declared once and callable through it.
#include "gradoracle/engine/registry.hpp"

#include "test_util.hpp"

namespace gradoracle {
namespace {
using namespace test;
namespace r = registry;

TEST(Registry, EveryFixtureFormatOpIsRegisteredOnce) {
  const std::vector<std::string> ops = {"neg", "exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "relu", "abs",
                                        "add", "sub", "mul", "div", "pow", "matmul", "linear", "t", "transpose",
                                        "reshape", "sum", "mean", "norm", "softmax", "log_softmax", "cat", "mse_loss",
                                        "detach", "clip_grad_norm_", "clip_grad_value_"};
  for (const std::string& name : ops) {
    SCOPED_TRACE(name);
    const r::OpSpec* spec = r::builtin_ops().find(name);
    ASSERT_NE(spec, nullptr);
    EXPECT_TRUE(spec->call);
    EXPECT_FALSE(spec->summary.empty());
    EXPECT_EQ(std::count_if(r::builtin_ops().ops().begin(), r::builtin_ops().ops().end(), [&](const r::OpSpec& s) { return s.name == name; }), 1);
  }
  EXPECT_EQ(r::builtin_ops().find("no_such_op"), nullptr);
}

TEST(Registry, UnaryOpsMatchTheirGradFn) {
  for (const r::OpSpec& s : r::builtin_ops().ops()) {
    if (s.shape != r::ShapeRule::Unary) continue;
    SCOPED_TRACE(s.name);
    const Tensor x = leaf({2}, {0.5, 2});
    const Tensor y = s.call({x}, {});
    EXPECT_EQ(y.grad_fn_name(), s.grad_fn);
  }
}

TEST(Registry, CallsWithNumbersAndAttrs) {
  const Tensor x = leaf({2, 3}, {1, 2, 3, 4, 5, 6});
  EXPECT_EQ(r::builtin_ops().find("sub")->call({1.0, x}, {}).grad_fn_name(), "RsubBackward1");
  EXPECT_EQ(r::builtin_ops().find("pow")->call({x, 2.0}, {}).grad_fn_name(), "PowBackward0");
  EXPECT_EQ(r::builtin_ops().find("pow")->call({x, x}, {}).grad_fn_name(), "PowBackward1");
  EXPECT_TENSOR_NEAR(r::builtin_ops().find("sum")->call({x}, {{"dim", int64_t{0}}}), (std::vector<double>{5, 7, 9}), Shape{3}, 0.0);
  EXPECT_EQ(r::builtin_ops().find("sum")->call({x}, {{"dim", std::vector<int64_t>{0, 1}}, {"keepdim", true}}).shape(),
            (Shape{1, 1}));
  EXPECT_EQ(r::builtin_ops().find("sum")->call({x}, {}).grad_fn_name(), "SumBackward0");
  EXPECT_EQ(r::builtin_ops().find("mean")->call({x}, {{"dim", int64_t{-1}}}).grad_fn_name(), "MeanBackward1");
  EXPECT_TENSOR_NEAR(r::builtin_ops().find("norm")->call({x}, {{"p", std::string("inf")}}), {6}, Shape{}, 0.0);
  EXPECT_TENSOR_NEAR(r::builtin_ops().find("norm")->call({x}, {{"p", kInf}}), {6}, Shape{}, 0.0);
  EXPECT_TENSOR_NEAR(r::builtin_ops().find("norm")->call({x}, {{"p", std::string("-inf")}}), {1}, Shape{}, 0.0);  // min |x|
  EXPECT_TENSOR_NEAR(r::builtin_ops().find("norm")->call({x}, {{"p", int64_t{1}}}), {21}, Shape{}, 0.0);
  EXPECT_EQ(r::builtin_ops().find("reshape")->call({x}, {{"shape", std::vector<int64_t>{3, -1}}}).shape(), (Shape{3, 2}));
  EXPECT_EQ(r::builtin_ops().find("transpose")->call({x}, {{"dim0", int64_t{0}}, {"dim1", int64_t{1}}}).shape(), (Shape{3, 2}));
  EXPECT_EQ(r::builtin_ops().find("cat")->call({x, x, x}, {{"dim", int64_t{1}}}).shape(), (Shape{2, 9}));
  EXPECT_EQ(r::builtin_ops().find("mse_loss")->call({x, x}, {{"reduction", std::string("none")}}).shape(), (Shape{2, 3}));
  EXPECT_FALSE(r::builtin_ops().find("detach")->call({x}, {}).requires_grad());
  EXPECT_EQ(r::builtin_ops().find("linear")->call({x, Tensor::ones({4, 3}, kF64)}, {}).grad_fn_name(), "MmBackward0");
}

TEST(Registry, ClipOpsThroughTheTable) {
  Tensor w = leaf({2}, {0, 0});
  w.set_grad(lit({2}, {3, 4}));
  const Tensor total = r::builtin_ops().find("clip_grad_norm_")->call({w}, {{"max_norm", 1.0}});
  EXPECT_TENSOR_NEAR(total, {5}, Shape{}, 0.0);
  EXPECT_FALSE(r::builtin_ops().find("clip_grad_value_")->call({w}, {{"clip_value", 0.1}}).defined());
  EXPECT_TENSOR_NEAR(w.grad(), (std::vector<double>{0.1, 0.1}), Shape{2}, 1e-15);
}

TEST(Registry, BadCallsThrowTypedErrors) {
  const Tensor x = leaf({2}, {1, 2});
  EXPECT_ERROR(r::builtin_ops().find("exp")->call({}, {}), Value, "exp() takes 1 argument but 0 were given");
  EXPECT_ERROR(r::builtin_ops().find("add")->call({x}, {}), Value, "add() takes 2 arguments but 1 was given");
  EXPECT_ERROR(r::builtin_ops().find("linear")->call({x, x, x, x}, {}), Value, "linear() takes 2 to 3 arguments but 4 were given");
  EXPECT_ERROR(r::builtin_ops().find("add")->call({1.0, 2.0}, {}), Value, "at least one argument must be a tensor");
  EXPECT_ERROR(r::builtin_ops().find("exp")->call({1.0}, {}), Value, "must be a tensor");
  EXPECT_ERROR(r::builtin_ops().find("sum")->call({x}, {{"dim", 1.5}}), Value, "attr dim must be a list of integers");
  EXPECT_ERROR(r::builtin_ops().find("sum")->call({x}, {{"dim", int64_t{0}}, {"keepdim", int64_t{1}}}), Value,
               "attr keepdim must be a boolean");
  EXPECT_ERROR(r::builtin_ops().find("norm")->call({x}, {{"p", std::string("fro")}}), Value, "attr p must be a number");
  EXPECT_ERROR(r::builtin_ops().find("mse_loss")->call({x, x}, {{"reduction", std::string("avg")}}), Value,
               "avg is not a valid value for reduction");
  EXPECT_ERROR(r::builtin_ops().find("reshape")->call({x}, {{"shape", std::string("x")}}), Value, "attr shape");
}

TEST(Registry, DomainsAndAttrDefaults) {
  const r::OpSpec* div = r::builtin_ops().find("div");
  EXPECT_EQ(div->domain_of(0), r::Domain::Real);
  EXPECT_EQ(div->domain_of(1), r::Domain::NonZero);
  EXPECT_EQ(div->domain_of(5), r::Domain::NonZero);  // the last entry repeats
  EXPECT_EQ(r::attr_int({}, "dim", 3), 3);
  EXPECT_EQ(r::attr_bool({}, "keepdim", true), true);
  EXPECT_EQ(r::attr_number({{"p", std::string("-inf")}}, "p", 2), -kInf);
  EXPECT_EQ(r::attr_int_list({{"dim", int64_t{1}}}, "dim"), std::vector<int64_t>{1});
  EXPECT_EQ(r::attr_string({}, "reduction", "mean"), "mean");
}

TEST(OpTable, ExtendsABaseTableAndRefusesADuplicateName) {
  r::OpSpec extra = *r::builtin_ops().find("neg");
  extra.name = "neg_again";
  const r::OpTable table(r::builtin_ops(), {extra});
  EXPECT_EQ(table.ops().size(), r::builtin_ops().ops().size() + 1);
  ASSERT_NE(table.find("neg_again"), nullptr);
  EXPECT_NE(table.find("softmax"), nullptr);
  EXPECT_EQ(r::builtin_ops().find("neg_again"), nullptr);  // the base is unchanged
  // The table checks arity for every op it holds, as for the built-in ones.
  EXPECT_THROW(table.find("neg_again")->call({leaf({1}, {1.0}), leaf({1}, {1.0})}, {}), Error);
  EXPECT_THROW(r::OpTable(r::builtin_ops(), {*r::builtin_ops().find("neg")}), Error);
}

}  // namespace
}  // namespace gradoracle

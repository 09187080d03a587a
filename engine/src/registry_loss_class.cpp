// The classification losses: nll_loss and cross_entropy (kernels: ops_loss_class.cpp). Class
// targets are int64 tensors drawn with the layout (op_rules_loss_class.cpp) and never require
// grad; cross_entropy's probability targets are float tensors of the input's shape, which
// PyTorch differentiates too. Reference values are PyTorch 1.13's.
#include "registry_family.hpp"

namespace gradoracle::registry::family {

namespace {
ReferenceTensor int64s(Shape shape, std::vector<double> v) { return {std::move(shape), std::move(v), DType::Int64}; }

Reduction reduction_attr(const Attrs& attrs) {
  const std::string r = attr_string(attrs, "reduction", "mean");
  if (r != "mean" && r != "sum" && r != "none") fail(ErrorKind::Value, r + " is not a valid value for reduction");
  return r == "sum" ? Reduction::Sum : r == "none" ? Reduction::None : Reduction::Mean;
}

ReferenceTensor three_rows() { return mat(3, 3, {1, 2, 3, 4, 5, 6, 7, 8, 9}); }  // a function: the table may be built during static init
}  // namespace

std::vector<OpSpec> loss_class() {
  std::vector<OpSpec> ops;
  {
    OpSpec s;
    s.name = "nll_loss";
    s.summary = "F.nll_loss(input, target): -input at the int64 target classes; reduction, ignore_index";
    s.grad_fn = "NllLossBackward0";
    s.min_args = s.max_args = 2;
    s.shape = ShapeRule::ClassTarget;
    s.attrs = {{"reduction", AttrType::Choice, false, {"mean", "sum", "none"}}, {"ignore_index", AttrType::Int}};
    s.call = [](const std::vector<Arg>& args, const Attrs& attrs) {
      const Reduction red = reduction_attr(attrs);
      return gradoracle::nll_loss(tensor_arg(args, 0, "nll_loss"), tensor_arg(args, 1, "nll_loss"), red,
                                  attr_int(attrs, "ignore_index", -100));
    };
    s.references = {
        valued("repeated class", {three_rows(), int64s({3}, {2, 2, 0})}, {}, ReferenceTensor{Shape{}, {-16.0 / 3}}),
        valued("ignore_index a class", {three_rows(), int64s({3}, {2, 1, 1})}, {{"reduction", std::string("none")}, {"ignore_index", int64_t{1}}},
               vec({-3, 0, 0})),
        valued("1-D input, 0-d target", {vec({1, 2, 3}), int64s({}, {1})}, {{"reduction", std::string("sum")}},
               ReferenceTensor{Shape{}, {-2}}),
        valued("(N, C, d) input", {ReferenceTensor{Shape{1, 3, 2}, {1, 2, 3, 4, 5, 6}}, int64s({1, 2}, {2, 0})},
               {{"reduction", std::string("none")}}, mat(1, 2, {-5, -2}))};
    ops.push_back(std::move(s));
  }
  {
    OpSpec s;
    s.name = "cross_entropy";
    s.summary = "F.cross_entropy(input, target): int64 classes (ignore_index, label_smoothing) or probabilities of input's shape";
    s.grad_fn = "NllLossBackward0";
    s.min_args = s.max_args = 2;
    s.shape = ShapeRule::ClassTarget;
    s.attrs = {{"reduction", AttrType::Choice, false, {"mean", "sum", "none"}},
               {"ignore_index", AttrType::Int},
               {"label_smoothing", AttrType::Number, false, {}, {0.1, 0.25, 0.0, 1.0}}};
    s.call = [](const std::vector<Arg>& args, const Attrs& attrs) {
      const Reduction red = reduction_attr(attrs);
      return gradoracle::cross_entropy(tensor_arg(args, 0, "cross_entropy"), tensor_arg(args, 1, "cross_entropy"), red,
                                       attr_int(attrs, "ignore_index", -100), attr_number(attrs, "label_smoothing", 0.0));
    };
    const ReferenceTensor two_rows = mat(2, 3, {1, 2, 3, 4, 5, 6});
    const ReferenceTensor probabilities = mat(2, 3, {0.5, 0.25, 0.25, 0, 1, 0});
    s.references = {
        valued("repeated class", {two_rows, int64s({2}, {2, 2})}, {}, ReferenceTensor{Shape{}, {0.4076059644443804}}),
        valued("smoothing, an ignored row", {mat(3, 3, {1, 2, 3, 4, 5, 6, 0, 0, 0}), int64s({3}, {2, -1, 0})},
               {{"ignore_index", int64_t{-1}}, {"label_smoothing", 0.25}}, ReferenceTensor{Shape{}, {0.8781091265562451}}),
        valued("probabilities", {two_rows, probabilities}, {}, ReferenceTensor{Shape{}, {1.5326059644443806}}),
        valued("probabilities, smoothing", {two_rows, probabilities}, {{"reduction", std::string("none")}, {"label_smoothing", 0.1}},
               vec({1.6326059644443807, 1.4076059644443804})),
        valued("(N, C, d1, d2) input", {ReferenceTensor{Shape{1, 2, 1, 2}, {1, 2, 3, 4}}, int64s({1, 1, 2}, {1, 0})},
               {{"reduction", std::string("sum")}}, ReferenceTensor{Shape{}, {2.2538560220859454}}),
        valued("|x| ~ 1000", {mat(2, 3, {1000, 1001, 999, -1000, -999, -1001}), int64s({2}, {0, 1})},
               {{"reduction", std::string("none")}}, vec({1.4076059644443804, 0.4076059644443804}))};
    ops.push_back(std::move(s));
  }
  return ops;
}

}  // namespace gradoracle::registry::family

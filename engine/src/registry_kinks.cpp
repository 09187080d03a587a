// The kinks-and-ties family (kernels: ops_kinks.cpp): clamp, maximum, minimum, max, min, amax,
// amin. Random cases never meet a kink or a tie: clamp's values are drawn between the grid its
// bounds are drawn on, maximum's second argument between the grid its first is drawn on, and the
// reductions' values pairwise distinct (Domain::OffGrid, Domain::Distinct), each at least half a
// grid step (2.5e-4) from a kink, far past a finite-difference step. The reference inputs sit on
// kinks and ties with PyTorch 1.13's subgradients there (tests/engine/ops_kinks_test.cpp pins
// each against torch). NOTE: a Kink's `at` is one value; these kinks are where x meets a bound or
// another element, so each names the value its reference inputs use.
#include "registry_family.hpp"

namespace gradoracle::registry::family {

namespace {
OpSpec single(std::string name, std::string grad_fn, ShapeRule rule, Domain domain, std::string summary,
              std::vector<AttrSpec> attrs) {
  OpSpec s;
  s.name = std::move(name);
  s.summary = std::move(summary);
  s.grad_fn = std::move(grad_fn);
  s.domain = {domain};
  s.shape = rule;
  s.attrs = std::move(attrs);
  s.stability = finite_anywhere();
  return s;
}

std::optional<double> bound(const Attrs& attrs, const char* name) {
  if (!attrs.count(name)) return std::nullopt;
  return attr_number(attrs, name, 0.0);
}

// PyTorch's TypeError for a number where maximum takes a tensor.
const Tensor& tensor_operand(const std::vector<Arg>& args, size_t i, const std::string& op) {
  if (const Tensor* t = std::get_if<Tensor>(&args[i])) return *t;
  fail(ErrorKind::Value, op + "(): argument '" + (i == 0 ? "input" : "other") + "' (position " + std::to_string(i + 1) +
                             ") must be Tensor, not float");
}

void add_clamp(std::vector<OpSpec>& ops) {
  ops.push_back(single("clamp", "ClampBackward1", ShapeRule::Clamp, Domain::OffGrid,
                       "min(max(a, min), max); min, max or both; the gradient passes at the bounds",
                       {{"min", AttrType::Number, false, {}, {-1.0, 0.5, -0.25, 1.5}},
                        {"max", AttrType::Number, false, {}, {1.0, -0.5, 0.25, 2.0}}}));
  ops.back().call = [](const std::vector<Arg>& args, const Attrs& attrs) {
    return gradoracle::clamp(tensor_arg(args, 0, "clamp"), bound(attrs, "min"), bound(attrs, "max"));
  };
  // NOTE: clamp'(x) = 1 at x = min and at x = max, as PyTorch (x >= min & x <= max).
  ops.back().kinks = {{0, -1.0, "x = min (-1 here): g passes"}, {0, 1.0, "x = max (1 here): g passes"}};
  const ReferenceTensor x = vec({-1, 1, 0.5, 2, -3});
  const Attrs both = {{"min", -1.0}, {"max", 1.0}};
  ops.back().references = {
      pinned("at both bounds", x, {1, 1, 1, 0, 0}, both),
      pinned("at min, min only", x, {1, 1, 1, 1, 0}, {{"min", -1.0}}),
      pinned("at max, max only", x, {1, 1, 1, 0, 1}, {{"max", 1.0}}),
      {"min > max: every value is max, no gradient", {x}, {{"min", 1.0}, {"max", -1.0}}, {{0, 0, 0, 0, 0}},
       vec({-1, -1, -1, -1, -1})},
      at("0-d", {Shape{}, {0.3}}, {{"min", 0.0}}),
  };
}

void add_maximum(std::vector<OpSpec>& ops) {
  for (const bool is_max : {true, false}) {
    OpSpec s = single(is_max ? "maximum" : "minimum", is_max ? "MaximumBackward0" : "MinimumBackward0", ShapeRule::Broadcast,
                      Domain::Real, is_max ? "elementwise max(a, b), broadcasting; a tie splits the gradient in halves"
                                           : "elementwise min(a, b), broadcasting; a tie splits the gradient in halves",
                      {});
    s.min_args = s.max_args = 2;
    s.domain = {Domain::Real, Domain::OffGrid};
    s.call = [is_max, op = s.name](const std::vector<Arg>& args, const Attrs&) {
      const Tensor& a = tensor_operand(args, 0, op);
      const Tensor& b = tensor_operand(args, 1, op);
      return is_max ? gradoracle::maximum(a, b) : gradoracle::minimum(a, b);
    };
    // NOTE: at a tie a == b each side gets g/2, as PyTorch 1.13.
    s.kinks = {{0, 1.0, "a = b (1 here): g/2 to each"}};
    const double lo = is_max ? 0 : 1, hi = 1 - lo;  // the loser's and the winner's weight
    s.references = {
        {"ties and both orders", {vec({1, 2, 3}), vec({1, 3, 2})}, {}, {{0.5, lo, hi}, {0.5, hi, lo}}},
        {"a tie under broadcasting", {mat(2, 2, {1, 2, 3, 0}), vec({1, 2})}, {},
         {{0.5, 0.5, hi, lo}, is_max ? std::vector<double>{0.5, 1.5} : std::vector<double>{1.5, 0.5}}},
    };
    ops.push_back(std::move(s));
  }
}

void add_max(std::vector<OpSpec>& ops) {
  for (const bool is_max : {true, false}) {
    const std::string name = is_max ? "max" : "min";
    OpSpec s = single(name, is_max ? "MaxBackward1" : "MinBackward1", ShapeRule::MaxDim, Domain::Distinct,
                      "torch." + name + "(a): ties share the gradient; with dim, .values (the gradient to the index returned)",
                      {{"dim", AttrType::Int}, {"keepdim", AttrType::Bool}});
    s.call = [is_max, name](const std::vector<Arg>& args, const Attrs& attrs) {
      const Tensor& a = tensor_arg(args, 0, name.c_str());
      if (attrs.count("dim")) {
        const int64_t dim = attr_int(attrs, "dim", 0);
        const bool keepdim = attr_bool(attrs, "keepdim", false);
        return is_max ? gradoracle::max(a, dim, keepdim) : gradoracle::min(a, dim, keepdim);
      }
      if (attrs.count("keepdim")) {  // PyTorch has no max(a, keepdim=...)
        fail(ErrorKind::Value, name + "() received an invalid combination of arguments - got (Tensor, keepdim=bool), "
                                      "but expected one of:");
      }
      return is_max ? gradoracle::max(a) : gradoracle::min(a);
    };
    // NOTE: tied extrema share g evenly over all elements (MaxBackward1); along a dim, g goes to
    // the first extremum, the index torch returns (MaxBackward0).
    const double top = is_max ? 3 : 0;
    s.kinks = {{0, top, "a tie at the extremum (" + std::to_string(static_cast<int>(top)) +
                            " here): g / count to each; with dim, g to the first"}};
    const ReferenceTensor x = is_max ? mat(2, 3, {1, 3, 3, 2, 2, 0}) : mat(2, 3, {1, 0, 0, 2, 2, 3});
    const std::vector<double> first_of_row = {0, 1, 0, 1, 0, 0};  // row 0's extremum ties at 1, 2; row 1's at 3, 4
    s.references = {
        {"a tie over all elements", {x}, {}, {{0, 0.5, 0.5, 0, 0, 0}}, ReferenceTensor{Shape{}, {top}}},
        {"ties along dim 1: the first", {x}, {{"dim", int64_t{1}}}, {first_of_row}, vec({top, 2})},
        {"ties along dim -1, keepdim", {x}, {{"dim", int64_t{-1}}, {"keepdim", true}}, {first_of_row},
         ReferenceTensor{Shape{2, 1}, {top, 2}}},
        {"0-d with dim 0", {ReferenceTensor{Shape{}, {1.5}}}, {{"dim", int64_t{0}}}, {{1}}, ReferenceTensor{Shape{}, {1.5}}},
    };
    ops.push_back(std::move(s));
  }
}

void add_amax(std::vector<OpSpec>& ops) {
  for (const bool is_max : {true, false}) {
    const std::string name = is_max ? "amax" : "amin";
    OpSpec s = single(name, is_max ? "AmaxBackward0" : "AminBackward0", ShapeRule::MaxReduction, Domain::Distinct,
                      "torch." + name + " over dim (int or list; default all), keepdim; ties share the gradient",
                      {{"dim", AttrType::IntOrList}, {"keepdim", AttrType::Bool}});
    s.call = [is_max, name](const std::vector<Arg>& args, const Attrs& attrs) {
      const Tensor& a = tensor_arg(args, 0, name.c_str());
      const bool keepdim = attr_bool(attrs, "keepdim", false);
      return is_max ? gradoracle::amax(a, dims_attr(attrs), keepdim) : gradoracle::amin(a, dims_attr(attrs), keepdim);
    };
    // NOTE: the elements equal to their slice's extremum share g evenly, as PyTorch 1.13.
    const double top = is_max ? 3 : 0;
    s.kinks = {{0, top, "a tie at a slice's extremum (" + std::to_string(static_cast<int>(top)) +
                            " here): g / count to each"}};
    const ReferenceTensor x = is_max ? mat(2, 3, {1, 3, 3, 2, 3, 0}) : mat(2, 3, {2, 0, 0, 1, 0, 3});
    const double third = 1.0 / 3;
    using Dims = std::vector<int64_t>;
    s.references = {
        {"a three-way tie over all", {x}, {}, {{0, third, third, 0, third, 0}}, ReferenceTensor{Shape{}, {top}}},
        {"ties along dim 1", {x}, {{"dim", int64_t{1}}}, {{0, 0.5, 0.5, 0, 1, 0}}, vec({top, top})},
        {"ties along dim 0, keepdim", {x}, {{"dim", Dims{0}}, {"keepdim", true}}, {{0, 0.5, 1, 1, 0.5, 0}},
         ReferenceTensor{Shape{1, 3}, is_max ? std::vector<double>{2, 3, 3} : std::vector<double>{1, 0, 0}}},
        {"dims [-1, 0], keepdim", {x}, {{"dim", Dims{-1, 0}}, {"keepdim", true}}, {{0, third, third, 0, third, 0}},
         ReferenceTensor{Shape{1, 1}, {top}}},
        {"0-d", {ReferenceTensor{Shape{}, {1.5}}}, {}, {{1}}, ReferenceTensor{Shape{}, {1.5}}},
    };
    ops.push_back(std::move(s));
  }
}
}  // namespace

std::vector<OpSpec> kinks() {
  std::vector<OpSpec> ops;
  add_clamp(ops);
  add_maximum(ops);
  add_max(ops);
  add_amax(ops);
  return ops;
}

}  // namespace gradoracle::registry::family

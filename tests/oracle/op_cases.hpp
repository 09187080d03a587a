#pragma once
// Test-only: concrete calls of every differentiable registry op at several shapes, with inputs
// drawn inside each argument's Domain by the op rules' own draw (op_rules.hpp), as functions
// the gradient checker takes. The shapes are chosen by hand: small, 0-d, broadcast, and a few
// large enough for float32 accumulation to matter.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "gradoracle/engine/op_rules.hpp"
#include "gradoracle/engine/random.hpp"
#include "gradoracle/engine/registry.hpp"
#include "gradoracle/oracle/gradcheck.hpp"

namespace gradoracle::oracle::testing {

// One call: argument shapes (nullopt-like: `number` marks a Python-number argument) and attrs.
struct OpCase {
  const registry::OpSpec* op = nullptr;
  std::vector<Shape> shapes;      // one per tensor argument
  std::vector<int> number_args;   // positions that are Python numbers instead (value 1.5)
  registry::Attrs attrs;
  std::string label;              // "pow([2, 3], 1.5)"
};

// The tensor inputs of a case, drawn in `dtype`.
inline std::vector<Tensor> draw_inputs(const OpCase& c, DType dtype, Generator& gen) {
  std::vector<Tensor> xs;
  size_t pos = 0;
  for (size_t t = 0; t < c.shapes.size(); ++t, ++pos) {
    while (std::find(c.number_args.begin(), c.number_args.end(), static_cast<int>(pos)) != c.number_args.end()) ++pos;
    registry::GeneratorChooser chooser(gen);
    xs.push_back(Tensor::from_data(c.shapes[t], registry::draw_values(c.op->domain_of(pos), numel(c.shapes[t]), chooser), dtype));
  }
  return xs;
}

// The case as a function of its tensor arguments.
inline Function as_function(const OpCase& c) {
  return [c](const std::vector<Tensor>& xs) {
    std::vector<registry::Arg> args;
    size_t t = 0;
    const size_t total = c.shapes.size() + c.number_args.size();
    for (size_t pos = 0; pos < total; ++pos) {
      if (std::find(c.number_args.begin(), c.number_args.end(), static_cast<int>(pos)) != c.number_args.end()) {
        args.emplace_back(1.5);
      } else {
        args.emplace_back(xs[t++]);
      }
    }
    return std::vector<Tensor>{c.op->call(args, c.attrs)};
  };
}

inline std::vector<OpCase> op_cases() {
  using R = registry::ShapeRule;
  std::vector<OpCase> cases;
  auto add = [&](const registry::OpSpec& op, std::vector<Shape> shapes, registry::Attrs attrs = {},
                 std::vector<int> numbers = {}) {
    OpCase c{&op, std::move(shapes), std::move(numbers), std::move(attrs), op.name + "("};
    size_t t = 0;
    for (size_t pos = 0; pos < c.shapes.size() + c.number_args.size(); ++pos) {
      const bool number = std::find(c.number_args.begin(), c.number_args.end(), static_cast<int>(pos)) != c.number_args.end();
      c.label += (pos ? ", " : "") + (number ? std::string("1.5") : to_string(c.shapes[t++]));
    }
    for (const auto& [k, v] : c.attrs) {
      c.label += ", " + k + "=";
      if (const int64_t* i = std::get_if<int64_t>(&v)) c.label += std::to_string(*i);
      else if (const double* d = std::get_if<double>(&v)) c.label += std::to_string(*d);
      else if (const bool* b = std::get_if<bool>(&v)) c.label += *b ? "true" : "false";
      else if (const std::string* s = std::get_if<std::string>(&v)) c.label += *s;
      else c.label += to_string(std::get<std::vector<int64_t>>(v));
    }
    c.label += ")";
    cases.push_back(std::move(c));
  };
  using V = std::vector<int64_t>;
  for (const registry::OpSpec& op : registry::builtin_ops().ops()) {
    if (!op.differentiable) continue;
    switch (op.shape) {
      case R::Unary:
        for (Shape s : {Shape{}, Shape{4}, Shape{2, 3}, Shape{2, 1, 3}}) add(op, {s});
        break;
      case R::Broadcast:
        add(op, {{2, 3}, {2, 3}});
        add(op, {{2, 3}, {3}});
        add(op, {{2, 1}, {1, 3}});
        add(op, {{}, {2, 2}});
        if (!op.accepts_numbers) break;  // maximum, minimum: tensors only
        add(op, {{2, 3}}, {}, {1});
        add(op, {{3}}, {}, {0});
        break;
      case R::Matmul:
        add(op, {{3}, {3}});
        add(op, {{2, 3}, {3, 4}});
        add(op, {{3}, {3, 2}});
        add(op, {{2, 3}, {3}});
        add(op, {{2, 2, 3}, {3, 2}});
        add(op, {{2, 1, 2, 3}, {3, 3, 2}});
        add(op, {{8, 48}, {48, 6}});  // float32 accumulation over 48 terms
        break;
      case R::Linear:
        add(op, {{4, 3}, {2, 3}, {2}});
        add(op, {{3}, {2, 3}, {2}});
        add(op, {{2, 2, 3}, {2, 3}, {2}});
        add(op, {{4, 3}, {2, 3}});
        add(op, {{6, 40}, {5, 40}, {5}});
        break;
      case R::Transpose2D:
        for (Shape s : {Shape{}, Shape{3}, Shape{2, 3}}) add(op, {s});
        break;
      case R::Transpose:
        add(op, {{2, 3, 4}}, {{"dim0", int64_t{0}}, {"dim1", int64_t{2}}});
        add(op, {{2, 3}}, {{"dim0", int64_t{-1}}, {"dim1", int64_t{0}}});
        break;
      case R::Reshape:
        add(op, {{2, 3}}, {{"shape", V{3, 2}}});
        add(op, {{6}}, {{"shape", V{-1, 2}}});
        add(op, {{2, 3, 1}}, {{"shape", V{6}}});
        break;
      case R::Reduction:
      case R::Moments: {
        // The forms the op's dim takes: none (unless required), an int, a list (unless Int).
        const registry::AttrSpec& dim = *std::find_if(op.attrs.begin(), op.attrs.end(), [](const auto& a) { return a.name == "dim"; });
        if (!dim.required) add(op, {{2, 3}});
        if (!dim.required && op.shape == R::Reduction) add(op, {{}});  // var, std of one element: NaN
        add(op, {{2, 3}}, {{"dim", int64_t{1}}});
        if (dim.type != registry::AttrType::Int) add(op, {{2, 3}}, {{"dim", V{0, 1}}, {"keepdim", true}});
        add(op, {{2, 3, 4}}, {{"dim", int64_t{-1}}, {"keepdim", true}});
        add(op, {{24, 24}}, dim.required ? registry::Attrs{{"dim", V{0, 1}}} : registry::Attrs{});
        break;
      }
      case R::Norm:
        for (double p : {2.0, 1.0, 3.0, gradoracle::kInf}) add(op, {{2, 3}}, {{"p", p}});
        add(op, {{5}});
        add(op, {{60}}, {{"p", 3.0}});
        break;
      case R::Unsqueeze:
        add(op, {{2, 3}}, {{"dim", int64_t{1}}});
        add(op, {{}}, {{"dim", int64_t{-1}}});
        break;
      case R::Squeeze:
        add(op, {{2, 1, 3}});
        add(op, {{2, 1, 3}}, {{"dim", int64_t{1}}});
        add(op, {{2, 1, 3}}, {{"dim", int64_t{0}}});
        break;
      case R::Permute:
        add(op, {{2, 3, 4}}, {{"dims", V{2, 0, 1}}});
        add(op, {{}}, {{"dims", V{}}});
        break;
      case R::Expand:
        add(op, {{2, 1, 3}}, {{"size", V{4, 2, -1, 3}}});
        add(op, {{}}, {{"size", V{3}}});
        break;
      case R::Where:
      case R::IndexSelect:
      case R::Gather:
      case R::Embedding:
      case R::ClassTarget:
        break;  // an index or condition argument (not a float leaf): their reference inputs and the gate cover them
      case R::Conv2d:
        add(op, {{1, 2, 4, 4}, {2, 2, 3, 3}, {2}}, {{"stride", int64_t{2}}, {"padding", int64_t{1}}});
        add(op, {{1, 4, 3, 3}, {2, 2, 2, 2}}, {{"groups", int64_t{2}}, {"dilation", V{1, 2}}});
        break;
      case R::SoftmaxDim:
        add(op, {{2, 3}}, {{"dim", int64_t{1}}});
        add(op, {{2, 3}}, {{"dim", int64_t{0}}});
        add(op, {{4}}, {{"dim", int64_t{0}}});
        add(op, {{2, 3, 2}}, {{"dim", int64_t{-1}}});
        add(op, {{3, 40}}, {{"dim", int64_t{1}}});
        break;
      case R::Cat:
        add(op, {{2, 3}, {1, 3}});
        add(op, {{2, 1}, {2, 2}}, {{"dim", int64_t{1}}});
        add(op, {{3}});
        break;
      case R::Loss:
        for (const char* red : {"mean", "sum", "none"}) add(op, {{2, 3}, {2, 3}}, {{"reduction", std::string(red)}});
        add(op, {{4}, {4}});
        add(op, {{60}, {60}});
        break;
      case R::Clamp:
        add(op, {{2, 3}}, {{"min", -0.5}, {"max", 0.5}});
        add(op, {{}}, {{"min", 0.5}});
        add(op, {{4}}, {{"max", 0.25}});
        break;
      case R::MaxDim:
        add(op, {{2, 3}});
        add(op, {{}});
        add(op, {{2, 3}}, {{"dim", int64_t{1}}});
        add(op, {{2, 3, 4}}, {{"dim", int64_t{-1}}, {"keepdim", true}});
        break;
      case R::MaxReduction:
        add(op, {{2, 3}});
        add(op, {{}});
        add(op, {{2, 3}}, {{"dim", int64_t{1}}});
        add(op, {{2, 3, 4}}, {{"dim", V{0, -1}}, {"keepdim", true}});
        break;
      case R::Normalized:  // layer_norm: x; x, weight; x, weight, bias
        add(op, {{2, 3}}, {{"normalized_shape", V{3}}});
        add(op, {{4, 2}, {2}}, {{"normalized_shape", V{2}}, {"eps", 0.5}});
        add(op, {{2, 3, 4}, {3, 4}, {3, 4}}, {{"normalized_shape", V{3, 4}}});
        add(op, {{2, 40}, {40}, {40}}, {{"normalized_shape", V{40}}});  // float32 accumulation over 40 terms
        break;
      case R::Pool2d:
        add(op, {{1, 3, 3}}, {{"kernel_size", int64_t{2}}, {"stride", int64_t{1}}});
        add(op, {{2, 1, 4, 3}}, {{"kernel_size", V{3, 2}}, {"padding", V{1, 0}}});
        add(op, {{2, 2, 3}}, {{"kernel_size", int64_t{2}}, {"stride", V{1, 2}}, {"padding", int64_t{1}}});
        break;
      case R::Identity:    // detach: not differentiable
      case R::Parameters:  // the clip utilities: not differentiable
        break;
    }
  }
  return cases;
}

}  // namespace gradoracle::oracle::testing

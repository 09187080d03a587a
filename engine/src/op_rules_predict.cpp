// The op-info module's size predictions (op_rules.hpp): the elements an op's result will have and
// the multiply-adds it will take, from its arguments' shapes alone, before the engine allocates
// (the interpreter refuses work past its limits with them).
#include "gradoracle/engine/op_rules.hpp"

#include <algorithm>
#include <exception>

#include "op_rules_conv.hpp"
#include "op_rules_select.hpp"

namespace gradoracle::registry {

// ---------------------------------------------------------------- sizes

namespace {
double product(const Shape& s) {
  double n = 1;
  for (int64_t d : s) n *= static_cast<double>(d);
  return n;
}
}  // namespace

double predict_numel(const OpSpec& op, const std::vector<std::optional<Shape>>& args, const Attrs& attrs) {
  std::vector<Shape> shapes;
  for (const auto& a : args) shapes.push_back(a ? *a : Shape{});
  double largest = 0;
  for (const Shape& s : shapes) largest = std::max(largest, product(s));
  try {
    switch (op.shape) {
      case ShapeRule::Broadcast:
      case ShapeRule::Loss:
        return shapes.size() == 2 ? product(broadcast_shapes(shapes[0], shapes[1])) : largest;
      case ShapeRule::Matmul: {
        if (shapes.size() != 2) return largest;
        const Shape& a = shapes[0];
        const Shape& b = shapes[1];
        if (a.empty() || b.empty()) return 0;
        const double n = a.size() >= 2 ? static_cast<double>(a[a.size() - 2]) : 1;
        const double m = b.size() >= 2 ? static_cast<double>(b.back()) : 1;
        Shape ba = a, bb = b;
        ba.resize(a.size() >= 2 ? a.size() - 2 : 0);
        bb.resize(b.size() >= 2 ? b.size() - 2 : 0);
        return product(broadcast_shapes(ba, bb)) * n * m;
      }
      case ShapeRule::Linear: {
        if (shapes.size() < 2 || shapes[0].empty() || shapes[1].empty()) return 0;
        Shape lead = shapes[0];
        lead.pop_back();
        return product(lead) * static_cast<double>(shapes[1].front());
      }
      case ShapeRule::Cat: {
        double n = 0;
        for (const Shape& s : shapes) n += product(s);
        return n;
      }
      case ShapeRule::Parameters: return 1;  // the total norm
      case ShapeRule::Where:
      case ShapeRule::IndexSelect:
      case ShapeRule::Gather:
      case ShapeRule::Embedding: return detail::predict_select_numel(op, shapes);
      case ShapeRule::ClassTarget: return largest;  // the per-row losses or one value: never more than the input
      case ShapeRule::Conv2d: return detail::predict_conv_numel(shapes, attrs);
      // NOTE: expand's result size is its size attr, unseen here: the input's size is a lower
      // bound only; expand itself refuses more than kMaxElements.
      case ShapeRule::Expand: return largest;
      case ShapeRule::Pool2d: return args.empty() || !args[0] ? largest : window_numel_bound(*args[0]);
      case ShapeRule::Unary:
      case ShapeRule::Transpose2D:
      case ShapeRule::Transpose:
      case ShapeRule::Reshape:
      case ShapeRule::Reduction:
      case ShapeRule::Moments:
      case ShapeRule::Norm:
      case ShapeRule::SoftmaxDim:
      case ShapeRule::Unsqueeze:
      case ShapeRule::Squeeze:
      case ShapeRule::Permute:
      case ShapeRule::Clamp:
      case ShapeRule::MaxDim:
      case ShapeRule::MaxReduction:
      case ShapeRule::Normalized:
      case ShapeRule::Identity: return largest;  // never more elements than the input
    }
  } catch (const std::exception&) {
    return 0;  // shapes that do not fit: the engine says why
  }
  return largest;
}

double predict_multiply_adds(const OpSpec& op, const std::vector<std::optional<Shape>>& args, double out_numel) {
  switch (op.shape) {
    case ShapeRule::Conv2d:  // each output element: C/groups·kH·kW multiply-adds (out_numel may be
                             // the larger im2col buffer's count: an upper bound)
      return args.size() < 2 || !args[1] || args[1]->size() != 4 ? 0
             : out_numel * static_cast<double>((*args[1])[1] * (*args[1])[2] * (*args[1])[3]);
    case ShapeRule::Matmul:
    case ShapeRule::Linear:
      // Each output element is one dot product of length k, the first argument's last dim.
      if (args.empty() || !args[0] || args[0]->empty()) return 0;
      return out_numel * static_cast<double>(args[0]->back());
    case ShapeRule::Unary:
    case ShapeRule::Broadcast:
    case ShapeRule::Transpose2D:
    case ShapeRule::Transpose:
    case ShapeRule::Reshape:
    case ShapeRule::Reduction:
    case ShapeRule::Moments:
    case ShapeRule::Norm:
    case ShapeRule::SoftmaxDim:
    case ShapeRule::Cat:
    case ShapeRule::Unsqueeze:
    case ShapeRule::Squeeze:
    case ShapeRule::Permute:
    case ShapeRule::Expand:
    case ShapeRule::Loss:
    case ShapeRule::Clamp:
    case ShapeRule::MaxDim:
    case ShapeRule::MaxReduction:
    case ShapeRule::Identity:
    case ShapeRule::Where:
    case ShapeRule::IndexSelect:
    case ShapeRule::Gather:
    case ShapeRule::Embedding:
    case ShapeRule::ClassTarget:
    case ShapeRule::Normalized:
    case ShapeRule::Pool2d:
    case ShapeRule::Parameters: return 0;
  }
  return 0;
}

}  // namespace gradoracle::registry

// The selection rules of the op-info module: each draws its index or condition argument with
// the layout (OpLayout::constants), in range for the shapes and the dim drawn, with repeats
// likely (few rows, several picks), so that accumulation is exercised.
#include <algorithm>

#include "op_rules_select.hpp"

namespace gradoracle::registry::detail {

namespace {
double product(const Shape& s) {
  double n = 1;
  for (int64_t d : s) n *= static_cast<double>(d);
  return n;
}

// An int64 tensor of `shape` with values in [0, bound) (bound >= 1 when shape has elements).
ReferenceTensor draw_indices(const Shape& shape, int64_t bound, Chooser& c) {
  ReferenceTensor t{shape, {}, DType::Int64};
  for (int64_t i = 0; i < numel(shape); ++i) t.data.push_back(static_cast<double>(c.integer(0, std::max<int64_t>(bound, 1))));
  return t;
}
}  // namespace

OpLayout draw_select_layout(const OpSpec& op, const Shape& first, Chooser& c) {
  OpLayout l;
  const auto rank = static_cast<int64_t>(first.size());
  switch (op.shape) {
    case ShapeRule::Where: {  // cond, a, b: a is `first`; cond and b broadcast with it; a or b may be a number
      const Shape cond = c.coin() ? draw_broadcast_partner(first, c) : first;
      std::optional<Shape> b;
      if (c.weighted<bool>({{3, true}, {1, false}})) b = c.coin() ? draw_broadcast_partner(first, c) : first;
      ReferenceTensor k{cond, {}, DType::Bool};
      for (int64_t i = 0; i < numel(cond); ++i) k.data.push_back(static_cast<double>(c.integer(0, 2)));
      l.args = {cond, first, b};
      l.first_at = 1;
      if (!b && c.coin()) {  // the number first: where(cond, 2.5, a)
        l.args = {cond, std::nullopt, first};
        l.first_at = 2;
      }
      l.constants = {k, std::nullopt, std::nullopt};
      break;
    }
    case ShapeRule::IndexSelect: {  // a, index (1-D; one element for a 0-d a)
      const int64_t dim = draw_dim_index(rank, c);
      const int64_t size = rank == 0 ? 1 : first[static_cast<size_t>(dim < 0 ? dim + rank : dim)];
      const int64_t n = rank == 0 ? 1 : size == 0 ? 0 : c.integer(0, 5);
      l.args = {first, Shape{n}};
      l.attrs["dim"] = dim;
      l.constants = {std::nullopt, draw_indices({n}, size, c)};
      break;
    }
    case ShapeRule::Gather: {  // a, index of a's rank, each dim at most a's apart from dim
      const int64_t dim = draw_dim_index(rank, c);
      const auto d = static_cast<size_t>(dim < 0 ? dim + std::max<int64_t>(rank, 1) : dim);
      Shape index = first;
      for (size_t i = 0; i < index.size(); ++i) index[i] = c.integer(0, first[i] + 1);
      if (rank > 0) index[d] = first[d] == 0 ? 0 : c.integer(1, first[d] + 1);  // numel(index) <= numel(a)
      const int64_t bound = rank == 0 ? 1 : first[d];
      l.args = {first, index};
      l.attrs["dim"] = dim;
      l.constants = {std::nullopt, draw_indices(index, bound, c)};
      break;
    }
    case ShapeRule::Embedding: {  // indices, weight (rows, D): weight is `first`
      Shape indices = draw_shape(c, 0, 2);
      for (int64_t& s : indices) s = std::min<int64_t>(s, 3);
      if (first[0] == 0) indices = {0};
      l.args = {indices, first};
      l.first_at = 1;
      l.constants = {draw_indices(indices, first[0], c), std::nullopt};
      break;
    }
    default: break;
  }
  return l;
}

double predict_select_numel(const OpSpec& op, const std::vector<Shape>& shapes) {
  if (shapes.size() < 2) return 0;
  switch (op.shape) {
    case ShapeRule::Where: {
      Shape s = shapes[0];
      for (size_t i = 1; i < shapes.size(); ++i) s = broadcast_shapes(s, shapes[i]);
      return product(s);
    }
    case ShapeRule::IndexSelect: return std::max(product(shapes[0]), 1.0) * std::max(product(shapes[1]), 1.0);
    case ShapeRule::Gather: return product(shapes[1]);
    case ShapeRule::Embedding: return product(shapes[0]) * (shapes[1].size() == 2 ? static_cast<double>(shapes[1][1]) : 1.0);
    default: return 0;
  }
}

}  // namespace gradoracle::registry::detail

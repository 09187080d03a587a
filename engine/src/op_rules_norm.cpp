// The normalization rule of the op-info module (ShapeRule::Normalized): normalized_shape is the
// last k dims of x (k from 1 to x's rank), and weight and bias, when present, have that shape.
// The format passes arguments by position, so bias comes only with weight: x; x, weight; or
// x, weight, bias (F.layer_norm(x, s, None, b) has no spelling in it).
#include "op_rules_norm.hpp"

namespace gradoracle::registry::detail {

// NOTE: rows of one or two elements are left to the reference inputs: their gradient is almost
// all cancellation (exactly 0 for one element, O(eps/σ²) for two), so float32 gives rounding noise
// that differs between implementations (PyTorch's included) beyond any tolerance. A row here has
// no elements or at least 3 (the rule's min_numel makes the whole tensor one such row at worst).
OpLayout draw_norm_layout(const OpSpec& op, const Shape& first, Chooser& c) {
  OpLayout l;
  const auto rank = static_cast<int64_t>(first.size());
  int64_t k = c.integer(1, rank + 1);
  const auto row = [&](int64_t dims) { return numel(Shape(first.end() - dims, first.end())); };
  while (k < rank && row(k) > 0 && row(k) < 3) ++k;
  const Shape ns(first.end() - k, first.end());
  l.args = {first};
  const int64_t extra = c.integer(0, std::min<int64_t>(op.max_args, 3));  // 0, 1 or 2 more
  for (int64_t i = 0; i < extra; ++i) l.args.push_back(ns);
  l.attrs["normalized_shape"] = std::vector<int64_t>(ns.begin(), ns.end());
  return l;
}

}  // namespace gradoracle::registry::detail

// The ClassTarget rule of the op-info module (nll_loss, cross_entropy). The input is (C), (N, C)
// or (N, C, d1, ...) without zero-size dims; the target is (), (N) or (N, d1, ...), int64 classes
// in [0, C) drawn with repeats (few classes, several rows). Half the time, when there are two
// targets or more, some rows (never the first) are set to an ignore_index (-1, or one of the
// classes, the first row then keeping another class), so that a mean never divides by zero.
// cross_entropy takes a float target of the input's shape (probabilities) a quarter of the time.
#include "op_rules_loss_class.hpp"

namespace gradoracle::registry::detail {

OpLayout draw_loss_class_layout(const OpSpec& op, const Shape& first, Chooser& c) {
  OpLayout l;
  const size_t class_dim = first.size() == 1 ? 0 : 1;
  const int64_t classes = first[class_dim];
  if (op.name == "cross_entropy" && c.weighted<bool>({{3, false}, {1, true}})) {
    l.args = {first, first};
    l.constants = {std::nullopt, std::nullopt};
    return l;
  }
  Shape target = first;
  target.erase(target.begin() + static_cast<std::ptrdiff_t>(class_dim));
  ReferenceTensor t{target, {}, DType::Int64};
  const int64_t n = numel(target);
  for (int64_t i = 0; i < n; ++i) t.data.push_back(static_cast<double>(c.integer(0, classes)));
  if (n >= 2 && c.coin()) {
    const int64_t ignore = c.coin() || classes < 2 ? -1 : c.integer(0, classes);
    for (int64_t i = 1; i < n; ++i) {
      if (c.coin()) t.data[static_cast<size_t>(i)] = static_cast<double>(ignore);
    }
    if (t.data[0] == static_cast<double>(ignore)) t.data[0] = static_cast<double>((ignore + 1) % classes);
    l.attrs["ignore_index"] = ignore;
  }
  l.args = {first, target};
  l.constants = {std::nullopt, std::move(t)};
  return l;
}

}  // namespace gradoracle::registry::detail

#pragma once
// The selection rules' draws (Where, IndexSelect, Gather, Embedding): shapes, attrs and the
// index or condition argument's values, valid by construction. Internal to op_rules.cpp.
#include "gradoracle/engine/op_rules.hpp"

namespace gradoracle::registry::detail {
OpLayout draw_select_layout(const OpSpec& op, const Shape& first, Chooser& c);
// An upper bound of the result's elements from the arguments' shapes (in that rule's order).
double predict_select_numel(const OpSpec& op, const std::vector<Shape>& shapes);
}  // namespace gradoracle::registry::detail

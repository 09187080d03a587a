#pragma once
// The convolution rule's draws (Conv2d): the weight's and bias's shapes and a valid geometry
// (stride, padding, dilation, groups) for the drawn input. Internal to op_rules.cpp.
#include "gradoracle/engine/op_rules.hpp"

namespace gradoracle::registry::detail {
OpLayout draw_conv_layout(const OpSpec& op, const Shape& first, Chooser& c);
// An upper bound of the result's elements from input and weight shapes (padding at most 1).
double predict_conv_numel(const std::vector<Shape>& shapes);
}  // namespace gradoracle::registry::detail

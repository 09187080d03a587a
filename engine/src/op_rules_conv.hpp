#pragma once
// The convolution rule's draws (Conv2d): the weight's and bias's shapes and a valid geometry
// (stride, padding, dilation, groups) for the drawn input. Internal to op_rules.cpp.
#include "gradoracle/engine/op_rules.hpp"

namespace gradoracle::registry::detail {
OpLayout draw_conv_layout(const OpSpec& op, const Shape& first, Chooser& c);
// The elements of the result or of the im2col buffer (C·kH·kW × OH·OW), whichever is larger, from
// the input's and weight's shapes and the geometry attrs; 0 for shapes or attrs the op refuses.
double predict_conv_numel(const std::vector<Shape>& shapes, const Attrs& attrs);
}  // namespace gradoracle::registry::detail

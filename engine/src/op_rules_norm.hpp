#pragma once
// The normalization rule's draws (Normalized: layer_norm): x, normalized_shape its trailing dims,
// weight and bias of that shape. Internal to op_rules.cpp.
#include "gradoracle/engine/op_rules.hpp"

namespace gradoracle::registry::detail {
OpLayout draw_norm_layout(const OpSpec& op, const Shape& first, Chooser& c);
}  // namespace gradoracle::registry::detail

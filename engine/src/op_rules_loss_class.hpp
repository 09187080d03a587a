#pragma once
// The classification losses' rule (ClassTarget): the input's shape gives the class dim and the
// target's shape; the target is drawn with the layout (class indices with repeats, some equal to
// ignore_index) or, for cross_entropy, is a float tensor of the input's shape. Internal to op_rules.cpp.
#include "gradoracle/engine/op_rules.hpp"

namespace gradoracle::registry::detail {
OpLayout draw_loss_class_layout(const OpSpec& op, const Shape& first, Chooser& c);
}  // namespace gradoracle::registry::detail

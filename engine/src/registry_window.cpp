// The window family (kernels: ops_window.cpp): max_pool2d. Random cases never meet a tie: the
// input's values are pairwise distinct grid points (Domain::Distinct), a grid step apart, so no
// window holds two maxima; the geometry is drawn valid (op_rules_window.cpp). The reference
// inputs sit on ties, with PyTorch 1.13's subgradient there: the first maximum in row-major
// window order takes each window's gradient, summed over overlapping windows
// (tests/engine/ops_window_test.cpp pins each against torch).
#include "registry_family.hpp"

namespace gradoracle::registry::family {

namespace {
ReferenceTensor tensor(Shape shape, std::vector<double> v) { return {std::move(shape), std::move(v)}; }

void add_max_pool2d(std::vector<OpSpec>& ops) {
  OpSpec s;
  s.name = "max_pool2d";
  s.summary = "F.max_pool2d over (C,H,W) or (N,C,H,W): kernel_size, stride, padding (-inf); the gradient to each window's first max";
  s.grad_fn = "MaxPool2DWithIndicesBackward0";
  s.domain = {Domain::Distinct};
  s.shape = ShapeRule::Pool2d;
  s.attrs = {{"kernel_size", AttrType::IntOrList, true}, {"stride", AttrType::IntOrList}, {"padding", AttrType::IntOrList}};
  s.stability = finite_anywhere();
  s.call = [](const std::vector<Arg>& args, const Attrs& attrs) {
    const Tensor& a = tensor_arg(args, 0, "max_pool2d");
    // An empty padding list is PyTorch's error, an absent one its default 0.
    const std::vector<int64_t> padding = attrs.count("padding") ? attr_int_list(attrs, "padding") : std::vector<int64_t>{0};
    return gradoracle::max_pool2d(a, attr_int_list(attrs, "kernel_size"), attr_int_list(attrs, "stride"), padding);
  };
  // NOTE: a tie in a window gives its gradient to the first maximum in row-major window order;
  // overlapping windows each add theirs, as PyTorch 1.13.
  s.kinks = {{0, 2.0, "a tie at a window's maximum (2 here): g to the first, summed over overlapping windows"}};
  s.references = {
      {"ties in overlapping windows", {tensor({1, 3, 3}, {1, 1, 2, 2, 0, 1, 0, 2, 2})},
       {{"kernel_size", int64_t{2}}, {"stride", int64_t{1}}},
       {{0, 0, 1, 2, 0, 0, 0, 1, 0}}, tensor({1, 2, 2}, {2, 2, 2, 2})},
      {"ties, batched, pairs and padding", {tensor({1, 2, 2, 4}, {1, 3, 3, 0, 3, 1, 0, 3, 2, 2, 2, 2, 0, 1, 2, 2})},
       {{"kernel_size", std::vector<int64_t>{3, 2}}, {"stride", std::vector<int64_t>{1, 2}}, {"padding", std::vector<int64_t>{1, 0}}},
       {{0, 2, 2, 0, 0, 0, 0, 0, 2, 0, 2, 0, 0, 0, 0, 0}}, tensor({1, 2, 2, 2}, {3, 3, 3, 3, 2, 2, 2, 2})},
      {"a constant window: the first element", {tensor({1, 2, 2}, {1, 1, 1, 1})}, {{"kernel_size", int64_t{2}}},
       {{1, 0, 0, 0}}, tensor({1, 1, 1}, {1})},
      {"padding is never the max", {tensor({1, 2, 3}, {-1, -1, -1, -1, -1, -1})},
       {{"kernel_size", int64_t{3}}, {"stride", int64_t{2}}, {"padding", int64_t{1}}},
       {{1, 1, 0, 0, 0, 0}}, tensor({1, 1, 2}, {-1, -1})},
  };
  ops.push_back(std::move(s));
}
}  // namespace

std::vector<OpSpec> window() {
  std::vector<OpSpec> ops;
  add_max_pool2d(ops);
  return ops;
}

}  // namespace gradoracle::registry::family

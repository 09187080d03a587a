// The convolution family: conv2d (kernel: ops_conv.cpp; shape rule draws: op_rules_conv.cpp).
#include "registry_family.hpp"

namespace gradoracle::registry::family {

namespace {
// A tensor of `shape` with values k·0.25 - 1 cycling over 9 steps: distinct enough, no symmetry.
ReferenceTensor ramp(Shape shape) {
  ReferenceTensor t{shape, {}};
  for (int64_t i = 0; i < numel(shape); ++i) t.data.push_back(static_cast<double>((i * 7) % 9) * 0.25 - 1.0);
  return t;
}
ReferenceInput conv_case(std::string label, Shape x, Shape w, bool bias, Attrs attrs) {
  std::vector<ReferenceArg> args = {ramp(x), ramp(w)};
  if (bias) args.push_back(ramp({w[0]}));
  return {std::move(label), std::move(args), std::move(attrs), {}};
}
using Ints = std::vector<int64_t>;
}  // namespace

std::vector<OpSpec> conv() {
  std::vector<OpSpec> ops;
  OpSpec s;
  s.name = "conv2d";
  s.summary = "F.conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1)";
  s.grad_fn = "ConvolutionBackward0";
  s.min_args = 2;
  s.max_args = 3;
  s.shape = ShapeRule::Conv2d;
  s.attrs = {{"stride", AttrType::IntOrList, false}, {"padding", AttrType::IntOrList, false},
             {"dilation", AttrType::IntOrList, false}, {"groups", AttrType::Int, false}};
  s.call = [](const std::vector<Arg>& args, const Attrs& attrs) {
    const Tensor bias = args.size() > 2 ? tensor_arg(args, 2, "conv2d") : Tensor();
    const auto pair = [&](const char* name, int64_t fallback) {
      std::vector<int64_t> v = attr_int_list(attrs, name);
      return v.empty() && !attrs.count(name) ? std::vector<int64_t>{fallback} : v;
    };
    return gradoracle::conv2d(tensor_arg(args, 0, "conv2d"), tensor_arg(args, 1, "conv2d"), bias, pair("stride", 1),
                              pair("padding", 0), pair("dilation", 1), attr_int(attrs, "groups", 1));
  };
  s.references = {
      conv_case("stride 2, padding 1, bias", {1, 2, 4, 4}, {2, 2, 3, 3}, true,
                {{"stride", int64_t{2}}, {"padding", int64_t{1}}}),
      conv_case("dilation 2, non-square stride", {2, 1, 5, 4}, {2, 1, 2, 2}, false,
                {{"dilation", int64_t{2}}, {"stride", Ints{1, 2}}}),
      conv_case("groups 2", {1, 4, 3, 3}, {4, 2, 2, 2}, true, {{"groups", int64_t{2}}}),
      conv_case("depthwise groups = C, padding (1, 0)", {1, 3, 3, 3}, {3, 1, 2, 2}, false,
                {{"groups", int64_t{3}}, {"padding", Ints{1, 0}}}),
      conv_case("unbatched (C, H, W), stride and dilation past the edge", {2, 5, 5}, {1, 2, 2, 2}, true,
                {{"stride", int64_t{3}}, {"dilation", int64_t{2}}, {"padding", int64_t{1}}}),
      conv_case("kernel as large as the padded input", {1, 1, 2, 2}, {1, 1, 4, 4}, true, {{"padding", int64_t{1}}})};
  ops.push_back(std::move(s));
  return ops;
}

}  // namespace gradoracle::registry::family

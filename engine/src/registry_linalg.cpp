// The linear-algebra family: matmul and linear (kernels: ops_linalg.cpp).
#include "registry_family.hpp"

namespace gradoracle::registry::family {

std::vector<OpSpec> linalg() {
  std::vector<OpSpec> ops;
  {
    OpSpec s;
    s.name = "matmul";
    s.summary = "torch.matmul: 1-D, 2-D or batched with broadcast batch dims";
    s.grad_fn = "MmBackward0";
    s.min_args = s.max_args = 2;
    s.shape = ShapeRule::Matmul;
    s.call = [](const std::vector<Arg>& args, const Attrs&) {
      return gradoracle::matmul(tensor_arg(args, 0, "matmul"), tensor_arg(args, 1, "matmul"));
    };
    s.references = {valued("1-D @ 1-D is 0-d", {vec({1, 2, 3}), vec({4, 5, -6})}, {}, {Shape{}, {-4}}),
                    at("non-square 2-D @ 2-D", mat(2, 3, {1, 2, 3, 4, 5, 6})),
                    valued("an empty inner dim gives zeros", {ReferenceTensor{Shape{2, 0}, {}}, ReferenceTensor{Shape{0, 2}, {}}},
                           {}, mat(2, 2, {0, 0, 0, 0}))};
    s.references[1].args.push_back(mat(3, 2, {0.5, -1, 2, 0.25, -3, 1}));
    ops.push_back(std::move(s));
  }
  {
    OpSpec s;
    s.name = "linear";
    s.summary = "F.linear: x @ weight.T + bias (bias optional)";
    s.grad_fn = "AddmmBackward0";
    s.min_args = 2;
    s.max_args = 3;
    s.shape = ShapeRule::Linear;
    s.call = [](const std::vector<Arg>& args, const Attrs&) {
      const Tensor bias = args.size() > 2 ? tensor_arg(args, 2, "linear") : Tensor();
      return gradoracle::linear(tensor_arg(args, 0, "linear"), tensor_arg(args, 1, "linear"), bias);
    };
    ops.push_back(std::move(s));
  }
  return ops;
}

}  // namespace gradoracle::registry::family

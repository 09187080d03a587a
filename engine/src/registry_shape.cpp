// The shape family: transposes, reshape and cat (kernels: ops_shape.cpp).
#include "registry_family.hpp"

namespace gradoracle::registry::family {

std::vector<OpSpec> shape() {
  using D = Domain;
  std::vector<OpSpec> ops;
  {
    OpSpec s = unary("t", "TBackward0", gradoracle::t, D::Real, "transpose of a tensor of rank <= 2");
    s.shape = ShapeRule::Transpose2D;
    ops.push_back(std::move(s));
  }
  {
    OpSpec s;
    s.name = "transpose";
    s.summary = "swap dims dim0 and dim1";
    s.grad_fn = "TransposeBackward0";
    s.shape = ShapeRule::Transpose;
    s.attrs = {{"dim0", AttrType::Int, true}, {"dim1", AttrType::Int, true}};
    s.call = [](const std::vector<Arg>& args, const Attrs& attrs) {
      return gradoracle::transpose(tensor_arg(args, 0, "transpose"), attr_int(attrs, "dim0", 0),
                                   attr_int(attrs, "dim1", 0));
    };
    ops.push_back(std::move(s));
  }
  {
    OpSpec s;
    s.name = "reshape";
    s.summary = "same elements, new shape (one -1 may be inferred)";
    s.grad_fn = "ReshapeAliasBackward0";
    s.shape = ShapeRule::Reshape;
    s.attrs = {{"shape", AttrType::IntList, true}};
    s.call = [](const std::vector<Arg>& args, const Attrs& attrs) {
      return gradoracle::reshape(tensor_arg(args, 0, "reshape"), attr_int_list(attrs, "shape"));
    };
    s.references = {valued("-1 inferred", {mat(2, 3, {1, 2, 3, 4, 5, 6})}, {{"shape", std::vector<int64_t>{3, -1}}},
                           mat(3, 2, {1, 2, 3, 4, 5, 6})),
                    at("zero-size", {Shape{0, 3}, {}}, {{"shape", std::vector<int64_t>{3, 0}}})};
    ops.push_back(std::move(s));
  }
  {
    OpSpec s;
    s.name = "cat";
    s.summary = "concatenate tensors along dim (default 0)";
    s.grad_fn = "CatBackward0";
    s.min_args = 1;
    s.max_args = -1;
    s.shape = ShapeRule::Cat;
    s.attrs = {{"dim", AttrType::Int}};
    s.call = [](const std::vector<Arg>& args, const Attrs& attrs) {
      return gradoracle::cat(tensor_args(args, "cat"), attrs.empty() ? 0 : attr_int(attrs, "dim", 0));
    };
    ops.push_back(std::move(s));
  }
  return ops;
}

}  // namespace gradoracle::registry::family

// The shape family: transposes, reshape, cat and expand (kernels: ops_shape.cpp); unsqueeze,
// squeeze and permute (ops_view.cpp).
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
  {
    OpSpec s;
    s.name = "unsqueeze";
    s.summary = "a dim of size 1 inserted at dim";
    s.grad_fn = "UnsqueezeBackward0";
    s.shape = ShapeRule::Unsqueeze;
    s.attrs = {{"dim", AttrType::Int, true}};
    s.call = [](const std::vector<Arg>& args, const Attrs& attrs) {
      return gradoracle::unsqueeze(tensor_arg(args, 0, "unsqueeze"), attr_int(attrs, "dim", 0));
    };
    s.references = {valued("0-d, dim -1", {ReferenceTensor{Shape{}, {2}}}, {{"dim", int64_t{-1}}}, vec({2})),
                    at("zero-size", {Shape{0, 3}, {}}, {{"dim", int64_t{2}}})};
    ops.push_back(std::move(s));
  }
  {
    OpSpec s;
    s.name = "squeeze";
    s.summary = "dims of size 1 removed: all, or dim (a no-op view if its size is not 1)";
    s.grad_fn = "SqueezeBackward0";  // SqueezeBackward1 with dim
    s.shape = ShapeRule::Squeeze;
    s.attrs = {{"dim", AttrType::Int}};
    s.call = [](const std::vector<Arg>& args, const Attrs& attrs) {
      const Tensor& a = tensor_arg(args, 0, "squeeze");
      return attrs.count("dim") ? gradoracle::squeeze(a, attr_int(attrs, "dim", 0)) : gradoracle::squeeze(a);
    };
    s.references = {valued("all size-1 dims", {ReferenceTensor{Shape{1, 2, 1}, {1, 2}}}, {}, vec({1, 2})),
                    valued("dim of size 2: unchanged", {mat(1, 2, {1, 2})}, {{"dim", int64_t{1}}}, mat(1, 2, {1, 2})),
                    at("zero-size", {Shape{0, 1}, {}}, {{"dim", int64_t{-1}}})};
    ops.push_back(std::move(s));
  }
  {
    OpSpec s;
    s.name = "permute";
    s.summary = "dims reordered: result dim i is input dim dims[i]";
    s.grad_fn = "PermuteBackward0";
    s.shape = ShapeRule::Permute;
    s.attrs = {{"dims", AttrType::Ints, true}};
    s.call = [](const std::vector<Arg>& args, const Attrs& attrs) {
      return gradoracle::permute(tensor_arg(args, 0, "permute"), attr_int_list(attrs, "dims"));
    };
    s.references = {valued("(2, 1, 3) as dims (2, 0, -2)", {ReferenceTensor{Shape{2, 1, 3}, {1, 2, 3, 4, 5, 6}}},
                           {{"dims", std::vector<int64_t>{2, 0, -2}}},
                           ReferenceTensor{Shape{3, 2, 1}, {1, 4, 2, 5, 3, 6}}),
                    at("0-d", {Shape{}, {3}}, {{"dims", std::vector<int64_t>{}}})};
    ops.push_back(std::move(s));
  }
  {
    OpSpec s;
    s.name = "expand";
    s.summary = "broadcast to size (-1 keeps a dim, new dims lead)";
    s.grad_fn = "ExpandBackward0";
    s.shape = ShapeRule::Expand;
    s.attrs = {{"size", AttrType::Ints, true}};
    s.call = [](const std::vector<Arg>& args, const Attrs& attrs) {
      return gradoracle::expand(tensor_arg(args, 0, "expand"), attr_int_list(attrs, "size"));
    };
    s.references = {valued("new leading dim, -1 kept", {mat(2, 1, {1, 2})}, {{"size", std::vector<int64_t>{2, -1, 3}}},
                           ReferenceTensor{Shape{2, 2, 3}, {1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2}}),
                    valued("0-d to (3)", {ReferenceTensor{Shape{}, {2}}}, {{"size", std::vector<int64_t>{3}}}, vec({2, 2, 2})),
                    at("size 1 to 0", {Shape{1, 2}, {1, 2}}, {{"size", std::vector<int64_t>{0, 2}}})};
    ops.push_back(std::move(s));
  }
  return ops;
}

}  // namespace gradoracle::registry::family

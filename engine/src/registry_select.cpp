// The selection family: where, index_select, gather, embedding (kernels: ops_select.cpp). The
// condition and index arguments are bool and int64 tensors that never require grad; the
// shape rules draw them valid (op_rules_select.cpp).
#include "registry_family.hpp"

namespace gradoracle::registry::family {

namespace {
ReferenceTensor int64s(Shape shape, std::vector<double> v) { return {std::move(shape), std::move(v), DType::Int64}; }
ReferenceTensor bools(Shape shape, std::vector<double> v) { return {std::move(shape), std::move(v), DType::Bool}; }
}  // namespace

std::vector<OpSpec> select() {
  std::vector<OpSpec> ops;
  {
    OpSpec s;
    s.name = "where";
    s.summary = "a where cond (bool) is true, else b; broadcasting; a or b may be a number";
    s.grad_fn = "WhereBackward0";
    s.min_args = s.max_args = 3;
    s.accepts_numbers = true;
    s.shape = ShapeRule::Where;
    s.call = [](const std::vector<Arg>& args, const Attrs&) {
      const Tensor& cond = tensor_arg(args, 0, "where");
      const Tensor* a = std::get_if<Tensor>(&args[1]);
      const Tensor* b = std::get_if<Tensor>(&args[2]);
      if (a && b) return gradoracle::where(cond, *a, *b);
      if (a) return gradoracle::where(cond, *a, std::get<double>(args[2]));
      if (b) return gradoracle::where(cond, std::get<double>(args[1]), *b);
      fail(ErrorKind::Value, "where(): at least one of a and b must be a tensor");
    };
    s.references = {
        valued("b a number", {bools({3}, {1, 0, 1}), vec({1, 2, 3}), 7.0}, {}, vec({1, 7, 3})),
        valued("cond broadcast over rows", {bools({2}, {0, 1}), mat(2, 2, {1, 2, 3, 4}), ReferenceTensor{Shape{2, 1}, {5, 6}}},
               {}, mat(2, 2, {5, 2, 6, 4})),
        at("zero-size", {Shape{0, 2}, {}}, {})};
    s.references.back().args = {bools({0, 2}, {}), ReferenceTensor{Shape{0, 2}, {}}, ReferenceTensor{Shape{2}, {1, 2}}};
    ops.push_back(std::move(s));
  }
  {
    OpSpec s;
    s.name = "index_select";
    s.summary = "a.index_select(dim, index): slices at the int64 indices, repeats accumulating their gradients";
    s.grad_fn = "IndexSelectBackward0";
    s.min_args = s.max_args = 2;
    s.shape = ShapeRule::IndexSelect;
    s.attrs = {{"dim", AttrType::Int, true}};
    s.call = [](const std::vector<Arg>& args, const Attrs& attrs) {
      return gradoracle::index_select(tensor_arg(args, 0, "index_select"), attr_int(attrs, "dim", 0),
                                      tensor_arg(args, 1, "index_select"));
    };
    s.references = {valued("repeated index along dim 1", {mat(2, 3, {1, 2, 3, 4, 5, 6}), int64s({3}, {2, 0, 2})},
                           {{"dim", int64_t{1}}}, mat(2, 3, {3, 1, 3, 6, 4, 6})),
                    valued("0-d", {ReferenceTensor{Shape{}, {5}}, int64s({1}, {0})}, {{"dim", int64_t{0}}},
                           ReferenceTensor{Shape{}, {5}}),
                    valued("no index", {mat(2, 3, {1, 2, 3, 4, 5, 6}), int64s({0}, {})}, {{"dim", int64_t{-1}}},
                           ReferenceTensor{Shape{2, 0}, {}})};
    ops.push_back(std::move(s));
  }
  {
    OpSpec s;
    s.name = "gather";
    s.summary = "a.gather(dim, index): elements at the int64 indices along dim; result of index's shape";
    s.grad_fn = "GatherBackward0";
    s.min_args = s.max_args = 2;
    s.shape = ShapeRule::Gather;
    s.attrs = {{"dim", AttrType::Int, true}};
    s.call = [](const std::vector<Arg>& args, const Attrs& attrs) {
      return gradoracle::gather(tensor_arg(args, 0, "gather"), attr_int(attrs, "dim", 0), tensor_arg(args, 1, "gather"));
    };
    s.references = {valued("repeated index along dim 1", {mat(2, 3, {1, 2, 3, 4, 5, 6}), int64s({2, 2}, {0, 0, 1, 0})},
                           {{"dim", int64_t{1}}}, mat(2, 2, {1, 1, 5, 4})),
                    valued("index smaller than a along dim 0", {mat(2, 3, {1, 2, 3, 4, 5, 6}), int64s({1, 3}, {0, 1, 1})},
                           {{"dim", int64_t{0}}}, mat(1, 3, {1, 5, 6})),
                    valued("0-d a, index (3)", {ReferenceTensor{Shape{}, {5}}, int64s({3}, {0, 0, 0})}, {{"dim", int64_t{0}}},
                           vec({5, 5, 5}))};
    ops.push_back(std::move(s));
  }
  {
    OpSpec s;
    s.name = "embedding";
    s.summary = "F.embedding(indices, weight): rows of the 2-D weight at the int64 indices; repeats accumulate";
    s.grad_fn = "EmbeddingBackward0";
    s.min_args = s.max_args = 2;
    s.shape = ShapeRule::Embedding;
    s.call = [](const std::vector<Arg>& args, const Attrs&) {
      return gradoracle::embedding(tensor_arg(args, 0, "embedding"), tensor_arg(args, 1, "embedding"));
    };
    s.references = {valued("repeated rows", {int64s({2, 2}, {0, 2, 0, 0}), mat(3, 2, {1, 2, 3, 4, 5, 6})}, {},
                           ReferenceTensor{Shape{2, 2, 2}, {1, 2, 5, 6, 1, 2, 1, 2}}),
                    valued("0-d indices", {int64s({}, {1}), mat(3, 2, {1, 2, 3, 4, 5, 6})}, {}, vec({3, 4}))};
    ops.push_back(std::move(s));
  }
  return ops;
}

}  // namespace gradoracle::registry::family

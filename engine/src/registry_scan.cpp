// Scans and reductions with backwards of their own: cumsum, logsumexp, var, std, prod
// (kernels: ops_scan.cpp). Special values (one-element var/std, ±inf in logsumexp) are pinned
// by corpus/nonfinite and corpus/semantics fixtures, recorded by PyTorch 1.13.
#include <cmath>
#include <optional>

#include "registry_family.hpp"

namespace gradoracle::registry::family {

std::vector<OpSpec> scan() {
  using Dims = std::vector<int64_t>;
  std::vector<OpSpec> ops;
  {
    OpSpec s;
    s.name = "cumsum";
    s.summary = "cumulative sum along dim";
    s.grad_fn = "CumsumBackward0";
    s.shape = ShapeRule::SoftmaxDim;
    s.attrs = {{"dim", AttrType::Int, true}};
    s.call = [](const std::vector<Arg>& args, const Attrs& attrs) {
      return gradoracle::cumsum(tensor_arg(args, 0, "cumsum"), attr_int(attrs, "dim", 0));
    };
    s.references = {valued("along the last dim", {mat(2, 3, {1, 2, 3, 4, 5, 6})}, {{"dim", int64_t{-1}}},
                           mat(2, 3, {1, 3, 6, 4, 9, 15})),
                    at("a dim of size 1 (dY handed back)", mat(1, 3, {1, -2, 0.5}), {{"dim", int64_t{0}}}),
                    at("0-d", {Shape{}, {1.5}}, {{"dim", int64_t{-1}}})};
    ops.push_back(std::move(s));
  }
  {
    OpSpec s;
    s.name = "logsumexp";
    s.summary = "log of the sum of exp(a) over dim (int or list), keepdim";
    s.grad_fn = "LogsumexpBackward0";
    s.shape = ShapeRule::Reduction;
    s.attrs = {{"dim", AttrType::IntOrList, true}, {"keepdim", AttrType::Bool}};
    s.call = [](const std::vector<Arg>& args, const Attrs& attrs) {
      return gradoracle::logsumexp(tensor_arg(args, 0, "logsumexp"), dims_attr(attrs), attr_bool(attrs, "keepdim", false));
    };
    const double l3 = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
    s.references = {at("|x| ~ 1000", vec({1000, 1001, 999}), {{"dim", int64_t{0}}}),
                    at("x ~ -1000", vec({-1000, -1001, -999}), {{"dim", int64_t{0}}}),
                    valued("a dim list, keepdim", {mat(2, 3, {1, 2, 3, 1, 2, 3})}, {{"dim", Dims{-1, 0}}, {"keepdim", true}},
                           {Shape{1, 1}, {l3 + std::log(2.0)}}),
                    valued("an empty dim list with keepdim reduces all", {mat(1, 3, {1, 2, 3})},
                           {{"dim", Dims{}}, {"keepdim", true}}, {Shape{1, 1}, {l3}}),
                    at("0-d", {Shape{}, {1.5}}, {{"dim", int64_t{0}}})};
    s.stability = finite_anywhere();
    ops.push_back(std::move(s));
  }
  for (const char* name : {"var", "std"}) {
    OpSpec s;
    s.name = name;
    const bool is_var = s.name == "var";
    s.summary = is_var ? "variance over all or over dim (int or list), unbiased (Bessel), keepdim"
                       : "standard deviation over all or over dim (int or list), unbiased (Bessel), keepdim";
    s.grad_fn = is_var ? "VarBackward0" : "StdBackward0";
    s.shape = ShapeRule::Moments;
    // std: values 0.1 apart, so no slice has (near-)zero variance, its kink: the gradient is
    // masked to 0 at 0, and ~1/std near it (float32 second order then rounds past its slack).
    if (!is_var) s.domain = {Domain::Spread};
    s.attrs = {{"dim", AttrType::IntOrList}, {"unbiased", AttrType::Bool}, {"keepdim", AttrType::Bool}};
    s.call = [is_var](const std::vector<Arg>& args, const Attrs& attrs) {
      const Tensor& a = tensor_arg(args, 0, is_var ? "var" : "std");
      std::optional<Dims> dims;
      if (attrs.count("dim")) dims = dims_attr(attrs);
      const bool unbiased = attr_bool(attrs, "unbiased", true), keepdim = attr_bool(attrs, "keepdim", false);
      return is_var ? gradoracle::var(a, dims, unbiased, keepdim) : gradoracle::std_dev(a, dims, unbiased, keepdim);
    };
    const ReferenceTensor x = mat(2, 3, {1, 2, 3, 4, 5, 7});
    const auto v = [is_var](double variance) { return is_var ? variance : std::sqrt(variance); };
    s.references = {
        valued("unbiased along dim 1", {x}, {{"dim", int64_t{1}}}, vec({v(1), v(7.0 / 3)})),
        valued("biased over all", {x}, {{"unbiased", false}}, {Shape{}, {v(35.0 / 9)}}),
        valued("no dim, keepdim", {x}, {{"keepdim", true}}, {Shape{1, 1}, {v(14.0 / 3)}}),
        valued("a dim list, biased, keepdim", {x}, {{"dim", Dims{0, -1}}, {"unbiased", false}, {"keepdim", true}},
               {Shape{1, 1}, {v(35.0 / 9)}}),
    };
    if (!is_var) {
      // NOTE: std's gradient where the variance is 0 is 0 (PyTorch masks dY/(2·std) there).
      s.references.push_back(pinned("zero variance in one row", mat(2, 3, {3, 3, 3, 1, 2, 3}), {0, 0, 0, -0.5, 0, 0.5},
                                    {{"dim", int64_t{1}}}));
    }
    ops.push_back(std::move(s));
  }
  {
    OpSpec s;
    s.name = "prod";
    s.summary = "product over all elements or along dim (int), keepdim";
    s.grad_fn = "ProdBackward0";
    // Random cases keep 0.5 <= |x| <= 1.5: zeros are declared below, and the second derivative's
    // diagonal (exactly 0) is y/x² - y/x², which float32 rounds to a few ulps of y/x²: kept
    // moderate, so float32 rounding stays below the second-order check's slack.
    s.domain = {Domain::NearOne};
    s.shape = ShapeRule::Reduction;
    s.attrs = {{"dim", AttrType::Int}, {"keepdim", AttrType::Bool}};
    s.call = [](const std::vector<Arg>& args, const Attrs& attrs) {
      const Tensor& a = tensor_arg(args, 0, "prod");
      const bool keepdim = attr_bool(attrs, "keepdim", false);
      if (attrs.count("dim")) return gradoracle::prod(a, attr_int(attrs, "dim", 0), keepdim);
      // NOTE: torch.prod(a, keepdim=True) is no signature of PyTorch 1.13's.
      if (keepdim) fail(ErrorKind::Value, "prod() received an invalid combination of arguments - got (Tensor, keepdim=bool), but expected one of:");
      return gradoracle::prod(a);
    };
    // NOTE: the gradient at zeros is Π of the others, as PyTorch: with one zero only the zero's
    // position gets it; with two or more zeros all grads are 0. Over all elements, PyTorch's
    // grads at two or more zeros carry no graph (second derivatives 0, not Π of the rest):
    // second-order cases at a zero are discarded.
    s.kinks = {{0, 0.0, "two or more zeros: second derivatives 0 (PyTorch 1.13)"}};
    s.references = {pinned("one zero", vec({2, 0, 3}), {0, 6, 0}),
                    pinned("two zeros", vec({2, 0, 0}), {0, 0, 0}),
                    pinned("along dim 1: one zero, two zeros", mat(2, 3, {2, 0, 3, 0, 0, 1.5}), {0, 6, 0, 0, 0, 0},
                           {{"dim", int64_t{1}}}),
                    // one zero in the whole tensor: the zero-safe formula still (y/x would be 0/0 there)
                    pinned("along dim 1: the tensor's one zero", mat(2, 3, {2, 0, 3, 1, 2, 1.5}), {0, 6, 0, 3, 1.5, 2},
                           {{"dim", int64_t{1}}}),
                    valued("along dim 0, keepdim", {mat(2, 2, {1, 2, 3, 4})}, {{"dim", int64_t{0}}, {"keepdim", true}},
                           mat(1, 2, {3, 8})),
                    valued("empty along the dim", {ReferenceTensor{Shape{2, 0}, {}}}, {{"dim", int64_t{1}}}, vec({1, 1})),
                    at("0-d", {Shape{}, {1.5}})};
    ops.push_back(std::move(s));
  }
  return ops;
}

}  // namespace gradoracle::registry::family

#include "gradoracle/engine/registry.hpp"

#include <limits>

#include "gradoracle/engine/nn.hpp"

namespace gradoracle::registry {

namespace {
const Tensor& tensor_arg(const std::vector<Arg>& args, size_t i, const char* op) {
  if (const Tensor* t = std::get_if<Tensor>(&args[i])) return *t;
  fail(ErrorKind::Value, std::string(op) + "(): argument " + std::to_string(i) + " must be a tensor, not a number");
}

std::vector<Tensor> tensor_args(const std::vector<Arg>& args, const char* op) {
  std::vector<Tensor> out;
  out.reserve(args.size());
  for (size_t i = 0; i < args.size(); ++i) out.push_back(tensor_arg(args, i, op));
  return out;
}

// A binary op over tensor/number operands (never two numbers).
template <class F>
Tensor binary(const std::vector<Arg>& args, const char* op, F f) {
  const Tensor* a = std::get_if<Tensor>(&args[0]);
  const Tensor* b = std::get_if<Tensor>(&args[1]);
  if (a && b) return f(*a, *b);
  if (a) return f(*a, std::get<double>(args[1]));
  if (b) return f(std::get<double>(args[0]), *b);
  fail(ErrorKind::Value, std::string(op) + "(): at least one argument must be a tensor");
}

OpSpec unary(std::string name, std::string grad_fn, Tensor (*fn)(const Tensor&), Domain domain, std::string summary) {
  OpSpec s;
  s.name = std::move(name);
  s.summary = std::move(summary);
  s.grad_fn = std::move(grad_fn);
  s.domain = {domain};
  s.shape = ShapeRule::Unary;
  const std::string op = s.name;
  s.call = [fn, op](const std::vector<Arg>& args, const Attrs&) { return fn(tensor_arg(args, 0, op.c_str())); };
  return s;
}

template <class F>
OpSpec binary_op(std::string name, std::string grad_fn, std::vector<Domain> domain, std::string summary, F f) {
  OpSpec s;
  s.name = std::move(name);
  s.summary = std::move(summary);
  s.grad_fn = std::move(grad_fn);
  s.min_args = s.max_args = 2;
  s.accepts_numbers = true;
  s.domain = std::move(domain);
  s.shape = ShapeRule::Broadcast;
  const std::string op = s.name;
  s.call = [f, op](const std::vector<Arg>& args, const Attrs&) { return binary(args, op.c_str(), f); };
  return s;
}

std::vector<int64_t> dims_attr(const Attrs& attrs) { return attr_int_list(attrs, "dim"); }

// Reference inputs are written with these. Pinned values and grads are PyTorch 1.13's (the
// torch suite, tests/cli/torch_crosscheck.py, replays every reference input in PyTorch).
ReferenceTensor vec(std::vector<double> v) { return {Shape{static_cast<int64_t>(v.size())}, std::move(v)}; }
ReferenceTensor mat(int64_t rows, int64_t cols, std::vector<double> v) { return {Shape{rows, cols}, std::move(v)}; }
// One tensor argument; judged by finite differences.
ReferenceInput at(std::string label, ReferenceTensor x, Attrs attrs = {}) {
  return {std::move(label), {std::move(x)}, std::move(attrs), {}};
}
// One tensor argument at a kink or tie, with PyTorch's gradient there (ones upstream).
ReferenceInput pinned(std::string label, ReferenceTensor x, std::vector<double> grad, Attrs attrs = {}) {
  return {std::move(label), {std::move(x)}, std::move(attrs), {std::move(grad)}};
}
// A result PyTorch defines (a reduction's dims, a 0-d result), gradients by finite differences.
ReferenceInput valued(std::string label, std::vector<ReferenceArg> args, Attrs attrs, ReferenceTensor value) {
  return {std::move(label), std::move(args), std::move(attrs), {}, std::move(value)};
}
// |x| ~ 1000 along dim: where a softmax without its max shift overflows.
std::vector<ReferenceInput> large_magnitudes(int64_t dim) {
  return {at("|x| ~ 1000", vec({1000, 1001, 999}), {{"dim", dim}}),
          at("x ~ -1000", vec({-1000, -1001, -999}), {{"dim", dim}}),
          at("rows of mixed magnitude", mat(2, 3, {1000, 1001, 0, -1000, -999, 1}), {{"dim", int64_t{-1}}})};
}

// Every call checks its argument count first, in one place: PyTorch's TypeError wording.
void check_arity(OpSpec& s) {
  if (!s.call) return;
  auto inner = std::move(s.call);
  s.call = [inner = std::move(inner), name = s.name, lo = s.min_args, hi = s.max_args](
                                    const std::vector<Arg>& args, const Attrs& attrs) {
    const auto n = static_cast<int64_t>(args.size());
    if (n < lo || (hi >= 0 && n > hi)) {
      const std::string want = lo == hi ? std::to_string(lo) : hi < 0 ? "at least " + std::to_string(lo)
                                                                          : std::to_string(lo) + " to " + std::to_string(hi);
      fail(ErrorKind::Value, name + "() takes " + want + " argument" + (want == "1" ? "" : "s") + " but " +
                                 std::to_string(n) + (n == 1 ? " was" : " were") + " given");
    }
    return inner(args, attrs);
  };
}

std::vector<OpSpec> build() {
  using D = Domain;
  std::vector<OpSpec> ops;
  // d/dx of each is stated beside its kernel in ops_elementwise.cpp.
  ops.push_back(unary("neg", "NegBackward0", gradoracle::neg, D::Real, "-a"));
  ops.push_back(unary("exp", "ExpBackward0", gradoracle::exp, D::Bounded, "e^a"));
  ops.push_back(unary("log", "LogBackward0", gradoracle::log, D::Positive, "natural log; a > 0"));
  ops.push_back(unary("log1p", "Log1PBackward0", gradoracle::log1p, D::AboveMinusOne, "log(1 + a); a > -1"));
  ops.back().references = {at("tiny |x|, where log(1 + x) loses digits", vec({1e-10, -1e-12, 0.0}))};
  ops.push_back(unary("sqrt", "SqrtBackward0", gradoracle::sqrt, D::Positive, "square root; a > 0"));
  ops.push_back(unary("sin", "SinBackward0", gradoracle::sin, D::Real, "sine"));
  ops.push_back(unary("cos", "CosBackward0", gradoracle::cos, D::Real, "cosine"));
  ops.push_back(unary("tanh", "TanhBackward0", gradoracle::tanh, D::Real, "hyperbolic tangent"));
  ops.back().references = {at("saturated", vec({20, -20, 0.5})), at("0-d", {Shape{}, {0.25}})};
  ops.push_back(unary("sigmoid", "SigmoidBackward0", gradoracle::sigmoid, D::Real, "1/(1+e^-a)"));
  ops.back().references = {at("saturated, |x| up to 100", vec({-100, 100, 30, -30}))};
  ops.push_back(unary("relu", "ReluBackward0", gradoracle::relu, D::AwayFromKink, "max(a, 0); kink at 0"));
  // NOTE: relu'(0) = 0, as PyTorch (the mask is x > 0).
  ops.back().kinks = {{0, 0.0, "relu'(0) = 0"}};
  ops.back().references = {pinned("at the kink, +0 and -0", vec({0.0, -0.0, 1.5, -2}), {0, 0, 1, 0}),
                           at("large magnitudes", vec({1e4, -1e4, 3}))};
  ops.push_back(unary("abs", "AbsBackward0", gradoracle::abs, D::AwayFromKink, "|a|; kink at 0"));
  // NOTE: abs'(0) = sign(0) = 0, as PyTorch.
  ops.back().kinks = {{0, 0.0, "abs'(0) = sign(0) = 0"}};
  ops.back().references = {pinned("at the kink, +0 and -0", vec({0.0, -0.0, 2, -3}), {0, 0, 1, -1})};

  ops.push_back(binary_op("add", "AddBackward0", {D::Real}, "a + b, broadcasting",
                          [](const auto& a, const auto& b) { return gradoracle::add(a, b); }));
  ops.push_back(binary_op("sub", "SubBackward0", {D::Real}, "a - b, broadcasting (number - b: RsubBackward1)",
                          [](const auto& a, const auto& b) { return gradoracle::sub(a, b); }));
  ops.push_back(binary_op("mul", "MulBackward0", {D::Real}, "a * b, broadcasting",
                          [](const auto& a, const auto& b) { return gradoracle::mul(a, b); }));
  ops.push_back(binary_op("div", "DivBackward0", {D::Real, D::NonZero}, "a / b, broadcasting; b away from 0",
                          [](const auto& a, const auto& b) { return gradoracle::div(a, b); }));
  ops.push_back(binary_op("pow", "PowBackward1", {D::Positive, D::Bounded},
                          "a ** b, broadcasting; a > 0 (tensor ** number: PowBackward0)",
                          [](const auto& a, const auto& b) { return gradoracle::pow(a, b); }));

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
  for (const char* name : {"sum", "mean"}) {
    OpSpec s;
    s.name = name;
    const bool is_sum = s.name == "sum";
    s.summary = is_sum ? "sum over all elements or over dim (int or list), keepdim" : "mean over all or over dim, keepdim";
    s.grad_fn = is_sum ? "SumBackward0" : "MeanBackward0";
    s.shape = ShapeRule::Reduction;
    s.attrs = {{"dim", AttrType::IntOrList}, {"keepdim", AttrType::Bool}};
    s.call = [is_sum](const std::vector<Arg>& args, const Attrs& attrs) {
      const Tensor& a = tensor_arg(args, 0, is_sum ? "sum" : "mean");
      if (attrs.empty()) return is_sum ? gradoracle::sum(a) : gradoracle::mean(a);  // no attr lookups
      if (!attrs.count("dim")) {
        // PyTorch: a.sum(keepdim=True) is not a signature; keepdim without dim reduces all dims.
        if (attr_bool(attrs, "keepdim", false)) return is_sum ? gradoracle::sum(a, {}, true) : gradoracle::mean(a, {}, true);
        return is_sum ? gradoracle::sum(a) : gradoracle::mean(a);
      }
      const bool keepdim = attr_bool(attrs, "keepdim", false);
      return is_sum ? gradoracle::sum(a, dims_attr(attrs), keepdim) : gradoracle::mean(a, dims_attr(attrs), keepdim);
    };
    using Dims = std::vector<int64_t>;
    const ReferenceTensor x = mat(2, 3, {1, 2, 3, 4, 5, 7});
    // NOTE: an empty dim list reduces every dim, as PyTorch 1.13.
    s.references = {
        valued("an empty dim list reduces all", {x}, {{"dim", Dims{}}}, {Shape{}, {is_sum ? 22.0 : 22.0 / 6}}),
        valued("a dim list with negative dims, keepdim", {x}, {{"dim", Dims{0, -1}}, {"keepdim", true}},
               {Shape{1, 1}, {is_sum ? 22.0 : 22.0 / 6}}),
        valued("one negative dim", {x}, {{"dim", int64_t{-2}}}, vec(is_sum ? std::vector<double>{5, 7, 10}
                                                                             : std::vector<double>{2.5, 3.5, 5})),
        at("0-d", {Shape{}, {1.5}}),
    };
    if (is_sum) s.references.push_back(valued("zero-size", {ReferenceTensor{Shape{0, 3}, {}}}, {{"dim", Dims{0}}}, vec({0, 0, 0})));
    ops.push_back(std::move(s));
  }
  {
    OpSpec s;
    s.name = "norm";
    s.summary = "torch.norm(a, p) over all elements; p a number, \"inf\" or \"-inf\" (default 2)";
    s.grad_fn = "NormBackward1";
    s.domain = {D::AwayFromKink};
    s.shape = ShapeRule::Norm;
    s.attrs = {{"p", AttrType::Number}};
    s.call = [](const std::vector<Arg>& args, const Attrs& attrs) {
      return gradoracle::norm(tensor_arg(args, 0, "norm"), attrs.empty() ? 2.0 : attr_number(attrs, "p", 2.0));
    };
    // NOTE: at the zero vector PyTorch's subgradient is 0 for every p; with p = inf, maxima
    // tied in |x| share the gradient equally.
    s.kinks = {{0, 0.0, "at the zero vector: 0; p = inf ties share the gradient"}};
    s.references = {pinned("the zero vector, p = 2", vec({0, 0, 0}), {0, 0, 0}),
                    pinned("the zero vector, p = 1", vec({0, 0, 0}), {0, 0, 0}, {{"p", 1.0}}),
                    pinned("the zero vector, p = 3", vec({0, 0, 0}), {0, 0, 0}, {{"p", 3.0}}),
                    pinned("tied maxima, p = inf", vec({1, -1, 0.5}), {0.5, -0.5, 0}, {{"p", kInf}}),
                    at("p = 2 over a matrix", mat(2, 2, {3, -4, 1, 2}))};
    ops.push_back(std::move(s));
  }
  for (const char* name : {"softmax", "log_softmax"}) {
    OpSpec s;
    s.name = name;
    const bool log = s.name == "log_softmax";
    s.summary = log ? "log of softmax along dim" : "exp(a) / sum(exp(a)) along dim";
    s.grad_fn = log ? "LogSoftmaxBackward0" : "SoftmaxBackward0";
    s.shape = ShapeRule::SoftmaxDim;
    s.attrs = {{"dim", AttrType::Int, true}};
    s.call = [log](const std::vector<Arg>& args, const Attrs& attrs) {
      const Tensor& a = tensor_arg(args, 0, log ? "log_softmax" : "softmax");
      const int64_t dim = attr_int(attrs, "dim", 0);
      return log ? gradoracle::log_softmax(a, dim) : gradoracle::softmax(a, dim);
    };
    s.references = large_magnitudes(0);
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
    s.name = "mse_loss";
    s.summary = "mean squared error; reduction mean (default), sum or none";
    s.grad_fn = "MseLossBackward0";
    s.min_args = s.max_args = 2;
    s.shape = ShapeRule::Loss;
    s.attrs = {{"reduction", AttrType::Choice, false, {"mean", "sum", "none"}}};
    s.call = [](const std::vector<Arg>& args, const Attrs& attrs) {
      const std::string r = attr_string(attrs, "reduction", "mean");
      if (r != "mean" && r != "sum" && r != "none") fail(ErrorKind::Value, r + " is not a valid value for reduction");
      const Reduction red = r == "sum" ? Reduction::Sum : r == "none" ? Reduction::None : Reduction::Mean;
      return gradoracle::mse_loss(tensor_arg(args, 0, "mse_loss"), tensor_arg(args, 1, "mse_loss"), red);
    };
    ops.push_back(std::move(s));
  }
  {
    OpSpec s;
    s.name = "detach";
    s.summary = "the same values, cut from the graph (shares storage)";
    s.grad_fn = "";
    s.shape = ShapeRule::Identity;
    s.differentiable = false;
    s.call = [](const std::vector<Arg>& args, const Attrs&) { return tensor_arg(args, 0, "detach").detach(); };
    ops.push_back(std::move(s));
  }
  {
    OpSpec s;
    s.name = "clip_grad_norm_";
    s.summary = "scale the params' grads to total norm <= max_norm; binds the total norm before clipping";
    s.grad_fn = "";
    s.min_args = 0;
    s.max_args = -1;
    s.shape = ShapeRule::Parameters;
    s.differentiable = false;
    s.attrs = {{"max_norm", AttrType::Number, true}, {"norm_type", AttrType::Number}, {"error_if_nonfinite", AttrType::Bool}};
    s.call = [](const std::vector<Arg>& args, const Attrs& attrs) {
      return nn::clip_grad_norm_(tensor_args(args, "clip_grad_norm_"), attr_number(attrs, "max_norm", 0.0),
                                 attr_number(attrs, "norm_type", 2.0), attr_bool(attrs, "error_if_nonfinite", false));
    };
    ops.push_back(std::move(s));
  }
  {
    OpSpec s;
    s.name = "clip_grad_value_";
    s.summary = "clamp the params' grads into [-clip_value, clip_value]";
    s.grad_fn = "";
    s.min_args = 0;
    s.max_args = -1;
    s.shape = ShapeRule::Parameters;
    s.differentiable = false;
    s.binds_result = false;
    s.attrs = {{"clip_value", AttrType::Number, true}};
    s.call = [](const std::vector<Arg>& args, const Attrs& attrs) {
      nn::clip_grad_value_(tensor_args(args, "clip_grad_value_"), attr_number(attrs, "clip_value", 0.0));
      return Tensor();
    };
    ops.push_back(std::move(s));
  }
  return ops;
}
}  // namespace

OpTable::OpTable(std::vector<OpSpec> ops) : OpTable(std::move(ops), nullptr) {}

OpTable::OpTable(const OpTable& base, std::vector<OpSpec> more) : OpTable(std::move(more), &base) {}

OpTable::OpTable(std::vector<OpSpec> more, const OpTable* base) {
  if (base) ops_ = base->ops_;
  ops_.reserve(ops_.size() + more.size());
  for (OpSpec& s : more) {
    if (find(s.name)) fail(ErrorKind::Value, "op " + s.name + " is declared twice in one table");
    check_arity(s);
    ops_.push_back(std::move(s));
  }
}

const OpSpec* OpTable::find(std::string_view name) const {
  for (const OpSpec& s : ops_) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

const OpTable& builtin_ops() {
  static const OpTable table(build());
  return table;
}

int64_t attr_int(const Attrs& attrs, const std::string& name, int64_t fallback) {
  auto it = attrs.find(name);
  if (it == attrs.end()) return fallback;
  if (const int64_t* v = std::get_if<int64_t>(&it->second)) return *v;
  fail(ErrorKind::Value, "attr " + name + " must be an integer");
}

bool attr_bool(const Attrs& attrs, const std::string& name, bool fallback) {
  auto it = attrs.find(name);
  if (it == attrs.end()) return fallback;
  if (const bool* v = std::get_if<bool>(&it->second)) return *v;
  fail(ErrorKind::Value, "attr " + name + " must be a boolean");
}

double attr_number(const Attrs& attrs, const std::string& name, double fallback) {
  auto it = attrs.find(name);
  if (it == attrs.end()) return fallback;
  if (const double* v = std::get_if<double>(&it->second)) return *v;
  if (const int64_t* v = std::get_if<int64_t>(&it->second)) return static_cast<double>(*v);
  if (const auto* v = std::get_if<std::string>(&it->second)) {  // the fixture format's non-finite numbers
    if (*v == "inf") return kInf;
    if (*v == "-inf") return -kInf;
    if (*v == "nan") return std::numeric_limits<double>::quiet_NaN();
  }
  fail(ErrorKind::Value, "attr " + name + " must be a number");
}

std::vector<int64_t> attr_int_list(const Attrs& attrs, const std::string& name) {
  auto it = attrs.find(name);
  if (it == attrs.end()) return {};
  if (const auto* v = std::get_if<std::vector<int64_t>>(&it->second)) return *v;
  if (const int64_t* v = std::get_if<int64_t>(&it->second)) return {*v};
  fail(ErrorKind::Value, "attr " + name + " must be a list of integers");
}

std::string attr_string(const Attrs& attrs, const std::string& name, const std::string& fallback) {
  auto it = attrs.find(name);
  if (it == attrs.end()) return fallback;
  if (const auto* v = std::get_if<std::string>(&it->second)) return *v;
  fail(ErrorKind::Value, "attr " + name + " must be a string");
}

}  // namespace gradoracle::registry

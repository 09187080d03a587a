// The second-order check and the JVP consistency check (the math: gradcheck.hpp). Each is the
// first-order checker (Run) on a derived function: F(x, v) = Jᵀv for gradgradcheck, φ(t) =
// f(x + t·u) with the double-VJP backward for jvpcheck.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>

#include "gradcheck_run.hpp"
#include "gradoracle/engine/autograd.hpp"
#include "gradoracle/engine/ops.hpp"
#include "gradoracle/engine/random.hpp"

namespace gradoracle::oracle {

namespace {
constexpr uint64_t kUpstreamStream = 0x9E3779B97F4A7C15ull;  // the upstreams' draws, apart from fast mode's
constexpr uint64_t kDirectionStream = 0xD1B54A32D192ED03ull;

std::vector<int> selected(const std::vector<int>& chosen, size_t n, const char* what) {
  std::vector<int> s;
  if (chosen.empty()) {
    for (size_t i = 0; i < n; ++i) s.push_back(static_cast<int>(i));
    return s;
  }
  for (int i : chosen) {
    if (i < 0 || static_cast<size_t>(i) >= n) fail(ErrorKind::Value, std::string("gradgradcheck: ") + what + " index out of range");
    s.push_back(i);
  }
  return s;
}

// f at the inputs, no graph (hold() detaches): its outputs' shapes and dtypes.
std::vector<Tensor> plain_outputs(const Function& f, const std::vector<Tensor>& inputs) {
  NoGradGuard no_grad;
  return f(inputs);
}

// The options of the inner (first-order) run on a derived function: every input and output of it.
GradCheckOptions inner_options(const GradCheckOptions& o) {
  GradCheckOptions inner = o;
  inner.order = 1;
  inner.inputs.clear();
  inner.outputs.clear();
  inner.raise_exception = false;
  inner.prefetch = nullptr;  // names f's points, not the derived function's
  return inner;
}

GradCheckResult finish(GradCheckResult r, const GradCheckOptions& o) {
  if (!r.passed && o.raise_exception) throw GradCheckError(r);
  return r;
}

Tensor zeros_like(const Tensor& t) { return Tensor::zeros(t.shape(), t.dtype()); }

// Σᵢ vᵢᵀ·∂outputs[i]/∂wrt over the outputs that require grad (others have a zero Jacobian),
// zeros for an input none of them reaches.
std::vector<Tensor> vjp(const std::vector<Tensor>& outputs, const std::vector<Tensor>& upstreams,
                        const std::vector<Tensor>& wrt, bool create_graph, bool retain_graph = false) {
  std::vector<Tensor> outs, ups;
  for (size_t k = 0; k < outputs.size(); ++k) {
    if (!outputs[k].requires_grad()) continue;
    outs.push_back(outputs[k]);
    ups.push_back(upstreams[k]);
  }
  std::vector<Tensor> grads(wrt.size());
  if (!outs.empty()) {
    autograd::GradOptions go;
    go.create_graph = create_graph;
    go.retain_graph = create_graph || retain_graph;
    go.allow_unused = true;
    grads = autograd::grad(outs, wrt, ups, go);
  }
  for (size_t i = 0; i < wrt.size(); ++i)
    if (!grads[i].defined()) grads[i] = zeros_like(wrt[i]);
  return grads;
}

// Whether a and b hold the same values bit for bit (same dtype and shape).
bool same_bits(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  const size_t n = static_cast<size_t>(a.numel());
  if (n == 0) return true;
  switch (a.dtype()) {
    case DType::Float64: return std::memcmp(a.data<double>(), b.data<double>(), n * sizeof(double)) == 0;
    case DType::Float32: return std::memcmp(a.data<float>(), b.data<float>(), n * sizeof(float)) == 0;
    case DType::Int64: return std::memcmp(a.data<int64_t>(), b.data<int64_t>(), n * sizeof(int64_t)) == 0;
    case DType::Bool: return std::memcmp(a.data<bool>(), b.data<bool>(), n * sizeof(bool)) == 0;
  }
  return false;
}

// How many values hold() has recorded or replayed on this thread's check (0 outside one).
size_t hold_calls() {
  const detail::HoldState* h = detail::active_hold();
  if (h == nullptr) return 0;
  return h->mode == detail::HoldState::Mode::Record ? h->values.size() : h->next;
}

// The graph of F's first numeric run (the checker's unperturbed run, at x), kept for the
// upstream columns: those runs change v only, and F is a backward of f's graph at x, so they
// take the backward of the kept graph with their v instead of running f again. The values are
// bit for bit those of a fresh run (f is run on the same x, the backward's formulas and saved
// tensors are the same: a retained graph's second backward is the first one's computation),
// and each column is still the difference of two evaluations of F. Not kept when f calls
// hold() (a run that skips f would skip its hold() calls, which the checker counts).
struct KeptGraph {
  bool tried = false;             // the first numeric run happened
  std::vector<Tensor> x;          // f's inputs on it (copies)
  std::vector<Tensor> wrt, outs;  // its leaves of the selected inputs, its selected outputs
};
}  // namespace

GradCheckResult gradgradcheck(const Function& f, const std::vector<Tensor>& inputs, const GradCheckOptions& options,
                              const std::vector<Tensor>& upstreams) {
  const size_t n = inputs.size();
  const std::vector<int> sel_in = selected(options.inputs, n, "input");
  const std::vector<Tensor> y = plain_outputs(f, inputs);
  const std::vector<int> sel_out = selected(options.outputs, y.size(), "output");
  if (sel_in.empty() || sel_out.empty()) fail(ErrorKind::Value, "gradgradcheck: no input or no output selected");
  std::vector<Tensor> args = inputs;  // F's arguments: f's inputs, then one upstream per selected output
  if (!upstreams.empty() && upstreams.size() != sel_out.size()) {
    fail(ErrorKind::Value, "gradgradcheck: " + std::to_string(upstreams.size()) + " upstreams given for " +
                               std::to_string(sel_out.size()) + " selected outputs");
  }
  Generator gen(options.seed ^ kUpstreamStream);
  for (size_t k = 0; k < sel_out.size(); ++k) {
    const Tensor& yk = y[static_cast<size_t>(sel_out[k])];
    if (upstreams.empty()) {
      args.push_back(Tensor::uniform(yk.shape(), -1.0, 1.0, gen, yk.dtype()));
    } else {
      if (upstreams[k].shape() != yk.shape()) {
        fail(ErrorKind::Shape, "gradgradcheck: upstream " + std::to_string(k) + " is " + to_string(upstreams[k].shape()) +
                                   ", output " + std::to_string(sel_out[k]) + " is " + to_string(yk.shape()));
      }
      args.push_back(upstreams[k].detach().to(yk.dtype()));
    }
  }

  // F(x, v): on the analytic run (its inputs require grad) the grads with create_graph, on the
  // numeric runs (no grad mode) the plain first backward on fresh leaves, or of the kept graph.
  auto kept = std::make_shared<KeptGraph>();
  const Function F = [&f, n, sel_in, sel_out, kept](const std::vector<Tensor>& a) {
    bool analytic = false;
    if (grad_mode_enabled())
      for (const Tensor& t : a) analytic = analytic || t.requires_grad();
    GradModeGuard grad_on(true);
    const std::vector<Tensor> vs(a.begin() + static_cast<std::ptrdiff_t>(n), a.end());
    if (!analytic && !kept->outs.empty()) {
      bool same_x = true;
      for (size_t i = 0; i < n && same_x; ++i) same_x = same_bits(a[i], kept->x[i]);
      if (same_x) return vjp(kept->outs, vs, kept->wrt, false, true);
    }
    std::vector<Tensor> xs(a.begin(), a.begin() + static_cast<std::ptrdiff_t>(n)), wrt;
    for (int i : sel_in) {
      Tensor& x = xs[static_cast<size_t>(i)];
      if (!analytic || !x.requires_grad()) x = x.clone().requires_grad_(true);  // clone(): no history
      wrt.push_back(x);
    }
    const bool keep = !analytic && !kept->tried;
    if (keep) {  // the graph may save an input: a copy, as the checker perturbs its arguments in place
      kept->tried = true;
      for (size_t i = 0; i < n; ++i)
        if (!xs[i].requires_grad()) xs[i] = xs[i].clone();
    }
    const size_t holds = hold_calls();
    const std::vector<Tensor> ys = f(xs);
    if (ys.size() <= static_cast<size_t>(*std::max_element(sel_out.begin(), sel_out.end())))
      fail(ErrorKind::Value, "gradgradcheck: the function returned fewer outputs than on the first run");
    std::vector<Tensor> outs;
    for (int j : sel_out) outs.push_back(ys[static_cast<size_t>(j)]);
    if (keep && hold_calls() == holds) {
      kept->x.clear();
      for (size_t i = 0; i < n; ++i) kept->x.push_back(xs[i].detach());
      kept->wrt = wrt;
      kept->outs = outs;
    }
    return vjp(outs, vs, wrt, analytic, keep);
  };

  GradCheckOptions inner = inner_options(options);  // F's selected inputs: f's, and every upstream
  inner.inputs = sel_in;
  for (size_t k = 0; k < sel_out.size(); ++k) inner.inputs.push_back(static_cast<int>(n + k));
  GradCheckResult r = detail::Run(inner, F, args).go();
  r.check = "gradgradcheck";
  r.checked_function = "the grads F(x, v) = J(x)^T v (autograd::grad with create_graph) in x and the upstreams v";
  for (size_t i = 0; i < n; ++i) r.input_names.push_back("in" + std::to_string(i));
  for (int j : sel_out) r.input_names.push_back("upstream" + std::to_string(j));
  for (int i : sel_in) r.output_names.push_back("grad(in" + std::to_string(i) + ")");
  if (r.failure_count > 0) {
    r.advice += std::string(r.advice.empty() ? "" : "; ") +
                "second order: a wrong d grad / d in is a backward formula whose own derivative is wrong (a saved "
                "tensor captured detached, a value computed without recording under create_graph: see "
                "detail::needs_graph, or a wrong double-backward formula); a wrong d grad / d upstream is a "
                "create_graph backward that is not linear in its upstream or differs from the first-order one";
  }
  return finish(std::move(r), options);
}

GradCheckResult jvpcheck(const Function& f, const std::vector<Tensor>& inputs, const GradCheckOptions& options) {
  const size_t n = inputs.size();
  const std::vector<int> sel_in = selected(options.inputs, n, "input");
  if (sel_in.empty()) fail(ErrorKind::Value, "jvpcheck: no input selected");
  const std::vector<Tensor> y = plain_outputs(f, inputs);
  Generator gen(options.seed ^ kDirectionStream);
  // u (zero on the inputs not selected) and the upstreams v, as float64 values exact in the inputs' dtype
  auto snap = [](double x, DType d) { return d == DType::Float32 ? static_cast<double>(static_cast<float>(x)) : x; };
  auto u = std::make_shared<std::vector<std::vector<double>>>(n);
  for (size_t i = 0; i < n; ++i) (*u)[i].assign(static_cast<size_t>(inputs[i].numel()), 0.0);
  for (int i : sel_in) {
    const std::vector<double> x = inputs[static_cast<size_t>(i)].to_vector();
    for (size_t l = 0; l < x.size(); ++l) {
      const double scale = options.step == Step::Relative ? std::max(1.0, std::abs(x[l])) : 1.0;
      (*u)[static_cast<size_t>(i)][l] = snap(gen.normal() * scale, inputs[static_cast<size_t>(i)].dtype());
    }
  }
  std::vector<Tensor> vs;
  for (const Tensor& yk : y) vs.push_back(Tensor::uniform(yk.shape(), -1.0, 1.0, gen, yk.dtype()));
  DType t_dtype = DType::Float64;
  for (int i : sel_in)
    if (inputs[static_cast<size_t>(i)].dtype() == DType::Float32) t_dtype = DType::Float32;

  // φ(t) = f(x + t·u). Numeric runs (t not requiring grad): that, in t's dtype. Analytic runs:
  // f(x) with a backward g ↦ ⟨g, J·u⟩, J·u = ∂/∂v ⟨Jᵀv, u⟩ by two grads.
  const Function phi = [&f, &inputs, n, sel_in, u, vs](const std::vector<Tensor>& a) {
    const Tensor& t = a.at(0);
    const bool analytic = grad_mode_enabled() && t.requires_grad();
    std::vector<Tensor> xs;
    for (size_t i = 0; i < n; ++i) {
      const DType d = t.dtype() == DType::Float64 ? DType::Float64 : inputs[i].dtype();
      std::vector<double> x = inputs[i].to_vector();
      if (!analytic)
        for (size_t l = 0; l < x.size(); ++l) x[l] += t.item() * (*u)[i][l];
      xs.push_back(Tensor::from_data(inputs[i].shape(), x, d));
    }
    if (!analytic) return f(xs);
    std::vector<Tensor> wrt;
    for (int i : sel_in) wrt.push_back(xs[static_cast<size_t>(i)].requires_grad_(true));
    const std::vector<Tensor> ys = f(xs);
    if (ys.size() != vs.size()) fail(ErrorKind::Value, "jvpcheck: the function returned another number of outputs");
    std::vector<Tensor> v;  // leaves: the double VJP differentiates in them
    for (size_t k = 0; k < ys.size(); ++k) v.push_back(Tensor::from_data(ys[k].shape(), vs[k].to_vector(), ys[k].dtype(), true));
    const std::vector<Tensor> g = vjp(ys, v, wrt, /*create_graph=*/true);
    Tensor s;  // ⟨Jᵀv, u⟩
    for (size_t m = 0; m < sel_in.size(); ++m) {
      const std::vector<double>& um = (*u)[static_cast<size_t>(sel_in[m])];
      const Tensor term = sum(mul(g[m], Tensor::from_data(g[m].shape(), um, g[m].dtype())));
      s = s.defined() ? add(s, term) : term;
    }
    // J·u per output: zeros where ⟨Jᵀv, u⟩ has no graph (a backward that records nothing)
    std::vector<Tensor> ju = s.requires_grad() ? vjp({s}, {Tensor::ones({}, s.dtype())}, v, false) : std::vector<Tensor>{};
    std::vector<Tensor> out;
    for (size_t k = 0; k < ys.size(); ++k) {
      Tensor yk = ys[k].detach().clone();
      const Tensor juk = ju.empty() ? zeros_like(yk) : ju[k].detach();
      record(yk, "JvpByDoubleVjpBackward", {t}, [juk](const Tensor& grad, NeedsGrad) {
        return std::vector<Tensor>{sum(mul(grad, juk.to(grad.dtype())))};
      });
      out.push_back(yk);
    }
    return out;
  };

  GradCheckResult r = detail::Run(inner_options(options), phi, {Tensor::scalar(0.0, t_dtype)}).go();
  r.check = "jvpcheck";
  r.checked_function = "J u = d/dv <J^T v, u> (double VJP) against (f(x+tu) - f(x-tu))/2t along a random u (seed " +
                       std::to_string(options.seed) + "): each entry is d out[k] / d t = (J u)[k]";
  r.input_names = {"t"};
  if (r.failure_count > 0) {
    r.advice += std::string(r.advice.empty() ? "" : "; ") +
                "the double VJP disagrees with f's directional derivative: a create_graph backward that records "
                "nothing (its grad carries no graph), is not linear in its upstream, or whose derivative in the "
                "upstream differs from its first-order formula";
  }
  return finish(std::move(r), options);
}

}  // namespace gradoracle::oracle

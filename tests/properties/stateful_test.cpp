// A stateful test (rapidcheck/state.h): random sequences of forward, backward (retain_graph or
// not), zero_grad (in place or set_to_none), detach_ and clip_grad_norm_ against a model of
// what each leaf's .grad must be. The forward is y = Σᵢ sum(leafᵢ · cᵢ) over a subset of the
// leaves, so a backward with upstream g adds g·cᵢ to leafᵢ.grad.
#include <rapidcheck/state.h>

#include <cmath>
#include <optional>

#include "gradoracle/engine/nn.hpp"
#include "gradoracle/oracle/compare.hpp"
#include "property_test.hpp"

namespace gradoracle::properties {
namespace {

namespace gen = rc::gen;
using Values = std::vector<double>;

struct Model {
  std::vector<Shape> shapes;
  std::vector<std::optional<Values>> grads;  // none: .grad is None
  bool pending = false;   // a forward whose output has not been dropped
  bool detached = false;  // its output was detach_()-ed: backward must raise
  bool freed = false;     // a backward without retain_graph ran: another must raise
  std::vector<Values> coeffs;
  std::vector<bool> used;
};

struct Sut {
  DType dtype = DType::Float64;
  std::vector<Tensor> leaves;
  Tensor y;
};

using Command = rc::state::Command<Model, Sut>;

void check_grads(const Model& m, const Sut& s) {
  const oracle::Tolerance tol = oracle::gradcheck_tolerance(s.dtype);
  for (size_t i = 0; i < m.grads.size(); ++i) {
    const Tensor g = s.leaves[i].grad();
    RC_ASSERT(g.defined() == m.grads[i].has_value());
    if (!g.defined()) continue;
    const auto r = oracle::compare(g, m.shapes[i], *m.grads[i], tol);
    if (!r.passed) RC_FAIL("grad of leaf " + std::to_string(i) + ": " + r.to_string());
  }
}

// Runs `apply` on a copy of the model and checks the system against it.
template <class Cmd>
void check_after(const Cmd& cmd, const Model& m, const Sut& s) {
  Model next = m;
  cmd.apply(next);
  check_grads(next, s);
}

struct Forward : Command {
  std::vector<Values> coeffs;
  std::vector<bool> used;
  explicit Forward(const Model& m) {
    for (const Shape& s : m.shapes) {
      coeffs.push_back(*gen_values(registry::Domain::Real, numel(s)));
      used.push_back(*gen::arbitrary<bool>());
    }
    if (std::find(used.begin(), used.end(), true) == used.end()) used[0] = true;
  }
  void apply(Model& m) const override {
    m.pending = true;
    m.detached = m.freed = false;
    m.coeffs = coeffs;
    m.used = used;
  }
  void run(const Model& m, Sut& s) const override {
    Tensor y;
    for (size_t i = 0; i < used.size(); ++i) {
      if (!used[i]) continue;
      const Tensor term = sum(mul(s.leaves[i], Tensor::from_data(m.shapes[i], coeffs[i], s.dtype)));
      y = y.defined() ? add(y, term) : term;
    }
    s.y = y;
  }
  void show(std::ostream& os) const override {
    os << "forward y = sum over leaves";
    for (size_t i = 0; i < used.size(); ++i) {
      if (used[i]) os << ' ' << i;
    }
  }
};

struct Backward : Command {
  double upstream = *gen_choice<double>({1.0, -1.0, 2.0, 0.5, 3.0});
  bool retain = *gen::arbitrary<bool>();
  void checkPreconditions(const Model& m) const override { RC_PRE(m.pending); }
  void apply(Model& m) const override {
    if (m.detached || m.freed) return;  // raises, changes nothing
    for (size_t i = 0; i < m.used.size(); ++i) {
      if (!m.used[i]) continue;
      Values& g = m.grads[i] ? *m.grads[i] : m.grads[i].emplace(m.coeffs[i].size(), 0.0);
      for (size_t k = 0; k < g.size(); ++k) g[k] += upstream * m.coeffs[i][k];
    }
    m.freed = !retain;
  }
  void run(const Model& m, Sut& s) const override {
    const Tensor g = Tensor::scalar(upstream, s.dtype);
    if (m.detached || m.freed) {
      bool raised = false;
      try {
        s.y.backward(g, retain);
      } catch (const Error&) {
        raised = true;
      }
      RC_ASSERT(raised);
    } else {
      s.y.backward(g, retain);
    }
    check_after(*this, m, s);
  }
  void show(std::ostream& os) const override {
    os << "y.backward(" << upstream << ", retain_graph=" << (retain ? "True" : "False") << ')';
  }
};

struct ZeroGrad : Command {
  std::vector<bool> which;
  bool set_to_none = *gen::arbitrary<bool>();
  explicit ZeroGrad(const Model& m) {
    for (size_t i = 0; i < m.shapes.size(); ++i) which.push_back(*gen_weighted<bool>({{3, true}, {1, false}}));
  }
  void apply(Model& m) const override {
    for (size_t i = 0; i < which.size(); ++i) {
      if (!which[i]) continue;
      if (set_to_none) {
        m.grads[i].reset();
      } else if (m.grads[i]) {
        std::fill(m.grads[i]->begin(), m.grads[i]->end(), 0.0);
      }
    }
  }
  void run(const Model& m, Sut& s) const override {
    std::vector<Tensor> params;
    for (size_t i = 0; i < which.size(); ++i) {
      if (which[i]) params.push_back(s.leaves[i]);
    }
    nn::zero_grad(params, set_to_none);
    check_after(*this, m, s);
  }
  void show(std::ostream& os) const override {
    os << "zero_grad(set_to_none=" << (set_to_none ? "True" : "False") << ") of";
    for (size_t i = 0; i < which.size(); ++i) {
      if (which[i]) os << ' ' << i;
    }
  }
};

struct DetachOutput : Command {
  void checkPreconditions(const Model& m) const override { RC_PRE(m.pending); }
  void apply(Model& m) const override { m.detached = true; }
  void run(const Model& m, Sut& s) const override {
    s.y.detach_();
    RC_ASSERT(!s.y.requires_grad());
    check_after(*this, m, s);
  }
  void show(std::ostream& os) const override { os << "y.detach_()"; }
};

struct ClipGradNorm : Command {
  double max_norm = *gen_choice<double>({1.0, 0.5, 5.0, 100.0});
  double norm_type = *gen_choice<double>({2.0, 1.0, kInf});
  double total(const Model& m) const {
    double t = 0.0;
    for (const auto& g : m.grads) {
      if (!g) continue;
      for (double x : *g) t = std::isinf(norm_type) ? std::max(t, std::abs(x)) : t + std::pow(std::abs(x), norm_type);
    }
    return std::isinf(norm_type) ? t : std::pow(t, 1.0 / norm_type);
  }
  void apply(Model& m) const override {
    const double coef = max_norm / (total(m) + 1e-6);
    if (coef >= 1) return;
    for (auto& g : m.grads) {
      if (!g) continue;
      for (double& x : *g) x *= coef;
    }
  }
  void run(const Model& m, Sut& s) const override {
    const Tensor t = nn::clip_grad_norm_(s.leaves, max_norm, norm_type);
    const double expected = total(m);
    const oracle::Tolerance tol = oracle::gradcheck_tolerance(s.dtype);
    RC_ASSERT(oracle::close(t.item(), expected, tol));
    check_after(*this, m, s);
  }
  void show(std::ostream& os) const override {
    os << "clip_grad_norm_(max_norm=" << max_norm << ", norm_type=" << norm_type << ')';
  }
};

void run_sequences(DType dtype) {
  const auto shapes = *gen::container<std::vector<Shape>>(static_cast<size_t>(*in_range(1, 4)), gen_shape(0, 3));
  Model model;
  model.shapes = shapes;
  model.grads.resize(shapes.size());
  Sut sut;
  sut.dtype = dtype;
  for (const Shape& s : shapes) sut.leaves.push_back(Tensor::zeros(s, dtype).requires_grad_());
  rc::state::check(model, sut,
                   rc::state::gen::execOneOfWithArgs<Forward, Backward, ZeroGrad, DetachOutput, ClipGradNorm>());
}

GRADORACLE_PROP(Stateful, LeafGradsFollowTheModelFloat64, 200) { run_sequences(DType::Float64); }
GRADORACLE_PROP(Stateful, LeafGradsFollowTheModelFloat32, 200) { run_sequences(DType::Float32); }

}  // namespace
}  // namespace gradoracle::properties

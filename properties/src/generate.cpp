#include "gradoracle/properties/generate.hpp"

#include <cmath>

#include "gradoracle/fixtures/record.hpp"
#include "gradoracle/properties/properties.hpp"

namespace gradoracle::properties {

namespace gen = rc::gen;
using registry::OpSpec;

namespace {

// The value `g` gives for `seed`, unshrunk.
template <class T>
T draw(const rc::Gen<T>& g, uint64_t seed) {
  return g(rc::Random(seed), rc::kNominalSize).value();
}

// Random upstreams for the roots, drawn over the reals.
void draw_upstreams(ProgramCase& p) {
  p.upstreams.clear();
  for (const Shape& s : p.root_shapes) p.upstreams.push_back(*gen_values(registry::Domain::Real, numel(s)));
}

// The case a generated fixture is made of, by the op's ShapeRule: drawn layouts as the op's
// property draws them; detach around a product; the clip utilities after a linear layer's backward.
rc::Gen<ProgramCase> gen_fixture_case(const OpSpec* op, DType dtype, const registry::OpTable* ops) {
  return gen::exec([op, dtype, ops] {
    RapidCheckChooser c;
    ProgramCase p;
    p.name = op->name;
    p.dtype = dtype;
    switch (registry::gradcheck_role(op->shape)) {
      case registry::GradcheckRole::Op:
        p = to_program(*gen_op_case(*op, dtype));
        break;
      case registry::GradcheckRole::Hold: {
        const Shape s = registry::draw_shape(c, 0, 2);
        p.leaves.emplace_back("x", *gen_tensor(s, op->domain_of(0)));
        p.steps.push_back({"d", op, {std::string("x")}, {}});
        p.steps.push_back({"y", ops->find("mul"), {std::string("d"), std::string("x")}, {}});
        p.roots = {"y"};
        p.root_shapes = {s};
        break;
      }
      case registry::GradcheckRole::Constant: {
        const int64_t in = c.integer(1, 5), out = c.integer(1, 4), n = c.integer(1, 5);
        TensorCase x = *gen_tensor({n, in}, registry::Domain::Real);
        x.requires_grad = false;
        p.leaves.emplace_back("x", x);
        p.leaves.emplace_back("w", *gen_tensor({out, in}, registry::Domain::Real));
        p.leaves.emplace_back("b", *gen_tensor({out}, registry::Domain::Real));
        p.steps.push_back({"y", ops->find("linear"), {std::string("x"), std::string("w"), std::string("b")}, {}});
        p.roots = {"y"};
        p.root_shapes = {{n, out}};
        const registry::OpLayout layout = registry::draw_layout(*op, {}, c);
        p.after_backward.push_back({op->binds_result ? "norm" : "", op, {std::string("w"), std::string("b")}, layout.attrs});
        break;
      }
    }
    draw_upstreams(p);
    return p;
  });
}

// Whether the recorded fixture is a point to judge gradients at, as the properties decide:
// every value and grad finite, and finite differences see no kink.
bool judgeable(const GeneratedFixture& g) {
  for (const fixtures::Statement& st : g.fixture.program) {
    const auto* e = st.as<fixtures::ExpectStatement>();
    if (!e || !e->literal) continue;
    for (double v : e->literal->values())
      if (!std::isfinite(v)) return false;
  }
  return !(g.verdict.result && (g.verdict.result->has_kinks() || g.verdict.result->nonfinite_count > 0));
}

GeneratedFixture make(const ProgramCase& p, const std::string& fixture_name, const std::string& what,
                      const std::string& command, const registry::OpTable& ops) {
  fixtures::Fixture f = to_fixture(p);
  f.name = fixture_name;
  f.source = {{"engine", "gradoracle"}, {"command", command}};
  GeneratedFixture g{fixtures::record(f, ops), {}};
  g.verdict = fixtures::gradcheck_fixture(g.fixture, {}, ops);
  g.fixture.description = what + " computed by the gradoracle engine (" + command + "). Finite differences: " +
                          (g.verdict.status == fixtures::CheckStatus::Skip ? "nothing to check (" + g.verdict.reason + ")"
                                                                           : std::string(fixtures::name(g.verdict.status))) +
                          ".";
  return g;
}

// Draws from `g` by `seed` until the case is a point to judge (a domain edge, such as a mean
// over no elements, is drawn again with the next derived seed), at most 64 times.
GeneratedFixture draw_judgeable(const rc::Gen<ProgramCase>& gen, uint64_t seed, const std::string& fixture_name,
                                const std::string& what, const std::string& command, const registry::OpTable& ops) {
  GeneratedFixture g;
  for (uint64_t attempt = 0; attempt < 64; ++attempt) {
    g = make(draw(gen, seed + attempt * 1000003), fixture_name, what, command, ops);
    if (judgeable(g)) break;
  }
  return g;
}

}  // namespace

GeneratedFixture op_fixture(const OpSpec& op, const GenerateOptions& o, const registry::OpTable& ops) {
  const std::string command = "gradoracle generate --op " + op.name + " --seed " + std::to_string(o.seed) +
                              " --dtype " + name(o.dtype);
  return draw_judgeable(gen_fixture_case(&op, o.dtype, &ops), o.seed, op.name + "/" + std::to_string(o.seed),
                        "Reference values and grads of " + op.name, command, ops);
}

GeneratedFixture reference_fixture_recorded(const OpSpec& op, const registry::ReferenceInput& r, DType dtype,
                                            const registry::OpTable& ops) {
  const fixtures::Fixture f = reference_fixture(op, r, dtype);
  GeneratedFixture g{fixtures::record(f, ops), {}};
  g.fixture.description = f.description + " (values and grads recorded by the gradoracle engine: gradoracle generate --references)";
  if (r.grads.empty()) {
    g.verdict = fixtures::gradcheck_fixture(g.fixture, {}, ops);
  } else {  // a kink or tie: finite differences do not decide there
    g.verdict.name = g.fixture.name;
    g.verdict.reason = "a pinned gradient at a kink or tie";
  }
  return g;
}

GeneratedFixture random_program(const GenerateOptions& o, const registry::OpTable& ops) {
  ProgramOptions po;
  po.table = &ops;
  const DType dtype = o.dtype;
  const rc::Gen<ProgramCase> gen = gen::exec([dtype, po] {
    ProgramCase q = *gen_program(dtype, po);
    draw_upstreams(q);
    return q;
  });
  const std::string command = "gradoracle generate --programs N --seed S --dtype " + std::string(name(o.dtype)) +
                              " (program seed " + std::to_string(o.seed) + ")";
  return draw_judgeable(gen, o.seed, "program/" + std::to_string(o.seed), "A random program's values and grads", command,
                        ops);
}

}  // namespace gradoracle::properties

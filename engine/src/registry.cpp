#include "gradoracle/engine/registry.hpp"

#include <limits>

#include "registry_family.hpp"

namespace gradoracle::registry {

namespace {
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
  std::vector<OpSpec> ops;
  for (auto family : {family::elementwise, family::linalg, family::shape, family::reduce, family::graph, family::scan,
                      family::kinks, family::select, family::loss_class, family::norm, family::conv,
                      family::window}) {
    for (OpSpec& s : family()) ops.push_back(std::move(s));
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

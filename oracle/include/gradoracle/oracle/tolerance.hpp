#pragma once
// The one tolerance struct of the project. A value `a` matches an expected `e` when
//
//     |a − e| ≤ atol + rtol·|e|          (NaN matches NaN only; ±inf must be equal)
//
// Ops and callers override fields (`Tolerance t = default_tolerance(d); t.atol = 1e-6;`)
// rather than pass magic numbers.
#include "gradoracle/engine/dtype.hpp"
#include "gradoracle/engine/tolerance.hpp"

namespace gradoracle::oracle {

using gradoracle::Tolerance;  // declared in the engine, so that an op's declaration can override it

// Defaults for a fixture's `expect` (fixture format v1): values computed by PyTorch and by the
// engine in the same dtype. float64: atol 1e-10, rtol 1e-7; float32: atol 1e-5, rtol 1e-4.
constexpr Tolerance default_tolerance(DType d) {
  return d == DType::Float64 ? Tolerance{1e-10, 1e-7} : Tolerance{1e-5, 1e-4};
}

// Defaults for the gradient checker: the engine's Jacobian, computed in the inputs' dtype,
// against float64 finite differences. The numeric side's error (truncation ~h²·f''', rounding
// ~ε·|f|/h with h = 1e-6) is ~1e-9, hence float64 atol 1e-7, rtol 1e-5 (a relative error of
// 1e-4 in a gradient is caught). The float32 analytic side carries its own rounding (a few ulps
// per op, ~1e-6 relative after a few ops, more under cancellation), hence atol 1e-5, rtol 5e-4
// (a relative error of 1e-3 is caught; saturation and cancellation beyond that are the checker's
// rounding allowance ρ, gradcheck.hpp): no false alarm over thousands of random draws of every
// registered op, the worst seen at a few percent of the allowance (tests/oracle, README).
constexpr Tolerance gradcheck_tolerance(DType d) {
  return d == DType::Float64 ? Tolerance{1e-7, 1e-5} : Tolerance{1e-5, 5e-4};
}

// The looser of two tolerances, field by field (e.g. over the dtypes of several inputs).
constexpr Tolerance loosest(Tolerance a, Tolerance b) {
  return Tolerance{a.atol > b.atol ? a.atol : b.atol, a.rtol > b.rtol ? a.rtol : b.rtol};
}

}  // namespace gradoracle::oracle

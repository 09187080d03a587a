#pragma once
// The one tolerance struct of the project. A value `a` matches an expected `e` when
//
//     |a − e| ≤ atol + rtol·|e|          (NaN matches NaN only; ±inf must be equal)
//
// The oracle gives the defaults (oracle/tolerance.hpp); ops override fields in their
// declaration (OpSpec::tolerance) rather than pass magic numbers.
namespace gradoracle {

struct Tolerance {
  double atol = 1e-10;  // absolute slack
  double rtol = 1e-7;   // slack relative to the expected value's magnitude
};

}  // namespace gradoracle

#pragma once
// The one comparison helper of the project (rule 1 of docs/comparison.md). `actual` passes against `expected` when the shapes
// are equal and, element by element,
//
//     |a − e| ≤ atol + rtol·|e|          (NaN matches NaN only; ±inf must be equal)
//
// The result names the worst element (largest |a − e| / (atol + rtol·|e|), any mismatched
// NaN or infinity first) by its multi-index, with both values and the abs/rel errors.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gradoracle/engine/tensor.hpp"
#include "gradoracle/oracle/tolerance.hpp"

namespace gradoracle::oracle {

struct CompareResult {
  bool passed = true;                 // shapes equal and every element within tolerance
  bool shapes_equal = true;           // actual_shape == expected_shape
  Shape actual_shape;                 // the compared shapes
  Shape expected_shape;
  int64_t numel = 0;                  // elements compared (0 when the shapes differ)
  int64_t failures = 0;               // elements outside the tolerance
  int64_t worst_flat = -1;            // row-major offset of the worst element; -1 if none
  std::vector<int64_t> worst_index;   // its multi-index
  double actual = 0.0;                // the worst element's values
  double expected = 0.0;
  double abs_error = 0.0;             // |a − e| there (inf for a NaN or infinity mismatch)
  double rel_error = 0.0;             // |a − e| / |e| there (inf when e = 0 and a ≠ 0)
  Tolerance tolerance;                // what was applied

  explicit operator bool() const { return passed; }
  // One line when passed; else the shapes or the worst element and the failure count.
  std::string to_string() const;
  nlohmann::json to_json() const;
};

// The elementwise rule above, for one pair of values.
bool close(double actual, double expected, const Tolerance& tol);

CompareResult compare(const Tensor& actual, const Tensor& expected, const Tolerance& tol);
// Against expected values given as a shape and row-major data (as a fixture's `expect` has them).
CompareResult compare(const Tensor& actual, const Shape& expected_shape, const std::vector<double>& expected,
                      const Tolerance& tol);
// Both sides as shapes and row-major data.
CompareResult compare(const Shape& actual_shape, const std::vector<double>& actual, const Shape& expected_shape,
                      const std::vector<double>& expected, const Tolerance& tol);

// Row-major multi-index of a flat offset into `shape` (empty for a 0-d shape).
std::vector<int64_t> unravel(int64_t flat, const Shape& shape);
// "[1, 2]"
std::string index_string(const std::vector<int64_t>& index);

}  // namespace gradoracle::oracle
